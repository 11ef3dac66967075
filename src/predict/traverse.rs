//! Tree traversal kernels: which leaf each row of a batch reaches.
//!
//! Shared by the IR's reference [`Forest::predict`](crate::ir::Forest) and
//! forest2onnx's tract operator ([`crate::runtime`]), so both run the same
//! tuned loop ([`leaves`]): rows go through one tree at a time (its nodes
//! stay in cache), eight rows in flight at once (their node loads overlap).
//! What differs is only how one traversal step reads a node ([`Step`]):
//!
//! * [`PackedStep`]: nodes packed into one 24-byte [`PackedNode`] each, with
//!   the comparison chosen by a [`SplitRule`] (the IR packs a tree when
//!   enough rows pass through it to pay for packing; the tract operator
//!   compiles every ONNX ensemble into packed nodes);
//! * [`ArrayStep`]: the IR's struct-of-arrays [`Tree`] read in place.

use crate::ir::{CategoryRule, CategorySplits, SplitOp, Tree, LEAF, LEAF_BIT};

use super::category_of;

/// Fewest rows per parallel task of a batch evaluation: smaller batches are
/// not worth a thread.
const MIN_ROWS_PER_TASK: usize = 256;

/// Most rows per parallel task of a batch evaluation, bounding the scratch
/// memory (about 40 bytes per row for 3 classes).
const MAX_ROWS_PER_TASK: usize = 1 << 20;

/// Whether a batch of `n_rows` is one task, predicted on the calling
/// thread whatever the thread pool (a caller can then skip entering a pool).
pub fn one_task(n_rows: usize) -> bool {
    n_rows <= MIN_ROWS_PER_TASK
}

/// Rows per parallel task for a batch of `n_rows`: one task per thread, as
/// the more rows go through a tree while it is in cache, the better (on
/// 6.8 M nodes, 50 k rows per task run twice as fast as 4 k).
pub fn rows_per_task(n_rows: usize) -> usize {
    n_rows
        .div_ceil(rayon::current_num_threads())
        .clamp(MIN_ROWS_PER_TASK, MAX_ROWS_PER_TASK)
}

/// Rows traversed at once: independent traversals overlap their memory
/// latencies.
pub const LANES: usize = 8;

/// Trees of at most this many nodes (24 KiB packed) are traversed with
/// conditional moves, larger ones with branches.
pub const SMALL_TREE: usize = 1024;

/// A tree is packed ([`pack`]) when at least one row per this many nodes
/// goes through it (on 13.7 k-node trees packing breaks even at about 100
/// rows and doubles the speed from 500 rows on).
const PACK_ROWS_PER_NODE: usize = 64;

/// One step of a traversal, for some node representation.
pub trait Step {
    /// The child of node `at` that the row whose values start at
    /// `rows[base]` goes to, or `None` when `at` is a leaf.
    fn next(&self, at: u32, rows: &[f64], base: usize) -> Option<u32>;
}

/// Runs `n` walks, [`LANES`] in flight: walk `k` starts at the node and
/// row offset `start(k)`, moves with `next(k, node, base)` (`None` on a
/// leaf) and ends with `reached(k, leaf)`. A lane whose walk ends takes the
/// next one, so the lanes' independent node loads overlap.
#[inline(always)]
fn walk_lanes(
    n: usize,
    start: impl Fn(usize) -> (u32, usize),
    next: impl Fn(usize, u32, usize) -> Option<u32>,
    mut reached: impl FnMut(usize, u32),
) {
    let mut walk = [usize::MAX; LANES];
    let mut at = [0u32; LANES];
    let mut base = [0usize; LANES];
    let lanes = n.min(LANES);
    for k in 0..lanes {
        walk[k] = k;
        (at[k], base[k]) = start(k);
    }
    let mut following = lanes;
    let mut active = lanes;
    while active > 0 {
        for lane in 0..lanes {
            let k = walk[lane];
            if k == usize::MAX {
                continue; // an idle lane
            }
            match next(k, at[lane], base[lane]) {
                Some(child) => at[lane] = child,
                None => {
                    reached(k, at[lane]);
                    if following < n {
                        walk[lane] = following;
                        (at[lane], base[lane]) = start(following);
                        following += 1;
                    } else {
                        walk[lane] = usize::MAX;
                        active -= 1;
                    }
                }
            }
        }
    }
}

