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

/// Appends a leaf holding `values` (one per score: vector leaves).
#[cfg(feature = "xgboost")]
pub(crate) fn push_leaf_values(t: &mut Tree, values: &[f64]) {
    push_leaf(t, 0.0);
    t.value.pop();
    t.value.extend_from_slice(values);
}

/// Gives the split just appended `width` values (zeros), as the nodes of a
/// forest whose leaves hold `width` values must have ([`push_split`]
/// appends one).
#[cfg(feature = "xgboost")]
pub(crate) fn pad_split(t: &mut Tree, width: usize) {
    t.value
        .extend(std::iter::repeat_n(0.0, width.saturating_sub(1)));
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
