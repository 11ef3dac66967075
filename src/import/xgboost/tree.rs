//! One XGBoost tree (`RegTree` as saved in JSON/UBJSON) to an IR [`Tree`].
//!
//! XGBoost's semantics (`src/predictor/predict_fn.h`, `src/common/categorical.h`):
//! a node is a leaf when its left child is `-1`, and then `split_conditions`
//! holds its value. A numeric split sends `x < split_condition` left (both
//! float32) and NaN to the `default_left` side. A categorical split
//! (`split_type` 1) sends the listed categories **right**; negative values,
//! values of 2^24 and above and unlisted categories go left; NaN follows
//! `default_left`. The IR's true branch is the listed set, so categorical
//! nodes swap their children.
//!
//! Multi-target trees (`multi_strategy="multi_output_tree"`, XGBoost 2.0 and
//! later, `size_leaf_vector` > 1) hold one value per target or class in each
//! leaf (`src/tree/multi_target_tree_model.cc`). XGBoost 2.x saves them as
//! the leaf node's slice of `base_weights` (`size_leaf_vector` per node);
//! XGBoost 3.x adds `leaf_weights` (`size_leaf_vector` per leaf) and stores
//! each leaf's index into it in its `right_children` entry, and predicts
//! from those. Either way the values already include the learning rate.
//! XGBoost trains no categorical splits in such trees, so they are refused.
//!
//! Node ids are renumbered breadth-first from the root so that children
//! follow their parent, as the IR requires; nodes no path reaches (deleted by
//! XGBoost's pruner) are dropped. Every child id is checked before use, and a
//! node reached twice (a cycle or a shared child) is an error.

use std::collections::VecDeque;

use super::document::Node;
use super::error::XgboostError;
use crate::ir::{Tree, LEAF};

/// XGBoost reads categories at or above this as invalid (`OutOfRangeCat`):
/// they go left, as if unlisted.
const OUT_OF_RANGE_CAT: i64 = 1 << 24;

/// What the importer needs to know about the model to convert a tree.
pub struct TreeContext {
    /// Number of input features.
    pub n_features: usize,
    /// DART weight of this tree (1 for gbtree).
    pub weight: Option<f32>,
    /// Values per leaf: 1, or [`leaf_width`] of a multi-target tree.
    pub leaf_width: usize,
}

/// Largest `size_leaf_vector` read: far above real target or class counts,
/// and a bound on what a hostile file makes the importer allocate per leaf.
const MAX_LEAF_VECTOR: i64 = 1 << 16;

/// Values per leaf of the saved tree `json`: its `size_leaf_vector` when
/// above 1 (a multi-target tree), else 1.
pub fn leaf_width(json: Node<'_>) -> Result<usize, XgboostError> {
    let param = json.at("tree_param")?;
    let Some(field) = param.get("size_leaf_vector")? else {
        return Ok(1);
    };
    let size = field.int_text()?;
    if !(0..=MAX_LEAF_VECTOR).contains(&size) {
        return Err(field.error(format!(
            "{size} values per leaf; expected 0 to {MAX_LEAF_VECTOR}"
        )));
    }
    Ok(size.max(1) as usize)
}

/// Where a tree's leaf values are.
enum Leaves {
    /// One value per leaf, in `split_conditions`.
    Scalar,
    /// XGBoost 2.x multi-target trees: `width` values per node, in
    /// `base_weights`.
    ByNode { values: Vec<f32>, width: usize },
    /// XGBoost 3.x multi-target trees: `width` values per leaf, in
    /// `leaf_weights`; a leaf's `right_children` entry is its index. Each
    /// index is used once (`used`), so the tree built holds no more values
    /// than the file (hostile files cannot make it allocate more).
    ByLeafIndex {
        values: Vec<f32>,
        width: usize,
        used: Vec<bool>,
    },
}

impl Leaves {
    fn read(json: Node<'_>, n: usize, width: usize) -> Result<Leaves, XgboostError> {
        if width == 1 {
            return Ok(Leaves::Scalar);
        }
        if let Some(field) = json.get("leaf_weights")? {
            let values = field.floats()?;
            if values.len() % width != 0 {
                return Err(field.error(format!(
                    "{} values, not a multiple of size_leaf_vector {width}",
                    values.len()
                )));
            }
            let used = vec![false; values.len() / width];
            return Ok(Leaves::ByLeafIndex {
                values,
                width,
                used,
            });
        }
        let field = json.at("base_weights")?;
        let values = field.floats()?;
        if values.len() != n * width {
            return Err(field.error(format!(
                "{} values for num_nodes {n} × size_leaf_vector {width}",
                values.len()
            )));
        }
        Ok(Leaves::ByNode { values, width })
    }

