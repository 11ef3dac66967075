//! A tree-ensemble node compiled for evaluation: [`CompiledEnsemble`].
//!
//! Compilation ([`keyed`] for opsets 1/3, [`indexed`] for opset 5) checks
//! every id, rejects cycles and lays the reachable nodes out as
//! [`PackedNode`]s, tree after tree, so that evaluation runs the kernels
//! the IR's reference prediction uses and cannot index out of bounds or
//! loop: the walk ([`crate::predict::traverse`]), and for batches the
//! bit-vector kernel ([`crate::predict::bitvector`]) on trees of at most 64
//! leaves whose branches all compare with `<=` (or all with `<`). Nodes may share children (an
//! acyclic graph, e.g. chains of `BRANCH_EQ` nodes sharing the true child).
//! Leaves carry the range of their weights in `no..feature`.
//!
//! Evaluation is in f64 whatever the file's precision: float32 thresholds
//! and inputs are exact in f64, and double models need it.

mod finish;
mod indexed;
mod keyed;

use rayon::prelude::*;

use crate::ir::{CategorySplits, SplitOp, LEAF};
use crate::predict::bitvector::{BitForest, BLOCK};
use crate::predict::traverse::{
    leaves_across, packed_leaves, AnyTest, Gt, Gte, Leq, Lt, MemberSets, PackedNode, PackedStep,
    SplitRule, Test, LANES,
};

use super::attributes::{Aggregate, Attributes, Mode, Nodes, Operator, PostTransform, Precision};
use super::error::AttributeError;
use finish::RowScores;

/// One tree: its root's position, and whether it is small enough for the
/// branch-free kernel.
#[derive(Clone, Copy, Debug)]
struct Root {
    node: u32,
    small: bool,
}

/// How the branches of an ensemble compare: one comparison everywhere (and
/// whether any node sends NaN to its true child), or a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Uniform(Test, bool),
    Any,
}

/// No categorical splits: ONNX ensembles have set membership instead.
static NO_CATEGORIES: CategorySplits = CategorySplits {
    nodes: Vec::new(),
    offsets: Vec::new(),
    categories: Vec::new(),
};

/// The compiled nodes, before the ensemble-wide flags are derived.
struct Layout {
    nodes: Vec<PackedNode>,
    trees: Vec<Root>,
    members: MemberSets,
    weight_target: Vec<u32>,
    weight_value: Vec<f64>,
}

/// A validated tree-ensemble node, ready to evaluate rows.
#[derive(Clone, Debug)]
pub struct CompiledEnsemble {
    nodes: Vec<PackedNode>,
    trees: Vec<Root>,
    members: MemberSets,
    weight_target: Vec<u32>,
    weight_value: Vec<f64>,
    base_values: Vec<f64>,
    post_transform: PostTransform,
    aggregate: Aggregate,
    n_outputs: usize,
    n_features: usize,
    operator: Operator,
    precision: Precision,
    rule: Rule,
    /// onnxruntime's one-score path: two classes, one class id used.
    binary_case: bool,
    weights_all_positive: bool,
    /// The trees of at most 64 leaves, for the bit-vector kernel (none
    /// unless every branch compares with `<=`, or every one with `<`).
    bits: BitForest,
    /// Per tree, its index in `bits`, if packed there.
    in_bits: Vec<Option<usize>>,
    /// Every tree is small enough for the branch-free walk.
    all_small: bool,
}

