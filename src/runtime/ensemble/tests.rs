//! Tests of compilation and evaluation.

use std::borrow::Cow;

use super::*;
use crate::runtime::attributes::{IndexedNodes, KeyedNodes};

fn owned<T: Clone>(v: Vec<T>) -> Cow<'static, [T]> {
    Cow::Owned(v)
}

/// `x0 <= 0.5` → node 1, else node 2: a classifier stump whose leaves hold
/// `weights` (`(class, weight)`, alternating between the two leaves).
fn stump(weights: &[(i64, f64)], n_outputs: usize) -> CompiledEnsemble {
    let nodes = KeyedNodes {
        tree_ids: owned(vec![0, 0, 0]),
        node_ids: owned(vec![0, 1, 2]),
        feature_ids: owned(vec![0, 0, 0]),
        modes: owned(vec![Mode::Leq, Mode::Leaf, Mode::Leaf]),
        values: owned(vec![0.5, 0.0, 0.0]),
        true_ids: owned(vec![1, 0, 0]),
        false_ids: owned(vec![2, 0, 0]),
        leaf_tree_ids: owned(vec![0; weights.len()]),
        leaf_node_ids: owned((0..weights.len() as i64).map(|i| 1 + i % 2).collect()),
        leaf_targets: owned(weights.iter().map(|w| w.0).collect()),
        leaf_weights: owned(weights.iter().map(|w| w.1).collect()),
        ..Default::default()
    };
    CompiledEnsemble::compile(&Attributes::keyed(true, nodes, n_outputs)).unwrap()
}

fn eval(e: &CompiledEnsemble, rows: &[f64], width: usize) -> (Vec<f64>, Vec<usize>) {
    let n = rows.len() / width;
    let mut out = vec![0.0; n * e.n_outputs()];
    let mut classes = vec![0; n];
    e.eval_rows(rows, width, &mut out, &mut classes);
    (out, classes)
}

#[test]
fn binary_plus_minus_one_encoding() {
    let e = stump(&[(1, -1.0), (1, 1.0)], 2);
    assert_eq!(eval(&e, &[0.0], 1), (vec![1.0, -1.0], vec![0]));
    assert_eq!(eval(&e, &[1.0], 1), (vec![-1.0, 1.0], vec![1]));
}

fn keyed(true_ids: Vec<i64>, false_ids: Vec<i64>, modes: Vec<Mode>) -> KeyedNodes<'static> {
    let n = modes.len();
    KeyedNodes {
        tree_ids: owned(vec![3; n]),
        node_ids: owned((0..n as i64).collect()),
        feature_ids: owned(vec![0; n]),
        values: owned(vec![0.5; n]),
        modes: owned(modes),
        true_ids: owned(true_ids),
        false_ids: owned(false_ids),
        ..Default::default()
    }
}

fn compile_error(nodes: KeyedNodes<'static>) -> String {
    CompiledEnsemble::compile(&Attributes::keyed(true, nodes, 3))
        .unwrap_err()
        .to_string()
}

#[test]
fn cycles_and_dangling_children_are_named() {
    use Mode::*;
    let cycle = keyed(vec![1, 0, 0], vec![2, 0, 0], vec![Leq, Leq, Leaf]);
    assert_eq!(
        compile_error(cycle),
        "tree 3 has no root: every node has a parent"
    );
    let cycle = keyed(
        vec![1, 2, 1, 0],
        vec![3, 3, 3, 0],
        vec![Leq, Leq, Leq, Leaf],
    );
    assert_eq!(compile_error(cycle), "tree 3 has a cycle through node 1");
    let dangling = keyed(vec![1, 0, 0], vec![99, 0, 0], vec![Leq, Leaf, Leaf]);
    assert_eq!(
        compile_error(dangling),
        "`nodes_falsenodeids[0]` = 99 points to no node of tree 3"
    );
    let two_roots = keyed(vec![2, 0, 0], vec![2, 0, 0], vec![Leq, Leaf, Leaf]);
    assert_eq!(
        compile_error(two_roots),
        "tree 3 has several roots: nodes 0 and 1 have no parent"
    );
    let mut short = keyed(vec![1, 0], vec![1, 0], vec![Leq, Leaf]);
    short.feature_ids = owned(vec![0]);
    assert_eq!(
        compile_error(short),
        "`nodes_featureids` has 1 entries; `nodes_nodeids` has 2"
    );
    let mut negative = keyed(vec![1, 0, 0], vec![2, 0, 0], vec![Leq, Leaf, Leaf]);
    negative.feature_ids = owned(vec![-4, 0, 0]);
    assert_eq!(
        compile_error(negative),
        "`nodes_featureids[0]` = -4 is outside 0..4294967295"
    );
    let mut weight_on_branch = keyed(vec![1, 0, 0], vec![2, 0, 0], vec![Leq, Leaf, Leaf]);
    weight_on_branch.leaf_tree_ids = owned(vec![3]);
    weight_on_branch.leaf_node_ids = owned(vec![0]);
    weight_on_branch.leaf_targets = owned(vec![0]);
    weight_on_branch.leaf_weights = owned(vec![1.0]);
    assert_eq!(
        compile_error(weight_on_branch),
        "`class_nodeids[0]` is for node 0 of tree 3, which is a branch"
    );
}

