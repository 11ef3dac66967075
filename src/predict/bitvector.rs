//! QuickScorer-style evaluation of trees with at most 64 leaves.
//!
//! A walk down a tree waits, at every level, for the node it loads and for
//! the comparison that picks the next one. Here every branch node of a small
//! tree is tested instead, in any order, with no dependency between tests:
//! a row starts with all 64 bits of a leaf set, and each branch whose test
//! fails clears the bits of the leaves of its true subtree. Leaves are
//! numbered left to right (true subtree first), so the first set bit left is
//! the leaf the walk would reach: the leftmost leaf that no failed test
//! excluded is the exit leaf (for every leaf left of it, their lowest common
//! ancestor is on the walk's path and its test failed).
//!
//! Tests are done on blocks of [`BLOCK`] rows read column by column, so the
//! compiler turns each test into a few vector instructions for the whole
//! block; the kernel is compiled for AVX-512 and AVX2 as well as the baseline
//! and picked at run time.
//!
//! Exactness: the comparison is the forest's own (`<=` or `<`) on the values
//! routing reads (after float32 rounding and zero-as-missing, done by the
//! caller), and NaN goes to the true child exactly where the walk sends it.
//! Trees with categorical splits or more than 64 leaves are left to the
//! walking kernels ([`super::traverse`]).

use super::traverse::PackedNode;
use crate::ir::{SplitOp, Tree};

/// Most leaves of a tree this kernel evaluates (one bit each in a `u64`).
pub const MAX_LEAVES: usize = 64;

/// Rows tested together: two 512-bit vectors of f64.
pub const BLOCK: usize = 16;

/// The branch nodes and leaves of the small trees of a forest, packed for
/// [`BitForest::leaves`].
#[derive(Clone, Debug, Default)]
pub struct BitForest {
    /// Per packed tree: its branches `branches[t]..branches[t + 1]` and
    /// leaves `leaves[t]..leaves[t + 1]`.
    branch_start: Vec<u32>,
    leaf_start: Vec<u32>,
    threshold: Vec<f64>,
    feature: Vec<u32>,
    /// Bits to keep when the branch's test fails: all but the leaves of its
    /// true subtree.
    keep: Vec<u64>,
    /// Whether NaN goes to the branch's true child.
    missing_true: Vec<bool>,
    /// Node id (in the IR tree) of each leaf, left to right.
    leaf_node: Vec<u32>,
    op: Option<SplitOp>,
}

impl BitForest {
    /// An empty set of trees comparing with `op`.
    pub fn new(op: SplitOp) -> BitForest {
        BitForest {
            branch_start: vec![0],
            leaf_start: vec![0],
            op: Some(op),
            ..BitForest::default()
        }
    }

    /// Number of trees packed.
    pub fn len(&self) -> usize {
        self.branch_start.len().saturating_sub(1)
    }

    /// Whether no tree is packed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Packs `tree` if this kernel can evaluate it (no categorical split, at
    /// most [`MAX_LEAVES`] leaves, every feature read below `stride`) and
    /// returns its index, else returns `None` and packs nothing.
    pub fn push(&mut self, tree: &Tree, stride: usize) -> Option<usize> {
        if !tree.categories.is_empty() || tree.n_nodes() == 0 || tree.n_nodes() >= 2 * MAX_LEAVES {
            return None;
        }
        self.push_from(tree, 0, stride)
    }

    /// Packs the tree under `root` of the packed `nodes` (forest2onnx's
    /// tract operator), as [`BitForest::push`] does. Every branch must make
    /// this forest's comparison, with no other test: the caller checks it.
    pub fn push_packed(&mut self, nodes: &[PackedNode], root: u32, stride: usize) -> Option<usize> {
        self.push_from(nodes, root, stride)
    }

    /// Packs the tree under `root` of `source`, or packs nothing and
    /// returns `None` when it does not fit.
    fn push_from(
        &mut self,
        source: &(impl Splits + ?Sized),
        root: u32,
        stride: usize,
    ) -> Option<usize> {
        let branches = self.threshold.len();
        let leaves = self.leaf_node.len();
        if self.add_subtree(source, root, stride).is_none() {
            self.threshold.truncate(branches);
            self.feature.truncate(branches);
            self.keep.truncate(branches);
            self.missing_true.truncate(branches);
            self.leaf_node.truncate(leaves);
            return None;
        }
        self.branch_start.push(self.threshold.len() as u32);
        self.leaf_start.push(self.leaf_node.len() as u32);
        Some(self.len() - 1)
    }

