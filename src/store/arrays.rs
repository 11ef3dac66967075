//! Typed views of a payload's arrays, shared by the copying loader and the
//! memory-mapped one.

use super::error::StoreError;
use super::sections::{get, view, Located};
use crate::ir::{Forest, ForestError, Tree};

/// Nodes copied at a time when checking a mapped forest.
const CHECK_BATCH_NODES: usize = 1 << 20;

/// The arrays of a stored forest, every tree concatenated in order: tree `i`
/// owns nodes `tree_offsets[i]..tree_offsets[i + 1]`, and node `n` owns
/// values `n * leaf_width..(n + 1) * leaf_width`.
///
/// Only handed out once validated: offsets are in bounds and increasing,
/// and every tree passes [`Forest::check`].
#[derive(Clone, Copy, Debug)]
pub struct ForestArrays<'a> {
    tree_offsets: &'a [u64],
    feature: &'a [u32],
    threshold: &'a [f64],
    true_child: &'a [u32],
    false_child: &'a [u32],
    missing_true: &'a [u8],
    value: &'a [f64],
    leaf_width: usize,
}

impl<'a> ForestArrays<'a> {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.tree_offsets.len() - 1
    }

    /// First node of each tree, then the total node count (`n_trees + 1` entries).
    pub fn tree_offsets(&self) -> &'a [u64] {
        self.tree_offsets
    }

    /// Split feature of every node.
    pub fn feature(&self) -> &'a [u32] {
        self.feature
    }

    /// Split threshold of every node.
    pub fn threshold(&self) -> &'a [f64] {
        self.threshold
    }

    /// True child of every node, as a node id local to its tree, or [`crate::ir::LEAF`].
    pub fn true_child(&self) -> &'a [u32] {
        self.true_child
    }

    /// False child of every node, as a node id local to its tree, or [`crate::ir::LEAF`].
    pub fn false_child(&self) -> &'a [u32] {
        self.false_child
    }

    /// Missing-value direction of every node: 1 = true child, 0 = false child.
    pub fn missing_true(&self) -> &'a [u8] {
        self.missing_true
    }

    /// Leaf values, [`ForestArrays::leaf_width`] per node.
    pub fn value(&self) -> &'a [f64] {
        self.value
    }

    /// Values per node.
    pub fn leaf_width(&self) -> usize {
        self.leaf_width
    }

    /// Tree `i`, or `None` past the last tree.
    pub fn tree(&self, i: usize) -> Option<TreeView<'a>> {
        let start = *self.tree_offsets.get(i)? as usize;
        let end = *self.tree_offsets.get(i + 1)? as usize;
        let w = self.leaf_width;
        Some(TreeView {
            feature: &self.feature[start..end],
            threshold: &self.threshold[start..end],
            true_child: &self.true_child[start..end],
            false_child: &self.false_child[start..end],
            missing_true: &self.missing_true[start..end],
            value: &self.value[start * w..end * w],
        })
    }

    /// Every tree, in order.
    pub fn trees(&self) -> impl ExactSizeIterator<Item = TreeView<'a>> + '_ {
        (0..self.n_trees()).map(|i| self.tree(i).expect("index below n_trees"))
    }

    /// Checks the offsets and the missing-value bytes, the invariants that
    /// [`Forest::check`] cannot see because they are about the encoding.
    /// `tree(i)` cannot panic afterwards.
    fn validate(self) -> Result<Self, StoreError> {
        let offsets = self.tree_offsets;
        let n_nodes = self.feature.len() as u64;
        if offsets.first() != Some(&0) || offsets.last() != Some(&n_nodes) {
            return Err(StoreError::corrupt(
                "tree offsets do not run from 0 to the node count",
            ));
        }
        if let Some(i) = offsets.windows(2).position(|w| w[0] > w[1]) {
            return Err(StoreError::corrupt(format!(
                "tree offsets decrease at tree {i}"
            )));
        }
        if let Some(i) = self.missing_true.iter().position(|&b| b > 1) {
            return Err(StoreError::corrupt(format!(
                "missing_true of node {i} is {}, not 0 or 1",
                self.missing_true[i]
            )));
        }
        Ok(self)
    }

    /// Runs [`Forest::check`] on every tree without copying the whole forest:
    /// trees are copied and checked in batches of about [`CHECK_BATCH_NODES`]
    /// nodes. `shell` is the forest without its trees.
    pub(crate) fn check_each_tree(&self, shell: &Forest) -> Result<(), StoreError> {
        // Batches rather than single trees: each check() also re-checks the
        // class labels, which must not cost (labels × trees).
        if self.n_trees() == 0 {
            // Reports the forest-level problem (no trees, at least).
            shell.check()?;
        }
        let mut batch = Forest {
            trees: Vec::new(),
            ..shell.clone()
        };
        let mut first = 0;
        let mut nodes = 0;
        for (i, tree) in self.trees().enumerate() {
            nodes += tree.n_nodes();
            batch.trees.push(tree.to_tree());
            if nodes >= CHECK_BATCH_NODES || i + 1 == self.n_trees() {
                batch.check().map_err(|e| match e {
                    ForestError::Tree { tree, problem } => ForestError::Tree {
                        tree: first + tree,
                        problem,
                    },
                    e => e,
                })?;
                batch.trees.clear();
                first = i + 1;
                nodes = 0;
            }
        }
        Ok(())
    }

    /// Copies every tree out.
    pub fn to_trees(&self) -> Vec<Tree> {
        self.trees().map(|t| t.to_tree()).collect()
    }
}

