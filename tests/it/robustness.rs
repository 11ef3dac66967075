//! Untrusted structures never panic: random IR forests (valid ones and
//! mutated ones) are either rejected by `Forest::check` or predict without
//! panicking. (Tree-ensemble attributes as read from ONNX files have their
//! own proptests in `tests/it/tract_op_attributes.rs`.)

use crate::common;

use common::Rng;
use forest2onnx::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree, LEAF};
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
}