impl CompiledEnsemble {
    /// Checks `attributes` and compiles them.
    ///
    /// Opset 1/3 files usually list nodes tree by tree in id order, with
    /// ids `0..n` (skl2onnx, forest2onnx, onnxmltools): then nothing is
    /// sorted and every child lookup is an addition; other layouts are
    /// sorted first. Time is linear (or `n log n`), memory a few bytes per
    /// node beyond the result.
    pub fn compile(attributes: &Attributes<'_>) -> Result<CompiledEnsemble, AttributeError> {
        let a = attributes;
        let classifier = a.operator == Operator::TreeEnsembleClassifier;
        if a.n_outputs == 0 {
            return Err(AttributeError::Empty {
                attribute: if classifier {
                    "classlabels_int64s"
                } else {
                    "n_targets"
                },
                what: "outputs",
            });
        }
        let base_name = if a.precision == Precision::Float {
            "base_values"
        } else {
            "base_values_as_tensor"
        };
        let nb = a.base_values.len();
        let two_class_layouts = classifier && a.n_outputs == 2 && nb <= 2;
        if nb != 0 && nb != a.n_outputs && !two_class_layouts {
            return Err(AttributeError::BaseValues {
                attribute: base_name,
                len: nb,
                n_outputs: a.n_outputs,
            });
        }
        if let Some((index, &value)) = a
            .base_values
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
        {
            return Err(AttributeError::NotFinite {
                attribute: base_name,
                index,
                value,
            });
        }
        let layout = match &a.nodes {
            Nodes::Keyed(nodes) => keyed::compile(nodes, classifier, a.n_outputs)?,
            Nodes::Indexed(nodes) => indexed::compile(nodes, a.n_outputs)?,
        };
        // Ensemble-wide facts, one parallel pass each (millions of nodes
        // and weights in a large forest).
        let branches = || layout.nodes.par_iter().filter(|n| !n.is_leaf());
        let (n_features, missing) = branches()
            .map(|n| (n.feature as usize + 1, n.missing_true))
            .reduce(|| (0, false), |a, b| (a.0.max(b.0), a.1 || b.1));
        let first = layout.nodes.iter().find(|n| !n.is_leaf()).map(|n| n.test);
        let rule = match first {
            None => Rule::Uniform(Test::Leq, false),
            Some(t @ (Test::Leq | Test::Lt | Test::Gte | Test::Gt))
                if branches().all(|n| n.test == t) =>
            {
                Rule::Uniform(t, missing)
            }
            Some(_) => Rule::Any,
        };
        // onnxruntime's one-score path: two classes, one of them used.
        let uses = |class: u32| layout.weight_target.par_iter().any(|&t| t == class);
        let binary_case = classifier && a.n_outputs == 2 && uses(0) != uses(1);
        let (bits, in_bits) = bit_trees(&layout, rule, n_features);
        Ok(CompiledEnsemble {
            bits,
            in_bits,
            all_small: layout.trees.iter().all(|root| root.small),
            binary_case,
            weights_all_positive: layout.weight_value.par_iter().all(|&w| w >= 0.0),
            rule,
            n_features,
            nodes: layout.nodes,
            trees: layout.trees,
            members: layout.members,
            weight_target: layout.weight_target,
            weight_value: layout.weight_value,
            base_values: a.base_values.to_vec(),
            post_transform: a.post_transform,
            aggregate: a.aggregate,
            n_outputs: a.n_outputs,
            operator: a.operator,
            precision: a.precision,
        })
    }

    /// The operator compiled.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// Whether this is a `TreeEnsembleClassifier` (which also has a label
    /// output).
    pub fn is_classifier(&self) -> bool {
        self.operator == Operator::TreeEnsembleClassifier
    }

    /// Element type of the thresholds and weights in the file.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Number of outputs per row (classes or targets).
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Smallest input width the ensemble can read: the highest feature a
    /// reachable split reads, plus one.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of reachable nodes, leaves included (a node shared by
    /// several parents counts once).
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of reachable leaves.
    pub fn n_leaves(&self) -> usize {
        self.nodes.iter().filter(|n| n.is_leaf()).count()
    }

    /// `post_transform`.
    pub fn post_transform(&self) -> PostTransform {
        self.post_transform
    }

    /// `aggregate_function` (what the op does; `SUM` for classifiers).
    pub fn aggregate(&self) -> Aggregate {
        self.aggregate
    }

    /// The branch modes in use, in [`Mode`] order.
    pub fn modes(&self) -> Vec<Mode> {
        let mut seen = [false; 8];
        for n in self.nodes.iter().filter(|n| !n.is_leaf()) {
            seen[n.test as usize] = true;
        }
        [
            Mode::Leq,
            Mode::Lt,
            Mode::Gte,
            Mode::Gt,
            Mode::Eq,
            Mode::Neq,
            Mode::Member,
        ]
        .into_iter()
        .zip(seen)
        .filter_map(|(m, s)| s.then_some(m))
        .collect()
    }

