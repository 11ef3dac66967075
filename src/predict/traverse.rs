//! Tree traversal kernels: which leaf each row of a batch reaches.
//!
//! Shared by the IR's reference [`Forest::predict`](crate::ir::Forest) and
//! forest2onnx's tract operator, so both run the same tuned loops: rows go
//! through one tree at a time (its nodes stay in cache), eight rows in flight
//! at once (their node loads overlap), on a packed copy of the tree when
//! enough rows pass through it to pay for packing.

use crate::ir::{CategoryRule, SplitOp, Tree, LEAF};

use super::category_of;

/// Fewest rows per parallel task of a batch evaluation: smaller batches are
/// not worth a thread.
const MIN_ROWS_PER_TASK: usize = 256;

/// Most rows per parallel task of a batch evaluation, bounding the scratch
/// memory (about 40 bytes per row for 3 classes).
const MAX_ROWS_PER_TASK: usize = 1 << 20;

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
const LANES: usize = 8;

/// Trees of at most this many nodes (24 KiB packed) are traversed with
/// conditional moves, larger ones with branches.
const SMALL_TREE: usize = 1024;

/// A tree is packed ([`pack`]) when at least one row per this many nodes
/// goes through it (on 13.7 k-node trees packing breaks even at about 100
/// rows and doubles the speed from 500 rows on).
const PACK_ROWS_PER_NODE: usize = 64;

/// The traversal loops of one forest, specialised for its split comparison
/// and for whether any node sends NaN to its true child.
#[derive(Clone, Copy)]
pub struct Kernels {
    arrays: fn(&Tree, &[f64], usize, &mut [u32]),
    packed: fn(&[PackedNode], &[f64], usize, &mut [u32]),
    /// For trees of at most [`SMALL_TREE`] nodes.
    packed_small: fn(&[PackedNode], &[f64], usize, &mut [u32]),
}

impl Kernels {
    /// The loops for numeric splits comparing with `op`; `missing` says
    /// whether any node sends NaN to its true child.
    pub fn new(op: SplitOp, missing: bool) -> Kernels {
        match (op, missing) {
            (SplitOp::LessOrEqual, false) => Kernels {
                arrays: tree_leaves::<true, false>,
                packed: packed_leaves::<true, false, false>,
                packed_small: packed_leaves::<true, false, true>,
            },
            (SplitOp::LessOrEqual, true) => Kernels {
                arrays: tree_leaves::<true, true>,
                packed: packed_leaves::<true, true, false>,
                packed_small: packed_leaves::<true, true, true>,
            },
            (SplitOp::Less, false) => Kernels {
                arrays: tree_leaves::<false, false>,
                packed: packed_leaves::<false, false, false>,
                packed_small: packed_leaves::<false, false, true>,
            },
            (SplitOp::Less, true) => Kernels {
                arrays: tree_leaves::<false, true>,
                packed: packed_leaves::<false, true, false>,
                packed_small: packed_leaves::<false, true, true>,
            },
        }
    }

    /// Writes to `leaves[r]` the leaf that row `r` of `rows` (row-major,
    /// `stride` values each) reaches in `tree`, a tree without categorical
    /// splits. `packed` is scratch space reused across calls.
    ///
    /// Panics if a split reads a feature beyond `stride`.
    pub fn leaves(
        &self,
        tree: &Tree,
        packed: &mut PackedTree,
        rows: &[f64],
        stride: usize,
        leaves: &mut [u32],
    ) {
        let n = leaves.len();
        // Packing reads the tree once, sequentially, instead of missing the
        // cache at random while traversing: worth it when enough rows go
        // through the tree.
        if n * PACK_ROWS_PER_NODE >= tree.n_nodes() && pack(tree, stride, &mut packed.0) {
            let traverse = if packed.0.len() <= SMALL_TREE {
                self.packed_small
            } else {
                self.packed
            };
            traverse(&packed.0, rows, stride, leaves);
        } else {
            (self.arrays)(tree, rows, stride, leaves);
        }
    }
}

