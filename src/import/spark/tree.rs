//! One Spark tree (its `NodeData` rows) as an IR [`Tree`].
//!
//! Spark routes a row left when a continuous split's `x <= threshold` holds
//! (in f64; NaN fails and goes right), and for a categorical split when the
//! value is one of the split's categories, where Spark tests the smaller
//! side: the left set when it holds at most `numCategories / 2`
//! categories, else the complement of the right set
//! (`CategoricalSplit.shouldGoLeft`). Values that are no category (unseen,
//! negative, fractional, NaN) therefore go right in the first case and left
//! in the second. The IR's categorical split sends listed categories to the
//! true child and everything else to the false child, so the second case is
//! written with the children swapped and the right categories listed.

use std::collections::{HashMap, VecDeque};

use super::table::NodeData;
use super::SparkError;
use crate::ir::{Tree, MAX_CATEGORY};

/// Most categories a categorical feature may have (Spark bounds them by
/// `maxBins`, itself an `Int` but in practice at most thousands).
const MAX_CATEGORIES: i64 = 1 << 16;

/// Builds tree `tree` from its nodes; `leaf` gives a leaf's values
/// (pushed into the tree's value array after the node is pushed).
pub fn build(
    tree: usize,
    nodes: &[&NodeData],
    n_features: usize,
    leaf_width: usize,
    leaf: &dyn Fn(&NodeData) -> Result<Vec<f64>, String>,
) -> Result<Tree, SparkError> {
    let err = |node: i64, problem: String| SparkError::Node {
        tree,
        node,
        problem,
    };
    let mut by_id: HashMap<i64, &NodeData> = HashMap::with_capacity(nodes.len());
    for &n in nodes {
        if by_id.insert(n.id, n).is_some() {
            return Err(err(n.id, "the id appears twice".into()));
        }
    }
    if !by_id.contains_key(&0) {
        return Err(err(0, "the tree has no root (node 0)".into()));
    }
    let mut t = Tree::default();
    // Breadth first: children get IR ids when queued, so every child's id
    // is larger than its parent's.
    let mut queue = VecDeque::from([0i64]);
    let mut seen = 0usize;
    while let Some(id) = queue.pop_front() {
        let n = by_id[&id];
        seen += 1;
        if seen > nodes.len() {
            return Err(err(id, "a node is reached twice (not a tree)".into()));
        }
        if n.left < 0 && n.right < 0 {
            let values = leaf(n).map_err(|p| err(id, p))?;
            debug_assert_eq!(values.len(), leaf_width);
            t.push_leaf(&values);
            continue;
        }
        for child in [n.left, n.right] {
            if child <= id || !by_id.contains_key(&child) {
                return Err(err(
                    id,
                    format!("child {child} is not a later node of the tree"),
                ));
            }
        }
        let feature = u32::try_from(n.feature)
            .ok()
            .filter(|&f| (f as usize) < n_features)
            .ok_or_else(|| err(id, format!("split feature {} out of range", n.feature)))?;
        let here = t.feature.len() as u32;
        let next = here + queue.len() as u32 + 1;
        let (left, right) = (next, next + 1);
        if n.num_categories < 0 {
            let [threshold] = n.left_categories_or_threshold[..] else {
                return Err(err(
                    id,
                    "a continuous split without exactly one threshold".into(),
                ));
            };
            if threshold.is_nan() {
                return Err(err(id, "the threshold is NaN".into()));
            }
            t.push_split(feature, threshold, (left, right), false);
            queue.extend([n.left, n.right]);
        } else {
            let (listed, goes_left) = categories(n).map_err(|p| err(id, p))?;
            // Listed categories take the true child: left when Spark tests the
            // left set, right when it tests the right set (the complement).
            let (true_id, false_id) = if goes_left {
                (n.left, n.right)
            } else {
                (n.right, n.left)
            };
            // Not a category (unseen, fractional, NaN): the false child.
            t.push_split(feature, 0.0, (left, right), false);
            t.categories.push(here, listed);
            queue.extend([true_id, false_id]);
        }
    }
    if seen != nodes.len() {
        return Err(err(
            0,
            format!("{} nodes are not reached from the root", nodes.len() - seen),
        ));
    }
    Ok(t)
}

/// The categories a categorical split tests, ascending, and whether they go
/// left (Spark's `isLeft`).
fn categories(n: &NodeData) -> Result<(Vec<u32>, bool), String> {
    let k = n.num_categories;
    if !(1..=MAX_CATEGORIES).contains(&k) {
        return Err(format!("{k} categories"));
    }
    let mut left = Vec::with_capacity(n.left_categories_or_threshold.len().min(k as usize));
    for &c in &n.left_categories_or_threshold {
        if !(c >= 0.0 && c < k as f64 && c.fract() == 0.0) {
            return Err(format!("left category {c} is not one of 0..{k}"));
        }
        left.push(c as u32);
    }
    left.sort_unstable();
    if left.windows(2).any(|w| w[0] == w[1]) {
        return Err("a left category is listed twice".into());
    }
    debug_assert!(k as u32 <= MAX_CATEGORY);
    if left.len() <= (k / 2) as usize {
        Ok((left, true))
    } else {
        let right = (0..k as u32)
            .filter(|c| left.binary_search(c).is_err())
            .collect();
        Ok((right, false))
    }
}
