//! Typed views of an uncompressed payload's arrays, read in place by
//! [`super::MappedForest`].

use super::decode::number_leaves;
use super::error::StoreError;
use super::sections::{view, Layout, Section};
use crate::ir::{Aggregation, CategorySplits, Forest, ForestError, Tree, LEAF, LEAF_BIT};

/// Nodes copied at a time when checking a mapped forest.
const CHECK_BATCH_NODES: usize = 1 << 20;

/// The arrays of a stored forest, every tree concatenated in order: tree `i`
/// owns nodes `tree_offsets[i]..tree_offsets[i + 1]`. In formats 1 to 3,
/// node `n` owns values `n * leaf_width..(n + 1) * leaf_width` and true
/// child `n`; in format 4 ([`ForestArrays::lean`]) values are stored for
/// leaves only, in node order (a tree of `n` nodes has `(n + 1) / 2`
/// leaves), and true children only for the trees whose splits do not all
/// have the next node as their true child (`true_child_tree_offsets`).
///
/// Only handed out once validated: offsets are in bounds and increasing,
/// and every tree passes [`Forest::check`].
#[derive(Clone, Copy, Debug)]
pub struct ForestArrays<'a> {
    tree_offsets: &'a [u64],
    feature: &'a [u32],
    threshold: &'a [f64],
    true_child: &'a [u32],
    /// Format 4 with stored true children: where each tree's start.
    true_child_tree_offsets: &'a [u64],
    false_child: &'a [u32],
    missing_true: &'a [u8],
    value: &'a [f64],
    leaf_width: usize,
    lean: bool,
    /// Empty unless each tree adds to one score.
    tree_target: &'a [u32],
    /// Empty when no tree has a categorical split.
    category_tree_offsets: &'a [u64],
    category_node: &'a [u32],
    category_offsets: &'a [u64],
    category_value: &'a [u32],
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

    /// True child of every node (of every tree that stores them, in format
    /// 4), as a node id local to its tree, or [`LEAF`].
    pub fn true_child(&self) -> &'a [u32] {
        self.true_child
    }

    /// Whether the arrays are laid out as format 4's: values for leaves
    /// only, true children for some trees only.
    pub fn lean(&self) -> bool {
        self.lean
    }

    /// False child of every node, as a node id local to its tree, or [`LEAF`].
    pub fn false_child(&self) -> &'a [u32] {
        self.false_child
    }

    /// Missing-value direction of every node: 1 = true child, 0 = false child.
    pub fn missing_true(&self) -> &'a [u8] {
        self.missing_true
    }

    /// Leaf values, [`ForestArrays::leaf_width`] per leaf (format 4) or per
    /// node (formats 1 to 3).
    pub fn value(&self) -> &'a [f64] {
        self.value
    }

    /// Values per leaf.
    pub fn leaf_width(&self) -> usize {
        self.leaf_width
    }

    /// The score each tree adds to, when each adds to one
    /// ([`Aggregation::Sum`] with `tree_targets`); else empty.
    pub fn tree_target(&self) -> &'a [u32] {
        self.tree_target
    }

    /// Tree `i`, or `None` past the last tree.
    pub fn tree(&self, i: usize) -> Option<TreeView<'a>> {
        let start = *self.tree_offsets.get(i)? as usize;
        let end = *self.tree_offsets.get(i + 1)? as usize;
        let w = self.leaf_width;
        let (values, true_children) = if self.lean {
            // Every tree before has an odd node count n and (n + 1) / 2
            // leaves (checked by `validate`).
            let leaves = (start + i) / 2..(end + i).div_ceil(2);
            let true_children = match self.true_child_tree_offsets.get(i..i + 2) {
                Some(&[a, b]) => &self.true_child[a as usize..b as usize],
                _ => &[][..],
            };
            (leaves.start * w..leaves.end * w, true_children)
        } else {
            (start * w..end * w, &self.true_child[start..end])
        };
        let (splits, offsets) = match self.category_tree_offsets.get(i..i + 2) {
            Some(&[a, b]) => (
                &self.category_node[a as usize..b as usize],
                &self.category_offsets[a as usize..=b as usize],
            ),
            _ => (&[][..], &[][..]),
        };
        Some(TreeView {
            feature: &self.feature[start..end],
            threshold: &self.threshold[start..end],
            true_child: true_children,
            false_child: &self.false_child[start..end],
            missing_true: &self.missing_true[start..end],
            value: &self.value[values],
            lean: self.lean,
            target: self.tree_target.get(i).copied(),
            category_nodes: splits,
            category_offsets: offsets,
            category_values: self.category_value,
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
        let n_nodes = self.feature.len() as u64;
        offsets(self.tree_offsets, n_nodes, "tree offsets")?;
        if let Some(i) = self.tree_offsets.windows(2).position(|w| w[0] == w[1]) {
            return Err(StoreError::corrupt(format!("tree {i} has no nodes")));
        }
        let w = self.leaf_width as u64;
        if self.lean {
            self.validate_lean()?;
        } else if self.value.len() as u64 != n_nodes * w || self.true_child.len() as u64 != n_nodes
        {
            return Err(StoreError::corrupt(
                "the value or true_child section does not fit the nodes",
            ));
        }
        if let Some(i) = self.missing_true.iter().position(|&b| b > 1) {
            return Err(StoreError::corrupt(format!(
                "missing_true of node {i} is {}, not 0 or 1",
                self.missing_true[i]
            )));
        }
        if !self.category_tree_offsets.is_empty() {
            let splits = self.category_node.len() as u64;
            offsets(self.category_tree_offsets, splits, "category tree offsets")?;
            let values = self.category_value.len() as u64;
            offsets(self.category_offsets, values, "category offsets")?;
        }
        Ok(self)
    }

    /// The format-4 invariants `tree(i)` relies on: odd node counts (a
    /// full binary tree's), as many values as the leaves need, true
    /// children stored for all of a tree's nodes or none, and leaves marked
    /// [`LEAF`] in `false_child`, never with [`LEAF_BIT`] otherwise.
    fn validate_lean(&self) -> Result<(), StoreError> {
        let n_nodes = self.feature.len() as u64;
        let n_trees = self.n_trees() as u64;
        if let Some(i) = self
            .tree_offsets
            .windows(2)
            .position(|w| (w[1] - w[0]) % 2 == 0)
        {
            return Err(StoreError::corrupt(format!(
                "tree {i} has an even number of nodes; a tree whose splits have two children has an odd number"
            )));
        }
        let leaves = (n_nodes + n_trees) / 2;
        if self.value.len() as u64 != leaves * self.leaf_width as u64 {
            return Err(StoreError::corrupt(format!(
                "the value section holds {} values; {leaves} leaves need {}",
                self.value.len(),
                leaves * self.leaf_width as u64
            )));
        }
        if self.true_child_tree_offsets.is_empty() {
            if !self.true_child.is_empty() {
                return Err(StoreError::corrupt(
                    "true children are stored without their tree offsets",
                ));
            }
        } else {
            offsets(
                self.true_child_tree_offsets,
                self.true_child.len() as u64,
                "true child tree offsets",
            )?;
            let trees = self
                .tree_offsets
                .windows(2)
                .zip(self.true_child_tree_offsets.windows(2));
            for (t, (n, k)) in trees.enumerate() {
                let (n, k) = (n[1] - n[0], k[1] - k[0]);
                if k != 0 && k != n {
                    return Err(StoreError::corrupt(format!(
                        "tree {t} stores {k} true children; a tree stores none or one per node ({n})"
                    )));
                }
            }
        }
        if let Some(i) = self
            .false_child
            .iter()
            .position(|&c| c != LEAF && c & LEAF_BIT != 0)
        {
            return Err(StoreError::corrupt(format!(
                "false_child of node {i} is {}: neither a node id nor a leaf",
                self.false_child[i]
            )));
        }
        Ok(())
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
        let mut batch = shell.clone();
        let mut first = 0;
        let mut nodes = 0;
        for (i, tree) in self.trees().enumerate() {
            nodes += tree.n_nodes();
            let copy = tree
                .to_tree()
                .map_err(|problem| ForestError::Tree { tree: i, problem })?;
            batch.trees.push(copy);
            if nodes >= CHECK_BATCH_NODES || i + 1 == self.n_trees() {
                if let Aggregation::Sum { tree_targets, .. } = &mut batch.aggregation {
                    if !self.tree_target.is_empty() {
                        *tree_targets = self.tree_target[first..=i].to_vec();
                    }
                }
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

    /// Copies every tree out; fails as [`TreeView::to_tree`] does.
    pub fn to_trees(&self) -> Result<Vec<Tree>, ForestError> {
        self.trees()
            .enumerate()
            .map(|(i, t)| {
                t.to_tree()
                    .map_err(|problem| ForestError::Tree { tree: i, problem })
            })
            .collect()
    }
}

/// Checks that `v` runs from 0 to `end` without decreasing.
fn offsets(v: &[u64], end: u64, what: &str) -> Result<(), StoreError> {
    if v.first() != Some(&0) || v.last() != Some(&end) {
        return Err(StoreError::corrupt(format!(
            "{what} do not run from 0 to {end}"
        )));
    }
    if let Some(i) = v.windows(2).position(|w| w[0] > w[1]) {
        return Err(StoreError::corrupt(format!("{what} decrease at entry {i}")));
    }
    Ok(())
}

/// One tree of a [`ForestArrays`], borrowed; node ids are local to the tree.
#[derive(Clone, Copy, Debug)]
pub struct TreeView<'a> {
    /// Split feature of each node.
    pub feature: &'a [u32],
    /// Split threshold of each node.
    pub threshold: &'a [f64],
    /// True child of each node, or [`LEAF`]; in format 4 ([`TreeView::lean`]),
    /// empty when every split's true child is the next node.
    pub true_child: &'a [u32],
    /// False child of each node, or [`LEAF`].
    pub false_child: &'a [u32],
    /// Missing-value direction of each node: 1 = true child.
    pub missing_true: &'a [u8],
    /// Leaf values, `leaf_width` per leaf in node order (format 4) or per
    /// node (formats 1 to 3).
    pub value: &'a [f64],
    /// Whether the tree is laid out as format 4 stores it.
    pub lean: bool,
    /// The score the tree adds to, when each tree adds to one.
    pub target: Option<u32>,
    /// The tree's categorical split nodes, ascending.
    pub category_nodes: &'a [u32],
    /// `category_nodes.len() + 1` offsets into `category_values` (forest-wide
    /// positions), or none when the tree has no categorical split.
    pub category_offsets: &'a [u64],
    /// Every tree's categories; split `k` owns
    /// `category_values[category_offsets[k]..category_offsets[k + 1]]`.
    pub category_values: &'a [u32],
}

impl TreeView<'_> {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    /// The categories of the tree's `k`-th categorical split.
    pub fn categories(&self, k: usize) -> &[u32] {
        let (a, b) = (self.category_offsets[k], self.category_offsets[k + 1]);
        &self.category_values[a as usize..b as usize]
    }

    /// Copies the tree into an IR [`Tree`]; fails, naming the node, on a
    /// formats 1–3 tree with a one-child node, which the IR cannot hold.
    pub fn to_tree(&self) -> Result<Tree, String> {
        let mut categories = CategorySplits::default();
        for (k, &node) in self.category_nodes.iter().enumerate() {
            categories.push(node, self.categories(k).iter().copied());
        }
        let missing_true = self.missing_true.iter().map(|&b| b != 0).collect();
        let mut tree = if self.lean {
            let mut false_child_or_leaf = self.false_child.to_vec();
            number_leaves(&mut false_child_or_leaf)
                .map_err(|i| format!("false_child of node {i} is neither a node id nor a leaf"))?;
            Tree {
                feature: self.feature.to_vec(),
                threshold: self.threshold.to_vec(),
                explicit_true_child: self.true_child.to_vec(),
                false_child_or_leaf,
                missing_true,
                leaf_value: self.value.to_vec(),
                categories: CategorySplits::default(),
            }
        } else {
            let width = self.value.len() / self.n_nodes().max(1);
            Tree::from_node_arrays(
                self.feature.to_vec(),
                self.threshold.to_vec(),
                self.true_child,
                self.false_child,
                missing_true,
                self.value,
                width,
            )?
        };
        tree.categories = categories;
        Ok(tree)
    }
}

/// Validated views of the sections of `raw` (a whole uncompressed payload,
/// or a file whose sections `layout` places relative to `base`), in place;
/// `None` when they are not aligned for it or the machine is big-endian.
pub(crate) fn arrays_in_place<'a>(
    raw: &'a [u8],
    base: usize,
    layout: &Layout,
) -> Result<Option<ForestArrays<'a>>, StoreError> {
    borrow(raw, base, layout)
        .map(ForestArrays::validate)
        .transpose()
}