/// A chain of `BRANCH_EQ` nodes sharing one true child, as the exporter
/// writes categorical splits at opsets 1 and 3: `x0 ∈ {1, 4, 6}`.
#[test]
fn shared_children_run_when_acyclic() {
    use Mode::*;
    let mut nodes = keyed(
        vec![3, 3, 3, 0, 0],
        vec![1, 2, 4, 0, 0],
        vec![Eq, Eq, Eq, Leaf, Leaf],
    );
    nodes.values = owned(vec![1.0, 4.0, 6.0, 0.0, 0.0]);
    nodes.leaf_tree_ids = owned(vec![3, 3]);
    nodes.leaf_node_ids = owned(vec![3, 4]);
    nodes.leaf_targets = owned(vec![0, 1]);
    nodes.leaf_weights = owned(vec![1.0, 1.0]);
    let e = CompiledEnsemble::compile(&Attributes::keyed(true, nodes, 3)).unwrap();
    assert_eq!(e.n_nodes(), 5);
    assert_eq!(e.modes(), vec![Mode::Eq]);
    assert_eq!(e.max_depth(), 3);
    let (_, classes) = eval(&e, &[1.0, 4.0, 6.0, 5.0, f64::NAN, 0.0], 1);
    assert_eq!(classes, vec![0, 0, 0, 1, 1, 1]);
}

/// The ONNX backend test `test_ai_onnx_ml_tree_ensemble_set_membership`,
/// written out: node 2 has two parents.
fn membership_nodes() -> IndexedNodes<'static> {
    IndexedNodes {
        roots: owned(vec![0]),
        feature_ids: owned(vec![0, 0, 0]),
        modes: owned(vec![Mode::Leq, Mode::Member, Mode::Member]),
        splits: owned(vec![11.0, 232344.0, f64::NAN]),
        true_ids: owned(vec![1, 0, 1]),
        true_leafs: owned(vec![0, 1, 1]),
        false_ids: owned(vec![2, 2, 3]),
        false_leafs: owned(vec![1, 0, 1]),
        membership: owned(
            [1.2f32, 3.7, 8.0, 9.0, f32::NAN, 12.0, 7.0, f32::NAN]
                .map(f64::from)
                .to_vec(),
        ),
        leaf_targets: owned(vec![0, 1, 2, 3]),
        leaf_weights: owned(vec![1.0, 10.0, 1000.0, 100.0]),
        ..Default::default()
    }
}

#[test]
fn opset5_set_membership_matches_the_onnx_backend_test() {
    let e = CompiledEnsemble::compile(&Attributes::indexed(membership_nodes(), 4)).unwrap();
    let x = [1.2f32, 3.4, -0.12, f32::NAN, 12.0, 7.0].map(f64::from);
    let (out, _) = eval(&e, &x, 1);
    #[rustfmt::skip]
    let expected = [
        1.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 100.0,
        0.0, 0.0, 0.0, 100.0,
        0.0, 0.0, 1000.0, 0.0,
        0.0, 0.0, 1000.0, 0.0,
        0.0, 10.0, 0.0, 0.0,
    ];
    assert_eq!(out, expected);
    assert_eq!(e.n_leaves(), 4);
    assert_eq!(e.max_depth(), 3);
}

