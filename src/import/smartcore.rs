//! Import smartcore 0.7 `RandomForestClassifier` and `DecisionTreeClassifier`,
//! and (in [`regressor`]) `RandomForestRegressor`, `ExtraTreesRegressor` and
//! `DecisionTreeRegressor`.
//!
//! smartcore keeps tree internals private, so the model is read through its
//! serde form (`serde_json::to_value`, which is lossless) into mirror structs
//! that deny unknown fields: a smartcore layout change fails loudly here
//! instead of producing a wrong forest. The smartcore version is pinned
//! exactly in `Cargo.toml` for the same reason.
//!
//! smartcore semantics reproduced by the IR: `x <= threshold` in f64, NaN
//! takes the false branch, each tree votes its leaf's class, ties go to the
//! lowest class index.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
use smartcore::linalg::basic::arrays::{Array1, Array2};
use smartcore::numbers::basenum::Number;
use smartcore::numbers::floatnum::FloatNumber;
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;

use crate::ir::{Aggregation, Forest, Labels, Precision, Task, Tree};

mod nodes;
mod regressor;

pub use regressor::{
    from_decision_tree_regressor, from_extra_trees_regressor, from_random_forest_regressor,
};

/// The smartcore version this importer understands (pinned in `Cargo.toml`).
pub const SMARTCORE_VERSION: &str = "0.7.0";

/// Why a smartcore model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum SmartcoreError {
    /// The model's serde form did not match the expected layout.
    #[error("not a smartcore {SMARTCORE_VERSION} {kind} (layout mismatch: {source})")]
    Layout {
        /// What was expected.
        kind: &'static str,
        /// The serde error.
        source: serde_json::Error,
    },
    /// The model was never fitted.
    #[error("the smartcore model is not fitted")]
    NotFitted,
    /// A class label does not fit in i64.
    #[error("class label {0} does not fit in a 64-bit signed integer")]
    Label(String),
    /// A node is malformed.
    #[error("tree {tree}, node {node}: {problem}")]
    Node {
        /// Tree index.
        tree: usize,
        /// Node index.
        node: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// The converted forest violates an IR invariant.
    #[error(transparent)]
    Forest(#[from] crate::ir::ForestError),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForestMirror {
    trees: Option<Vec<TreeMirror>>,
    classes: Option<Vec<serde_json::Value>>,
    #[allow(dead_code)]
    samples: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeMirror {
    nodes: Vec<NodeMirror>,
    #[allow(dead_code)]
    parameters: Option<serde_json::Value>,
    num_classes: usize,
    classes: Vec<serde_json::Value>,
    #[allow(dead_code)]
    depth: u16,
    num_features: usize,
    #[allow(dead_code)]
    _phantom_tx: (),
    #[allow(dead_code)]
    _phantom_x: (),
    #[allow(dead_code)]
    _phantom_y: (),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeMirror {
    output: usize,
    #[allow(dead_code)]
    n_node_samples: usize,
    split_feature: usize,
    split_value: Option<f64>,
    #[allow(dead_code)]
    split_score: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
    #[allow(dead_code)]
    impurity: Option<f64>,
}

/// Import a fitted smartcore random forest classifier.
pub fn from_random_forest<TX, TY, X, Y>(
    model: &RandomForestClassifier<TX, TY, X, Y>,
) -> Result<Forest, SmartcoreError>
where
    TX: Number + FloatNumber + PartialOrd,
    TY: Number + Ord,
    X: Array2<TX>,
    Y: Array1<TY>,
    RandomForestClassifier<TX, TY, X, Y>: Serialize,
{
    let mirror: ForestMirror = mirror_of(model, "RandomForestClassifier")?;
    let mut forest = forest_from_mirror(mirror)?;
    forest.input.precision = precision_of::<TX>();
    Ok(forest)
}

/// smartcore compares in the model's own feature type: float32 models see
/// float32 inputs.
pub(super) fn precision_of<TX>() -> Precision {
    if std::mem::size_of::<TX>() <= 4 {
        Precision::F32
    } else {
        Precision::F64
    }
}

/// Import a fitted smartcore decision tree classifier as a one-tree forest.
pub fn from_decision_tree<TX, TY, X, Y>(
    model: &DecisionTreeClassifier<TX, TY, X, Y>,
) -> Result<Forest, SmartcoreError>
where
    TX: Number + PartialOrd,
    TY: Number + Ord,
    X: Array2<TX>,
    Y: Array1<TY>,
    DecisionTreeClassifier<TX, TY, X, Y>: Serialize,
{
    let mirror: TreeMirror = mirror_of(model, "DecisionTreeClassifier")?;
    let classes = mirror.classes.clone();
    let mut forest = build_forest(vec![mirror], &classes, "DecisionTreeClassifier")?;
    forest.input.precision = precision_of::<TX>();
    Ok(forest)
}

/// Top-level keys of smartcore's serde JSON models, one of which every
/// model has: forest and tree regressors, forest classifiers, tree
/// classifiers.
const MODEL_KEYS: [&str; 4] = ["forest_regressor", "tree_regressor", "trees", "nodes"];

/// Whether a JSON value has the shape of a smartcore model (an object with
/// one of its top-level keys): JSON that does not (a manifest, settings) is
/// no model, rather than a broken one.
pub fn is_model_shaped(value: &serde_json::Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| MODEL_KEYS.iter().any(|k| o.contains_key(*k)))
}

/// Import a smartcore model saved as serde JSON text (random forest or
/// decision tree, classifier or regressor, detected from its fields; a
/// forest regressor's JSON does not say whether it was a random forest or
/// extra trees, and is named `RandomForestRegressor`).
///
/// Parsed with serde_json's `float_roundtrip`, so thresholds stay exact.
pub fn from_json(text: &str) -> Result<Forest, SmartcoreError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| SmartcoreError::Layout {
            kind: "model (JSON)",
            source,
        })?;
    if value.get("forest_regressor").is_some() {
        let mirror = from_value(value, "RandomForestRegressor")?;
        return regressor::forest_from_mirror(mirror, "RandomForestRegressor");
    }
    if value.get("tree_regressor").is_some() {
        let mirror = from_value(value, "DecisionTreeRegressor")?;
        return regressor::tree_from_mirror(mirror);
    }
    if value.get("trees").is_some() {
        let mirror = from_value(value, "RandomForestClassifier")?;
        forest_from_mirror(mirror)
    } else {
        let mirror: TreeMirror = from_value(value, "DecisionTreeClassifier")?;
        let classes = mirror.classes.clone();
        build_forest(vec![mirror], &classes, "DecisionTreeClassifier")
    }
}

