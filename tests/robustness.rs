//! Untrusted structures never panic: random IR forests (valid ones and
//! mutated ones) are either rejected by `Forest::check` or predict without
//! panicking, and random tree-ensemble attributes (as read from an ONNX file)
//! are either rejected by `Ensemble::compile` or evaluate without panicking.

mod common;

use common::Rng;
use forest2onnx::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree, LEAF};
use forest2onnx::runtime::ensemble::{Attributes, Ensemble, Mode};
use ndarray::Array2;
use proptest::prelude::*;

/// A random valid tree: nodes are split in id order, children appended.
fn valid_tree(rng: &mut Rng, max_nodes: usize, n_features: u32, n_classes: usize) -> Tree {
    let mut t = Tree::default();
    let push_leaf = |t: &mut Tree, rng: &mut Rng| {
        t.feature.push(0);
        t.threshold.push(0.0);
        t.true_child.push(LEAF);
        t.false_child.push(LEAF);
        t.missing_true.push(rng.below(2) == 0);
        t.value.push(rng.below(n_classes) as f64);
    };
    push_leaf(&mut t, rng);
    let mut i = 0;
    while i < t.n_nodes() && t.n_nodes() + 2 <= max_nodes {
        if rng.below(3) > 0 {
            let n = t.n_nodes() as u32;
            t.feature[i] = rng.below(n_features as usize) as u32;
            t.threshold[i] = rng.unit() * 4.0 - 2.0;
            t.true_child[i] = n;
            t.false_child[i] = n + 1;
            push_leaf(&mut t, rng);
            push_leaf(&mut t, rng);
        }
        i += 1;
    }
    t
}

/// One field of one node set to an arbitrary value.
#[derive(Debug, Clone)]
struct Mutation {
    field: usize,
    at: usize,
    value: i64,
}

fn mutate(t: &mut Tree, m: &Mutation) {
    let n = t.n_nodes();
    let at = m.at % n;
    let v = m.value;
    match m.field {
        0 => t.feature[at] = v as u32,
        1 => t.threshold[at] = if v % 2 == 0 { f64::NAN } else { v as f64 },
        2 => t.true_child[at] = if v < 0 { LEAF } else { v as u32 },
        3 => t.false_child[at] = if v < 0 { LEAF } else { v as u32 },
        4 => {
            t.value[at] = if v % 3 == 0 {
                f64::INFINITY
            } else {
                v as f64 * 0.5
            }
        }
        5 => {
            t.threshold.pop();
        }
        _ => t.value.push(1.0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn forests_are_rejected_or_predict_without_panicking(
        seed in any::<u64>(),
        n_trees in 1usize..4,
        n_features in 1u32..4,
        n_classes in 1usize..4,
        vote in any::<bool>(),
        mutation in proptest::option::of((0usize..8, 0usize..20, -2i64..12)),
        x in proptest::collection::vec(prop_oneof![-3.0f64..3.0, Just(f64::NAN)], 8),
    ) {
        let mut rng = Rng(seed);
        let mut trees: Vec<Tree> = (0..n_trees)
            .map(|_| valid_tree(&mut rng, 15, n_features, n_classes))
            .collect();
        if !vote {
            // Average leaves hold one value per class.
            for t in &mut trees {
                t.value = t.value.iter().flat_map(|&c| (0..n_classes).map(move |k| f64::from(k == c as usize))).collect();
            }
        }
        let mutated = mutation.is_some();
        if let Some((field, at, value)) = mutation {
            let tree = at % trees.len();
            mutate(&mut trees[tree], &Mutation { field, at, value });
        }
        let forest = Forest {
            input: Default::default(),
            n_features: n_features as usize,
            feature_names: None,
            split_op: SplitOp::LessOrEqual,
            task: Task::Classification(Labels::Int((0..n_classes as i64).collect())),
            aggregation: if vote { Aggregation::Vote } else { Aggregation::Average },
            trees,
            source: Source::default(),
        };
        match forest.check() {
            Ok(()) => {
                let rows = Array2::from_shape_vec((2, 4), x).unwrap();
                let p = forest.predict(rows.slice(ndarray::s![.., ..n_features as usize]));
                prop_assert_eq!(p.classes.len(), 2);
            }
            Err(e) => prop_assert!(mutated, "a valid forest was rejected: {}", e),
        }
    }

    #[test]
    fn ensembles_are_rejected_or_evaluate_without_panicking(
        seed in any::<u64>(),
        n_outputs in 1usize..4,
        classifier in any::<bool>(),
        corrupt in proptest::option::of((0usize..9, 0usize..40, -2i64..40)),
        row in proptest::collection::vec(prop_oneof![-2.0f64..2.0, Just(f64::NAN)], 3),
    ) {
        let modes = [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq];
        let mut rng = Rng(seed);
        let mut a = Attributes { n_outputs, classifier, ..Default::default() };
        for tree_id in 0..2 {
            let t = valid_tree(&mut rng, 9, 3, n_outputs);
            for i in 0..t.n_nodes() {
                a.tree_ids.push(tree_id);
                a.node_ids.push(i as i64);
                let leaf = t.is_leaf(i);
                a.feature_ids.push(i64::from(t.feature[i]));
                a.modes.push(if leaf { Mode::Leaf } else { modes[rng.below(6)] });
                a.values.push(t.threshold[i]);
                a.true_ids.push(if leaf { 0 } else { i64::from(t.true_child[i]) });
                a.false_ids.push(if leaf { 0 } else { i64::from(t.false_child[i]) });
                a.missing_true.push(i64::from(t.missing_true[i]));
                if leaf {
                    a.leaf_tree_ids.push(tree_id);
                    a.leaf_node_ids.push(i as i64);
                    a.leaf_targets.push(t.value[i] as i64);
                    a.leaf_weights.push(rng.unit() * 2.0 - 0.5);
                }
            }
        }
        let corrupted = corrupt.is_some();
        if let Some((field, at, v)) = corrupt {
            let at = at % a.node_ids.len();
            match field {
                0 => a.node_ids[at] = v,
                1 => a.true_ids[at] = v,
                2 => a.false_ids[at] = v,
                3 => a.feature_ids[at] = v - 3,
                4 => a.modes[at] = Mode::Leaf,
                5 => a.modes[at] = Mode::Leq,
                6 => {
                    if let Some(t) = a.leaf_targets.first_mut() {
                        *t = v;
                    }
                }
                7 => { a.values.pop(); }
                _ => a.tree_ids[at] = v % 3,
            }
        }
        match Ensemble::compile(a) {
            Ok(e) => {
                // The tract op checks the input width before evaluating.
                let mut row = row.clone();
                row.resize(e.n_features.max(row.len()), 0.5);
                let mut out = vec![0f32; e.n_outputs()];
                e.eval_row(&row, &mut out);
            }
            Err(e) => prop_assert!(corrupted, "a valid ensemble was rejected: {}", e),
        }
    }
}