    /// Adds the branches and leaves under `node` (leaves numbered from the
    /// tree's first); returns the range of leaf bits it covers, or `None`
    /// when the subtree does not fit.
    fn add_subtree(
        &mut self,
        source: &(impl Splits + ?Sized),
        node: u32,
        stride: usize,
    ) -> Option<(u32, u32)> {
        let first_leaf = *self.leaf_start.last().expect("leaf_start starts with 0");
        let Some(split) = source.split(node) else {
            let bit = self.leaf_node.len() as u32 - first_leaf;
            if bit as usize >= MAX_LEAVES {
                return None;
            }
            self.leaf_node.push(node);
            return Some((bit, bit + 1));
        };
        let first_branch = *self
            .branch_start
            .last()
            .expect("branch_start starts with 0");
        // A tree of at most 64 leaves has at most 63 branches; more means
        // a malformed (unchecked) tree, or a graph whose shared subtrees
        // unfold past the limit: left to the walk.
        if split.feature as usize >= stride
            || self.threshold.len() - first_branch as usize >= MAX_LEAVES - 1
        {
            return None;
        }
        let slot = self.threshold.len();
        self.threshold.push(split.threshold);
        self.feature.push(split.feature);
        self.keep.push(!0);
        self.missing_true.push(split.missing_true);
        let (lo, hi) = self.add_subtree(source, split.yes, stride)?;
        let (_, end) = self.add_subtree(source, split.no, stride)?;
        // `hi - lo` ≤ 63: a true subtree never holds all 64 leaves.
        let bits = ((1u64 << (hi - lo)) - 1) << lo;
        self.keep[slot] = !bits;
        Some((lo, end))
    }

    /// Writes to `out[r]` the leaf (its node id in the tree packed) that
    /// row `r` of `block` reaches in packed tree `t`. `block` holds
    /// [`BLOCK`] rows column by column (`block[f * BLOCK + r]` is feature
    /// `f` of row `r`); `nan` says whether any of its values is NaN.
    pub fn leaves(&self, t: usize, block: &[f64], nan: bool, out: &mut [u32; BLOCK]) {
        self.positions(dispatch(), t, block, nan, out);
        for o in out.iter_mut() {
            *o = self.leaf_node[*o as usize];
        }
    }

    /// [`BitForest::leaves`], as positions in [`BitForest::leaf_node`]
    /// (tree `t`'s leaves are `leaf_range(t)`), with the tests of `test`.
    #[inline]
    fn positions(&self, test: TestFn, t: usize, block: &[f64], nan: bool, out: &mut [u32; BLOCK]) {
        let b = self.branch_start[t] as usize..self.branch_start[t + 1] as usize;
        let branches = Branches {
            threshold: &self.threshold[b.clone()],
            feature: &self.feature[b.clone()],
            keep: &self.keep[b.clone()],
            missing_true: &self.missing_true[b],
        };
        let mut bits = [!0u64; BLOCK];
        let leq = self.op == Some(SplitOp::LessOrEqual);
        test(&branches, block, leq, nan, &mut bits);
        let first = self.leaf_start[t];
        for (o, b) in out.iter_mut().zip(bits) {
            *o = first + b.trailing_zeros();
        }
    }

    /// Number of leaves packed, over all trees (positions run below it).
    pub fn n_leaves(&self) -> usize {
        self.leaf_node.len()
    }

    /// The positions of packed tree `t`'s leaves, left to right.
    pub fn leaf_range(&self, t: usize) -> std::ops::Range<usize> {
        self.leaf_start[t] as usize..self.leaf_start[t + 1] as usize
    }

    /// The node id (in the tree packed) of the leaf at `position`.
    #[inline]
    pub fn leaf_node(&self, position: u32) -> u32 {
        self.leaf_node[position as usize]
    }
}

/// Blocks of rows transposed together by [`BitForest::each_leaf`].
const TILE_BLOCKS: usize = 32;