/// One tree of a [`ForestArrays`], borrowed; node ids are local to the tree.
#[derive(Clone, Copy, Debug)]
pub struct TreeView<'a> {
    /// Split feature of each node.
    pub feature: &'a [u32],
    /// Split threshold of each node.
    pub threshold: &'a [f64],
    /// True child of each node, or [`crate::ir::LEAF`].
    pub true_child: &'a [u32],
    /// False child of each node, or [`crate::ir::LEAF`].
    pub false_child: &'a [u32],
    /// Missing-value direction of each node: 1 = true child.
    pub missing_true: &'a [u8],
    /// Leaf values, `leaf_width` per node.
    pub value: &'a [f64],
}

impl TreeView<'_> {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    /// Copies the tree into an IR [`Tree`].
    pub fn to_tree(&self) -> Tree {
        Tree {
            feature: self.feature.to_vec(),
            threshold: self.threshold.to_vec(),
            true_child: self.true_child.to_vec(),
            false_child: self.false_child.to_vec(),
            missing_true: self.missing_true.iter().map(|&b| b != 0).collect(),
            value: self.value.to_vec(),
            categories: Default::default(),
        }
    }
}

/// Decoded copies of the sections, for payloads that cannot be viewed in
/// place (misaligned buffer or big-endian machine).
#[derive(Default)]
pub(crate) struct OwnedArrays {
    tree_offsets: Vec<u64>,
    feature: Vec<u32>,
    threshold: Vec<f64>,
    true_child: Vec<u32>,
    false_child: Vec<u32>,
    value: Vec<f64>,
}

/// The sections of `raw` viewed in place, unvalidated; `None` when they
/// are not aligned for it (or the machine is big-endian).
pub(crate) fn borrow<'a>(
    raw: &'a [u8],
    loc: &Located,
    leaf_width: usize,
) -> Option<ForestArrays<'a>> {
    let s = |r: &std::ops::Range<usize>| &raw[r.clone()];
    Some(ForestArrays {
        tree_offsets: view(s(&loc.tree_offsets))?,
        feature: view(s(&loc.feature))?,
        threshold: view(s(&loc.threshold))?,
        true_child: view(s(&loc.true_child))?,
        false_child: view(s(&loc.false_child))?,
        missing_true: s(&loc.missing_true),
        value: view(s(&loc.value))?,
        leaf_width,
    })
}

/// Validated views of the sections of `raw`, in place when possible, else
/// decoded into `owned`.
pub(crate) fn arrays<'a>(
    raw: &'a [u8],
    loc: &Located,
    leaf_width: usize,
    owned: &'a mut OwnedArrays,
) -> Result<ForestArrays<'a>, StoreError> {
    if let Some(a) = borrow(raw, loc, leaf_width) {
        return a.validate();
    }
    let s = |r: &std::ops::Range<usize>| &raw[r.clone()];
    *owned = OwnedArrays {
        tree_offsets: get(s(&loc.tree_offsets)),
        feature: get(s(&loc.feature)),
        threshold: get(s(&loc.threshold)),
        true_child: get(s(&loc.true_child)),
        false_child: get(s(&loc.false_child)),
        value: get(s(&loc.value)),
    };
    ForestArrays {
        tree_offsets: &owned.tree_offsets,
        feature: &owned.feature,
        threshold: &owned.threshold,
        true_child: &owned.true_child,
        false_child: &owned.false_child,
        missing_true: s(&loc.missing_true),
        value: &owned.value,
        leaf_width,
    }
    .validate()
}

/// Like [`arrays`] but never copies: `None` when the sections cannot be
/// viewed in place.
pub(crate) fn arrays_in_place<'a>(
    raw: &'a [u8],
    loc: &Located,
    leaf_width: usize,
) -> Result<Option<ForestArrays<'a>>, StoreError> {
    borrow(raw, loc, leaf_width)
        .map(ForestArrays::validate)
        .transpose()
}
