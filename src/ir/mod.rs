//! The backend-neutral forest IR: the data model every importer produces and
//! every exporter consumes.
//!
//! Trees are struct-of-arrays indexed by node id, so the same layout can be
//! written to disk, memory-mapped and turned into ONNX or PMML without
//! reshaping. Besides the trees, a [`Forest`] records everything needed to
//! reproduce its source library's predictions exactly: how inputs are read
//! ([`InputRules`]: float32 cast, categorical values, zero-as-missing), how a
//! split compares ([`SplitOp`]), how leaf values combine ([`Aggregation`]) and
//! what the outputs mean ([`Task`]).
//!
//! [`Forest::check`] validates every invariant: importers read untrusted
//! files, so nothing downstream may trust a forest that was not checked. The
//! reference evaluation, [`Forest::predict`], lives in [`crate::predict`].

mod check;
mod labels;
pub mod thresholds;

use serde::{Deserialize, Serialize};

pub use check::ForestError;
pub use labels::{python_float, Labels};

/// Marker a leaf holds in [`Tree::explicit_true_child`].
pub const LEAF: u32 = u32::MAX;

/// Set in a leaf's [`Tree::false_child_or_leaf`] entry, whose other bits are its leaf
/// index; split nodes' children are below it (trees have fewer than 2^31
/// nodes).
pub const LEAF_BIT: u32 = 1 << 31;

/// LightGBM's `kZeroThreshold` (declared `1e-35f`, a float32 literal): with
/// [`InputRules::zero_as_missing`], values with `|x| <= ZERO_THRESHOLD` are
/// missing.
pub const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Largest category value a categorical split may list.
pub const MAX_CATEGORY: u32 = i32::MAX as u32;

/// How a numeric split compares the feature value `x` with the node
/// threshold `t`: the row goes to the *true* child when the comparison holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitOp {
    /// `x <= t` (smartcore, scikit-learn, LightGBM).
    LessOrEqual,
    /// `x < t` (XGBoost).
    Less,
}

/// The precision in which the source library compares inputs with
/// thresholds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// Inputs are rounded to float32 before routing (scikit-learn trees,
    /// XGBoost, smartcore `f32` models); thresholds stay f64.
    F32,
    /// Inputs are compared as given, in f64 (smartcore `f64` models,
    /// LightGBM, scikit-learn HistGradientBoosting).
    #[default]
    F64,
}

/// How a categorical split reads a (non-NaN) feature value `x` as a category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CategoryRule {
    /// Negative values are no category; otherwise the category is `x`
    /// truncated toward zero (XGBoost, scikit-learn).
    #[default]
    NonNegative,
    /// The category is `x` truncated toward zero, so `-0.5` reads as 0 and
    /// only values at or below `-1` are negative (LightGBM's
    /// `static_cast<int>`).
    TowardZero,
    /// Only non-negative integers are categories: `1.5` is no category
    /// (Spark ML, which looks the value up in a set of doubles; `-0.0` is
    /// category 0).
    Integral,
}

/// How the source library reads a feature value before a split tests it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRules {
    /// Rounding applied to inputs before routing.
    pub precision: Precision,
    /// How categorical splits read values.
    #[serde(default)]
    pub categories: CategoryRule,
    /// Features (ascending ids) whose values with `|x| <=`
    /// [`ZERO_THRESHOLD`] count as missing, i.e. route like NaN (LightGBM's
    /// missing type `Zero`).
    #[serde(default)]
    pub zero_as_missing: Vec<u32>,
}

/// What the forest predicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Task {
    /// Class labels in the order of the class indices used by the leaves.
    Classification(Labels),
    /// Real-valued targets.
    Regression {
        /// Number of outputs per row.
        n_targets: usize,
    },
    /// Anomaly scores in the manner of scikit-learn's `IsolationForest`: the
    /// outputs are `score_samples` and `decision_function = score_samples -
    /// offset`; the label is `-1` (outlier) where the decision is negative,
    /// else `1`. Needs [`Aggregation::Sum`] with one score and
    /// [`PostTransform::IsolationScore`].
    AnomalyDetection {
        /// scikit-learn's `offset_`.
        offset: f64,
    },
}

