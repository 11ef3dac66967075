//! Bit-for-bit comparison of two forests, for [`super::verify`].
//!
//! `PartialEq` on [`Forest`] is not enough: leaves and categorical splits
//! may hold NaN thresholds (NaN != NaN), and `0.0 == -0.0` hides a sign
//! change that would alter no prediction today but is still not the file
//! we meant to write.

use crate::ir::{Forest, Tree};

/// Where `a` and `b` first differ, or `None` when they are identical.
pub(crate) fn first_difference(a: &Forest, b: &Forest) -> Option<String> {
    let shell = |f: &Forest| {
        // Everything but the trees, in a form where NaN equals NaN: the
        // header's own serialisation.
        serde_json::to_string(&f.clone_shell()).unwrap_or_default()
    };
    if shell(a) != shell(b) {
        return Some("the forests' metadata (task, labels, aggregation, input rules, names or source) differ".into());
    }
    if a.trees.len() != b.trees.len() {
        return Some(format!("{} trees against {}", a.trees.len(), b.trees.len()));
    }
    a.trees
        .iter()
        .zip(&b.trees)
        .enumerate()
        .find_map(|(i, (x, y))| tree_difference(x, y).map(|d| format!("tree {i}: {d}")))
}

fn tree_difference(a: &Tree, b: &Tree) -> Option<String> {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let fields: [(&str, bool); 7] = [
        ("feature", a.feature == b.feature),
        ("threshold", bits(&a.threshold) == bits(&b.threshold)),
        ("true_child", a.explicit_true_child == b.explicit_true_child),
        (
            "false_child",
            a.false_child_or_leaf == b.false_child_or_leaf,
        ),
        ("missing_true", a.missing_true == b.missing_true),
        ("value", bits(&a.leaf_value) == bits(&b.leaf_value)),
        ("categories", a.categories == b.categories),
    ];
    fields
        .iter()
        .find(|(_, same)| !same)
        .map(|(name, _)| format!("{name} differs"))
}

impl Forest {
    /// The forest without its trees (cheap to clone).
    fn clone_shell(&self) -> Forest {
        Forest {
            n_features: self.n_features,
            feature_names: self.feature_names.clone(),
            input: self.input.clone(),
            split_op: self.split_op,
            task: self.task.clone(),
            aggregation: self.aggregation.clone(),
            trees: Vec::new(),
            source: self.source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_thresholds_compare_equal_and_signed_zeros_do_not() {
        let a = crate::ir::tests::stump();
        let mut b = a.clone();
        b.trees[0].threshold[1] = f64::NAN;
        let mut c = b.clone();
        assert_eq!(first_difference(&b, &c), None);
        c.trees[0].threshold[2] = -0.0;
        assert_eq!(
            first_difference(&b, &c).as_deref(),
            Some("tree 0: threshold differs")
        );
        assert!(first_difference(&a, &b).is_some());
    }
}
