//! `sklearn.tree._tree.Tree` objects read as data: the constructor
//! arguments `(n_features, n_classes, n_outputs)` and the state
//! `{max_depth, node_count, nodes, values}`, checked against each other and
//! against what the owning estimator says, before anything is converted.

use super::error::SklearnError;
use super::layout::{match_layout, TREE_NODES};
use super::numpy::{FieldReader, Kind, NdArray};
use super::pickle::Value;

/// scikit-learn's `TREE_LEAF`: the child id of a leaf.
const TREE_LEAF: i64 = -1;

/// What the estimator says its trees must look like.
pub(crate) struct TreeShape<'c> {
    /// `n_features_in_` of the estimator (or of the member, for members
    /// trained on a feature subset).
    pub(crate) n_features: usize,
    /// `n_outputs_`.
    pub(crate) n_outputs: usize,
    /// Classes per output (`[1; n_outputs]` for regressors).
    pub(crate) n_classes: &'c [usize],
}

/// One tree's arrays, checked: children are in range, come after their
/// parent and have one parent each; features are in range.
pub(crate) struct RawTree {
    /// Left (`x <= threshold`) child of each node, `None` for leaves.
    pub(crate) children: Vec<Option<(u32, u32)>>,
    pub(crate) feature: Vec<u32>,
    pub(crate) threshold: Vec<f64>,
    /// `missing_go_to_left` (scikit-learn ≥ 1.3), else `None`.
    pub(crate) missing_left: Option<Vec<bool>>,
    pub(crate) n_node_samples: Vec<i64>,
    /// `values` in C order: node × output × class.
    pub(crate) values: Vec<f64>,
    /// Values per node (`n_outputs × max(n_classes)`).
    pub(crate) value_stride: usize,
}

impl RawTree {
    /// Number of nodes.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// The values of node `i`.
    pub(crate) fn value(&self, i: usize) -> &[f64] {
        &self.values[i * self.value_stride..(i + 1) * self.value_stride]
    }

    /// Depth of every node, the root at depth 0 (children come after their
    /// parent, so one forward pass suffices).
    pub(crate) fn depths(&self) -> Vec<u32> {
        let mut depth = vec![0u32; self.len()];
        for i in 0..self.len() {
            if let Some((l, r)) = self.children[i] {
                depth[l as usize] = depth[i] + 1;
                depth[r as usize] = depth[i] + 1;
            }
        }
        depth
    }
}

/// Reads `tree_`, a `sklearn.tree._tree.Tree`, owned by `owner` (for
/// messages). `budget` is the array bytes all trees may still take, so
/// trees sharing memoized arrays cannot multiply the memory a file costs.
pub(crate) fn read_tree(
    v: &Value<'_>,
    shape: &TreeShape<'_>,
    owner: &str,
    budget: &std::cell::Cell<usize>,
) -> Result<RawTree, SklearnError> {
    let invalid = |problem: String| SklearnError::Invalid {
        estimator: owner.to_string(),
        problem,
    };
    let obj = v
        .as_object()
        .filter(|o| o.class.module == "sklearn.tree._tree" && o.class.name == "Tree")
        .ok_or_else(|| {
            invalid(format!(
                "tree_ is a {}, not a sklearn.tree._tree.Tree",
                v.kind()
            ))
        })?;
    // Tree(n_features, n_classes, n_outputs)
    let [n_features, n_classes, n_outputs] = obj.args.as_slice() else {
        return Err(invalid(format!(
            "Tree has {} constructor arguments; expected (n_features, n_classes, n_outputs)",
            obj.args.len()
        )));
    };
    if n_outputs.as_int() != Some(shape.n_outputs as i64) {
        return Err(invalid(format!(
            "Tree n_outputs is {}; the estimator has n_outputs_ = {}",
            describe_int(n_outputs),
            shape.n_outputs
        )));
    }
    if n_features.as_int() != Some(shape.n_features as i64) {
        return Err(invalid(format!(
            "Tree n_features is {}; the estimator has {} features",
            describe_int(n_features),
            shape.n_features
        )));
    }
    let tree_classes = n_classes
        .as_array()
        .filter(|a| a.shape.len() == 1)
        .and_then(|a| a.to_i64().ok())
        .ok_or_else(|| invalid("Tree n_classes is not a 1-D integer array".into()))?;
    if tree_classes.len() != shape.n_outputs
        || tree_classes
            .iter()
            .zip(shape.n_classes)
            .any(|(&t, &c)| t != c as i64)
    {
        return Err(invalid(format!(
            "Tree n_classes is {tree_classes:?}; the estimator has {:?}",
            shape.n_classes
        )));
    }
    let state = obj
        .state
        .as_ref()
        .filter(|s| matches!(s, Value::Dict(_)))
        .ok_or_else(|| invalid("Tree has no state dict".into()))?;
    let get = |key: &str| {
        state
            .get(key)
            .ok_or_else(|| invalid(format!("Tree state has no {key}")))
    };
    let node_count = get("node_count")?
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| invalid("Tree node_count is not a positive count".into()))?;
    let nodes = get("nodes")?
        .as_array()
        .ok_or_else(|| invalid("Tree nodes is not an array".into()))?;
    let values = get("values")?
        .as_array()
        .ok_or_else(|| invalid("Tree values is not an array".into()))?;
    if nodes.shape != [node_count] {
        return Err(invalid(format!(
            "Tree nodes has shape {:?} for node_count {node_count}",
            nodes.shape
        )));
    }
    match_layout(&nodes.dtype, TREE_NODES, "Tree nodes").map_err(&invalid)?;
    // scikit-learn loads `values` of shape (nodes, n_outputs, max classes),
    // float64 only.
    let width = shape.n_classes.iter().copied().max().unwrap_or(0);
    let want = [node_count, shape.n_outputs, width];
    if values.shape != want {
        return Err(invalid(format!(
            "Tree values has shape {:?}; expected {want:?} (nodes, n_outputs, classes)",
            values.shape
        )));
    }
    if values.dtype.kind != Kind::Float || values.dtype.itemsize != 8 {
        return Err(invalid(format!(
            "Tree values has dtype {}; scikit-learn stores float64",
            values.dtype.describe()
        )));
    }
    let bytes = node_count
        .saturating_mul(nodes.dtype.itemsize)
        .saturating_add(values.len().saturating_mul(values.dtype.itemsize));
    match budget.get().checked_sub(bytes) {
        Some(left) => budget.set(left),
        None => {
            return Err(invalid(
                "trees reference more array data than the file holds (shared arrays)".into(),
            ))
        }
    }
    read_nodes(
        nodes,
        node_count,
        shape.n_features,
        values,
        width * shape.n_outputs,
    )
    .map_err(invalid)
}