/// How the leaves reached in each tree combine into the forest's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Aggregation {
    /// Hard voting: each leaf holds one class index; the class with most
    /// votes wins, ties go to the lowest class index; probabilities are
    /// `votes / n_trees` (smartcore).
    Vote,
    /// Each leaf holds one value per output; outputs are averaged over the
    /// trees (scikit-learn forests: soft voting); the label is the first
    /// class with the highest probability.
    Average,
    /// Leaf values are summed over trees and added to `base_values` (the raw
    /// scores), then `post_transform` turns the scores into outputs
    /// (gradient boosting).
    Sum {
        /// One value per score. A two-class classifier may have one score
        /// (the log-odds of the second class).
        base_values: Vec<f64>,
        /// Applied to the raw scores.
        post_transform: PostTransform,
        /// Empty: every leaf holds one value per score. Otherwise one entry
        /// per tree: the score that tree adds to, and its leaves hold one
        /// value each (one tree per class and round, as boosting libraries
        /// store multi-class models).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tree_targets: Vec<u32>,
    },
}

/// A function applied to raw scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PostTransform {
    /// Scores are the outputs.
    None,
    /// `1 / (1 + e^-s)` per score; with one score for two classes,
    /// `p1 = σ(s)`, `p0 = 1 - p1`.
    Logistic,
    /// Softmax over the scores.
    Softmax,
    /// `e^s` per score (log-link regression: Poisson, gamma, Tweedie).
    Exp,
    /// `s · |s|` per score: the signed square (LightGBM `regression` with
    /// `reg_sqrt`).
    SignedSquare,
    /// `ln(1 + e^s)` per score, computed as `log1p(exp(s))` (LightGBM
    /// `cross_entropy_lambda`).
    Softplus,
    /// `1` where `s > 0`, else `0`, per score (XGBoost `binary:hinge`).
    Step,
    /// `-2^(-s / normalizer)`: an isolation forest's `score_samples` from the
    /// summed path lengths `s` (`normalizer` = number of trees × the average
    /// path length of `max_samples`; when it is 0 the ratio is taken as 1,
    /// as scikit-learn does).
    IsolationScore {
        /// Divisor of the summed path lengths.
        normalizer: f64,
    },
}

/// Where the forest came from, recorded in every exported file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Library that trained the model, e.g. `smartcore`.
    pub library: String,
    /// That library's version, e.g. `0.7.0`.
    pub version: String,
    /// Estimator type, e.g. `RandomForestClassifier`.
    pub estimator: String,
    /// Source-specific facts worth showing (`objective`, `base_score`,
    /// `boosting_rounds`, ...), as text.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub details: std::collections::BTreeMap<String, String>,
}

/// The categorical splits of one tree, in compressed sparse rows.
///
/// A categorical split sends a row to its true child when the row's value,
/// read as a category by [`InputRules::categories`], is one of the split's
/// categories; NaN follows [`Tree::missing_true`]; anything else (other
/// categories, negative or non-finite values) goes to the false child. The
/// node's threshold is unused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategorySplits {
    /// Ids of the categorical split nodes, ascending.
    pub nodes: Vec<u32>,
    /// `offsets[k]..offsets[k + 1]` index the categories of `nodes[k]` in
    /// `categories`: `nodes.len() + 1` entries starting at 0, or none when
    /// there are no categorical splits.
    pub offsets: Vec<u32>,
    /// Each split's categories, strictly ascending, at most [`MAX_CATEGORY`].
    pub categories: Vec<u32>,
}

impl CategorySplits {
    /// True when the tree has no categorical split.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The categories of node `node`, or `None` for a numeric split.
    pub fn of(&self, node: u32) -> Option<&[u32]> {
        let k = self.nodes.binary_search(&node).ok()?;
        let (a, b) = (self.offsets[k] as usize, self.offsets[k + 1] as usize);
        Some(&self.categories[a..b])
    }

    /// Appends a categorical split; nodes must be pushed in ascending order
    /// (checked by [`Forest::check`]).
    pub fn push(&mut self, node: u32, categories: impl IntoIterator<Item = u32>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.nodes.push(node);
        self.categories.extend(categories);
        self.offsets.push(self.categories.len() as u32);
    }

    /// Iterates `(node, categories)` in node order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u32])> + '_ {
        self.nodes.iter().enumerate().map(|(k, &node)| {
            let (a, b) = (self.offsets[k] as usize, self.offsets[k + 1] as usize);
            (node, &self.categories[a..b])
        })
    }
}

