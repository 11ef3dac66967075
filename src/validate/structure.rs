//! Structural validation: every node of the ONNX trees, as tract runs them
//! ([`CompiledEnsemble`], parsed and compiled by our operator), walked
//! alongside the forest's trees from the roots.
//!
//! For every split, the ONNX node must send exactly the same inputs to the
//! branch paired with the forest's true child, for *every* value of the
//! ensemble's input type, not just sampled rows. Both sides are step
//! functions of the one value they test (down-sets, points, or membership
//! sets, plus NaN and the zero-as-missing band), so they agree everywhere
//! when they agree at every breakpoint of either and one step either side:
//! the forest's threshold, the ONNX threshold (and set members), NaN, the
//! infinities and the zero band's edges. Categorical splits are compared on
//! the category column the graph computes (the category, −1 for none, NaN)
//! at every category of either side and its neighbours, through the chain of
//! ONNX nodes that writes one set at opsets 1/3. Leaves must hold the
//! forest's values as the layout writes them (all values, one copy's value,
//! the two-class difference, the tree's score, or the leaf's number).
//!
//! What happens before and after the ensemble (casts, the zero band turned
//! to NaN, the category columns, averaging, base values, post-transforms,
//! labels) is standard operators; [`super::validate_conversion`] checks it on
//! rows. A graph laid out otherwise (another converter's) is not compared
//! here ([`check_structure`] says why) and validation falls back to probing
//! every threshold with rows.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

use crate::ir::{
    Aggregation, CategorySplits, Forest, Precision, SplitOp, Tree, MAX_CATEGORY, ZERO_THRESHOLD,
};
use crate::predict::traverse::{AnyTest, PackedNode, SplitRule, Test};
use crate::runtime::{CompiledEnsemble, ElementType};

use super::compare::Tolerance;

/// How many differences a report keeps (all of them in `validate --json`,
/// the first [`SHOWN_DIFFERENCES`] in the text report).
pub const KEEP_DIFFERENCES: usize = 1000;

/// How many differences the text report shows.
pub const SHOWN_DIFFERENCES: usize = 10;

/// One node where the ONNX trees and the forest differ.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Difference {
    /// Forest tree.
    pub tree: usize,
    /// ONNX tree (several per forest tree when leaves are written as
    /// copies, opset 5).
    pub onnx_tree: usize,
    /// Forest node.
    pub node: u32,
    /// Feature the forest node tests (none for leaves).
    pub feature: Option<u32>,
    /// Input column the ONNX node tests (the category column of a
    /// categorical split).
    pub onnx_feature: Option<u32>,
    /// The forest node's threshold (numeric splits).
    pub threshold: Option<f64>,
    /// The ONNX node's threshold (numeric comparisons).
    pub onnx_threshold: Option<f64>,
    /// An input value routed differently, when that is the difference.
    pub value: Option<f64>,
    /// What differs.
    pub what: String,
}

/// The outcome of the structural comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StructureReport {
    /// ONNX trees walked.
    pub onnx_trees: usize,
    /// Forest nodes compared (splits and leaves).
    pub nodes: usize,
    /// Numeric splits compared.
    pub splits: usize,
    /// Distinct `(feature, threshold)` pairs among them: every one compared
    /// for every input value.
    pub thresholds: usize,
    /// Categorical splits compared.
    pub categorical_splits: usize,
    /// Leaves compared.
    pub leaves: usize,
    /// Forest nodes no input can reach (behind a categorical split no
    /// category satisfies): not compared.
    pub unreachable: usize,
    /// How the layout writes leaf values (`values`, `copy`, `two-class`,
    /// `tree score`, `leaf number`).
    pub leaf_values: &'static str,
    /// Nodes that differ.
    pub differences: usize,
    /// The first of them (at most [`KEEP_DIFFERENCES`]).
    pub first_differences: Vec<Difference>,
}

impl StructureReport {
    /// True when no node differs.
    pub fn passed(&self) -> bool {
        self.differences == 0
    }