/// Writes to `leaves[r]` the leaf that row `r` of `rows` (row-major,
/// `stride` values each) reaches from node `root`, one [`Step`] at a time,
/// eight rows in flight.
#[inline(always)]
pub fn leaves<S: Step>(step: &S, root: u32, rows: &[f64], stride: usize, leaves: &mut [u32]) {
    walk_lanes(
        leaves.len(),
        |r| (root, r * stride),
        |_, at, base| step.next(at, rows, base),
        |r, leaf| leaves[r] = leaf,
    );
}

/// Writes to `leaves[k]` the leaf that the one row `row` reaches in tree
/// `k` of `n_trees`, walking each tree from its root `root_of(k)` with the
/// step `step_of(k)`.
///
/// For a single row (the serving case) [`leaves`] has one lane and waits on
/// every node load in turn; here eight trees are in flight instead.
#[inline(always)]
pub fn leaves_across<S: Step>(
    step_of: impl Fn(usize) -> S,
    root_of: impl Fn(usize) -> u32,
    n_trees: usize,
    row: &[f64],
    leaves: &mut [u32],
) {
    walk_lanes(
        n_trees,
        |t| (root_of(t), 0),
        |t, at, _| step_of(t).next(at, row, 0),
        |t, leaf| leaves[t] = leaf,
    );
}

/// The comparison a packed branch node makes between the row's value `x`
/// and the node; the row goes to the true child when it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Test {
    /// `x <= threshold`
    #[default]
    Leq,
    /// `x < threshold`
    Lt,
    /// `x >= threshold`
    Gte,
    /// `x > threshold`
    Gt,
    /// `x == threshold`
    Eq,
    /// `x != threshold`
    Neq,
    /// `x` is one of the values of set `threshold` of the [`MemberSets`]
    /// (ONNX `BRANCH_MEMBER`).
    Member,
    /// `x`, read as a category by the forest's [`CategoryRule`], is one of
    /// the categories of categorical split `threshold` of the tree (IR
    /// categorical splits).
    Category,
}

/// One node with everything a traversal step reads in one place (24 bytes:
/// one cache line or two, instead of several arrays).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PackedNode {
    /// The threshold of a numeric test; for [`Test::Member`] and
    /// [`Test::Category`] the index of the node's set (exact in an f64),
    /// so that the node stays 24 bytes.
    pub threshold: f64,
    /// True child, or [`LEAF`] for a leaf.
    pub yes: u32,
    /// False child; a leaf's first payload value (e.g. its first weight).
    pub no: u32,
    /// Feature tested; a leaf's second payload value.
    pub feature: u32,
    /// Whether NaN goes to the true child (on top of the test).
    pub missing_true: bool,
    /// The comparison, read by rules that allow several ([`AnyTest`]).
    pub test: Test,
}

impl PackedNode {
    /// Whether this is a leaf.
    #[inline]
    pub fn is_leaf(&self) -> bool {
        self.yes == LEAF
    }
}

/// How the branch nodes of a packed tree decide: the one comparison all of
/// them make, or [`AnyTest`] to read each node's [`Test`].
pub trait SplitRule: Copy {
    /// Whether the row's value `x` goes to the true child of branch `node`.
    fn goes_true(&self, node: &PackedNode, x: f64) -> bool;
}

