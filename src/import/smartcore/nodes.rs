//! What smartcore's classifiers and regressors share: the node list of a
//! `BaseTree` becomes IR arrays, and converted trees become a forest.

use super::{SmartcoreError, SMARTCORE_VERSION};
use crate::ir::{Aggregation, Forest, InputRules, Source, SplitOp, Task, Tree};

/// One smartcore node, as both mirrors hold it (a classifier's `output` is
/// its class index).
pub(super) struct Node {
    pub output: f64,
    pub split_feature: usize,
    pub split_value: Option<f64>,
    pub true_child: Option<usize>,
    pub false_child: Option<usize>,
}

/// The nodes of tree `index` as IR arrays.
pub(super) fn tree_from_nodes(
    index: usize,
    nodes: impl ExactSizeIterator<Item = Node>,
) -> Result<Tree, SmartcoreError> {
    let err = |node, problem| SmartcoreError::Node {
        tree: index,
        node,
        problem,
    };
    let n = nodes.len();
    let mut tree = Tree::with_capacity(n, n.div_ceil(2));
    let child_id = |node, c: usize| u32::try_from(c).map_err(|_| err(node, "child id too large"));
    for (i, node) in nodes.enumerate() {
        // A leaf is a node without children; leaves cut by max_depth still
        // carry a split value, so that is no sign of an internal node.
        match (node.true_child, node.false_child) {
            (None, None) => {
                tree.push_leaf(&[node.output]);
            }
            (Some(t), Some(f)) => {
                // smartcore compares with a missing split value as NaN, which
                // would send every row to the false branch: not a real split.
                let threshold = node
                    .split_value
                    .filter(|v| !v.is_nan())
                    .ok_or_else(|| err(i, "internal node without a split value"))?;
                let feature = u32::try_from(node.split_feature)
                    .map_err(|_| err(i, "feature index too large"))?;
                let children = (child_id(i, t)?, child_id(i, f)?);
                tree.push_split(feature, threshold, children, false);
            }
            _ => return Err(err(i, "node has exactly one child")),
        }
    }
    Ok(tree)
}

/// A checked smartcore forest of `trees` (`estimator` names the class).
pub(super) fn forest_of(
    trees: Vec<Tree>,
    n_features: usize,
    task: Task,
    aggregation: Aggregation,
    estimator: &str,
) -> Result<Forest, SmartcoreError> {
    let forest = Forest {
        n_features,
        feature_names: None,
        // JSON does not say whether the model was f32 or f64: compare as given.
        input: InputRules::default(),
        split_op: SplitOp::LessOrEqual,
        task,
        aggregation,
        trees,
        source: Source {
            library: "smartcore".into(),
            version: SMARTCORE_VERSION.into(),
            estimator: estimator.into(),
            details: Default::default(),
        },
    };
    forest.check()?;
    Ok(forest)
}
