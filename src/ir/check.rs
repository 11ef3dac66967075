//! [`Forest::check`]: every invariant the rest of the crate relies on.

use super::{
    python_float, Aggregation, Forest, PostTransform, Task, Tree, LEAF, LEAF_BIT, MAX_CATEGORY,
};
use rayon::prelude::*;

/// A violated [`Forest`] invariant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForestError {
    /// The forest has no trees.
    #[error("the forest has no trees")]
    NoTrees,
    /// The forest has no features.
    #[error("the forest has no input features")]
    NoFeatures,
    /// A classifier without classes, or a regressor without targets.
    #[error("the forest has no outputs (no classes or targets)")]
    NoOutputs,
    /// Two classes share a label.
    #[error("class label {0:?} appears more than once")]
    DuplicateLabel(String),
    /// Feature names do not match the feature count.
    #[error("{names} feature names for {n_features} features")]
    FeatureNames {
        /// Number of names given.
        names: usize,
        /// Number of features.
        n_features: usize,
    },
    /// Base values of the wrong length.
    #[error("{got} base values; expected {expected}")]
    BaseValues {
        /// Number given.
        got: usize,
        /// Number expected.
        expected: usize,
    },
    /// A non-finite base value.
    #[error("base value {0} is not finite")]
    BaseValueNotFinite(String),
    /// The aggregation, post-transform and task do not fit together.
    #[error("{0}")]
    Aggregation(String),
    /// An input rule is invalid.
    #[error("input rules: {0}")]
    Input(String),
    /// A tree-level invariant failed.
    #[error("tree {tree}: {problem}")]
    Tree {
        /// Tree index.
        tree: usize,
        /// What is wrong.
        problem: String,
    },
}

/// A number quoted in an error message: at most 17 significant digits, so a
/// hostile value such as 1e300 cannot make a message hundreds of digits long.
pub(crate) fn quote(x: f64) -> String {
    python_float(x)
}

impl Forest {
    /// Verify every invariant the rest of the crate relies on.
    pub fn check(&self) -> Result<(), ForestError> {
        if self.trees.is_empty() {
            return Err(ForestError::NoTrees);
        }
        if self.n_features == 0 {
            return Err(ForestError::NoFeatures);
        }
        if self.n_outputs() == 0 {
            return Err(ForestError::NoOutputs);
        }
        if let Some(labels) = self.class_labels() {
            if let Some(dup) = labels.first_duplicate() {
                return Err(ForestError::DuplicateLabel(dup));
            }
        }
        if let Some(names) = &self.feature_names {
            if names.len() != self.n_features {
                return Err(ForestError::FeatureNames {
                    names: names.len(),
                    n_features: self.n_features,
                });
            }
        }
        self.check_input()?;
        self.check_aggregation()?;
        // Trees are checked in parallel (a full-depth forest has millions
        // of nodes, and exports wait for this); the error is the first
        // tree's, as in a sequential check.
        let first_bad = self
            .trees
            .par_iter()
            .enumerate()
            .find_map_first(|(i, tree)| {
                self.check_tree(tree)
                    .err()
                    .map(|problem| ForestError::Tree { tree: i, problem })
            });
        first_bad.map_or(Ok(()), Err)
    }

    fn check_input(&self) -> Result<(), ForestError> {
        let zero = &self.input.zero_as_missing;
        if let Some(w) = zero.windows(2).find(|w| w[0] >= w[1]) {
            return Err(ForestError::Input(format!(
                "zero_as_missing features must be strictly ascending ({} then {})",
                w[0], w[1]
            )));
        }
        if let Some(&f) = zero.iter().find(|&&f| f as usize >= self.n_features) {
            return Err(ForestError::Input(format!(
                "zero_as_missing names feature {f}; the forest has {}",
                self.n_features
            )));
        }
        Ok(())
    }