/// Scratch space for a packed copy of one tree.
#[derive(Default)]
pub struct PackedTree(Vec<PackedNode>);

/// One node with everything a traversal step reads in one place (24 bytes:
/// one cache line or two, instead of four arrays).
#[derive(Clone, Copy, Debug, Default)]
struct PackedNode {
    threshold: f64,
    /// True child, or [`LEAF`].
    yes: u32,
    no: u32,
    feature: u32,
    missing_true: bool,
}

/// Copies `tree` into `packed`, same node ids. Returns false, leaving the
/// traversal to the arrays (which panic as documented), if a split reads a
/// feature beyond `stride` columns.
fn pack(tree: &Tree, stride: usize, packed: &mut Vec<PackedNode>) -> bool {
    packed.clear();
    packed.reserve(tree.n_nodes());
    let nodes = tree
        .true_child
        .iter()
        .zip(&tree.false_child)
        .zip(tree.feature.iter().zip(&tree.threshold))
        .zip(&tree.missing_true);
    let mut fits = true;
    for (((&yes, &no), (&feature, &threshold)), &missing_true) in nodes {
        fits &= yes == LEAF || (feature as usize) < stride;
        packed.push(PackedNode {
            threshold,
            yes,
            no,
            feature,
            missing_true,
        });
    }
    fits
}

/// [`tree_leaves`] on a packed tree whose features all fit in `stride`.
fn packed_leaves<const LEQ: bool, const MISSING: bool, const SMALL: bool>(
    nodes: &[PackedNode],
    rows: &[f64],
    stride: usize,
    leaves: &mut [u32],
) {
    let n = leaves.len();
    let mut row = [usize::MAX; LANES];
    let mut base = [0usize; LANES];
    let mut at = [0u32; LANES];
    let mut next = 0;
    for (lane_row, lane_base) in row.iter_mut().zip(&mut base).take(n) {
        *lane_row = next;
        *lane_base = next * stride;
        next += 1;
    }
    // Lanes without a first row never run; the others end idle on a leaf.
    let lanes = next;
    let mut active = lanes;
    while active > 0 {
        for lane in 0..lanes {
            let node = &nodes[at[lane] as usize];
            if node.yes == LEAF {
                let r = row[lane];
                if r == usize::MAX {
                    continue; // an idle lane
                }
                leaves[r] = at[lane];
                if next < n {
                    row[lane] = next;
                    base[lane] = next * stride;
                    at[lane] = 0;
                    next += 1;
                } else {
                    row[lane] = usize::MAX;
                    active -= 1;
                }
                continue;
            }
            let x = rows[base[lane] + node.feature as usize];
            let t = node.threshold;
            let mut goes_true = if LEQ { x <= t } else { x < t };
            if MISSING {
                goes_true |= x.is_nan() & node.missing_true;
            }
            at[lane] = if SMALL {
                // In a small tree every node is in L1: a mispredicted branch
                // costs more than waiting for the comparison.
                std::hint::select_unpredictable(goes_true, node.yes, node.no)
            } else {
                // Written so that the compiler emits a branch: measured 3×
                // faster on deep trees than the conditional move `if
                // goes_true { yes } else { no }` became here, because
                // speculation starts the lane's next node load (often a
                // cache miss) before the comparison resolves.
                let mask = u32::from(goes_true).wrapping_neg();
                node.no ^ ((node.yes ^ node.no) & mask)
            };
        }
    }
}