#[test]
fn opset5_attributes_are_checked() {
    let mut n = membership_nodes();
    n.membership = owned(vec![1.0, f64::NAN]);
    let err = CompiledEnsemble::compile(&Attributes::indexed(n, 4)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`membership_values` holds 1 NaN-terminated sets; 2 nodes have mode BRANCH_MEMBER"
    );
    let mut n = membership_nodes();
    n.false_ids = owned(vec![2, 2, 9]);
    let err = CompiledEnsemble::compile(&Attributes::indexed(n, 4)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`nodes_falsenodeids[2]` = 9 is outside the 4 entries of `leaf_weights`"
    );
    let mut n = membership_nodes();
    n.true_ids = owned(vec![1, 0, 0]);
    n.true_leafs = owned(vec![0, 1, 0]);
    let err = CompiledEnsemble::compile(&Attributes::indexed(n, 4)).unwrap_err();
    assert_eq!(err.to_string(), "tree 0 has a cycle through nodes_*[0]");
    let mut n = membership_nodes();
    n.leaf_targets = owned(vec![0, 1, 2, 4]);
    let err = CompiledEnsemble::compile(&Attributes::indexed(n, 4)).unwrap_err();
    assert_eq!(err.to_string(), "`leaf_targetids[3]` = 4 is outside 0..4");
    let mut n = membership_nodes();
    n.roots = owned(vec![0, 3]);
    let err = CompiledEnsemble::compile(&Attributes::indexed(n, 4)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`tree_roots[1]` = 3 is outside the 3 entries of `nodes_featureids`"
    );
}

#[test]
fn opset5_single_leaf_trees_and_shared_roots() {
    // Tree 0: a single leaf (both branches of node 0 on leaf 0); tree 1
    // and tree 2: the same stump, rooted at node 1.
    let nodes = IndexedNodes {
        roots: owned(vec![0, 1, 1]),
        feature_ids: owned(vec![7, 0]),
        modes: owned(vec![Mode::Leq, Mode::Gt]),
        splits: owned(vec![0.0, 2.5]),
        true_ids: owned(vec![0, 1]),
        true_leafs: owned(vec![1, 1]),
        false_ids: owned(vec![0, 2]),
        false_leafs: owned(vec![1, 1]),
        leaf_targets: owned(vec![0, 0, 0]),
        leaf_weights: owned(vec![0.25, 1.0, -1.0]),
        ..Default::default()
    };
    let mut a = Attributes::indexed(nodes, 1);
    a.aggregate = Aggregate::Average;
    let e = CompiledEnsemble::compile(&a).unwrap();
    // The single-leaf tree never reads feature 7.
    assert_eq!(e.n_features(), 1);
    assert_eq!(e.n_trees(), 3);
    let (out, _) = eval(&e, &[3.0, 2.5, f64::NAN], 1);
    assert_eq!(
        out,
        vec![(0.25 + 2.0) / 3.0, (0.25 - 2.0) / 3.0, (0.25 - 2.0) / 3.0]
    );
}

/// Attributes of a synthetic forest, nodes in file order.
fn forest_nodes(spec: &crate::synth::SynthSpec) -> KeyedNodes<'static> {
    let forest = crate::synth::forest(spec);
    let mut a = KeyedNodes::default();
    let push = |v: &mut Cow<'static, [i64]>, x: i64| v.to_mut().push(x);
    for (t, tree) in forest.trees.iter().enumerate() {
        for i in 0..tree.n_nodes() {
            let leaf = tree.is_leaf(i);
            push(&mut a.tree_ids, t as i64);
            push(&mut a.node_ids, i as i64);
            push(&mut a.feature_ids, i64::from(tree.feature[i]));
            a.modes
                .to_mut()
                .push(if leaf { Mode::Leaf } else { Mode::Leq });
            a.values.to_mut().push(tree.threshold[i]);
            push(
                &mut a.true_ids,
                if leaf {
                    0
                } else {
                    i64::from(tree.children(i).expect("a split").0)
                },
            );
            push(
                &mut a.false_ids,
                if leaf {
                    0
                } else {
                    i64::from(tree.children(i).expect("a split").1)
                },
            );
            push(&mut a.missing_true, i64::from(tree.missing_true[i]));
            if leaf {
                for k in 0..spec.n_classes {
                    push(&mut a.leaf_tree_ids, t as i64);
                    push(&mut a.leaf_node_ids, i as i64);
                    push(&mut a.leaf_targets, k as i64);
                    a.leaf_weights
                        .to_mut()
                        .push(tree.leaf_values(i, spec.n_classes)[k]);
                }
            }
        }
    }
    a
}