macro_rules! uniform_rule {
    ($(#[$doc:meta])* $name:ident, $x:ident, $t:ident, $holds:expr) => {
        $(#[$doc])*
        ///
        /// `MISSING`: whether NaN may go to the true child
        /// ([`PackedNode::missing_true`]).
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<const MISSING: bool>;

        impl<const MISSING: bool> SplitRule for $name<MISSING> {
            #[inline(always)]
            fn goes_true(&self, node: &PackedNode, $x: f64) -> bool {
                let $t = node.threshold;
                let holds = $holds;
                if MISSING {
                    holds | ($x.is_nan() & node.missing_true)
                } else {
                    holds
                }
            }
        }
    };
}

uniform_rule!(
    /// Every branch tests `x <= threshold`.
    Leq, x, t, x <= t
);
uniform_rule!(
    /// Every branch tests `x < threshold`.
    Lt, x, t, x < t
);
uniform_rule!(
    /// Every branch tests `x >= threshold`.
    Gte, x, t, x >= t
);
uniform_rule!(
    /// Every branch tests `x > threshold`.
    Gt, x, t, x > t
);

/// The value sets of [`Test::Member`] nodes, each sorted, NaN-free.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberSets {
    /// `offsets[k]..offsets[k + 1]` index set `k` in `values`.
    offsets: Vec<usize>,
    values: Vec<f64>,
}

impl MemberSets {
    /// Appends a set (sorting it; NaN values are dropped, as NaN is never
    /// equal to anything) and returns its index.
    pub fn push(&mut self, values: impl IntoIterator<Item = f64>) -> usize {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        let start = self.values.len();
        self.values
            .extend(values.into_iter().filter(|v| !v.is_nan()));
        self.values[start..].sort_unstable_by(f64::total_cmp);
        self.offsets.push(self.values.len());
        self.offsets.len() - 2
    }

    /// Number of sets.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there is no set.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of set `k`.
    pub fn get(&self, k: usize) -> &[f64] {
        &self.values[self.offsets[k]..self.offsets[k + 1]]
    }

    /// Whether `x` is a member of set `k` (`-0.0` and `0.0` are equal).
    #[inline]
    pub fn contains(&self, k: usize, x: f64) -> bool {
        let set = self.get(k);
        if set.len() <= 8 {
            return set.contains(&x);
        }
        set.binary_search_by(|v| v.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Less))
            .is_ok()
    }
}

/// Each branch's own [`Test`]: for ensembles that mix comparisons or test
/// set membership.
#[derive(Clone, Copy, Debug)]
pub struct AnyTest<'a> {
    /// The sets of [`Test::Member`] nodes.
    pub members: &'a MemberSets,
    /// The categorical splits of [`Test::Category`] nodes (the tree's own).
    pub categories: &'a CategorySplits,
    /// How [`Test::Category`] nodes read a value as a category.
    pub category_rule: CategoryRule,
}

impl SplitRule for AnyTest<'_> {
    #[inline]
    fn goes_true(&self, node: &PackedNode, x: f64) -> bool {
        let t = node.threshold;
        let holds = match node.test {
            Test::Leq => x <= t,
            Test::Lt => x < t,
            Test::Gte => x >= t,
            Test::Gt => x > t,
            Test::Eq => x == t,
            Test::Neq => x != t,
            Test::Member => self.members.contains(t as usize, x),
            Test::Category => {
                if x.is_nan() {
                    return node.missing_true;
                }
                let c = &self.categories;
                let k = t as usize;
                let set = &c.categories[c.offsets[k] as usize..c.offsets[k + 1] as usize];
                category_of(x, self.category_rule).is_some_and(|v| set.binary_search(&v).is_ok())
            }
        };
        holds | (x.is_nan() & node.missing_true)
    }
}

/// A [`Step`] through packed nodes whose features all fit the rows.
///
/// `SMALL`: the tree is small enough to stay in L1, where a mispredicted
/// branch costs more than waiting for the comparison.
#[derive(Clone, Copy, Debug)]
pub struct PackedStep<'a, R, const SMALL: bool> {
    /// The nodes.
    pub nodes: &'a [PackedNode],
    /// How branches decide.
    pub rule: R,
}