/// One decision tree as struct-of-arrays indexed by node id; node 0 is the root.
///
/// The layout is lean: values are stored for leaves only, and the true
/// child of every split is implicit (the next node) when the tree allows
/// it, as depth-first trees with the true branch first do (scikit-learn's).
/// Read it through [`Tree::is_leaf`], [`Tree::children`] and
/// [`Tree::leaf_values`], and build it with [`Tree::push_leaf`] and
/// [`Tree::push_split`], rather than through the raw arrays:
///
/// - a leaf's `false_child_or_leaf` entry is [`LEAF_BIT`] plus its *leaf
///   index*, the number of leaves before it in node order; its values are
///   `leaf_value[k * leaf_width..(k + 1) * leaf_width]` for leaf index `k`;
/// - `explicit_true_child` is empty when every split's true child is the
///   next node,
///   else it holds one entry per node ([`LEAF`] for leaves).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature of each internal node (0 for leaves).
    pub feature: Vec<u32>,
    /// Split threshold of each numeric split (0 for leaves; ignored for
    /// categorical splits).
    pub threshold: Vec<f64>,
    /// Child taken when the split holds, or [`LEAF`]; empty when every
    /// split's true child is the node after it.
    pub explicit_true_child: Vec<u32>,
    /// Child taken when the split fails; for a leaf, [`LEAF_BIT`] plus its
    /// leaf index.
    pub false_child_or_leaf: Vec<u32>,
    /// Whether a missing value (NaN) goes to the true child.
    pub missing_true: Vec<bool>,
    /// Leaf values, [`Forest::leaf_width`] per leaf, leaves in node order.
    pub leaf_value: Vec<f64>,
    /// The categorical splits (usually none).
    #[serde(default)]
    pub categories: CategorySplits,
}

impl Tree {
    /// An empty tree with room for `nodes` nodes and `values` leaf values.
    pub fn with_capacity(nodes: usize, values: usize) -> Tree {
        Tree {
            feature: Vec::with_capacity(nodes),
            threshold: Vec::with_capacity(nodes),
            explicit_true_child: Vec::new(),
            false_child_or_leaf: Vec::with_capacity(nodes),
            missing_true: Vec::with_capacity(nodes),
            leaf_value: Vec::with_capacity(values),
            categories: CategorySplits::default(),
        }
    }

    /// Number of nodes, leaves included.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    /// Whether node `i` is a leaf.
    #[inline]
    pub fn is_leaf(&self, i: usize) -> bool {
        self.false_child_or_leaf[i] & LEAF_BIT != 0
    }

    /// The `(true, false)` children of split `i`, or `None` for a leaf.
    #[inline]
    pub fn children(&self, i: usize) -> Option<(u32, u32)> {
        let no = self.false_child_or_leaf[i];
        if no & LEAF_BIT != 0 {
            return None;
        }
        let yes = match self.explicit_true_child.get(i) {
            Some(&yes) => yes,
            None => i as u32 + 1,
        };
        Some((yes, no))
    }

    /// The leaf index of leaf `i` (its rank among the leaves), or `None`
    /// for a split.
    #[inline]
    pub fn leaf_index(&self, i: usize) -> Option<usize> {
        let no = self.false_child_or_leaf[i];
        (no & LEAF_BIT != 0).then_some((no & !LEAF_BIT) as usize)
    }

    /// The `width` values of leaf `i` (`width` is [`Forest::leaf_width`]);
    /// empty for a split.
    #[inline]
    pub fn leaf_values(&self, i: usize, width: usize) -> &[f64] {
        match self.leaf_index(i) {
            Some(k) => &self.leaf_value[k * width..(k + 1) * width],
            None => &[],
        }
    }

    /// Whether every split's true child is the node after it (then
    /// `explicit_true_child` is empty).
    pub fn implicit_true_children(&self) -> bool {
        self.explicit_true_child.is_empty()
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.false_child_or_leaf
            .iter()
            .filter(|&&c| c & LEAF_BIT != 0)
            .count()
    }

    /// Appends a leaf holding `values` (one per [`Forest::leaf_width`]);
    /// returns its node id.
    pub fn push_leaf(&mut self, values: &[f64]) -> u32 {
        let id = self.n_nodes() as u32;
        let k = if values.is_empty() {
            self.n_leaves()
        } else {
            self.leaf_value.len() / values.len()
        };
        self.feature.push(0);
        self.threshold.push(0.0);
        if !self.explicit_true_child.is_empty() {
            self.explicit_true_child.push(LEAF);
        }
        self.false_child_or_leaf.push(LEAF_BIT | k as u32);
        self.missing_true.push(false);
        self.leaf_value.extend_from_slice(values);
        id
    }

