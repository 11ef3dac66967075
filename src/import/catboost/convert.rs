//! A [`Model`] turned into IR trees.
//!
//! * Float split `float32(x) > border`: the IR node tests `x <= border` on
//!   float32 inputs (its true child is CatBoost's left); NaN goes where
//!   `nan_value_treatment` sends it (right only for `AsTrue`).
//! * One-hot split `hash(x) == value`: a categorical node whose set (the
//!   true child, CatBoost's right) is every non-negative integer of
//!   `0..=MAX_INT_CATEGORY` with that hash. Negative integers with the hash
//!   are tested by numeric nodes after it (`n - 1 < x <= n`), copying the
//!   two subtrees below.
//! * An oblivious tree of depth `d` becomes a full binary tree of `2^d`
//!   leaves. Nodes are numbered in pre-order.

use std::collections::BTreeMap;

use super::model::{Model, NanTreatment, Node, Split, Trees};
use super::CatboostError;
use crate::ir::Tree;

/// Most nodes written for one model (a bound on what the copies made for
/// negative categories can cost).
const MAX_NODES: usize = 1 << 26;

/// Where a node of the source tree is.
#[derive(Clone, Copy)]
enum At {
    /// Oblivious tree: level and the leaf-index bits decided so far.
    Level(usize, usize),
    /// Non-symmetric tree: arena id.
    Node(usize),
}

/// Builds the IR trees of one model.
pub(crate) struct Converter<'a> {
    model: &'a Model,
    /// Integer categories of each one-hot hash value.
    preimages: &'a BTreeMap<i32, Vec<i64>>,
    /// Multiplies every leaf value (`scale_and_bias`).
    scale: f64,
    nodes: usize,
}

impl<'a> Converter<'a> {
    pub(crate) fn new(
        model: &'a Model,
        preimages: &'a BTreeMap<i32, Vec<i64>>,
        scale: f64,
    ) -> Converter<'a> {
        Converter {
            model,
            preimages,
            scale,
            nodes: 0,
        }
    }

    /// Tree `t` of the model.
    pub(crate) fn tree(&mut self, t: usize) -> Result<Tree, CatboostError> {
        let mut out = Tree::default();
        let mut b = Build {
            c: self,
            tree: &mut out,
            index: t,
        };
        let root = match self.model.trees {
            Trees::Oblivious(_) => At::Level(0, 0),
            Trees::NonSymmetric(_) => At::Node(0),
        };
        b.node(root)
            .map_err(|problem| CatboostError::Tree { tree: t, problem })?;
        self.nodes += out.n_nodes();
        if self.nodes > MAX_NODES {
            return Err(CatboostError::Tree {
                tree: t,
                problem: format!("the forest would have more than {MAX_NODES} nodes"),
            });
        }
        Ok(out)
    }
}

struct Build<'c, 'a> {
    c: &'c Converter<'a>,
    tree: &'c mut Tree,
    index: usize,
}

enum Shape<'m> {
    Leaf(&'m [f64]),
    Split(&'m Split, At, At),
}

impl Build<'_, '_> {
    fn shape(&self, at: At) -> Result<Shape<'_>, String> {
        let dims = self.c.model.dims;
        match (&self.c.model.trees, at) {
            (Trees::Oblivious(trees), At::Level(level, path)) => {
                let (splits, leaves) = &trees[self.index];
                if level == splits.len() {
                    let values = leaves
                        .get(path * dims..(path + 1) * dims)
                        .ok_or_else(|| format!("no leaf {path}"))?;
                    Ok(Shape::Leaf(values))
                } else {
                    Ok(Shape::Split(
                        &splits[level],
                        At::Level(level + 1, path),
                        At::Level(level + 1, path | (1 << level)),
                    ))
                }
            }
            (Trees::NonSymmetric(trees), At::Node(id)) => match trees[self.index].get(id) {
                Some(Node::Leaf(v)) if v.len() == dims => Ok(Shape::Leaf(v)),
                Some(Node::Split { split, left, right }) if *left > id && *right > id => {
                    Ok(Shape::Split(split, At::Node(*left), At::Node(*right)))
                }
                _ => Err(format!("node {id} is broken")),
            },
            _ => Err("mixed tree layouts".into()),
        }
    }

    /// Writes the subtree at `at`, returns its root's id.
    fn node(&mut self, at: At) -> Result<u32, String> {
        if self.tree.n_nodes() >= MAX_NODES {
            return Err(format!("more than {MAX_NODES} nodes"));
        }
        match self.shape(at)? {
            Shape::Leaf(values) => {
                let values: Vec<f64> = values.iter().map(|v| v * self.c.scale).collect();
                Ok(self.tree.push_leaf(&values))
            }
            Shape::Split(split, left, right) => {
                let split = split.clone();
                self.split(&split, left, right)
            }
        }
    }

    fn split(&mut self, split: &Split, left: At, right: At) -> Result<u32, String> {
        let model = self.c.model;
        match *split {
            Split::Float { feature, border } => {
                let f = model
                    .float_features
                    .get(feature)
                    .ok_or_else(|| format!("float feature {feature} does not exist"))?;
                let id = self.reserve();
                let t = self.node(left)?;
                let e = self.node(right)?;
                self.set(
                    id,
                    f.flat,
                    f64::from(border),
                    (t, e),
                    f.nan != NanTreatment::Max,
                );
                Ok(id)
            }
            Split::OneHot { feature, value } => {
                let f = model
                    .cat_features
                    .get(feature)
                    .ok_or_else(|| format!("categorical feature {feature} does not exist"))?;
                let found = self.c.preimages.get(&value).map_or(&[][..], Vec::as_slice);
                let (negative, non_negative): (Vec<i64>, Vec<i64>) =
                    found.iter().partition(|&&n| n < 0);
                let id = self.reserve();
                self.tree
                    .categories
                    .push(id, non_negative.iter().map(|&n| n as u32));
                let t = self.node(right)?;
                let e = self.negative_categories(f.flat, &negative, left, right)?;
                self.set(id, f.flat, 0.0, (t, e), false);
                Ok(id)
            }
            Split::Ctr => Err("a CTR split".into()),
        }
    }

    /// `x` is none of the split's non-negative categories: the right
    /// subtree when it is one of `negative` (ascending), else the left one.
    fn negative_categories(
        &mut self,
        flat: u32,
        negative: &[i64],
        left: At,
        right: At,
    ) -> Result<u32, String> {
        let Some((&n, rest)) = negative.split_first() else {
            return self.node(left);
        };
        // x <= n - 1 (or NaN): left. Else x <= n: right. Else the next one.
        let below = self.reserve();
        let l = self.node(left)?;
        let at = self.reserve();
        let r = self.node(right)?;
        let next = self.negative_categories(flat, rest, left, right)?;
        self.set(at, flat, n as f64, (r, next), false);
        self.set(below, flat, (n - 1) as f64, (l, at), true);
        Ok(below)
    }

    /// Pushes a split whose fields and children [`Self::set`] fills in
    /// once its subtrees are written.
    fn reserve(&mut self) -> u32 {
        let id = self.tree.n_nodes() as u32;
        self.tree.push_split(0, 0.0, (id + 1, 0), false)
    }

    fn set(&mut self, id: u32, feature: u32, threshold: f64, (t, f): (u32, u32), missing: bool) {
        let i = id as usize;
        let tree = &mut *self.tree;
        tree.feature[i] = feature;
        tree.threshold[i] = threshold;
        tree.set_children(i, (t, f));
        tree.missing_true[i] = missing;
    }
}