    fn merge(mut self, other: StructureReport) -> StructureReport {
        self.onnx_trees += other.onnx_trees;
        self.nodes += other.nodes;
        self.splits += other.splits;
        self.categorical_splits += other.categorical_splits;
        self.leaves += other.leaves;
        self.unreachable += other.unreachable;
        self.differences += other.differences;
        let room = KEEP_DIFFERENCES.saturating_sub(self.first_differences.len());
        self.first_differences
            .extend(other.first_differences.into_iter().take(room));
        self
    }

    fn differ(&mut self, d: Difference) {
        self.differences += 1;
        if self.first_differences.len() < KEEP_DIFFERENCES {
            self.first_differences.push(d);
        }
    }
}

/// How leaves hold the forest's leaf values (see `export::onnx::layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeafRule {
    /// Value `k` on output `k`.
    Values,
    /// Copy `j` of a tree holds value `j` on output `j` (opset 5).
    Copy,
    /// Two classes in the classifier operator: `v1 − v0` on class 1.
    TwoClass,
    /// One value on the tree's score.
    TreeScore,
    /// Hard vote: weight 1 on the leaf's class.
    Vote,
    /// Hard vote of a two-class classifier op: weight +1 (class 1) or −1
    /// (class 0) on class 1.
    VoteSigned,
    /// The leaf's number within its tree, on the tree's output (double
    /// leaf-index graphs; the values are gathered after the ensemble).
    LeafNumber,
    /// Value `k` divided by the number of trees on output `k`: an averaging
    /// forest summed by the ensemble (skl2onnx's forests).
    Averaged,
    /// The one score of a two-class booster as the leaf's only weight, on
    /// either class: the classifier operator's one-score binary path
    /// (onnxmltools' XGBoost and LightGBM classifiers).
    OneScore,
}

impl LeafRule {
    fn name(self) -> &'static str {
        match self {
            LeafRule::Values => "values",
            LeafRule::Copy => "copy",
            LeafRule::TwoClass => "two-class",
            LeafRule::TreeScore => "tree score",
            LeafRule::Vote => "vote",
            LeafRule::VoteSigned => "signed vote",
            LeafRule::LeafNumber => "leaf number",
            LeafRule::Averaged => "values / trees",
            LeafRule::OneScore => "one score",
        }
    }
}

/// What every tree walk shares.
struct Context<'a> {
    forest: &'a Forest,
    ensemble: &'a CompiledEnsemble,
    nodes: &'a [PackedNode],
    rule: AnyTest<'a>,
    roots: Vec<u32>,
    copies: usize,
    /// Inputs reach the ensemble as float32 values.
    f32_domain: bool,
    leaf_rule: LeafRule,
    tolerance: Tolerance,
    /// Per feature, its category column, if any.
    category_column: Vec<Option<u32>>,
    /// Per feature, whether it is zero-as-missing.
    zero_band: Vec<bool>,
}