    /// Appends a split on `feature` with `threshold`, its `(true, false)`
    /// children and the side NaN takes; returns its node id. Children may
    /// be pushed later; their ids are checked by [`Forest::check`].
    pub fn push_split(
        &mut self,
        feature: u32,
        threshold: f64,
        (true_child, false_child): (u32, u32),
        missing_true: bool,
    ) -> u32 {
        let id = self.n_nodes() as u32;
        self.feature.push(feature);
        self.threshold.push(threshold);
        self.false_child_or_leaf.push(false_child);
        self.missing_true.push(missing_true);
        self.store_true_child(id as usize, true_child);
        id
    }

    /// Sets the children of split `i`, pushed with placeholder children.
    pub fn set_children(&mut self, i: usize, (true_child, false_child): (u32, u32)) {
        self.false_child_or_leaf[i] = false_child;
        self.store_true_child(i, true_child);
    }

    /// Records the true child of node `i` (the last node, or one already
    /// pushed), storing every true child once one is not the next node.
    fn store_true_child(&mut self, i: usize, true_child: u32) {
        if self.explicit_true_child.is_empty() {
            if true_child as usize == i + 1 {
                return;
            }
            self.explicit_true_child = (0..self.n_nodes())
                .map(|j| match self.false_child_or_leaf[j] & LEAF_BIT {
                    0 => j as u32 + 1,
                    _ => LEAF,
                })
                .collect();
        }
        if i < self.explicit_true_child.len() {
            self.explicit_true_child[i] = true_child;
        } else {
            self.explicit_true_child.push(true_child);
        }
    }

    /// A tree from the arrays of formats that stored every node's children
    /// and values: leaves have both children [`LEAF`], and `value` holds
    /// `width` values for every node. Fails, naming the node, when a node
    /// has one child.
    pub fn from_node_arrays(
        feature: Vec<u32>,
        threshold: Vec<f64>,
        true_child: &[u32],
        false_child: &[u32],
        missing_true: Vec<bool>,
        value: &[f64],
        width: usize,
    ) -> Result<Tree, String> {
        let n = feature.len();
        if true_child.len() != n || false_child.len() != n || value.len() != n * width {
            return Err(format!(
                "children or values of the wrong length for {n} nodes"
            ));
        }
        let mut t = Tree {
            feature,
            threshold,
            explicit_true_child: Vec::new(),
            false_child_or_leaf: Vec::with_capacity(n),
            missing_true,
            leaf_value: Vec::new(),
            categories: CategorySplits::default(),
        };
        let leaves = true_child.iter().filter(|&&c| c == LEAF).count();
        t.leaf_value.reserve_exact(leaves * width);
        let implicit = (0..n).all(|i| true_child[i] == LEAF || true_child[i] as usize == i + 1);
        if !implicit {
            t.explicit_true_child = true_child.to_vec();
        }
        let mut k = 0u32;
        for i in 0..n {
            let (yes, no) = (true_child[i], false_child[i]);
            if (yes == LEAF) != (no == LEAF) {
                return Err(format!("node {i} has one child; nodes need two or none"));
            }
            if yes == LEAF {
                t.false_child_or_leaf.push(LEAF_BIT | k);
                t.leaf_value
                    .extend_from_slice(&value[i * width..(i + 1) * width]);
                k += 1;
            } else {
                t.false_child_or_leaf.push(no);
            }
        }
        Ok(t)
    }

    /// Depth of the deepest leaf (a single-leaf tree has depth 0).
    pub fn depth(&self) -> usize {
        // Children always have larger ids than their parent (checked), so one
        // forward pass sees every parent before its children.
        let mut depth = vec![0usize; self.n_nodes()];
        let mut max = 0;
        for i in 0..self.n_nodes() {
            if let Some((yes, no)) = self.children(i) {
                let d = depth[i] + 1;
                depth[yes as usize] = d;
                depth[no as usize] = d;
                max = max.max(d);
            }
        }
        max
    }