impl<R: SplitRule, const SMALL: bool> Step for PackedStep<'_, R, SMALL> {
    #[inline(always)]
    fn next(&self, at: u32, rows: &[f64], base: usize) -> Option<u32> {
        let node = &self.nodes[at as usize];
        if node.yes == LEAF {
            return None;
        }
        let x = rows[base + node.feature as usize];
        let goes_true = self.rule.goes_true(node, x);
        Some(if SMALL {
            std::hint::select_unpredictable(goes_true, node.yes, node.no)
        } else {
            // Written so that the compiler emits a branch: measured 3×
            // faster on deep trees than the conditional move `if goes_true
            // { yes } else { no }` became here, because speculation starts
            // the lane's next node load (often a cache miss) before the
            // comparison resolves.
            let mask = u32::from(goes_true).wrapping_neg();
            node.no ^ ((node.yes ^ node.no) & mask)
        })
    }
}

/// Writes to `leaves[r]` the leaf row `r` reaches from `root` in `nodes`,
/// whose features all fit `stride`; `small` says whether the part of
/// `nodes` the traversal visits has at most [`SMALL_TREE`] nodes.
#[inline]
pub fn packed_leaves<R: SplitRule>(
    rule: R,
    nodes: &[PackedNode],
    root: u32,
    small: bool,
    rows: &[f64],
    stride: usize,
    out: &mut [u32],
) {
    if small {
        leaves(
            &PackedStep::<R, true> { nodes, rule },
            root,
            rows,
            stride,
            out,
        );
    } else {
        leaves(
            &PackedStep::<R, false> { nodes, rule },
            root,
            rows,
            stride,
            out,
        );
    }
}

/// A [`Step`] through an IR [`Tree`]'s arrays, in place, for trees without
/// categorical splits. `LEQ` selects `<=` (else `<`); `MISSING` whether NaN
/// may go to the true child.
#[derive(Clone, Copy, Debug)]
pub struct ArrayStep<'a, const LEQ: bool, const MISSING: bool> {
    tree: &'a Tree,
    stride: usize,
}

impl<const LEQ: bool, const MISSING: bool> Step for ArrayStep<'_, LEQ, MISSING> {
    #[inline(always)]
    fn next(&self, at: u32, rows: &[f64], base: usize) -> Option<u32> {
        let t = self.tree;
        let at = at as usize;
        // Both children are loaded before the comparison (measured 15 %
        // faster than loading the false child only when needed).
        let (yes, no) = t.children(at)?;
        let f = t.feature[at] as usize;
        assert!(
            f < self.stride,
            "node {at} reads feature {f}; rows have {}",
            self.stride
        );
        let x = rows[base + f];
        let mut goes_true = if LEQ {
            x <= t.threshold[at]
        } else {
            x < t.threshold[at]
        };
        if MISSING {
            goes_true |= x.is_nan() & t.missing_true[at];
        }
        Some(if goes_true { yes } else { no })
    }
}

/// A traversal of an IR tree's arrays: tree, rows, stride, leaves.
type ArraysFn = fn(&Tree, &[f64], usize, &mut [u32]);
/// One row through several trees without categorical splits: trees, row,
/// leaves.
type AcrossFn = fn(&[Tree], &[f64], &mut [u32]);
/// A traversal of a packed tree from node 0: nodes, small, rows, stride, leaves.
type PackedFn = fn(&[PackedNode], bool, &[f64], usize, &mut [u32]);

/// The traversal loops of one forest, specialised for its split comparison
/// and for whether any node sends NaN to its true child.
#[derive(Clone, Copy)]
pub struct Kernels {
    arrays: ArraysFn,
    across: AcrossFn,
    packed: PackedFn,
    op: SplitOp,
    category_rule: CategoryRule,
}

