//! Which operator holds the trees and what its outputs mean, chosen from the
//! forest and the export options; what cannot be written exactly is refused
//! here, before anything is sized.

use crate::ir::{Aggregation, Forest, Labels, Task};

use super::{ExportError, ExportOptions, Precision};

/// The `ai.onnx.ml` operator holding the trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// `TreeEnsembleClassifier` (opsets 1/3): the proven encodings of
    /// voting and averaging classifiers.
    Classifier,
    /// `TreeEnsembleRegressor` (opsets 1/3): summed leaf values.
    Regressor,
    /// `TreeEnsemble` (opset 5).
    TreeEnsemble,
}

/// What the leaves of each written tree contribute: the weight entries of
/// opsets 1/3 (`class_*` / `target_*`), the leaf records of opset 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entries {
    /// Hard vote of a two-class classifier op: class 1, weight ±1
    /// (onnxruntime's one-score binary path).
    VoteSigned,
    /// Hard vote: the leaf's class, weight 1.
    Vote,
    /// Soft vote of a two-class classifier op: class 1, weight `p1 - p0`.
    ProbSigned,
    /// One entry per leaf value `k`, for output `k`; zero weights are left
    /// out at opsets 1/3. At opset 5, written tree copy `k` holds value `k`.
    PerValue,
    /// One entry, for the tree's score ([`Forest::tree_target`]).
    TreeTarget,
    /// One entry per leaf, for output `t` (the tree's own column), weight
    /// the leaf's number within its tree: leaf-index graphs.
    LeafOrdinal,
}

/// How the forest is written.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub op: Op,
    pub entries: Entries,
    /// Precision of the input, the thresholds and the outputs (`Float` or
    /// `Double`: [`super::choose`] resolved `Auto`).
    pub precision: Precision,
    /// The `ai.onnx.ml` opset (1, 3 or 5).
    pub ml_opset: i64,
    /// Written trees per forest tree: opset 5 leaves hold one value, so a
    /// forest whose leaves hold `k` values is written as `k` copies of each
    /// tree, copy `j` holding value `j`.
    pub copies: usize,
    /// Columns of the ensemble's output: classes of the classifier op,
    /// `n_targets` otherwise.
    pub n_targets: usize,
    /// The ensemble outputs leaf numbers, one column per tree, and the graph
    /// gathers the leaf values in double (double precision at opset 3, whose
    /// ensemble operators only output float32).
    pub leaf_index: bool,
    /// The base values are written into the regressor op (`base_values`);
    /// otherwise a standard `Add` follows the ensemble.
    pub base_in_node: bool,
    /// Some node sends NaN to its true child.
    pub any_missing: bool,
    /// Features some categorical split reads, ascending: each is read as a
    /// category number into an extra input column of the ensemble, column
    /// `n_features + position`.
    pub categorical_features: Vec<u32>,
}

/// Leaf numbers are written as float32 weights: exact below 2^24.
const MAX_LEAF_INDEX_LEAVES: usize = 1 << 24;

impl Layout {
    /// Chooses the layout of `forest` under `options`, or says what cannot be
    /// written exactly. Reads the forest's arrays without trusting them.
    pub fn new(forest: &Forest, options: &ExportOptions) -> Result<Layout, ExportError> {
        let unsupported = |why: String| Err(ExportError::Unsupported(why));
        let choice = super::choose(forest, options);
        let double = choice.precision == Precision::Double;
        match choice.ml_opset {
            1 if double => {
                return unsupported(
                    "double precision needs ai.onnx.ml opset 3 or 5 (opset 1 has no double \
                     attributes); use --ml-opset 3 or 5, or --precision float"
                        .into(),
                )
            }
            1 | 3 | 5 => {}
            other => {
                return unsupported(format!(
                    "ai.onnx.ml opset {other}: forest2onnx writes opsets 1, 3 and 5"
                ))
            }
        }
        let labels = forest.class_labels();
        if options.zipmap {
            match labels {
                None => {
                    return unsupported(
                        "ZipMap needs a classifier: it maps class labels to probabilities".into(),
                    )
                }
                Some(Labels::Float(_)) => {
                    return unsupported(
                        "ZipMap with float class labels: ZipMap keys are int64 or strings".into(),
                    )
                }
                Some(_) => {}
            }
        }
        let n_classes = labels.map_or(0, Labels::len);
        let binary = n_classes == 2;
        let voting = matches!(forest.aggregation, Aggregation::Vote);
        let tree_targets = matches!(&forest.aggregation,
            Aggregation::Sum { tree_targets, .. } if !tree_targets.is_empty());
        let per_leaf = if voting {
            Entries::Vote
        } else if tree_targets {
            Entries::TreeTarget
        } else {
            Entries::PerValue
        };
        let categorical_features = categorical_features(forest);
        let any_missing = forest.trees.iter().any(|t| t.missing_true.contains(&true));
        let score_width = forest.score_width();
        let mut layout = Layout {
            op: Op::Regressor,
            entries: per_leaf,
            precision: choice.precision,
            ml_opset: choice.ml_opset,
            copies: 1,
            n_targets: score_width,
            leaf_index: false,
            base_in_node: false,
            any_missing,
            categorical_features,
        };
        let classifier_op = matches!(forest.task, Task::Classification(_))
            && matches!(forest.aggregation, Aggregation::Vote | Aggregation::Average)
            && n_classes >= 2;
        if choice.ml_opset == 5 {
            layout.op = Op::TreeEnsemble;
            if per_leaf == Entries::PerValue {
                layout.copies = forest.leaf_width();
            }
        } else if classifier_op && (!double || voting) {
            // Votes are integers: exact in the float32 scores a classifier
            // op outputs, in double precision too.
            layout.op = Op::Classifier;
            layout.n_targets = n_classes;
            layout.entries = match (voting, binary) {
                (true, true) => Entries::VoteSigned,
                (false, true) => Entries::ProbSigned,
                _ => per_leaf,
            };
        } else if double && !voting {
            layout.leaf_index = true;
            layout.entries = Entries::LeafOrdinal;
            layout.n_targets = forest.trees.len();
            if let Some(t) = forest
                .trees
                .iter()
                .position(|t| t.n_leaves() >= MAX_LEAF_INDEX_LEAVES)
            {
                return unsupported(format!(
                    "tree {t} has 2^24 leaves or more: double precision at opset 3 numbers \
                     leaves in float32; use --ml-opset 5"
                ));
            }
        } else {
            layout.base_in_node = matches!(forest.aggregation, Aggregation::Sum { .. });
        }
        Ok(layout)
    }

    /// The `TreeEnsembleClassifier` two-class layout: one score, on class 1.
    pub fn signed_binary(&self) -> bool {
        matches!(self.entries, Entries::VoteSigned | Entries::ProbSigned)
    }
}

/// Features read by some categorical split, ascending (unchecked forests:
/// out-of-range node ids are skipped; the forest check reports them).
fn categorical_features(forest: &Forest) -> Vec<u32> {
    let mut features: Vec<u32> = forest
        .trees
        .iter()
        .flat_map(|t| {
            t.categories
                .nodes
                .iter()
                .filter_map(|&n| t.feature.get(n as usize).copied())
        })
        .collect();
    features.sort_unstable();
    features.dedup();
    features
}