    /// Heap bytes held by the tree's arrays (their lengths, not capacities).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of_val;
        let c = &self.categories;
        size_of_val(&self.feature[..])
            + size_of_val(&self.threshold[..])
            + size_of_val(&self.explicit_true_child[..])
            + size_of_val(&self.false_child_or_leaf[..])
            + size_of_val(&self.missing_true[..])
            + size_of_val(&self.leaf_value[..])
            + size_of_val(&c.nodes[..])
            + size_of_val(&c.offsets[..])
            + size_of_val(&c.categories[..])
    }
}

/// A tree ensemble: the one model representation every importer and exporter shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Number of input features.
    pub n_features: usize,
    /// Feature names, when the source knew them.
    pub feature_names: Option<Vec<String>>,
    /// How inputs are read before routing.
    pub input: InputRules,
    /// Comparison of every numeric split.
    pub split_op: SplitOp,
    /// What the forest predicts.
    pub task: Task,
    /// How tree outputs combine.
    pub aggregation: Aggregation,
    /// The trees.
    pub trees: Vec<Tree>,
    /// Provenance.
    pub source: Source,
}

/// The labels of an anomaly detector: class 0 is an outlier, class 1 an inlier.
static ANOMALY_LABELS: std::sync::LazyLock<Labels> =
    std::sync::LazyLock::new(|| Labels::Int(vec![-1, 1]));

impl Forest {
    /// Number of outputs per row: classes (probabilities), targets, or 2 for
    /// anomaly detectors (`score_samples`, `decision_function`).
    pub fn n_outputs(&self) -> usize {
        match &self.task {
            Task::Classification(labels) => labels.len(),
            Task::Regression { n_targets } => *n_targets,
            Task::AnomalyDetection { .. } => 2,
        }
    }

    /// Class labels, when this is a classifier.
    pub fn class_labels(&self) -> Option<&Labels> {
        match &self.task {
            Task::Classification(labels) => Some(labels),
            _ => None,
        }
    }

    /// The labels [`crate::predict::Prediction::classes`] index: the class
    /// labels of a classifier, `[-1, 1]` for an anomaly detector, none for a
    /// regressor.
    pub fn output_labels(&self) -> Option<&Labels> {
        match &self.task {
            Task::Classification(labels) => Some(labels),
            Task::AnomalyDetection { .. } => Some(&ANOMALY_LABELS),
            Task::Regression { .. } => None,
        }
    }

    /// Number of raw scores per row: what the trees' leaf values add up to
    /// before the outputs are derived.
    pub fn score_width(&self) -> usize {
        match &self.aggregation {
            Aggregation::Vote | Aggregation::Average => self.n_outputs(),
            Aggregation::Sum { base_values, .. } => base_values.len(),
        }
    }

    /// Number of values each leaf holds in [`Tree::leaf_value`].
    pub fn leaf_width(&self) -> usize {
        match &self.aggregation {
            Aggregation::Vote => 1,
            Aggregation::Average => self.n_outputs(),
            Aggregation::Sum {
                base_values,
                tree_targets,
                ..
            } => {
                if tree_targets.is_empty() {
                    base_values.len()
                } else {
                    1
                }
            }
        }
    }

    /// The score tree `t` adds its leaf values to, when each tree feeds one
    /// score ([`Aggregation::Sum`] with `tree_targets`).
    pub fn tree_target(&self, t: usize) -> Option<u32> {
        match &self.aggregation {
            Aggregation::Sum { tree_targets, .. } => tree_targets.get(t).copied(),
            _ => None,
        }
    }

    /// Whether any tree has a categorical split.
    pub fn has_categorical_splits(&self) -> bool {
        self.trees.iter().any(|t| !t.categories.is_empty())
    }