impl Kernels {
    /// The loops for numeric splits comparing with `op`; `missing` says
    /// whether any node sends NaN to its true child; categorical splits
    /// read values by `category_rule`.
    pub fn new(op: SplitOp, missing: bool, category_rule: CategoryRule) -> Kernels {
        fn arrays<const LEQ: bool, const MISSING: bool>(
            tree: &Tree,
            rows: &[f64],
            stride: usize,
            out: &mut [u32],
        ) {
            leaves(
                &ArrayStep::<LEQ, MISSING> { tree, stride },
                0,
                rows,
                stride,
                out,
            );
        }
        fn across<const LEQ: bool, const MISSING: bool>(
            trees: &[Tree],
            row: &[f64],
            out: &mut [u32],
        ) {
            let stride = row.len();
            let step_of = |t: usize| ArrayStep::<LEQ, MISSING> {
                tree: &trees[t],
                stride,
            };
            leaves_across(step_of, |_| 0, trees.len(), row, out);
        }
        fn packed<R: SplitRule + Default>(
            nodes: &[PackedNode],
            small: bool,
            rows: &[f64],
            stride: usize,
            out: &mut [u32],
        ) {
            packed_leaves(R::default(), nodes, 0, small, rows, stride, out);
        }
        let (arrays, across, packed): (ArraysFn, AcrossFn, PackedFn) = match (op, missing) {
            (SplitOp::LessOrEqual, false) => (
                arrays::<true, false>,
                across::<true, false>,
                packed::<Leq<false>>,
            ),
            (SplitOp::LessOrEqual, true) => (
                arrays::<true, true>,
                across::<true, true>,
                packed::<Leq<true>>,
            ),
            (SplitOp::Less, false) => (
                arrays::<false, false>,
                across::<false, false>,
                packed::<Lt<false>>,
            ),
            (SplitOp::Less, true) => (
                arrays::<false, true>,
                across::<false, true>,
                packed::<Lt<true>>,
            ),
        };
        Kernels {
            arrays,
            across,
            packed,
            op,
            category_rule,
        }
    }

    /// Writes to `leaves[r]` the leaf that row `r` of `rows` (row-major,
    /// `stride` values each) reaches in `tree`. `packed` is scratch space
    /// reused across calls.
    ///
    /// Panics if a split reads a feature beyond `stride`.
    pub fn leaves(
        &self,
        tree: &Tree,
        packed: &mut PackedTree,
        rows: &[f64],
        stride: usize,
        out: &mut [u32],
    ) {
        let n = out.len();
        if !tree.categories.is_empty() {
            // Categorical trees are always packed: the arrays cannot say
            // which splits are categorical without a search.
            assert!(
                pack(tree, self.op, stride, &mut packed.0),
                "a split reads a feature beyond the {stride} columns of the rows"
            );
            let rule = AnyTest {
                members: &MemberSets::default(),
                categories: &tree.categories,
                category_rule: self.category_rule,
            };
            let small = packed.0.len() <= SMALL_TREE;
            packed_leaves(rule, &packed.0, 0, small, rows, stride, out);
            return;
        }
        // Packing reads the tree once, sequentially, instead of missing the
        // cache at random while traversing: worth it when enough rows go
        // through the tree.
        // (Never for fewer rows than lanes: a row visits a few nodes of a
        // small tree, packing copies all of them.)
        if n >= LANES
            && n * PACK_ROWS_PER_NODE >= tree.n_nodes()
            && pack(tree, self.op, stride, &mut packed.0)
        {
            (self.packed)(&packed.0, packed.0.len() <= SMALL_TREE, rows, stride, out);
        } else {
            (self.arrays)(tree, rows, stride, out);
        }
    }

    /// Writes to `leaves[k]` the leaf that the one row `row` (its features,
    /// at least as many as the trees read) reaches in `trees[k]`, none of
    /// which has categorical splits; several trees in flight at once
    /// ([`leaves_across`]).
    ///
    /// Panics if a split reads a feature beyond `row`.
    pub fn leaves_across(&self, trees: &[Tree], row: &[f64], leaves: &mut [u32]) {
        debug_assert!(trees.iter().all(|t| t.categories.is_empty()));
        (self.across)(trees, row, &mut leaves[..trees.len()]);
    }
}