/// Compares the trees of `ensemble` (the one tree-ensemble operator of an
/// ONNX model whose input is `input`) with those of `forest`, node by node.
///
/// `Err` says why the graph is not laid out as forest2onnx writes it (tree
/// counts, leaf layout), so that nothing can be compared node by node.
pub fn check_structure(
    forest: &Forest,
    ensemble: &CompiledEnsemble,
    input: ElementType,
) -> Result<StructureReport, String> {
    let n_trees = forest.trees.len();
    let roots: Vec<u32> = ensemble.roots().collect();
    if n_trees == 0 || roots.is_empty() || !roots.len().is_multiple_of(n_trees) {
        return Err(format!(
            "the ONNX ensemble has {} trees, not a multiple of the forest's {n_trees}",
            roots.len()
        ));
    }
    let copies = roots.len() / n_trees;
    if copies > 1 && copies != forest.leaf_width() {
        return Err(format!(
            "the ONNX ensemble has {copies} trees per forest tree; the leaves hold {}",
            forest.leaf_width()
        ));
    }
    let mut category_column = vec![None; forest.n_features];
    let mut next = forest.n_features as u32;
    for (f, slot) in category_column.iter_mut().enumerate() {
        let categorical = forest.trees.iter().any(|t| {
            t.categories
                .nodes
                .iter()
                .any(|&i| t.feature.get(i as usize) == Some(&(f as u32)))
        });
        if categorical {
            *slot = Some(next);
            next += 1;
        }
    }
    let mut zero_band = vec![false; forest.n_features];
    for &f in &forest.input.zero_as_missing {
        if let Some(z) = zero_band.get_mut(f as usize) {
            *z = true;
        }
    }
    let no_categories = CategorySplits::default();
    let mut cx = Context {
        forest,
        ensemble,
        nodes: ensemble.packed_nodes(),
        rule: AnyTest {
            members: ensemble.member_sets(),
            categories: &no_categories,
            category_rule: Default::default(),
        },
        roots,
        copies,
        f32_domain: input == ElementType::Float || forest.input.precision == Precision::F32,
        leaf_rule: LeafRule::Values,
        tolerance: Tolerance::for_type(match ensemble.precision() {
            crate::runtime::Precision::Double => ElementType::Double,
            _ => ElementType::Float,
        }),
        category_column,
        zero_band,
    };
    cx.leaf_rule = choose_leaf_rule(&cx)?;
    let (report, mut thresholds) = (0..cx.roots.len())
        .into_par_iter()
        .map(|t| {
            let mut th = Vec::new();
            let r = walk_tree(&cx, t, &mut th);
            (r, th)
        })
        .reduce(
            || (StructureReport::default(), Vec::new()),
            |(a, mut ta), (b, tb)| {
                ta.extend(tb);
                (a.merge(b), ta)
            },
        );
    thresholds.par_sort_unstable();
    thresholds.dedup();
    let mut report = report;
    report.thresholds = thresholds.len();
    report.leaf_values = cx.leaf_rule.name();
    Ok(report)
}

/// The leaf layout that fits the first trees best (every candidate the
/// output counts allow; a tampered leaf leaves the right one ahead).
fn choose_leaf_rule(cx: &Context<'_>) -> Result<LeafRule, String> {
    let k = cx.ensemble.n_outputs();
    let w = cx.forest.leaf_width();
    let tree_scores = matches!(&cx.forest.aggregation, Aggregation::Sum { tree_targets, .. } if !tree_targets.is_empty());
    let voting = matches!(cx.forest.aggregation, Aggregation::Vote);
    let candidates: Vec<LeafRule> = [
        (LeafRule::Values, cx.copies == 1 && k == w),
        (LeafRule::Copy, cx.copies > 1 && k == w),
        (LeafRule::TwoClass, cx.copies == 1 && k == 2 && w == 2),
        (LeafRule::TreeScore, cx.copies == 1 && tree_scores && w == 1),
        (LeafRule::Vote, cx.copies == 1 && voting && w == 1),
        (
            LeafRule::VoteSigned,
            cx.copies == 1 && voting && w == 1 && k == 2,
        ),
        (
            LeafRule::LeafNumber,
            cx.copies == 1 && k == cx.forest.trees.len(),
        ),
        // Other converters' layouts: last, so they win only by fitting more.
        (
            LeafRule::Averaged,
            cx.copies == 1 && k == w && matches!(cx.forest.aggregation, Aggregation::Average),
        ),
        (
            LeafRule::OneScore,
            cx.copies == 1 && k == 2 && w == 1 && !voting,
        ),
    ]
    .into_iter()
    .filter_map(|(r, ok)| ok.then_some(r))
    .collect();
    let sample = cx.roots.len().min(8 * cx.copies);
    let mut best = None;
    for rule in candidates {
        let fits: usize = (0..sample)
            .map(|t| {
                let (s, copy) = (t / cx.copies, t % cx.copies);
                let tree = &cx.forest.trees[s];
                let ranks = leaf_ranks(tree);
                let mut fits = 0;
                let mut stack = vec![(0u32, cx.roots[t])];
                while let Some((i, j)) = stack.pop() {
                    let j = skip_void(cx, j);
                    if tree.is_leaf(i as usize) {
                        fits += usize::from(leaf_matches(cx, rule, s, copy, tree, i, &ranks, j));
                    } else if !cx.nodes[j as usize].is_leaf() {
                        // Shape only: follow both sides in order.
                        let n = &cx.nodes[j as usize];
                        let (yes, no) = tree.children(i as usize).expect("a split");
                        stack.push((yes, n.yes));
                        stack.push((no, n.no));
                    }
                }
                fits
            })
            .sum();
        if best.is_none_or(|(_, f)| fits > f) {
            best = Some((rule, fits));
        }
    }
    best.map(|(r, _)| r).ok_or_else(|| {
        format!("the ONNX ensemble has {k} outputs; the forest's leaves hold {w} values")
    })
}