    /// Length of the longest root-to-leaf path over all trees, in edges.
    pub fn max_depth(&self) -> usize {
        // Longest path below each node, computed children first (the graph
        // is acyclic, checked at compile time).
        let mut below = vec![u32::MAX; self.nodes.len()];
        let mut stack: Vec<u32> = Vec::new();
        let mut deepest = 0;
        for root in &self.trees {
            stack.push(root.node);
            while let Some(&at) = stack.last() {
                let node = &self.nodes[at as usize];
                if below[at as usize] != u32::MAX {
                    stack.pop();
                    continue;
                }
                if node.is_leaf() {
                    below[at as usize] = 0;
                    stack.pop();
                    continue;
                }
                let (yes, no) = (below[node.yes as usize], below[node.no as usize]);
                if yes == u32::MAX {
                    stack.push(node.yes);
                } else if no == u32::MAX {
                    stack.push(node.no);
                } else {
                    below[at as usize] = 1 + yes.max(no);
                    stack.pop();
                }
            }
            deepest = deepest.max(below[root.node as usize] as usize);
        }
        deepest
    }

    /// The packed nodes, tree after tree (for structural comparison with
    /// the forest, `validate::structure`).
    pub fn packed_nodes(&self) -> &[PackedNode] {
        &self.nodes
    }

    /// The position of each tree's root in [`CompiledEnsemble::packed_nodes`].
    pub fn roots(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.trees.iter().map(|r| r.node)
    }

    /// The sets of the [`Test::Member`] nodes.
    pub fn member_sets(&self) -> &MemberSets {
        &self.members
    }