pub(super) fn mirror_of<T: DeserializeOwned>(
    model: &impl Serialize,
    kind: &'static str,
) -> Result<T, SmartcoreError> {
    let value =
        serde_json::to_value(model).map_err(|source| SmartcoreError::Layout { kind, source })?;
    from_value(value, kind)
}

fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    kind: &'static str,
) -> Result<T, SmartcoreError> {
    serde_json::from_value(value).map_err(|source| SmartcoreError::Layout { kind, source })
}

fn forest_from_mirror(mirror: ForestMirror) -> Result<Forest, SmartcoreError> {
    let (Some(trees), Some(classes)) = (mirror.trees, mirror.classes) else {
        return Err(SmartcoreError::NotFitted);
    };
    build_forest(trees, &classes, "RandomForestClassifier")
}

fn build_forest(
    trees: Vec<TreeMirror>,
    classes: &[serde_json::Value],
    estimator: &str,
) -> Result<Forest, SmartcoreError> {
    let labels = classes
        .iter()
        .map(|c| {
            c.as_i64()
                .ok_or_else(|| SmartcoreError::Label(c.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let n_features = trees.first().map_or(0, |t| t.num_features);
    let trees = trees
        .into_iter()
        .enumerate()
        .map(|(i, t)| convert_tree(i, t, labels.len(), n_features))
        .collect::<Result<Vec<_>, _>>()?;
    nodes::forest_of(
        trees,
        n_features,
        Task::Classification(Labels::Int(labels)),
        Aggregation::Vote,
        estimator,
    )
}

fn convert_tree(
    index: usize,
    mirror: TreeMirror,
    n_classes: usize,
    n_features: usize,
) -> Result<Tree, SmartcoreError> {
    if mirror.num_classes != n_classes || mirror.num_features != n_features {
        return Err(SmartcoreError::Node {
            tree: index,
            node: 0,
            problem: "tree classes or features differ from the forest's",
        });
    }
    nodes::tree_from_nodes(
        index,
        mirror.nodes.into_iter().map(|node| nodes::Node {
            output: node.output as f64,
            split_feature: node.split_feature,
            split_value: node.split_value,
            true_child: node.true_child,
            false_child: node.false_child,
        }),
    )
}