/// Per node, the number of leaves before it (the leaf numbers of
/// leaf-index graphs).
fn leaf_ranks(tree: &Tree) -> Vec<u32> {
    let mut leaves = 0u32;
    (0..tree.n_nodes())
        .map(|i| {
            let r = leaves;
            leaves += u32::from(tree.is_leaf(i));
            r
        })
        .collect()
}

/// Follows branches whose two children are one node (opset 5 writes a
/// one-leaf tree so).
fn skip_void(cx: &Context<'_>, mut j: u32) -> u32 {
    for _ in 0..cx.nodes.len() {
        let n = &cx.nodes[j as usize];
        if n.is_leaf() || n.yes != n.no {
            break;
        }
        j = n.yes;
    }
    j
}

#[allow(clippy::too_many_arguments)]
fn leaf_matches(
    cx: &Context<'_>,
    rule: LeafRule,
    s: usize,
    copy: usize,
    tree: &Tree,
    i: u32,
    ranks: &[u32],
    j: u32,
) -> bool {
    let node = &cx.nodes[j as usize];
    if !node.is_leaf() {
        return false;
    }
    let k = cx.ensemble.n_outputs();
    let mut got = vec![0.0; k];
    for (t, v) in cx.ensemble.leaf_weights(node) {
        got[t as usize] += v;
    }
    let w = cx.forest.leaf_width();
    let v = tree.leaf_values(i as usize, w);
    let mut expected = vec![0.0; k];
    match rule {
        LeafRule::Values => expected.copy_from_slice(v),
        LeafRule::Copy => expected[copy] = v[copy],
        LeafRule::TwoClass => expected[1] = v[1] - v[0],
        LeafRule::TreeScore => match cx.forest.tree_target(s) {
            Some(t) if (t as usize) < k => expected[t as usize] = v[0],
            _ => return false,
        },
        LeafRule::LeafNumber => expected[s] = f64::from(ranks[i as usize]),
        // A vote leaf holds its class index (checked integral by the IR).
        LeafRule::Vote => match v[0] as usize {
            c if c < k => expected[c] = 1.0,
            _ => return false,
        },
        LeafRule::VoteSigned => expected[1] = if v[0] == 1.0 { 1.0 } else { -1.0 },
        LeafRule::Averaged => {
            let n = cx.forest.trees.len() as f64;
            for (e, &x) in expected.iter_mut().zip(v) {
                *e = x / n;
            }
        }
        LeafRule::OneScore => {
            // Whichever class holds it, the operator reads the one score.
            let score: f64 = got.iter().sum();
            return cx.tolerance.accepts(v[0], score, false);
        }
    }
    expected
        .iter()
        .zip(&got)
        .all(|(&e, &g)| cx.tolerance.accepts(e, g, false))
}