#[test]
fn any_node_order_and_ids_compile_to_the_same_ensemble() {
    let spec = crate::synth::SynthSpec {
        missing_true_fraction: 0.2,
        mixed_leaf_fraction: 0.5,
        ..crate::synth::SynthSpec::sklearn(4, 301, 5)
    };
    let k = spec.n_classes;
    let ordered = forest_nodes(&spec);
    // Shuffle nodes and weights, and make ids sparse and non-zero-based:
    // the general path (sort, binary search, cycle search).
    let mut rng = crate::rng::SplitMix(9);
    let n = ordered.node_ids.len();
    let perm: Vec<usize> = {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            p.swap(i, rng.below(i + 1));
        }
        p
    };
    let remap = |id: i64| id * 7 + 3;
    fn permute<T: Clone>(v: &[T], perm: &[usize]) -> Cow<'static, [T]> {
        Cow::Owned(perm.iter().map(|&i| v[i].clone()).collect())
    }
    let remapped = |v: &[i64]| -> Cow<'static, [i64]> {
        Cow::Owned(perm.iter().map(|&i| remap(v[i])).collect())
    };
    // Weights: reverse the leaves' order but keep each leaf's own order.
    let nw = ordered.leaf_node_ids.len();
    let weights: Vec<usize> = (0..nw / k).rev().flat_map(|l| l * k..(l + 1) * k).collect();
    let shuffled = KeyedNodes {
        tree_ids: permute(&ordered.tree_ids, &perm),
        node_ids: remapped(&ordered.node_ids),
        feature_ids: permute(&ordered.feature_ids, &perm),
        modes: permute(&ordered.modes, &perm),
        values: permute(&ordered.values, &perm),
        true_ids: remapped(&ordered.true_ids),
        false_ids: remapped(&ordered.false_ids),
        missing_true: permute(&ordered.missing_true, &perm),
        leaf_tree_ids: permute(&ordered.leaf_tree_ids, &weights),
        leaf_node_ids: Cow::Owned(
            weights
                .iter()
                .map(|&w| remap(ordered.leaf_node_ids[w]))
                .collect(),
        ),
        leaf_targets: permute(&ordered.leaf_targets, &weights),
        leaf_weights: permute(&ordered.leaf_weights, &weights),
    };
    let a = CompiledEnsemble::compile(&Attributes::keyed(true, ordered, k)).unwrap();
    let b = CompiledEnsemble::compile(&Attributes::keyed(true, shuffled, k)).unwrap();
    let x = crate::synth::rows(500, 5, 3);
    let mut rows: Vec<f64> = x.iter().copied().collect();
    rows[7] = f64::NAN;
    let (out_a, classes_a) = eval(&a, &rows, 5);
    let (out_b, classes_b) = eval(&b, &rows, 5);
    assert_eq!(out_a, out_b);
    assert_eq!(classes_a, classes_b);
    // And one row at a time agrees with the batch.
    for r in 0..500 {
        let (out, class) = eval(&a, &rows[r * 5..(r + 1) * 5], 5);
        assert_eq!(class, vec![classes_a[r]]);
        assert_eq!(out, out_a[r * k..(r + 1) * k]);
    }
}

