//! Tree-ensemble attributes come from untrusted files: random attribute
//! sets, valid and hostile, of both layouts (opsets 1/3 and 5) are either
//! refused with a typed error or compile into an ensemble that evaluates
//! any row without panicking; and attribute nodes of the wrong kind are
//! refused naming the attribute.

use std::borrow::Cow;

use forest2onnx::onnx_proto::{
    attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto,
};
use forest2onnx::rng::SplitMix;
use forest2onnx::runtime::attributes::{self, Attributes, IndexedNodes, KeyedNodes};
use forest2onnx::runtime::{AttributeError, CompiledEnsemble, Mode};
use proptest::prelude::*;

const BRANCHES: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

/// A random valid tree as `(feature, threshold, children)` per node, with
/// children appended after their parent.
fn tree(rng: &mut SplitMix, max_nodes: usize) -> Vec<Option<(i64, f64, usize, usize)>> {
    let mut nodes = vec![None];
    let mut i = 0;
    while i < nodes.len() && nodes.len() + 2 <= max_nodes {
        if rng.below(3) > 0 {
            let n = nodes.len();
            nodes[i] = Some((rng.below(3) as i64, rng.unit() * 4.0 - 2.0, n, n + 1));
            nodes.push(None);
            nodes.push(None);
        }
        i += 1;
    }
    nodes
}

fn keyed(rng: &mut SplitMix, n_outputs: usize) -> KeyedNodes<'static> {
    let mut a = KeyedNodes::default();
    fn push<T: Clone>(v: &mut Cow<'static, [T]>, x: T) {
        v.to_mut().push(x);
    }
    for tree_id in 0..2 {
        for (i, node) in tree(rng, 9).into_iter().enumerate() {
            push(&mut a.tree_ids, tree_id);
            push(&mut a.node_ids, i as i64);
            push(&mut a.missing_true, rng.below(2) as i64);
            match node {
                Some((f, t, yes, no)) => {
                    push(&mut a.feature_ids, f);
                    push(&mut a.modes, BRANCHES[rng.below(6)]);
                    push(&mut a.values, t);
                    push(&mut a.true_ids, yes as i64);
                    push(&mut a.false_ids, no as i64);
                }
                None => {
                    push(&mut a.feature_ids, 0);
                    push(&mut a.modes, Mode::Leaf);
                    push(&mut a.values, 0.0);
                    push(&mut a.true_ids, 0);
                    push(&mut a.false_ids, 0);
                    for _ in 0..rng.below(3) {
                        push(&mut a.leaf_tree_ids, tree_id);
                        push(&mut a.leaf_node_ids, i as i64);
                        push(&mut a.leaf_targets, rng.below(n_outputs) as i64);
                        push(&mut a.leaf_weights, rng.unit() * 2.0 - 0.5);
                    }
                }
            }
        }
    }
    a
}

fn indexed(rng: &mut SplitMix, n_outputs: usize) -> IndexedNodes<'static> {
    let mut a = IndexedNodes::default();
    fn push<T: Clone>(v: &mut Cow<'static, [T]>, x: T) {
        v.to_mut().push(x);
    }
    for _ in 0..2 {
        let nodes = tree(rng, 9);
        let base = a.feature_ids.len();
        // Branches keep their index order; leaves get leaf indices.
        let mut branch_index = vec![0usize; nodes.len()];
        let mut leaf_index = vec![0usize; nodes.len()];
        let mut branches = 0;
        for (i, n) in nodes.iter().enumerate() {
            if n.is_some() {
                branch_index[i] = base + branches;
                branches += 1;
            } else {
                leaf_index[i] = a.leaf_targets.len();
                push(&mut a.leaf_targets, rng.below(n_outputs) as i64);
                push(&mut a.leaf_weights, rng.unit() * 2.0 - 0.5);
            }
        }
        if branches == 0 {
            // A single-leaf tree: one node whose branches are that leaf.
            push(&mut a.roots, base as i64);
            for v in [&mut a.true_ids, &mut a.false_ids] {
                push(v, leaf_index[0] as i64);
            }
            for v in [&mut a.true_leafs, &mut a.false_leafs, &mut a.feature_ids] {
                push(v, 1);
            }
            push(&mut a.modes, Mode::Leq);
            push(&mut a.splits, 0.0);
            push(&mut a.missing_true, 0);
            continue;
        }
        push(&mut a.roots, base as i64);
        for (f, t, yes, no) in nodes.iter().flatten().copied() {
            let mode = if rng.below(4) == 0 {
                Mode::Member
            } else {
                BRANCHES[rng.below(6)]
            };
            push(&mut a.feature_ids, f);
            push(&mut a.modes, mode);
            push(&mut a.splits, t);
            push(&mut a.missing_true, rng.below(2) as i64);
            if mode == Mode::Member {
                let members = a.membership.to_mut();
                members.extend((0..rng.below(4)).map(|k| k as f64 - 1.0));
                members.push(f64::NAN);
            }
            for (child, ids, leafs) in [
                (yes, &mut a.true_ids, &mut a.true_leafs),
                (no, &mut a.false_ids, &mut a.false_leafs),
            ] {
                let is_leaf = nodes[child].is_none();
                push(
                    ids,
                    if is_leaf {
                        leaf_index[child]
                    } else {
                        branch_index[child]
                    } as i64,
                );
                push(leafs, i64::from(is_leaf));
            }
        }
    }
    a
}

/// Evaluates `e` on `row`, widened to what it reads.
fn evaluate(e: &CompiledEnsemble, row: &[f64]) {
    let mut row = row.to_vec();
    row.resize(e.n_features().max(row.len()), 0.5);
    let mut out = vec![0.0; e.n_outputs()];
    let mut classes = vec![0];
    e.eval_rows(&row, row.len(), &mut out, &mut classes);
    if e.is_classifier() {
        assert!(classes[0] < e.n_outputs());
    }
}