/// Walks ONNX tree `t` alongside its forest tree; collects the numeric
/// thresholds compared (first copy only) into `thresholds`.
fn walk_tree(cx: &Context<'_>, t: usize, thresholds: &mut Vec<(u32, u64)>) -> StructureReport {
    let (s, copy) = (t / cx.copies, t % cx.copies);
    let tree = &cx.forest.trees[s];
    let first = copy == 0;
    let ranks = if cx.leaf_rule == LeafRule::LeafNumber {
        leaf_ranks(tree)
    } else {
        Vec::new()
    };
    let mut report = StructureReport {
        onnx_trees: 1,
        ..StructureReport::default()
    };
    let mut seen = vec![false; tree.n_nodes()];
    let mut stack = vec![(0u32, cx.roots[t])];
    let mut probe = Vec::new();
    while let Some((i, j)) = stack.pop() {
        let Some(was) = seen.get_mut(i as usize) else {
            continue;
        };
        *was = true;
        let difference = |what: String| Difference {
            tree: s,
            onnx_tree: t,
            node: i,
            feature: None,
            onnx_feature: None,
            threshold: None,
            onnx_threshold: None,
            value: None,
            what,
        };
        let j = if tree.is_leaf(i as usize) {
            skip_void(cx, j)
        } else {
            j
        };
        let node = &cx.nodes[j as usize];
        if tree.is_leaf(i as usize) {
            if !leaf_matches(cx, cx.leaf_rule, s, copy, tree, i, &ranks, j) {
                let got: Vec<(u32, f64)> = cx.ensemble.leaf_weights(node).collect();
                let w = cx.forest.leaf_width();
                let v = tree.leaf_values(i as usize, w);
                report.differ(difference(if node.is_leaf() {
                    format!(
                        "leaf values {v:?}; the ONNX leaf has (target, weight) {got:?} ({} layout)",
                        cx.leaf_rule.name()
                    )
                } else {
                    format!(
                        "a leaf; the ONNX node is a split on column {}",
                        node.feature
                    )
                }));
            }
            continue;
        }
        let f = tree.feature[i as usize];
        let mut d = difference(String::new());
        d.feature = Some(f);
        if node.is_leaf() {
            d.what = "a split; the ONNX node is a leaf".into();
            report.differ(d);
            continue;
        }
        d.onnx_feature = Some(node.feature);
        if category_set(tree, i).is_some() {
            categorical(cx, tree, (i, j), &mut stack, &mut seen, &mut d, &mut report);
            continue;
        }
        let threshold = tree.threshold[i as usize];
        d.threshold = Some(threshold);
        if matches!(
            node.test,
            Test::Leq | Test::Lt | Test::Gte | Test::Gt | Test::Eq | Test::Neq
        ) {
            d.onnx_threshold = Some(node.threshold);
        }
        if first {
            thresholds.push((f, threshold.to_bits()));
        }
        if node.feature != f {
            d.what = format!(
                "a split on feature {f}; the ONNX node tests column {}",
                node.feature
            );
            report.differ(d);
            continue;
        }
        let (yes, no) = tree.children(i as usize).expect("a split");
        match numeric(cx, tree, i, node, &mut probe) {
            Ok(false) => {
                stack.push((yes, node.yes));
                stack.push((no, node.no));
            }
            Ok(true) => {
                stack.push((yes, node.no));
                stack.push((no, node.yes));
            }
            Err(value) => {
                d.value = Some(value);
                d.what = format!(
                    "{} {threshold:?} (NaN {}); the ONNX {:?} {} (NaN {}) routes {value:?} the other way",
                    match cx.forest.split_op {
                        SplitOp::LessOrEqual => "x <=",
                        SplitOp::Less => "x <",
                    },
                    side(tree.missing_true[i as usize]),
                    node.test,
                    if node.test == Test::Member {
                        format!("{:?}", cx.rule.members.get(node.threshold as usize))
                    } else {
                        format!("{:?}", node.threshold)
                    },
                    side(node.missing_true),
                );
                report.differ(d);
            }
        }
    }
    if first {
        for (i, &seen) in seen.iter().enumerate() {
            if !seen {
                report.unreachable += 1;
                continue;
            }
            report.nodes += 1;
            if tree.is_leaf(i) {
                report.leaves += 1;
            } else if category_set(tree, i as u32).is_some() {
                report.categorical_splits += 1;
            } else {
                report.splits += 1;
            }
        }
    }
    report
}

fn side(missing_true: bool) -> &'static str {
    if missing_true {
        "true"
    } else {
        "false"
    }
}