/// Scratch space for a packed copy of one tree.
#[derive(Default)]
pub struct PackedTree(Vec<PackedNode>);

/// Copies `tree` into `packed`, same node ids, categorical splits as
/// [`Test::Category`] nodes. Returns false if a split reads a feature
/// beyond `stride` columns (the traversal is then left to the arrays, which
/// panic as documented).
fn pack(tree: &Tree, op: SplitOp, stride: usize, packed: &mut Vec<PackedNode>) -> bool {
    packed.clear();
    packed.reserve(tree.n_nodes());
    let test = match op {
        SplitOp::LessOrEqual => Test::Leq,
        SplitOp::Less => Test::Lt,
    };
    let nodes = (tree.feature.iter().zip(&tree.threshold))
        .zip(tree.missing_true.iter().zip(&tree.false_child_or_leaf))
        .enumerate();
    let explicit = &tree.explicit_true_child;
    let implicit = explicit.is_empty();
    let mut fits = true;
    // One `extend` over slices (a trusted length: no capacity check per
    // node), and selects, not branches: which node is a leaf is
    // unpredictable.
    packed.extend(
        nodes.map(|(i, ((&feature, &threshold), (&missing_true, &c)))| {
            let leaf = c & LEAF_BIT != 0;
            let next = match implicit {
                true => i as u32 + 1,
                false => explicit.get(i).copied().unwrap_or(i as u32 + 1),
            };
            let (yes, no) = (if leaf { LEAF } else { next }, if leaf { LEAF } else { c });
            fits &= leaf | ((feature as usize) < stride);
            PackedNode {
                threshold,
                yes,
                no,
                feature,
                missing_true,
                test,
            }
        }),
    );
    for (k, &node) in tree.categories.nodes.iter().enumerate() {
        if let Some(p) = packed.get_mut(node as usize) {
            p.test = Test::Category;
            p.threshold = k as f64;
        }
    }
    fits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_nodes_stay_24_bytes() {
        assert_eq!(std::mem::size_of::<PackedNode>(), 24);
    }

    #[test]
    fn member_sets_hold_sorted_values_without_nan() {
        let mut s = MemberSets::default();
        assert_eq!(s.push([3.0, f64::NAN, 1.0]), 0);
        let many: Vec<f64> = (0..20).map(|v| f64::from(v) * 0.5).collect();
        assert_eq!(s.push(many), 1);
        assert_eq!(s.get(0), &[1.0, 3.0]);
        assert!(s.contains(0, 3.0) && !s.contains(0, 2.0) && !s.contains(0, f64::NAN));
        assert!(s.contains(1, 9.5) && s.contains(1, -0.0) && !s.contains(1, 9.25));
        assert!(!s.contains(1, f64::NAN));
    }

    #[test]
    fn the_lanes_visit_every_row_whatever_the_batch_size() {
        // A chain: node i tests x <= i; its true child is a leaf.
        let mut nodes = Vec::new();
        for i in 0..5u32 {
            nodes.push(PackedNode {
                threshold: f64::from(i),
                yes: 2 * i + 1,
                no: 2 * i + 2,
                ..Default::default()
            });
            nodes.push(PackedNode {
                yes: LEAF,
                ..Default::default()
            });
        }
        nodes.push(PackedNode {
            yes: LEAF,
            ..Default::default()
        });
        for rows in [0usize, 1, 7, 8, 9, 33] {
            let x: Vec<f64> = (0..rows).map(|r| (r % 7) as f64 - 0.5).collect();
            let mut out = vec![u32::MAX; rows];
            packed_leaves(Leq::<false>, &nodes, 0, true, &x, 1, &mut out);
            for (r, &leaf) in out.iter().enumerate() {
                let v = x[r];
                let expected = (0..5).find(|&i| v <= i as f64).map_or(10, |i| 2 * i + 1);
                assert_eq!(leaf, expected as u32, "row {r} = {v}");
            }
        }
    }
}