    fn check_aggregation(&self) -> Result<(), ForestError> {
        let n_out = self.n_outputs();
        let bad = |why: &str| Err(ForestError::Aggregation(why.into()));
        let (base_values, post_transform, tree_targets) = match &self.aggregation {
            Aggregation::Vote if !matches!(self.task, Task::Classification(_)) => {
                return bad("hard voting needs a classification task");
            }
            Aggregation::Average if matches!(self.task, Task::AnomalyDetection { .. }) => {
                return bad("an anomaly detector sums path lengths (Sum aggregation)");
            }
            Aggregation::Vote | Aggregation::Average => return Ok(()),
            Aggregation::Sum {
                base_values,
                post_transform,
                tree_targets,
            } => (base_values, *post_transform, tree_targets),
        };
        let expected = match &self.task {
            Task::Classification(_) if n_out == 2 && base_values.len() == 1 => 1,
            Task::AnomalyDetection { .. } => 1,
            _ => n_out,
        };
        if base_values.len() != expected {
            return Err(ForestError::BaseValues {
                got: base_values.len(),
                expected,
            });
        }
        if let Some(&b) = base_values.iter().find(|b| !b.is_finite()) {
            return Err(ForestError::BaseValueNotFinite(quote(b)));
        }
        match (&self.task, post_transform) {
            (Task::Classification(_), PostTransform::None | PostTransform::Logistic) => {}
            (Task::Classification(_), PostTransform::Softmax) if base_values.len() > 1 => {}
            (Task::Classification(_), p) => {
                return Err(ForestError::Aggregation(format!(
                    "a classifier cannot take the {p:?} post-transform{}",
                    if base_values.len() == 1 {
                        " (one score for two classes takes Logistic or None)"
                    } else {
                        ""
                    }
                )))
            }
            (
                Task::Regression { .. },
                PostTransform::None
                | PostTransform::Logistic
                | PostTransform::Exp
                | PostTransform::SignedSquare
                | PostTransform::Softplus
                | PostTransform::Step,
            ) => {}
            (Task::Regression { .. }, p) => {
                return Err(ForestError::Aggregation(format!(
                    "a regressor cannot take the {p:?} post-transform"
                )))
            }
            (Task::AnomalyDetection { offset }, PostTransform::IsolationScore { normalizer }) => {
                if !offset.is_finite() || !normalizer.is_finite() || normalizer < 0.0 {
                    return bad("an anomaly detector needs a finite offset and a finite, non-negative normalizer");
                }
            }
            (Task::AnomalyDetection { .. }, _) => {
                return bad("an anomaly detector needs the IsolationScore post-transform")
            }
        }
        if !tree_targets.is_empty() {
            if tree_targets.len() != self.trees.len() {
                return Err(ForestError::Aggregation(format!(
                    "{} tree targets for {} trees",
                    tree_targets.len(),
                    self.trees.len()
                )));
            }
            if let Some((t, &k)) = tree_targets
                .iter()
                .enumerate()
                .find(|(_, &k)| k as usize >= base_values.len())
            {
                return Err(ForestError::Aggregation(format!(
                    "tree {t} adds to score {k}; there are {}",
                    base_values.len()
                )));
            }
        }
        Ok(())
    }

    /// Checks one tree; the error text names the first offending node.
    fn check_tree(&self, t: &Tree) -> Result<(), String> {
        let n = t.n_nodes();
        if n == 0 {
            return Err("has no nodes".into());
        }
        if n >= LEAF_BIT as usize {
            return Err(format!(
                "has {n} nodes; at most {} are supported",
                LEAF_BIT - 1
            ));
        }
        let width = self.leaf_width();
        for (name, len) in [
            ("threshold", t.threshold.len()),
            ("false_child", t.false_child_or_leaf.len()),
            ("missing_true", t.missing_true.len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries for {n} nodes"));
            }
        }
        if !t.explicit_true_child.is_empty() && t.explicit_true_child.len() != n {
            return Err(format!(
                "true_child has {} entries for {n} nodes; expected {n} or none",
                t.explicit_true_child.len()
            ));
        }
        // Children must come after their parent and have exactly one parent:
        // then every node is reachable from the root and there are no cycles.
        let mut has_parent = vec![false; n];
        let categorical = &t.categories.nodes;
        let mut next_categorical = 0;
        let mut leaves = 0usize;
        for i in 0..n {
            let is_categorical = categorical.get(next_categorical) == Some(&(i as u32));
            next_categorical += usize::from(is_categorical);
            let Some((tc, fc)) = t.children(i) else {
                if t.explicit_true_child.get(i).is_some_and(|&c| c != LEAF) {
                    return Err(format!("node {i} has one child; nodes need two or none"));
                }
                if is_categorical {
                    return Err(format!("leaf {i} is listed as a categorical split"));
                }
                let k = t.false_child_or_leaf[i] & !LEAF_BIT;
                if k as usize != leaves {
                    return Err(format!(
                        "leaf {i} has leaf index {k}; leaves are numbered in node order, so {leaves} was expected"
                    ));
                }
                self.check_leaf(t, i, leaves, width)?;
                leaves += 1;
                continue;
            };
            for c in [tc, fc] {
                let c = c as usize;
                if c <= i || c >= n {
                    return Err(format!(
                        "node {i} has child {}; children must be in {}..{n}",
                        if c == LEAF as usize {
                            "none".to_string()
                        } else {
                            c.to_string()
                        },
                        i + 1
                    ));
                }
                if std::mem::replace(&mut has_parent[c], true) {
                    return Err(format!("node {c} has more than one parent"));
                }
            }
            if t.feature[i] as usize >= self.n_features {
                return Err(format!(
                    "node {i} splits on feature {}; the forest has {}",
                    t.feature[i], self.n_features
                ));
            }
            if !is_categorical && t.threshold[i].is_nan() {
                return Err(format!("node {i} has a NaN threshold"));
            }
        }
        if let Some(orphan) = (1..n).find(|&i| !has_parent[i]) {
            return Err(format!("node {orphan} is not reachable from the root"));
        }
        if Some(t.leaf_value.len()) != leaves.checked_mul(width) {
            return Err(format!(
                "value has {} entries; expected {leaves} leaves × {width}",
                t.leaf_value.len()
            ));
        }
        check_categories(t, next_categorical)
    }