    /// The values of leaf `x`, or why the file does not give them.
    fn of(&mut self, x: usize, arrays: &Arrays) -> Result<Vec<f64>, String> {
        let (values, width, at) = match self {
            Leaves::Scalar => return Ok(vec![f64::from(arrays.condition[x])]),
            Leaves::ByNode { values, width } => (values, *width, x),
            Leaves::ByLeafIndex {
                values,
                width,
                used,
            } => {
                let index = arrays.right[x];
                let at = usize::try_from(index)
                    .ok()
                    .filter(|&i| i < used.len())
                    .ok_or_else(|| {
                        format!(
                            "leaf {x} has leaf index {index}; leaf_weights holds {}",
                            used.len()
                        )
                    })?;
                if std::mem::replace(&mut used[at], true) {
                    return Err(format!("leaf index {index} is used twice (at leaf {x})"));
                }
                (values, *width, at)
            }
        };
        Ok(values[at * width..(at + 1) * width]
            .iter()
            .map(|&v| f64::from(v))
            .collect())
    }
}

/// The arrays of one saved tree.
struct Arrays {
    left: Vec<i64>,
    right: Vec<i64>,
    feature: Vec<i64>,
    condition: Vec<f32>,
    default_left: Vec<i64>,
    split_type: Vec<i64>,
}

/// Converts tree `index` of the model; `json` is its saved object.
pub fn convert(index: usize, json: Node<'_>, ctx: &TreeContext) -> Result<Tree, XgboostError> {
    let bad = |problem: String| XgboostError::Tree {
        tree: index,
        problem,
    };
    let param = json.at("tree_param")?;
    let n_nodes = param.at("num_nodes")?.int_text()?;
    let width = leaf_width(json)?;
    if width != ctx.leaf_width {
        return Err(bad(format!(
            "size_leaf_vector {width}; the model's first tree has {} values per leaf",
            ctx.leaf_width
        )));
    }
    let n = usize::try_from(n_nodes)
        .ok()
        .filter(|&n| n >= 1 && n < LEAF as usize)
        .ok_or_else(|| bad(format!("num_nodes is {n_nodes}")))?;
    let arrays = read_arrays(json, n)?;
    if width > 1 && arrays.split_type.contains(&1) {
        return Err(XgboostError::Unsupported {
            what: "categorical splits in multi-target trees with vector leaves \
                   (multi_strategy=\"multi_output_tree\")"
                .into(),
            hint: "XGBoost up to 3.2 does not train them; use \
                   multi_strategy=\"one_output_per_tree\" with categorical features"
                .into(),
        });
    }
    let mut leaves = Leaves::read(json, n, width)?;
    let categories = read_categories(json, &arrays, index)?;

    let mut ir = Tree::default();
    // XGBoost node id of each IR node, in IR order; an IR node's children get
    // the next free ids, so children always follow their parent.
    let mut order: VecDeque<usize> = VecDeque::from([0]);
    let mut seen = vec![false; n];
    seen[0] = true;
    let mut next_id = 1u32;
    let mut ir_id = 0u32;
    while let Some(x) = order.pop_front() {
        let left = arrays.left[x];
        if left == -1 {
            let mut values = leaves.of(x, &arrays).map_err(bad)?;
            if let Some(w) = ctx.weight {
                // XGBoost's DART adds `leaf * weight`, a float32 product
                // (of one value: DART has no vector leaves).
                values = values.iter().map(|&v| f64::from(v as f32 * w)).collect();
            }
            ir.push_leaf(&values);
            ir_id += 1;
            continue;
        }
        let mut child = |c: i64, side: &str| -> Result<usize, XgboostError> {
            let c = usize::try_from(c)
                .ok()
                .filter(|&c| c < n)
                .ok_or_else(|| bad(format!("node {x} has {side} child {c}; nodes are 0..{n}")))?;
            if std::mem::replace(&mut seen[c], true) {
                return Err(bad(format!(
                    "node {c} is reached twice (a cycle or a shared child, at node {x})"
                )));
            }
            Ok(c)
        };
        let (l, r) = (child(left, "left")?, child(arrays.right[x], "right")?);
        let feature = u32::try_from(arrays.feature[x])
            .ok()
            .filter(|&f| (f as usize) < ctx.n_features)
            .ok_or_else(|| {
                bad(format!(
                    "node {x} splits on feature {}; the model has {}",
                    arrays.feature[x], ctx.n_features
                ))
            })?;
        let default_left = match arrays.default_left[x] {
            0 => false,
            1 => true,
            other => return Err(bad(format!("node {x} has default_left {other}"))),
        };
        let (yes, no) = (next_id, next_id + 1);
        next_id += 2;
        match arrays.split_type[x] {
            0 => {
                order.extend([l, r]);
                let t = f64::from(arrays.condition[x]);
                ir.push_split(feature, t, (yes, no), default_left);
            }
            1 => {
                // The listed categories go right: the right child becomes
                // the IR's true child.
                order.extend([r, l]);
                let set = categories
                    .get(&x)
                    .ok_or_else(|| bad(format!("categorical node {x} lists no categories")))?;
                ir.categories.push(ir_id, set.iter().copied());
                ir.push_split(feature, 0.0, (yes, no), !default_left);
            }
            other => return Err(bad(format!("node {x} has split_type {other}"))),
        }
        ir_id += 1;
    }
    Ok(ir)
}