/// Trees compile in parallel, yet the error is the one a sequential pass
/// meets first: node errors in tree order, then weight errors, then root
/// errors, whichever thread finds its error first.
#[test]
fn parallel_compilation_reports_errors_in_sequential_order() {
    use Mode::*;
    let trees = 64i64;
    // Tree t: node 0 splits into leaves 1 and 2 (ids per tree).
    let forest = |edit: &dyn Fn(i64, &mut [i64; 2])| {
        let mut nodes = KeyedNodes::default();
        let (mut tree_ids, mut node_ids, mut yes, mut no) = (vec![], vec![], vec![], vec![]);
        let mut modes = vec![];
        for t in 0..trees {
            let mut children = [1, 2];
            edit(t, &mut children);
            tree_ids.extend([t; 3]);
            node_ids.extend([0, 1, 2]);
            yes.extend([children[0], 0, 0]);
            no.extend([children[1], 0, 0]);
            modes.extend([Leq, Leaf, Leaf]);
        }
        let n = node_ids.len();
        nodes.tree_ids = owned(tree_ids);
        nodes.node_ids = owned(node_ids);
        nodes.true_ids = owned(yes);
        nodes.false_ids = owned(no);
        nodes.modes = owned(modes);
        nodes.feature_ids = owned(vec![0; n]);
        nodes.values = owned(vec![0.5; n]);
        nodes
    };
    // Dangling children in trees 7 and 40: tree 7 is named, every time.
    for _ in 0..20 {
        let dangling = forest(&|t, c| {
            if t == 7 || t == 40 {
                c[1] = 99;
            }
        });
        assert_eq!(
            compile_error(dangling),
            "`nodes_falsenodeids[21]` = 99 points to no node of tree 7"
        );
    }
    // A tree with two roots (tree 3) and a weight on a branch (tree 50):
    // weights are checked before roots, as before.
    let mut mixed = forest(&|t, c| {
        if t == 3 {
            *c = [2, 2];
        }
    });
    mixed.leaf_tree_ids = owned(vec![50]);
    mixed.leaf_node_ids = owned(vec![0]);
    mixed.leaf_targets = owned(vec![0]);
    mixed.leaf_weights = owned(vec![1.0]);
    assert_eq!(
        compile_error(mixed),
        "`class_nodeids[0]` is for node 0 of tree 50, which is a branch"
    );
}

/// Batches of 64 rows or more go through the bit-vector kernel for trees
/// of at most 64 leaves whose branches all compare with `<=` (or all with
/// `<`); a few rows walk several trees at once. Both give the same bits, on trees around
/// the 64-leaf limit, with NaN routed either way and rows on thresholds.
#[test]
fn bit_vector_batches_match_one_row_at_a_time() {
    for (s, nodes) in [3, 61, 127, 129, 401].into_iter().enumerate() {
        for mode in [Mode::Leq, Mode::Lt] {
            let spec = crate::synth::SynthSpec {
                n_trees: 10,
                jitter: 0.0,
                missing_true_fraction: 0.3,
                mixed_leaf_fraction: 0.5,
                seed: 40 + s as u64,
                ..crate::synth::SynthSpec::sklearn(10, nodes, 5)
            };
            let k = spec.n_classes;
            let mut a = forest_nodes(&spec);
            for m in a.modes.to_mut().iter_mut().filter(|m| **m != Mode::Leaf) {
                *m = mode;
            }
            let thresholds: Vec<(i64, f64)> = (0..a.modes.len())
                .filter(|&i| a.modes[i] != Mode::Leaf)
                .map(|i| (a.feature_ids[i], a.values[i]))
                .collect();
            let e = CompiledEnsemble::compile(&Attributes::keyed(true, a, k)).unwrap();
            let packed = e.in_bits.iter().filter(|b| b.is_some()).count();
            match nodes {
                ..=127 => assert_eq!(packed, e.n_trees(), "{nodes} nodes"),
                _ => assert_eq!(packed, 0, "{nodes} nodes"),
            }
            let width = 7;
            let n = 300;
            let mut rows: Vec<f64> = crate::synth::rows(n, width, s as u64)
                .iter()
                .copied()
                .collect();
            for (r, &(f, t)) in thresholds.iter().enumerate().take(n / 3) {
                let v = [t, t.next_down(), t.next_up()][r % 3];
                rows[(r * 3 % n) * width + f as usize] = v;
            }
            for r in (0..n).step_by(4) {
                rows[r * width + r % 5] = f64::NAN;
            }
            let (out, classes) = eval(&e, &rows, width);
            // One row at a time, and three (both walk several trees at once).
            for m in [1, 3] {
                for first in (0..n).step_by(m) {
                    let last = (first + m).min(n);
                    let (few, few_classes) = eval(&e, &rows[first * width..last * width], width);
                    assert_eq!(few_classes, classes[first..last], "{nodes} nodes, {mode:?}");
                    let same = few
                        .iter()
                        .zip(&out[first * k..last * k])
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{nodes} nodes, {mode:?}, rows {first}..{last}");
                }
            }
        }
    }
}