    /// Total number of nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.trees.iter().map(Tree::n_nodes).sum()
    }

    /// Total number of leaves over all trees.
    pub fn n_leaves(&self) -> usize {
        self.trees.iter().map(Tree::n_leaves).sum()
    }

    /// Depth of the deepest tree.
    pub fn max_depth(&self) -> usize {
        self.trees.iter().map(Tree::depth).max().unwrap_or(0)
    }

    /// Heap bytes held by the trees' arrays ([`Tree::heap_bytes`]) and the
    /// tree list itself: the forest's size in memory, less its metadata.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&self.trees[..])
            + self.trees.iter().map(Tree::heap_bytes).sum::<usize>()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// x0 <= 0.5 ? class 0 : class 1, as a one-tree vote forest.
    pub(crate) fn stump() -> Forest {
        Forest {
            n_features: 1,
            feature_names: None,
            input: InputRules::default(),
            split_op: SplitOp::LessOrEqual,
            task: Task::Classification(Labels::Int(vec![10, 20])),
            aggregation: Aggregation::Vote,
            trees: vec![{
                let mut t = Tree::default();
                t.push_split(0, 0.5, (1, 2), false);
                t.push_leaf(&[0.0]);
                t.push_leaf(&[1.0]);
                t
            }],
            source: Source::default(),
        }
    }

    #[test]
    fn depth_counts_edges() {
        assert_eq!(stump().trees[0].depth(), 1);
    }

    #[test]
    fn builders_store_true_children_only_when_needed() {
        let t = &stump().trees[0];
        assert!(t.implicit_true_children());
        assert_eq!(t.children(0), Some((1, 2)));
        assert_eq!(t.leaf_values(2, 1), &[1.0]);
        assert_eq!(t.leaf_index(1), Some(0));
        // Breadth-first: the root's true child is node 1, node 1's is 3.
        let mut t = Tree::default();
        t.push_split(0, 0.5, (1, 2), false);
        t.push_split(0, 0.25, (3, 4), true);
        t.push_leaf(&[5.0, 6.0]);
        t.push_leaf(&[1.0, 2.0]);
        t.push_leaf(&[3.0, 4.0]);
        assert_eq!(t.explicit_true_child, vec![1, 3, LEAF, LEAF, LEAF]);
        assert_eq!(t.children(1), Some((3, 4)));
        assert_eq!(t.leaf_values(2, 2), &[5.0, 6.0]);
        assert_eq!(t.leaf_values(4, 2), &[3.0, 4.0]);
        assert_eq!(t.n_leaves(), 3);
        assert_eq!(t.depth(), 2);
        // The same tree from per-node arrays.
        let old = Tree::from_node_arrays(
            t.feature.clone(),
            t.threshold.clone(),
            &[1, 3, LEAF, LEAF, LEAF],
            &[2, 4, LEAF, LEAF, LEAF],
            t.missing_true.clone(),
            &[0.0, 0.0, 0.0, 0.0, 5.0, 6.0, 1.0, 2.0, 3.0, 4.0],
            2,
        );
        assert_eq!(old, Ok(t));
        let one_child = Tree::from_node_arrays(
            vec![0; 2],
            vec![0.0; 2],
            &[1, LEAF],
            &[LEAF, LEAF],
            vec![false; 2],
            &[0.0; 2],
            1,
        );
        assert!(one_child.unwrap_err().contains("one child"));
    }

    #[test]
    fn a_single_output_forest_takes_at_most_24_bytes_per_node() {
        // Depth-first trees, as scikit-learn's: no true child is stored.
        // Trees of 2,001 nodes, so the per-tree Vec headers weigh little.
        let mut f = crate::synth::forest(&crate::synth::SynthSpec::sklearn(4, 2001, 5));
        let width = f.leaf_width();
        assert_eq!(width, 3);
        let per_node = |f: &Forest| f.heap_bytes() as f64 / f.n_nodes() as f64;
        // Three values per leaf: 17 bytes per node plus 24 per leaf.
        assert!(per_node(&f) <= 17.0 + 24.0 * 0.5 + 1.0, "{}", per_node(&f));
        for t in &mut f.trees {
            assert!(t.implicit_true_children());
            t.leaf_value = t.leaf_value.iter().step_by(width).copied().collect();
        }
        assert!(per_node(&f) <= 24.0, "{} bytes per node", per_node(&f));
    }

    #[test]
    fn category_splits_look_up_by_node() {
        let mut c = CategorySplits::default();
        c.push(0, [1, 4]);
        c.push(5, []);
        c.push(7, [0]);
        assert_eq!(c.of(0), Some(&[1, 4][..]));
        assert_eq!(c.of(5), Some(&[][..]));
        assert_eq!(c.of(7), Some(&[0][..]));
        assert_eq!(c.of(3), None);
        assert_eq!(c.iter().count(), 3);
    }

    // LightGBM declares `kZeroThreshold = 1e-35f`: the float32 value, not 1e-35.
    const _: () = assert!(ZERO_THRESHOLD > 1e-35 && ZERO_THRESHOLD < 1.00001e-35);
}