fn read_arrays(json: Node<'_>, n: usize) -> Result<Arrays, XgboostError> {
    let sized = |name: &'static str| -> Result<Vec<i64>, XgboostError> {
        let field = json.at(name)?;
        let v = field.ints()?;
        check_len(&field, v.len(), n)?;
        Ok(v)
    };
    let condition_field = json.at("split_conditions")?;
    let condition = condition_field.floats()?;
    check_len(&condition_field, condition.len(), n)?;
    let split_type = match json.get("split_type")? {
        Some(field) => {
            let v = field.ints()?;
            check_len(&field, v.len(), n)?;
            v
        }
        // Before XGBoost 1.3 every split was numeric.
        None => vec![0; n],
    };
    Ok(Arrays {
        left: sized("left_children")?,
        right: sized("right_children")?,
        feature: sized("split_indices")?,
        condition,
        default_left: sized("default_left")?,
        split_type,
    })
}

fn check_len(field: &Node<'_>, len: usize, n: usize) -> Result<(), XgboostError> {
    if len == n {
        Ok(())
    } else {
        Err(field.error(format!("{len} entries for num_nodes {n}")))
    }
}

/// The category set of each categorical node (XGBoost node id → sorted,
/// distinct categories below 2^24).
fn read_categories(
    json: Node<'_>,
    arrays: &Arrays,
    index: usize,
) -> Result<std::collections::HashMap<usize, Vec<u32>>, XgboostError> {
    let mut out = std::collections::HashMap::new();
    if !arrays.split_type.contains(&1) {
        return Ok(out);
    }
    let nodes_field = json.at("categories_nodes")?;
    let nodes = nodes_field.ints()?;
    let segments_field = json.at("categories_segments")?;
    let segments = segments_field.ints()?;
    // XGBoost's schema names it `categorical_sizes`, its code `categories_sizes`.
    let sizes_field = match json.get("categories_sizes")? {
        Some(f) => f,
        None => json.at("categorical_sizes")?,
    };
    let sizes = sizes_field.ints()?;
    let categories_field = json.at("categories")?;
    let categories = categories_field.ints()?;
    if segments.len() != nodes.len() || sizes.len() != nodes.len() {
        return Err(nodes_field.error(format!(
            "{} categorical nodes, {} segments and {} sizes; they must match",
            nodes.len(),
            segments.len(),
            sizes.len()
        )));
    }
    let n = arrays.split_type.len();
    for ((&node, &begin), &size) in nodes.iter().zip(&segments).zip(&sizes) {
        let bad = |problem: String| XgboostError::Tree {
            tree: index,
            problem,
        };
        let node_id = usize::try_from(node)
            .ok()
            .filter(|&x| x < n && arrays.split_type[x] == 1)
            .ok_or_else(|| {
                bad(format!(
                    "categories_nodes lists {node}, not a categorical split"
                ))
            })?;
        let range = usize::try_from(begin)
            .ok()
            .zip(usize::try_from(size).ok())
            .and_then(|(b, s)| Some(b..b.checked_add(s)?))
            .filter(|r| r.end <= categories.len())
            .ok_or_else(|| {
                bad(format!(
                    "node {node}: categories {begin}..{begin}+{size} are outside the {} listed",
                    categories.len()
                ))
            })?;
        let mut set = Vec::with_capacity(range.len());
        for &c in &categories[range] {
            if c < 0 {
                return Err(bad(format!("node {node} lists the negative category {c}")));
            }
            // Unreachable in XGBoost: such inputs are invalid and go left.
            if c < OUT_OF_RANGE_CAT {
                set.push(c as u32);
            }
        }
        set.sort_unstable();
        set.dedup();
        if out.insert(node_id, set).is_some() {
            return Err(bad(format!("categories_nodes lists node {node} twice")));
        }
    }
    Ok(out)
}
