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

/// Marker stored in the child arrays of a leaf node.
pub const LEAF: u32 = u32::MAX;

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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature of each internal node (ignored for leaves).
    pub feature: Vec<u32>,
    /// Split threshold of each numeric split (ignored for leaves and
    /// categorical splits).
    pub threshold: Vec<f64>,
    /// Child taken when the split holds, or [`LEAF`].
    pub true_child: Vec<u32>,
    /// Child taken when the split fails, or [`LEAF`].
    pub false_child: Vec<u32>,
    /// Whether a missing value (NaN) goes to the true child.
    pub missing_true: Vec<bool>,
    /// Leaf values, [`Forest::leaf_width`] per node (internal nodes hold zeros).
    pub value: Vec<f64>,
    /// The categorical splits (usually none).
    #[serde(default)]
    pub categories: CategorySplits,
}

impl Tree {
    /// Number of nodes, leaves included.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    /// Whether node `i` is a leaf.
    pub fn is_leaf(&self, i: usize) -> bool {
        self.true_child[i] == LEAF
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.true_child.iter().filter(|&&c| c == LEAF).count()
    }

    /// Depth of the deepest leaf (a single-leaf tree has depth 0).
    pub fn depth(&self) -> usize {
        // Children always have larger ids than their parent (checked), so one
        // forward pass sees every parent before its children.
        let mut depth = vec![0usize; self.n_nodes()];
        let mut max = 0;
        for i in 0..self.n_nodes() {
            if !self.is_leaf(i) {
                let d = depth[i] + 1;
                depth[self.true_child[i] as usize] = d;
                depth[self.false_child[i] as usize] = d;
                max = max.max(d);
            }
        }
        max
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

    /// Number of values each node holds in [`Tree::value`].
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
            trees: vec![Tree {
                feature: vec![0, 0, 0],
                threshold: vec![0.5, 0.0, 0.0],
                true_child: vec![1, LEAF, LEAF],
                false_child: vec![2, LEAF, LEAF],
                missing_true: vec![false; 3],
                value: vec![0.0, 0.0, 1.0],
                categories: CategorySplits::default(),
            }],
            source: Source::default(),
        }
    }

    #[test]
    fn depth_counts_edges() {
        assert_eq!(stump().trees[0].depth(), 1);
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