    /// Checks the values of leaf `i`, leaf index `k`; `value` may still be
    /// short (its length is checked after the last leaf).
    fn check_leaf(&self, t: &Tree, i: usize, k: usize, width: usize) -> Result<(), String> {
        let Some(values) = t.leaf_value.get(k * width..(k + 1) * width) else {
            return Err(format!(
                "value has {} entries; leaf {i} (leaf index {k}) needs {}",
                t.leaf_value.len(),
                (k + 1) * width
            ));
        };
        if let Some(&v) = values.iter().find(|v| !v.is_finite()) {
            return Err(format!("leaf {i} has a non-finite value {}", quote(v)));
        }
        if self.aggregation == Aggregation::Vote {
            let c = values[0];
            if c.fract() != 0.0 || c < 0.0 || c >= self.n_outputs() as f64 {
                return Err(format!(
                    "leaf {i} votes for class {}; classes are 0..{}",
                    quote(c),
                    self.n_outputs()
                ));
            }
        }
        Ok(())
    }
}

/// The categorical splits' own structure; `matched` is how many of
/// `categories.nodes` the node pass found, in order, among internal nodes.
fn check_categories(t: &Tree, matched: usize) -> Result<(), String> {
    let c = &t.categories;
    if c.nodes.is_empty() {
        return if c.offsets.is_empty() && c.categories.is_empty() {
            Ok(())
        } else {
            Err("category offsets or values without categorical splits".into())
        };
    }
    if let Some(w) = c.nodes.windows(2).find(|w| w[0] >= w[1]) {
        return Err(format!(
            "categorical split nodes must be strictly ascending ({} then {})",
            w[0], w[1]
        ));
    }
    if matched != c.nodes.len() {
        let bad = c.nodes[matched.min(c.nodes.len() - 1)];
        return Err(format!(
            "categorical split node {bad} is not a node of the tree"
        ));
    }
    if c.offsets.len() != c.nodes.len() + 1 || c.offsets[0] != 0 {
        return Err(format!(
            "{} category offsets for {} categorical splits; expected {} starting at 0",
            c.offsets.len(),
            c.nodes.len(),
            c.nodes.len() + 1
        ));
    }
    if c.offsets.last().map(|&o| o as usize) != Some(c.categories.len()) {
        return Err(format!(
            "category offsets end at {:?}; there are {} categories",
            c.offsets.last(),
            c.categories.len()
        ));
    }
    for (k, w) in c.offsets.windows(2).enumerate() {
        if w[0] > w[1] {
            return Err(format!("category offsets decrease at split {k}"));
        }
        let set = &c.categories[w[0] as usize..w[1] as usize];
        if let Some(p) = set.windows(2).find(|p| p[0] >= p[1]) {
            return Err(format!(
                "node {}: categories must be strictly ascending ({} then {})",
                c.nodes[k], p[0], p[1]
            ));
        }
        if let Some(&v) = set.last().filter(|&&v| v > MAX_CATEGORY) {
            return Err(format!(
                "node {}: category {v} is above the largest supported, {MAX_CATEGORY}",
                c.nodes[k]
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::stump;
    use super::super::*;

    #[test]
    fn check_rejects_cycles_bad_children_and_features() {
        let mut f = stump();
        f.trees[0].explicit_true_child = vec![0, LEAF, LEAF];
        assert!(matches!(f.check(), Err(ForestError::Tree { .. })));
        // Each edit of the stump, and what the error says.
        type Edit = fn(&mut Forest);
        let cases: [(Edit, &str); 10] = [
            (
                |f| f.trees[0].explicit_true_child = vec![2, LEAF, LEAF],
                "more than one parent",
            ),
            (
                |f| f.trees[0].explicit_true_child = vec![1, 2, LEAF],
                "one child",
            ),
            (
                |f| f.trees[0].explicit_true_child = vec![1, LEAF],
                "expected 3 or none",
            ),
            (
                |f| f.trees[0].false_child_or_leaf[2] = LEAF_BIT,
                "leaf index 0",
            ),
            (|f| f.trees[0].leaf_value.push(0.0), "2 leaves"),
            (
                |f| {
                    f.trees[0].leaf_value.pop();
                },
                "needs 2",
            ),
            (
                |f| f.trees[0].false_child_or_leaf[0] = 1,
                "more than one parent",
            ),
            (|f| f.trees[0].feature[0] = 3, "feature 3"),
            (|f| f.trees[0].leaf_value[1] = 2.0, "votes for class 2.0"),
            (
                |f| {
                    f.trees[0].threshold.pop();
                },
                "threshold has 2 entries",
            ),
        ];
        for (edit, expected) in cases {
            let mut f = stump();
            edit(&mut f);
            let message = f.check().unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
        let mut f = stump();
        f.task = Task::Classification(Labels::Int(vec![1, 1]));
        assert_eq!(f.check(), Err(ForestError::DuplicateLabel("1".into())));
    }

    #[test]
    fn huge_numbers_are_quoted_briefly() {
        let mut f = stump();
        f.trees[0].leaf_value[1] = 1e300;
        let message = f.check().unwrap_err().to_string();
        assert!(message.contains("1e+300"), "{message}");
        assert!(message.len() < 80, "{message}");
    }

    #[test]
    fn categorical_splits_are_checked() {
        let with = |nodes: Vec<u32>, offsets: Vec<u32>, categories: Vec<u32>| {
            let mut f = stump();
            f.trees[0].categories = CategorySplits {
                nodes,
                offsets,
                categories,
            };
            f.check()
        };
        assert_eq!(with(vec![0], vec![0, 2], vec![1, 3]), Ok(()));
        // A categorical split needs no threshold.
        let mut f = stump();
        f.trees[0].categories.push(0, [2]);
        f.trees[0].threshold[0] = f64::NAN;
        assert_eq!(f.check(), Ok(()));
        for (nodes, offsets, categories, why) in [
            (vec![1], vec![0, 1], vec![1], "leaf 1"),
            (vec![0], vec![0, 2], vec![3, 1], "ascending"),
            (vec![0], vec![0, 1], vec![1, 2], "end at"),
            (vec![0], vec![1, 1], vec![1], "starting at 0"),
            (vec![7], vec![0, 1], vec![1], "not a node"),
            (vec![0], vec![0, 1], vec![u32::MAX], "above the largest"),
            (vec![], vec![0], vec![], "without categorical"),
        ] {
            let err = with(nodes, offsets, categories).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn aggregations_fit_their_tasks() {
        let sum = |post, base: Vec<f64>, targets: Vec<u32>| Aggregation::Sum {
            base_values: base,
            post_transform: post,
            tree_targets: targets,
        };
        let mut f = stump();
        f.trees[0].leaf_value = vec![-1.0, 1.0];
        f.aggregation = sum(PostTransform::Logistic, vec![0.5], vec![]);
        assert_eq!(f.check(), Ok(()));
        f.aggregation = sum(PostTransform::Exp, vec![0.5], vec![]);
        assert!(f.check().is_err());
        f.aggregation = sum(PostTransform::Logistic, vec![0.5, 0.1], vec![0]);
        assert_eq!(f.check(), Ok(()));
        f.aggregation = sum(PostTransform::Logistic, vec![0.5, 0.1], vec![2]);
        assert!(f.check().unwrap_err().to_string().contains("score 2"));
        f.aggregation = sum(PostTransform::Softmax, vec![0.0, 0.0], vec![0, 1]);
        assert!(f
            .check()
            .unwrap_err()
            .to_string()
            .contains("2 tree targets"));
        f.task = Task::Regression { n_targets: 1 };
        f.aggregation = sum(PostTransform::Exp, vec![0.5], vec![]);
        assert_eq!(f.check(), Ok(()));
        f.task = Task::AnomalyDetection { offset: -0.5 };
        assert!(f.check().is_err());
        f.aggregation = sum(
            PostTransform::IsolationScore { normalizer: 3.0 },
            vec![0.0],
            vec![],
        );
        assert_eq!(f.check(), Ok(()));
        f.input.zero_as_missing = vec![1];
        assert!(f.check().unwrap_err().to_string().contains("feature 1"));
    }
}
