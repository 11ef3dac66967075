//! Small helpers the XGBoost and LightGBM importers share: appending nodes
//! to an IR [`Tree`] they build breadth-first, quoting file text in messages.

use crate::ir::{Tree, LEAF};

/// Appends a leaf holding one value.
pub(crate) fn push_leaf(t: &mut Tree, value: f64) {
    t.feature.push(0);
    t.threshold.push(0.0);
    t.true_child.push(LEAF);
    t.false_child.push(LEAF);
    t.missing_true.push(false);
    t.value.push(value);
}

/// Appends a split on `feature` with `threshold`, its `(true, false)`
/// children, and the side NaN takes.
pub(crate) fn push_split(
    t: &mut Tree,
    feature: u32,
    threshold: f64,
    (true_child, false_child): (u32, u32),
    missing_true: bool,
) {
    t.feature.push(feature);
    t.threshold.push(threshold);
    t.true_child.push(true_child);
    t.false_child.push(false_child);
    t.missing_true.push(missing_true);
    t.value.push(0.0);
}