/// Trees [`BitForest::each_leaf`] takes through a tile at a time: the
/// branches of 128 depth-6 trees (about 130 KB) stay in L2 while every
/// block of the tile goes through them, instead of every tree of a large
/// forest streaming through the cache once per block.
const GROUP_TREES: usize = 128;

impl BitForest {
    /// Calls `add(t, first, leaves)` for every tree `t` of `trees` (packed
    /// tree `packed(t)`) and block of rows of `rows` (`n_rows` rows,
    /// row-major, `stride` values each): `leaves[i]` is the position
    /// ([`BitForest::leaf_node`]) of the leaf that row `first + i` reaches.
    /// Each row meets its trees in the order of `trees`, so sums built by
    /// `add` are those of a row-by-row evaluation.
    pub fn each_leaf(
        &self,
        trees: std::ops::Range<usize>,
        packed: impl Fn(usize) -> usize,
        rows: &[f64],
        n_rows: usize,
        stride: usize,
        mut add: impl FnMut(usize, usize, &[u32]),
    ) {
        let test = dispatch();
        let block_len = stride * BLOCK;
        let mut tile = Vec::new();
        let mut block = Vec::new();
        let mut nan = [false; TILE_BLOCKS];
        let mut out = [0u32; BLOCK];
        for tile_first in (0..n_rows).step_by(TILE_BLOCKS * BLOCK) {
            let blocks = (n_rows - tile_first).div_ceil(BLOCK).min(TILE_BLOCKS);
            tile.clear();
            for (b, nan) in nan.iter_mut().enumerate().take(blocks) {
                *nan = transpose(
                    &rows[..n_rows * stride],
                    stride,
                    tile_first + b * BLOCK,
                    &mut block,
                );
                tile.extend_from_slice(&block);
            }
            for group in trees.clone().step_by(GROUP_TREES) {
                let group = group..(group + GROUP_TREES).min(trees.end);
                for b in 0..blocks {
                    let x = &tile[b * block_len..(b + 1) * block_len];
                    let first = tile_first + b * BLOCK;
                    let in_block = (n_rows - first).min(BLOCK);
                    for t in group.clone() {
                        self.positions(test, packed(t), x, nan[b], &mut out);
                        add(t, first, &out[..in_block]);
                    }
                }
            }
        }
    }
}

/// What packing reads of one branch node.
struct Split {
    feature: u32,
    threshold: f64,
    missing_true: bool,
    yes: u32,
    no: u32,
}

/// Trees the kernel packs: an IR [`Tree`], or packed nodes.
trait Splits {
    /// Node `i`'s split, or `None` for a leaf.
    fn split(&self, i: u32) -> Option<Split>;
}

impl Splits for Tree {
    fn split(&self, i: u32) -> Option<Split> {
        let i = i as usize;
        let (yes, no) = self.children(i)?;
        Some(Split {
            feature: self.feature[i],
            threshold: self.threshold[i],
            missing_true: self.missing_true[i],
            yes,
            no,
        })
    }
}

impl Splits for [PackedNode] {
    fn split(&self, i: u32) -> Option<Split> {
        let node = &self[i as usize];
        (!node.is_leaf()).then_some(Split {
            feature: node.feature,
            threshold: node.threshold,
            missing_true: node.missing_true,
            yes: node.yes,
            no: node.no,
        })
    }
}

/// One tree's branches, as slices of a [`BitForest`].
struct Branches<'a> {
    threshold: &'a [f64],
    feature: &'a [u32],
    keep: &'a [u64],
    missing_true: &'a [bool],
}