/// The index of node `i`'s category set, if it is a categorical split.
fn category_set(tree: &Tree, i: u32) -> Option<usize> {
    tree.categories.nodes.binary_search(&i).ok()
}

/// Whether category column value `x` goes to the true child of categorical
/// split `k` of `tree`: the category (−1 for none) in the set, NaN by the
/// node's missing flag.
fn category_goes_true(tree: &Tree, i: u32, k: usize, x: f64) -> bool {
    if x.is_nan() {
        return tree.missing_true[i as usize];
    }
    let c = &tree.categories;
    if !(0.0..=f64::from(MAX_CATEGORY)).contains(&x) {
        return false;
    }
    let (a, b) = (c.offsets[k] as usize, c.offsets[k + 1] as usize);
    c.categories
        .get(a..b)
        .is_some_and(|set| set.binary_search(&(x as u32)).is_ok())
}

/// Compares numeric split `i` with ONNX branch `node` at every breakpoint of
/// either and one step either side: `Ok(false)` when they route alike,
/// `Ok(true)` when the ONNX node routes every value the other way (its
/// children swapped), `Err(value)` with a value routed differently.
fn numeric(
    cx: &Context<'_>,
    tree: &Tree,
    i: u32,
    node: &PackedNode,
    probe: &mut Vec<f64>,
) -> Result<bool, f64> {
    let f = tree.feature[i as usize] as usize;
    let t = tree.threshold[i as usize];
    let missing = tree.missing_true[i as usize];
    let band = cx.zero_band.get(f).copied().unwrap_or(false);
    probe.clear();
    probe.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0]);
    let domain_max = if cx.f32_domain {
        f64::from(f32::MAX)
    } else {
        f64::MAX
    };
    probe.extend([domain_max, -domain_max]);
    steps_around(t, cx.f32_domain, probe);
    match node.test {
        Test::Member => {
            for &m in cx.rule.members.get(node.threshold as usize) {
                steps_around(m, cx.f32_domain, probe);
            }
        }
        _ => steps_around(node.threshold, cx.f32_domain, probe),
    }
    if band {
        steps_around(ZERO_THRESHOLD, cx.f32_domain, probe);
        steps_around(-ZERO_THRESHOLD, cx.f32_domain, probe);
    }
    let in_band = |x: f64| band && x.abs() <= ZERO_THRESHOLD;
    let forest_true = |x: f64| {
        if x.is_nan() || in_band(x) {
            missing
        } else {
            match cx.forest.split_op {
                SplitOp::LessOrEqual => x <= t,
                SplitOp::Less => x < t,
            }
        }
    };
    // The graph turns the zero band into NaN before the ensemble.
    let onnx_true = |x: f64| {
        cx.rule
            .goes_true(node, if in_band(x) { f64::NAN } else { x })
    };
    let mut same = None;
    let mut opposite = None;
    for &x in probe.iter() {
        if forest_true(x) == onnx_true(x) {
            same.get_or_insert(x);
        } else {
            opposite.get_or_insert(x);
        }
    }
    match (same, opposite) {
        (_, None) => Ok(false),
        (None, Some(_)) => Ok(true),
        (Some(_), Some(x)) => Err(x),
    }
}

/// `x`, and the values of the input domain one and two steps either side.
fn steps_around(x: f64, f32_domain: bool, out: &mut Vec<f64>) {
    if x.is_nan() {
        return;
    }
    if f32_domain {
        let near = x as f32;
        let (below, above) = (near.next_down(), near.next_up());
        out.extend([below.next_down(), below, near, above, above.next_up()].map(f64::from));
    } else {
        out.extend([x.next_down(), x, x.next_up()]);
    }
}

