//! smartcore 0.7 `RandomForestRegressor`, `ExtraTreesRegressor` and
//! `DecisionTreeRegressor`, read through their serde form like the
//! classifiers (mirror structs denying unknown fields).
//!
//! smartcore semantics reproduced by the IR: a row goes to the true child
//! when `x <= split_value`, `x` being the model's own feature type widened
//! to f64 (so float32 models compare float32 inputs: `Precision::F32`), and
//! NaN takes the false branch; a tree predicts its leaf's f64 output; a
//! forest adds its trees' outputs in tree order in the target type and
//! divides by the number of trees. With f64 targets that is the IR's
//! average to the bit; with f32 targets smartcore rounds every partial sum
//! to float32, which the IR (summing in f64) does not: expect differences
//! of about 1e-7 relative there.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::extra_trees_regressor::ExtraTreesRegressor;
use smartcore::ensemble::random_forest_regressor::RandomForestRegressor;
use smartcore::linalg::basic::arrays::{Array1, Array2};
use smartcore::numbers::basenum::Number;
use smartcore::numbers::floatnum::FloatNumber;
use smartcore::tree::decision_tree_regressor::DecisionTreeRegressor;

use super::{mirror_of, nodes, precision_of, SmartcoreError};
use crate::ir::{Aggregation, Forest, Task, Tree};

/// `BaseForest` (inside `RandomForestRegressor` and `ExtraTreesRegressor`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForestMirror {
    forest_regressor: Option<BaseForestMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BaseForestMirror {
    trees: Option<Vec<TreeMirror>>,
    num_features: Option<usize>,
    #[allow(dead_code)]
    samples: Option<serde_json::Value>,
}

/// `DecisionTreeRegressor`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegressorMirror {
    tree_regressor: Option<TreeMirror>,
    num_features: Option<usize>,
}

/// `BaseTree<…, f64>`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TreeMirror {
    nodes: Vec<NodeMirror>,
    #[allow(dead_code)]
    parameters: Option<serde_json::Value>,
    #[allow(dead_code)]
    depth: u16,
    #[allow(dead_code)]
    root_mass: f64,
    #[allow(dead_code)]
    _phantom_tx: (),
    #[allow(dead_code)]
    _phantom_ty: (),
    #[allow(dead_code)]
    _phantom_x: (),
    #[allow(dead_code)]
    _phantom_y: (),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeMirror {
    output: f64,
    split_feature: usize,
    split_value: Option<f64>,
    #[allow(dead_code)]
    split_score: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

/// Import a fitted smartcore random forest regressor.
pub fn from_random_forest_regressor<TX, TY, X, Y>(
    model: &RandomForestRegressor<TX, TY, X, Y>,
) -> Result<Forest, SmartcoreError>
where
    TX: Number + FloatNumber + PartialOrd,
    TY: Number,
    X: Array2<TX>,
    Y: Array1<TY>,
    RandomForestRegressor<TX, TY, X, Y>: Serialize,
{
    let mirror: ForestMirror = mirror_of(model, "RandomForestRegressor")?;
    let mut forest = forest_from_mirror(mirror, "RandomForestRegressor")?;
    forest.input.precision = precision_of::<TX>();
    Ok(forest)
}

/// Import a fitted smartcore extra trees regressor.
pub fn from_extra_trees_regressor<TX, TY, X, Y>(
    model: &ExtraTreesRegressor<TX, TY, X, Y>,
) -> Result<Forest, SmartcoreError>
where
    TX: Number + FloatNumber + PartialOrd,
    TY: Number,
    X: Array2<TX>,
    Y: Array1<TY>,
    ExtraTreesRegressor<TX, TY, X, Y>: Serialize,
{
    let mirror: ForestMirror = mirror_of(model, "ExtraTreesRegressor")?;
    let mut forest = forest_from_mirror(mirror, "ExtraTreesRegressor")?;
    forest.input.precision = precision_of::<TX>();
    Ok(forest)
}

/// Import a fitted smartcore decision tree regressor as a one-tree forest.
pub fn from_decision_tree_regressor<TX, TY, X, Y>(
    model: &DecisionTreeRegressor<TX, TY, X, Y>,
) -> Result<Forest, SmartcoreError>
where
    TX: Number + PartialOrd,
    TY: Number,
    X: Array2<TX>,
    Y: Array1<TY>,
    DecisionTreeRegressor<TX, TY, X, Y>: Serialize,
{
    let mirror: RegressorMirror = mirror_of(model, "DecisionTreeRegressor")?;
    let mut forest = tree_from_mirror(mirror)?;
    forest.input.precision = precision_of::<TX>();
    Ok(forest)
}

/// A forest regressor's mirror → forest (`estimator` names the class).
pub(super) fn forest_from_mirror(
    mirror: ForestMirror,
    estimator: &str,
) -> Result<Forest, SmartcoreError> {
    let Some(BaseForestMirror {
        trees: Some(trees),
        num_features: Some(n_features),
        ..
    }) = mirror.forest_regressor
    else {
        return Err(SmartcoreError::NotFitted);
    };
    build(trees, n_features, estimator)
}

/// A decision tree regressor's mirror → one-tree forest.
pub(super) fn tree_from_mirror(mirror: RegressorMirror) -> Result<Forest, SmartcoreError> {
    let (Some(tree), Some(n_features)) = (mirror.tree_regressor, mirror.num_features) else {
        return Err(SmartcoreError::NotFitted);
    };
    build(vec![tree], n_features, "DecisionTreeRegressor")
}

fn build(
    trees: Vec<TreeMirror>,
    n_features: usize,
    estimator: &str,
) -> Result<Forest, SmartcoreError> {
    let trees = trees
        .into_iter()
        .enumerate()
        .map(|(i, t)| convert_tree(i, t))
        .collect::<Result<Vec<_>, _>>()?;
    nodes::forest_of(
        trees,
        n_features,
        Task::Regression { n_targets: 1 },
        Aggregation::Average,
        estimator,
    )
}

fn convert_tree(index: usize, mirror: TreeMirror) -> Result<Tree, SmartcoreError> {
    nodes::tree_from_nodes(
        index,
        mirror.nodes.into_iter().map(|node| nodes::Node {
            output: node.output,
            split_feature: node.split_feature,
            split_value: node.split_value,
            true_child: node.true_child,
            false_child: node.false_child,
        }),
    )
}