/// Clears, in `bits`, the leaves each failed test excludes.
type TestFn = fn(&Branches<'_>, &[f64], bool, bool, &mut [u64; BLOCK]);

/// The widest compilation of [`test_all`] this CPU runs.
fn dispatch() -> TestFn {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static CHOSEN: OnceLock<TestFn> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if std::is_x86_feature_detected!("avx512f") {
                |b, x, leq, nan, bits| {
                    // SAFETY: the CPU has AVX-512F (checked above).
                    unsafe { test_all_avx512(b, x, leq, nan, bits) }
                }
            } else if std::is_x86_feature_detected!("avx2") {
                |b, x, leq, nan, bits| {
                    // SAFETY: the CPU has AVX2 (checked above).
                    unsafe { test_all_avx2(b, x, leq, nan, bits) }
                }
            } else {
                test_all
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        test_all
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn test_all_avx512(b: &Branches<'_>, x: &[f64], leq: bool, nan: bool, bits: &mut [u64; BLOCK]) {
    test_all(b, x, leq, nan, bits);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn test_all_avx2(b: &Branches<'_>, x: &[f64], leq: bool, nan: bool, bits: &mut [u64; BLOCK]) {
    test_all(b, x, leq, nan, bits);
}

#[inline(always)]
fn test_all(b: &Branches<'_>, x: &[f64], leq: bool, nan: bool, bits: &mut [u64; BLOCK]) {
    match (leq, nan) {
        (true, false) => test_block::<true, false>(b, x, bits),
        (true, true) => test_block::<true, true>(b, x, bits),
        (false, false) => test_block::<false, false>(b, x, bits),
        (false, true) => test_block::<false, true>(b, x, bits),
    }
}

/// `LEQ`: the test is `x <= t` (else `x < t`); `NAN`: the block holds NaN
/// (without it, the missing-value rule cannot change a test).
#[inline(always)]
fn test_block<const LEQ: bool, const NAN: bool>(
    b: &Branches<'_>,
    x: &[f64],
    bits: &mut [u64; BLOCK],
) {
    for (((&t, &f), &keep), &missing_true) in b
        .threshold
        .iter()
        .zip(b.feature)
        .zip(b.keep)
        .zip(b.missing_true)
    {
        let column: &[f64; BLOCK] = x[f as usize * BLOCK..][..BLOCK]
            .try_into()
            .expect("a block column");
        for (bit, &v) in bits.iter_mut().zip(column) {
            let mut holds = if LEQ { v <= t } else { v < t };
            if NAN {
                holds |= v.is_nan() & missing_true;
            }
            *bit &= if holds { !0 } else { keep };
        }
    }
}

/// Copies rows `first..first + BLOCK` of row-major `rows` (`stride` values
/// each; rows past the end read as 0) into `block` column by column;
/// returns whether any value is NaN.
pub fn transpose(rows: &[f64], stride: usize, first: usize, block: &mut Vec<f64>) -> bool {
    block.clear();
    block.resize(stride * BLOCK, 0.0);
    let n = (rows.len() / stride.max(1))
        .saturating_sub(first)
        .min(BLOCK);
    let mut nan = false;
    for r in 0..n {
        let row = &rows[(first + r) * stride..][..stride];
        for (f, &v) in row.iter().enumerate() {
            block[f * BLOCK + r] = v;
            nan |= v.is_nan();
        }
    }
    nan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::LEAF;

    /// Node 0: x0 ≤ 1 (NaN true) → node 1 (x1 ≤ 2 → leaf 3, else leaf 4),
    /// else leaf 2 (`<` instead of `≤` under [`SplitOp::Less`]).
    fn tree() -> Tree {
        Tree::from_node_arrays(
            vec![0, 1, 0, 0, 0],
            vec![1.0, 2.0, 0.0, 0.0, 0.0],
            &[1, 3, LEAF, LEAF, LEAF],
            &[2, 4, LEAF, LEAF, LEAF],
            vec![true, false, false, false, false],
            &[0.0; 5],
            1,
        )
        .unwrap()
    }

    #[test]
    fn leaves_are_the_walks_exits() {
        let mut f = BitForest::new(SplitOp::LessOrEqual);
        assert_eq!(f.push(&tree(), 2), Some(0));
        let rows = [
            [1.0, 1.0],
            [1.0, 2.0],
            [1.0, 2.5],
            [1.5, 0.0],
            [f64::NAN, f64::NAN],
            [f64::NAN, 0.0],
        ];
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let mut block = Vec::new();
        let nan = transpose(&flat, 2, 0, &mut block);
        assert!(nan);
        let mut out = [0; BLOCK];
        f.leaves(0, &block, nan, &mut out);
        assert_eq!(&out[..6], &[3, 3, 4, 2, 4, 3]);
    }

    #[test]
    fn unfit_trees_are_refused_and_leave_nothing_behind() {
        let mut f = BitForest::new(SplitOp::Less);
        assert_eq!(f.push(&tree(), 1), None, "feature 1 beyond the stride");
        assert!(f.is_empty() && f.threshold.is_empty() && f.leaf_node.is_empty());
        assert_eq!(f.push(&tree(), 2), Some(0));
    }
}

#[cfg(test)]
mod agreement {
    //! The bit-vector kernel against a plain walk and against the other
    //! kernel, on many shapes and seeds.
    use super::*;
    use crate::ir::{Aggregation, Forest, PostTransform};
    use crate::predict::Kernel;
    use crate::synth::{self, SynthSpec};
    use ndarray::Array2;

    /// The leaf a plain walk from the root reaches.
    fn walk(tree: &Tree, op: SplitOp, row: &[f64]) -> u32 {
        let mut at = 0;
        while let Some((yes, no)) = tree.children(at) {
            let x = row[tree.feature[at] as usize];
            let goes_true = if x.is_nan() {
                tree.missing_true[at]
            } else if op == SplitOp::LessOrEqual {
                x <= tree.threshold[at]
            } else {
                x < tree.threshold[at]
            };
            at = if goes_true { yes } else { no } as usize;
        }
        at as u32
    }

    /// Uniform rows, two columns more than the forest reads, then rows on
    /// every threshold of the first trees and one float step either side,
    /// NaN and infinities in some cells.
    fn probing_rows(forest: &Forest, seed: u64) -> Array2<f64> {
        let stride = forest.n_features + 2;
        let n = 1_000 + seed as usize % BLOCK;
        let mut x = synth::rows(n, stride, seed);
        let mut r = 0;
        for tree in forest.trees.iter().take(5) {
            for (i, &t) in tree.threshold.iter().enumerate() {
                if tree.is_leaf(i) {
                    continue;
                }
                for v in [t, t.next_down(), t.next_up()] {
                    x[[r % n, tree.feature[i] as usize]] = v;
                    r += 1;
                }
            }
        }
        let specials = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];
        for r in (0..x.nrows()).step_by(5) {
            x[[r, (r / 5) % stride]] = specials[(r / 5) % specials.len()];
        }
        x
    }

    fn spec(nodes: usize, jitter: f64, op: SplitOp, seed: u64) -> SynthSpec {
        SynthSpec {
            n_trees: 12,
            jitter,
            split_op: op,
            missing_true_fraction: 0.3,
            mixed_leaf_fraction: 0.5,
            seed,
            ..SynthSpec::sklearn(12, nodes, 5)
        }
    }

    /// Tree sizes around the kernel's limit: single leaves, stumps, 31
    /// leaves, 63, 64 and 65 leaves, and a spread across it.
    const SHAPES: [(usize, f64); 8] = [
        (1, 0.0),
        (3, 0.0),
        (61, 0.0),
        (125, 0.0),
        (127, 0.0),
        (129, 0.0),
        (61, 0.9),
        (120, 0.3),
    ];

    #[test]
    fn bit_vector_leaves_are_the_walks_on_many_shapes() {
        for (s, &(nodes, jitter)) in SHAPES.iter().enumerate() {
            for op in [SplitOp::LessOrEqual, SplitOp::Less] {
                let seed = 7 + s as u64;
                let forest = synth::forest(&spec(nodes, jitter, op, seed));
                let x = probing_rows(&forest, seed);
                let stride = x.ncols();
                let flat: Vec<f64> = x.iter().copied().collect();
                let mut bits = BitForest::new(op);
                let mut block = Vec::new();
                let mut out = [0; BLOCK];
                for tree in &forest.trees {
                    let leaves = tree.n_leaves();
                    let Some(k) = bits.push(tree, stride) else {
                        assert!(leaves > MAX_LEAVES, "a tree of {leaves} leaves refused");
                        continue;
                    };
                    assert!(leaves <= MAX_LEAVES);
                    for first in (0..x.nrows()).step_by(BLOCK) {
                        let nan = transpose(&flat, stride, first, &mut block);
                        bits.leaves(k, &block, nan, &mut out);
                        for (r, &leaf) in (first..x.nrows()).zip(&out) {
                            let row = x.row(r);
                            let expected = walk(tree, op, row.as_slice().unwrap());
                            assert_eq!(leaf, expected, "{nodes} nodes, {op:?}, row {r}: {row}");
                        }
                    }
                }
                let refused = forest.trees.len() - bits.len();
                match nodes {
                    ..=127 if jitter == 0.0 => assert_eq!(refused, 0),
                    129 => assert_eq!(refused, forest.trees.len()),
                    _ => {}
                }
            }
        }
    }

    fn same_bits(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.shape() == b.shape() && a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits())
    }

    #[test]
    fn every_kernel_predicts_the_same_bits() {
        for (s, &(nodes, jitter)) in SHAPES.iter().enumerate() {
            let op = [SplitOp::LessOrEqual, SplitOp::Less][s % 2];
            let mut forest = synth::forest(&spec(nodes, jitter, op, 100 + s as u64));
            if s % 3 == 1 {
                // Boosting-like: one value per leaf, one class per tree.
                for tree in &mut forest.trees {
                    tree.leaf_value = tree
                        .leaf_value
                        .chunks(3)
                        .map(|v| v[0] - 0.3 * v[1])
                        .collect();
                }
                let n = forest.trees.len() as u32;
                forest.aggregation = Aggregation::Sum {
                    base_values: vec![0.5, -0.25, 0.125],
                    post_transform: PostTransform::Softmax,
                    tree_targets: (0..n).map(|t| t % 3).collect(),
                };
            }
            forest.check().unwrap();
            let x = probing_rows(&forest, s as u64);
            for rows in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, x.nrows()] {
                let view = x.slice(ndarray::s![..rows, ..]);
                let walk = forest.predict_with(view, Kernel::Walk);
                for kernel in [Kernel::BitVector, Kernel::Auto] {
                    let got = forest.predict_with(view, kernel);
                    assert_eq!(got.classes, walk.classes, "{kernel:?}, {nodes} nodes");
                    assert!(
                        same_bits(&got.values, &walk.values),
                        "{kernel:?}, {nodes} nodes"
                    );
                    match (&got.raw, &walk.raw) {
                        (Some(a), Some(b)) => assert!(same_bits(a, b)),
                        (a, b) => assert_eq!(a.is_none(), b.is_none()),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tiles {
    //! [`BitForest::each_leaf`] takes trees a group at a time through tiles
    //! of blocks; each row must still add its trees in order.
    use super::*;
    use crate::ir::{Aggregation, PostTransform};
    use crate::predict::Kernel;
    use crate::synth::{self, SynthSpec};

    #[test]
    fn several_groups_and_tiles_sum_in_tree_order() {
        let n_trees = 2 * GROUP_TREES + 7;
        let mut forest = synth::forest(&SynthSpec {
            n_trees,
            jitter: 0.0,
            missing_true_fraction: 0.3,
            ..SynthSpec::sklearn(n_trees, 31, 5)
        });
        // Boosting: one value per leaf, summed in tree order; values of
        // very different magnitudes, so that another order rounds
        // differently.
        for (t, tree) in forest.trees.iter_mut().enumerate() {
            let scale = [1e-9, 1.0, 1e9][t % 3];
            tree.leaf_value = tree
                .leaf_value
                .chunks(3)
                .map(|v| (v[0] - v[1]) * scale)
                .collect();
        }
        forest.aggregation = Aggregation::Sum {
            base_values: vec![0.1],
            post_transform: PostTransform::None,
            tree_targets: vec![0; n_trees],
        };
        forest.task = crate::ir::Task::Regression { n_targets: 1 };
        forest.check().unwrap();
        let rows = TILE_BLOCKS * BLOCK * 2 + 5;
        let mut x = synth::rows(rows, forest.n_features, 3);
        for r in (0..rows).step_by(3) {
            x[[r, r % forest.n_features]] = f64::NAN;
        }
        let walk = forest.predict_with(x.view(), Kernel::Walk);
        let bits = forest.predict_with(x.view(), Kernel::BitVector);
        let raw = |p: &crate::predict::Prediction| p.raw.clone().unwrap();
        let same = raw(&walk)
            .iter()
            .zip(raw(&bits).iter())
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same);
        // The tree order matters for these values: summing the trees in
        // reverse gives other bits for some row.
        let reversed = {
            let mut f = forest.clone();
            f.trees.reverse();
            f.predict_with(x.view(), Kernel::Walk)
        };
        assert_ne!(raw(&reversed), raw(&walk));
    }
}