fn describe_int(v: &Value<'_>) -> String {
    v.as_int()
        .map_or_else(|| format!("a {}", v.kind()), |i| i.to_string())
}

/// The node records, checked one by one; errors name the field and node.
fn read_nodes(
    nodes: &NdArray<'_>,
    n: usize,
    n_features: usize,
    values: &NdArray<'_>,
    stride: usize,
) -> Result<RawTree, String> {
    let field = |name: &str| nodes.field(name);
    let left = field("left_child")?;
    let right = field("right_child")?;
    let feature = field("feature")?;
    let threshold = field("threshold")?;
    let samples = field("n_node_samples")?;
    let missing = nodes.field("missing_go_to_left").ok();
    let mut t = RawTree {
        children: Vec::with_capacity(n),
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        missing_left: missing.as_ref().map(|_| Vec::with_capacity(n)),
        n_node_samples: Vec::with_capacity(n),
        values: values.to_f64().map_err(|p| format!("Tree values: {p}"))?,
        value_stride: stride,
    };
    let mut parent: Vec<Option<u32>> = vec![None; n];
    for i in 0..n {
        let (l, r) = (int(&left, i, "left_child")?, int(&right, i, "right_child")?);
        t.n_node_samples.push(int(&samples, i, "n_node_samples")?);
        if let (Some(m), Some(out)) = (&missing, &mut t.missing_left) {
            out.push(int(m, i, "missing_go_to_left")? != 0);
        }
        if l == TREE_LEAF || r == TREE_LEAF {
            if l != r {
                return Err(format!(
                    "node {i} has only one child (left_child {l}, right_child {r})"
                ));
            }
            t.children.push(None);
            t.feature.push(0);
            t.threshold.push(0.0);
            continue;
        }
        let child = |c: i64, name: &str| -> Result<u32, String> {
            if c <= i as i64 || c >= n as i64 {
                return Err(format!(
                    "node {i} has {name} {c}; children must be in {}..{n} (after their parent)",
                    i + 1
                ));
            }
            Ok(c as u32)
        };
        let (l, r) = (child(l, "left_child")?, child(r, "right_child")?);
        for c in [l, r] {
            if let Some(p) = parent[c as usize].replace(i as u32) {
                return Err(format!("node {c} has two parents, nodes {p} and {i}"));
            }
        }
        let f = int(&feature, i, "feature")?;
        let f = u32::try_from(f)
            .ok()
            .filter(|&f| (f as usize) < n_features)
            .ok_or_else(|| {
                format!("node {i} splits on feature {f}; the tree has {n_features} features")
            })?;
        let th = threshold.f64(i)?;
        if th.is_nan() {
            return Err(format!("node {i} has a NaN threshold"));
        }
        t.children.push(Some((l, r)));
        t.feature.push(f);
        t.threshold.push(th);
    }
    if let Some(orphan) = (1..n).find(|&i| parent[i].is_none()) {
        return Err(format!("node {orphan} is not reachable from the root"));
    }
    Ok(t)
}

fn int(f: &FieldReader<'_>, i: usize, name: &str) -> Result<i64, String> {
    f.i64(i).map_err(|e| format!("node {i} {name}: {e}"))
}