fn corrupt_ints(v: &mut Cow<'static, [i64]>, at: usize, value: i64) {
    let v = v.to_mut();
    if !v.is_empty() {
        let n = v.len();
        v[at % n] = value;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn keyed_attributes_are_refused_or_evaluate(
        seed in any::<u64>(),
        n_outputs in 1usize..4,
        classifier in any::<bool>(),
        corrupt in proptest::option::of((0usize..10, 0usize..40, prop_oneof![-3i64..40, Just(i64::MAX), Just(i64::MIN)])),
        row in proptest::collection::vec(prop_oneof![-2.0f64..2.0, Just(f64::NAN), Just(f64::INFINITY)], 3),
    ) {
        let mut rng = SplitMix(seed);
        let mut a = keyed(&mut rng, n_outputs);
        let corrupted = corrupt.is_some();
        if let Some((field, at, v)) = corrupt {
            match field {
                0 => corrupt_ints(&mut a.node_ids, at, v),
                1 => corrupt_ints(&mut a.true_ids, at, v),
                2 => corrupt_ints(&mut a.false_ids, at, v),
                3 => corrupt_ints(&mut a.feature_ids, at, v),
                4 => { let n = a.modes.len(); a.modes.to_mut()[at % n] = Mode::Leaf; }
                5 => { let n = a.modes.len(); a.modes.to_mut()[at % n] = Mode::Leq; }
                6 => corrupt_ints(&mut a.leaf_targets, at, v),
                7 => { a.values.to_mut().pop(); }
                8 => corrupt_ints(&mut a.missing_true, at, v),
                _ => corrupt_ints(&mut a.tree_ids, at, v % 3),
            }
        }
        match CompiledEnsemble::compile(&Attributes::keyed(classifier, a, n_outputs)) {
            Ok(e) => evaluate(&e, &row),
            Err(e) => prop_assert!(corrupted, "a valid ensemble was refused: {}", e),
        }
    }

    #[test]
    fn indexed_attributes_are_refused_or_evaluate(
        seed in any::<u64>(),
        n_outputs in 1usize..4,
        corrupt in proptest::option::of((0usize..10, 0usize..40, prop_oneof![-3i64..40, Just(i64::MAX), Just(i64::MIN)])),
        row in proptest::collection::vec(prop_oneof![-2.0f64..2.0, Just(f64::NAN), Just(-1.0), Just(0.0)], 3),
    ) {
        let mut rng = SplitMix(seed);
        let mut a = indexed(&mut rng, n_outputs);
        let corrupted = corrupt.is_some();
        if let Some((field, at, v)) = corrupt {
            match field {
                0 => corrupt_ints(&mut a.roots, at, v),
                1 => corrupt_ints(&mut a.true_ids, at, v),
                2 => corrupt_ints(&mut a.false_ids, at, v),
                3 => corrupt_ints(&mut a.true_leafs, at, v),
                4 => corrupt_ints(&mut a.false_leafs, at, v),
                5 => corrupt_ints(&mut a.feature_ids, at, v),
                6 => corrupt_ints(&mut a.leaf_targets, at, v),
                7 => { a.membership.to_mut().push(v as f64); }
                8 => { let n = a.modes.len(); a.modes.to_mut()[at % n] = Mode::Member; }
                _ => { a.splits.to_mut().pop(); }
            }
        }
        match CompiledEnsemble::compile(&Attributes::indexed(a, n_outputs)) {
            Ok(e) => evaluate(&e, &row),
            // Some corruptions leave a valid ensemble (a child swapped for
            // another valid one); only untouched ones must compile.
            Err(e) => prop_assert!(corrupted, "a valid ensemble was refused: {}", e),
        }
    }
}

fn attr(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

fn node(op: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        domain: "ai.onnx.ml".into(),
        attribute: attributes,
        ..Default::default()
    }
}

#[test]
fn attributes_of_the_wrong_kind_are_named() {
    let mut modes = attr("nodes_modes", AttributeType::Ints);
    modes.ints = vec![0];
    let err = attributes::read(&node("TreeEnsembleRegressor", vec![modes])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`nodes_modes` is a list of ints; expected a list of strings"
    );
    let err = attributes::read(&node("TreeEnsemble", vec![])).unwrap_err();
    assert_eq!(
        err,
        AttributeError::Missing {
            op: "TreeEnsemble",
            attribute: "nodes_modes"
        }
    );
    let mut modes = attr("nodes_modes", AttributeType::Tensor);
    modes.t = Some(TensorProto {
        data_type: 2,
        dims: vec![2],
        raw_data: vec![0, 9],
        ..Default::default()
    });
    let err = attributes::read(&node("TreeEnsemble", vec![modes.clone()])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`nodes_modes[1]` = 9 is not a valid node mode (0..=6)"
    );
    modes.t.as_mut().unwrap().dims = vec![3];
    let err = attributes::read(&node("TreeEnsemble", vec![modes])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor attribute `nodes_modes`: shape [3] does not hold its 2 values"
    );
    let mut modes = attr("nodes_modes", AttributeType::Strings);
    modes.strings = vec![b"BRANCH_LEQ"[..].into(), b"BRANCH_SOMETIMES"[..].into()];
    let err = attributes::read(&node("TreeEnsembleClassifier", vec![modes])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`nodes_modes[1]` = \"BRANCH_SOMETIMES\" is not a valid node mode"),
        "{err}"
    );
    let mut n = attr("n_targets", AttributeType::Int);
    n.i = 1 << 40;
    let err = attributes::read(&node("TreeEnsembleRegressor", vec![n])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`n_targets` = 1099511627776 exceeds the limit of 65536"
    );
}