    /// The `(target, weight)` pairs of leaf `node` (empty for a branch).
    pub fn leaf_weights(&self, node: &PackedNode) -> impl Iterator<Item = (u32, f64)> + '_ {
        let range = if node.is_leaf() {
            node.no as usize..node.feature as usize
        } else {
            0..0
        };
        range.map(|w| (self.weight_target[w], self.weight_value[w]))
    }

    /// Evaluates rows (row-major, `width` values each, `width` at least
    /// [`CompiledEnsemble::n_features`]) into `out` (rows ×
    /// [`CompiledEnsemble::n_outputs`]) and, for classifiers, each row's
    /// class index into `classes` (one per row; ignored otherwise).
    ///
    /// Tree by tree: every row goes through one tree while its nodes are in
    /// cache, several rows at a time. Each row still accumulates its trees'
    /// weights in tree order, exactly as one row at a time would.
    pub fn eval_rows(&self, rows: &[f64], width: usize, out: &mut [f64], classes: &mut [usize]) {
        let k = self.n_outputs;
        let n = out.len() / k;
        assert!(
            width >= self.n_features && rows.len() >= n * width,
            "eval_rows: {n} rows of width {width} (at least {}) need {} values, got {}",
            self.n_features,
            n * width,
            rows.len()
        );
        let rows = &rows[..n * width];
        match self.rule {
            Rule::Uniform(Test::Leq, false) => {
                self.eval_with(Leq::<false>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Leq, true) => {
                self.eval_with(Leq::<true>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Lt, false) => {
                self.eval_with(Lt::<false>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Lt, true) => self.eval_with(Lt::<true>, rows, width, out, classes),
            Rule::Uniform(Test::Gte, false) => {
                self.eval_with(Gte::<false>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Gte, true) => {
                self.eval_with(Gte::<true>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Gt, false) => {
                self.eval_with(Gt::<false>, rows, width, out, classes)
            }
            Rule::Uniform(Test::Gt, true) => self.eval_with(Gt::<true>, rows, width, out, classes),
            _ => {
                let rule = AnyTest {
                    members: &self.members,
                    categories: &NO_CATEGORIES,
                    category_rule: Default::default(),
                };
                self.eval_with(rule, rows, width, out, classes)
            }
        }
    }

    fn eval_with<R: SplitRule>(
        &self,
        rule: R,
        rows: &[f64],
        width: usize,
        out: &mut [f64],
        classes: &mut [usize],
    ) {
        let k = self.n_outputs;
        let n = out.len() / k;
        let mut acc = Accumulator {
            ensemble: self,
            min_max: !self.is_classifier()
                && matches!(self.aggregate, Aggregate::Min | Aggregate::Max),
            scores: vec![0.0f64; n * k],
            has: vec![false; n * k],
            one_score: vec![0.0f64; n],
        };
        if n < LANES {
            // A few rows (the serving case): one row at a time, several
            // trees in flight.
            let mut leaves = vec![0u32; self.trees.len()];
            for r in 0..n {
                self.row_leaves(rule, &rows[r * width..(r + 1) * width], &mut leaves);
                for &leaf in &leaves {
                    acc.add(r, leaf);
                }
            }
            return self.finish_rows(acc, out, classes);
        }
        let mut leaves = vec![0u32; n];
        // The bit-vector kernel from a few blocks of rows on, as the IR's
        // predict does: packing is done once, but transposing a block
        // costs more than one row walking the trees.
        let use_bits = n >= 4 * BLOCK;
        let mut t = 0;
        while t < self.trees.len() {
            if use_bits && self.in_bits[t].is_some() {
                let end = (t..self.trees.len())
                    .find(|&u| self.in_bits[u].is_none())
                    .unwrap_or(self.trees.len());
                self.bit_run(t..end, rows, width, &mut acc);
                t = end;
                continue;
            }
            let root = self.trees[t];
            packed_leaves(
                rule,
                &self.nodes,
                root.node,
                root.small,
                rows,
                width,
                &mut leaves,
            );
            for (r, &leaf) in leaves.iter().enumerate() {
                acc.add(r, leaf);
            }
            t += 1;
        }
        self.finish_rows(acc, out, classes);
    }

    /// Writes to `leaves[t]` the leaf that `row` reaches in tree `t`.
    fn row_leaves<R: SplitRule>(&self, rule: R, row: &[f64], leaves: &mut [u32]) {
        let root_of = |t: usize| self.trees[t].node;
        let nodes = &self.nodes;
        if self.all_small {
            let step_of = |_| PackedStep::<R, true> { nodes, rule };
            leaves_across(step_of, root_of, self.trees.len(), row, leaves);
        } else {
            let step_of = |_| PackedStep::<R, false> { nodes, rule };
            leaves_across(step_of, root_of, self.trees.len(), row, leaves);
        }
    }

    /// Turns the sums of `acc` into each row's outputs `out` and class index
    /// `classes`.
    fn finish_rows(&self, acc: Accumulator<'_>, out: &mut [f64], classes: &mut [usize]) {
        let k = self.n_outputs;
        let Accumulator {
            mut scores,
            mut has,
            one_score,
            ..
        } = acc;
        let rows = scores
            .chunks_exact_mut(k)
            .zip(has.chunks_exact_mut(k))
            .zip(one_score)
            .zip(out.chunks_exact_mut(k));
        for (r, (((scores, has), one_score), out)) in rows.enumerate() {
            let class = self.finish_row(
                RowScores {
                    scores,
                    has,
                    one_score,
                },
                out,
            );
            if let Some(slot) = classes.get_mut(r) {
                *slot = class;
            }
        }
    }

    /// Adds the weights of `trees` (all in the bit-vector kernel) to every
    /// row of `rows`; each row still takes its trees in order.
    fn bit_run(
        &self,
        trees: std::ops::Range<usize>,
        rows: &[f64],
        width: usize,
        acc: &mut Accumulator<'_>,
    ) {
        let n = acc.one_score.len();
        let packed = |t: usize| self.in_bits[t].expect("a tree of the run");
        let add = |_, first: usize, leaves: &[u32]| {
            for (r, &p) in (first..).zip(leaves) {
                acc.add(r, self.bits.leaf_node(p));
            }
        };
        self.bits.each_leaf(trees, packed, rows, n, width, add);
    }
}

/// The per-row sums of an evaluation, as the weights of the leaves reached
/// are added in tree order.
struct Accumulator<'e> {
    ensemble: &'e CompiledEnsemble,
    /// `MIN`/`MAX` aggregation of a regressor (else sums).
    min_max: bool,
    /// Rows × outputs.
    scores: Vec<f64>,
    /// Whether output `t` of a row has had a weight (for `MIN`/`MAX`).
    has: Vec<bool>,
    /// Per row, the sum of every weight (onnxruntime's one-score path).
    one_score: Vec<f64>,
}

impl Accumulator<'_> {
    /// Adds the weights of leaf `leaf` (a packed node) to row `r`.
    #[inline]
    fn add(&mut self, r: usize, leaf: u32) {
        let e = self.ensemble;
        let k = e.n_outputs;
        let (scores, has) = (
            &mut self.scores[r * k..(r + 1) * k],
            &mut self.has[r * k..(r + 1) * k],
        );
        let leaf = &e.nodes[leaf as usize];
        for w in leaf.no..leaf.feature {
            let (t, v) = (
                e.weight_target[w as usize] as usize,
                e.weight_value[w as usize],
            );
            self.one_score[r] += v;
            let s = &mut scores[t];
            if !self.min_max {
                *s += v;
            } else if !has[t] {
                *s = v;
            } else if e.aggregate == Aggregate::Min {
                *s = s.min(v);
            } else {
                *s = s.max(v);
            }
            has[t] = true;
        }
    }
}

/// Packs the trees of `layout` that the bit-vector kernel can evaluate,
/// when every branch makes the same `<=` or `<` comparison; returns them
/// and, per tree, its index among them.
fn bit_trees(layout: &Layout, rule: Rule, n_features: usize) -> (BitForest, Vec<Option<usize>>) {
    let op = match rule {
        Rule::Uniform(Test::Leq, _) => SplitOp::LessOrEqual,
        Rule::Uniform(Test::Lt, _) => SplitOp::Less,
        _ => return (BitForest::default(), vec![None; layout.trees.len()]),
    };
    let mut bits = BitForest::new(op);
    let in_bits = layout
        .trees
        .iter()
        .map(|root| bits.push_packed(&layout.nodes, root.node, n_features))
        .collect();
    (bits, in_bits)
}

/// A leaf whose weights are `weights` (indices into the weight arrays).
fn leaf(weights: std::ops::Range<u32>) -> PackedNode {
    PackedNode {
        yes: LEAF,
        no: weights.start,
        feature: weights.end,
        ..PackedNode::default()
    }
}

/// The traversal test of a branch mode.
fn test_of(mode: Mode) -> Test {
    match mode {
        Mode::Leq => Test::Leq,
        Mode::Lt => Test::Lt,
        Mode::Gte => Test::Gte,
        Mode::Gt => Test::Gt,
        Mode::Eq => Test::Eq,
        Mode::Neq => Test::Neq,
        Mode::Member => Test::Member,
        Mode::Leaf => unreachable!("leaves are not branches"),
    }
}

/// A feature id as the packed node's `u32`.
fn feature_id(attribute: &'static str, index: usize, value: i64) -> Result<u32, AttributeError> {
    u32::try_from(value)
        .ok()
        .filter(|&f| f < u32::MAX)
        .ok_or_else(|| AttributeError::Range {
            attribute,
            index,
            value,
            range: format!("0..{}", u32::MAX),
        })
}

/// Checks that `len` entries of `attribute` match `expected` of `reference`.
fn same_length(
    attribute: &'static str,
    len: usize,
    reference: &'static str,
    expected: usize,
) -> Result<(), AttributeError> {
    if len == expected {
        Ok(())
    } else {
        Err(AttributeError::Length {
            attribute,
            len,
            reference,
            expected,
        })
    }
}

/// Checks a leaf weight's target and value.
fn check_weight(
    (targets, weights): (&'static str, &'static str),
    index: usize,
    target: i64,
    value: f64,
    n_outputs: usize,
) -> Result<u32, AttributeError> {
    if !(0..n_outputs as i64).contains(&target) {
        return Err(AttributeError::Range {
            attribute: targets,
            index,
            value: target,
            range: format!("0..{n_outputs}"),
        });
    }
    if !value.is_finite() {
        return Err(AttributeError::NotFinite {
            attribute: weights,
            index,
            value,
        });
    }
    Ok(target as u32)
}

#[cfg(test)]
mod tests;