/// Writes to `leaves[r]` the leaf that row `r` of `rows` (row-major, `stride`
/// values per row) reaches in `tree`. `LEQ` selects `<=` (else `<`);
/// `MISSING` whether NaN may go to the true child.
///
/// Eight rows are in flight at a time; a lane that reaches a leaf takes the
/// next row, so the lanes' independent node loads overlap.
fn tree_leaves<const LEQ: bool, const MISSING: bool>(
    tree: &Tree,
    rows: &[f64],
    stride: usize,
    leaves: &mut [u32],
) {
    let n = leaves.len();
    let (true_child, false_child) = (&tree.true_child[..], &tree.false_child[..]);
    let (feature, threshold) = (&tree.feature[..], &tree.threshold[..]);
    let missing_true = &tree.missing_true[..];
    let mut row = [usize::MAX; LANES];
    let mut node = [0u32; LANES];
    let mut next = 0;
    let mut active = 0;
    for (lane_row, r) in row.iter_mut().zip(0..n) {
        *lane_row = r;
        next += 1;
        active += 1;
    }
    // Lanes without a first row never run; the others end idle on a leaf.
    let lanes = active;
    while active > 0 {
        for lane in 0..lanes {
            let at = node[lane] as usize;
            let yes = true_child[at];
            if yes == LEAF {
                let r = row[lane];
                if r == usize::MAX {
                    continue; // an idle lane
                }
                leaves[r] = at as u32;
                if next < n {
                    row[lane] = next;
                    node[lane] = 0;
                    next += 1;
                } else {
                    row[lane] = usize::MAX;
                    active -= 1;
                }
                continue;
            }
            // Both children are loaded before the comparison (measured 15 %
            // faster than loading the false child only when needed).
            let no = false_child[at];
            let f = feature[at] as usize;
            assert!(
                f < stride,
                "node {at} reads feature {f}; rows have {stride}"
            );
            let x = rows[row[lane] * stride + f];
            let t = threshold[at];
            let mut goes_true = if LEQ { x <= t } else { x < t };
            if MISSING {
                goes_true |= x.is_nan() & missing_true[at];
            }
            node[lane] = if goes_true { yes } else { no };
        }
    }
}

/// A tree with categorical splits, ready for traversal: each node's
/// categories found by index instead of a search.
pub struct CategoricalTree<'t> {
    tree: &'t Tree,
    /// Per node, `1 + k` for the `k`-th categorical split, 0 for others.
    slot: Vec<u32>,
    rule: CategoryRule,
}

impl<'t> CategoricalTree<'t> {
    /// Prepares `tree` (checked) for traversal with categories read by `rule`.
    pub fn new(tree: &'t Tree, rule: CategoryRule) -> CategoricalTree<'t> {
        let mut slot = vec![0u32; tree.n_nodes()];
        for (k, &node) in tree.categories.nodes.iter().enumerate() {
            if let Some(s) = slot.get_mut(node as usize) {
                *s = k as u32 + 1;
            }
        }
        CategoricalTree { tree, slot, rule }
    }

    /// Like [`Kernels::leaves`], one row at a time: models with categorical
    /// splits are small next to full-depth forests.
    pub fn leaves(&self, op: SplitOp, rows: &[f64], stride: usize, leaves: &mut [u32]) {
        let t = self.tree;
        let c = &t.categories;
        for (r, leaf) in leaves.iter_mut().enumerate() {
            let row = &rows[r * stride..(r + 1) * stride];
            let mut node = 0usize;
            while t.true_child[node] != LEAF {
                let x = row[t.feature[node] as usize];
                let goes_true = if x.is_nan() {
                    t.missing_true[node]
                } else if self.slot[node] > 0 {
                    let k = self.slot[node] as usize - 1;
                    let set = &c.categories[c.offsets[k] as usize..c.offsets[k + 1] as usize];
                    category_of(x, self.rule).is_some_and(|v| set.binary_search(&v).is_ok())
                } else {
                    match op {
                        SplitOp::LessOrEqual => x <= t.threshold[node],
                        SplitOp::Less => x < t.threshold[node],
                    }
                };
                node = if goes_true {
                    t.true_child[node]
                } else {
                    t.false_child[node]
                } as usize;
            }
            *leaf = node as u32;
        }
    }
}