/// Compares categorical split `i` (set `k`) with the ONNX nodes from `j`
/// that test its category column: for every category of either side, its
/// neighbours, −1 (no category) and NaN, the forest's nodes on this feature
/// and the ONNX nodes on its column must lead to paired nodes, which are
/// pushed to `stack`.
fn categorical(
    cx: &Context<'_>,
    tree: &Tree,
    (i, j): (u32, u32),
    stack: &mut Vec<(u32, u32)>,
    seen: &mut [bool],
    d: &mut Difference,
    report: &mut StructureReport,
) {
    let f = tree.feature[i as usize];
    let Some(column) = cx.category_column.get(f as usize).copied().flatten() else {
        d.what = format!("categorical split on feature {f}, which has no category column");
        report.differ(d.clone());
        return;
    };
    if cx.nodes[j as usize].feature != column {
        d.what = format!(
            "categorical split on feature {f}; the ONNX node tests column {} (expected {column})",
            cx.nodes[j as usize].feature
        );
        report.differ(d.clone());
        return;
    }
    let on_feature = |n: u32| -> Option<usize> {
        (!tree.is_leaf(n as usize) && tree.feature[n as usize] == f)
            .then(|| category_set(tree, n))
            .flatten()
    };
    let on_column = |n: u32| {
        let node = &cx.nodes[n as usize];
        !node.is_leaf() && node.feature == column
    };
    // Candidate values: every category of both sides and its neighbours.
    let mut values = vec![
        f64::NAN,
        -1.0,
        0.0,
        1.0,
        f64::from(MAX_CATEGORY),
        f64::from(MAX_CATEGORY) + 1.0,
        f64::INFINITY,
    ];
    let c = &tree.categories;
    let mut pending = vec![i];
    while let Some(n) = pending.pop() {
        if let Some(set) = on_feature(n) {
            let (a, b) = (c.offsets[set] as usize, c.offsets[set + 1] as usize);
            for &v in c.categories.get(a..b).unwrap_or_default() {
                let v = f64::from(v);
                values.extend([v - 1.0, v, v + 1.0]);
            }
            pending.extend(
                tree.children(n as usize)
                    .map(|(yes, no)| [yes, no])
                    .into_iter()
                    .flatten(),
            );
        }
    }
    let mut pending = vec![j];
    let mut visited = std::collections::HashSet::new();
    while let Some(n) = pending.pop() {
        if !on_column(n) || !visited.insert(n) {
            continue;
        }
        let node = &cx.nodes[n as usize];
        let mut add = |v: f64| {
            if v.is_finite() {
                let v = v.floor();
                values.extend([v - 1.0, v, v + 1.0]);
            }
        };
        if node.test == Test::Member {
            cx.rule
                .members
                .get(node.threshold as usize)
                .iter()
                .for_each(|&v| add(v));
        } else {
            add(node.threshold);
        }
        pending.extend([node.yes, node.no]);
    }
    // The column holds categories, −1 for none, or NaN: and only values
    // the input type can carry.
    values.retain(|&v| {
        v.is_nan() || ((v == -1.0 || v >= 0.0) && (!cx.f32_domain || f64::from(v as f32) == v))
    });
    values.sort_unstable_by(f64::total_cmp);
    values.dedup_by(|a, b| a.to_bits() == b.to_bits());
    let mut pairs: HashMap<u32, u32> = HashMap::new();
    for &x in &values {
        let mut a = i;
        while let Some(set) = on_feature(a) {
            seen[a as usize] = true;
            let (yes, no) = tree.children(a as usize).expect("a split");
            a = if category_goes_true(tree, a, set, x) {
                yes
            } else {
                no
            };
        }
        let mut b = j;
        for _ in 0..=cx.nodes.len() {
            if !on_column(b) {
                break;
            }
            let node = &cx.nodes[b as usize];
            b = if cx.rule.goes_true(node, x) {
                node.yes
            } else {
                node.no
            };
        }
        match pairs.get(&a) {
            Some(&other) if other != b && skip_void(cx, other) != skip_void(cx, b) => {
                d.value = Some(x);
                d.what = format!(
                    "categorical split on feature {f}: category {x:?} leaves the ONNX nodes of \
                     column {column} by another branch than the other values the forest sends to \
                     its node {a}"
                );
                report.differ(d.clone());
                return;
            }
            Some(_) => {}
            None => {
                pairs.insert(a, b);
            }
        }
    }
    stack.extend(pairs);
}