/// The sections viewed in place, unvalidated.
pub(crate) fn borrow<'a>(raw: &'a [u8], base: usize, layout: &Layout) -> Option<ForestArrays<'a>> {
    fn s<'a, T: super::sections::LeNumber>(
        raw: &'a [u8],
        base: usize,
        layout: &Layout,
        section: Section,
    ) -> Option<&'a [T]> {
        match layout.range(section) {
            Some(r) => view(raw.get(r.start + base..r.end + base)?),
            None => Some(&[]),
        }
    }
    Some(ForestArrays {
        tree_offsets: s(raw, base, layout, Section::TreeOffsets)?,
        feature: s(raw, base, layout, Section::Feature)?,
        threshold: s(raw, base, layout, Section::Threshold)?,
        true_child: s(raw, base, layout, Section::TrueChild)?,
        true_child_tree_offsets: s(raw, base, layout, Section::TrueChildTreeOffsets)?,
        false_child: s(raw, base, layout, Section::FalseChild)?,
        missing_true: s(raw, base, layout, Section::MissingTrue)?,
        value: s(raw, base, layout, Section::Value)?,
        leaf_width: layout.counts.leaf_width as usize,
        lean: layout.counts.lean,
        tree_target: s(raw, base, layout, Section::TreeTarget)?,
        category_tree_offsets: s(raw, base, layout, Section::CategoryTreeOffsets)?,
        category_node: s(raw, base, layout, Section::CategoryNode)?,
        category_offsets: s(raw, base, layout, Section::CategoryOffsets)?,
        category_value: s(raw, base, layout, Section::CategoryValue)?,
    })
}
