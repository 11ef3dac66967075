//! Untrusted structures never panic: random IR forests (valid ones and
//! mutated ones) are either rejected by `Forest::check` or predict without
//! panicking. (Tree-ensemble attributes as read from ONNX files have their
//! own proptests in `tests/it/tract_op_attributes.rs`.)

use crate::common;

use common::Rng;
use forest2onnx::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree, LEAF, LEAF_BIT};
use ndarray::Array2;
use proptest::prelude::*;

/// Per-node arrays of a tree being grown (a leaf may become a split).
#[derive(Default)]
struct Nodes {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    true_child: Vec<u32>,
    false_child: Vec<u32>,
    missing_true: Vec<bool>,
    value: Vec<f64>,
}

impl Nodes {
    fn push_leaf(&mut self, rng: &mut Rng, n_classes: usize) {
        self.feature.push(0);
        self.threshold.push(0.0);
        self.true_child.push(LEAF);
        self.false_child.push(LEAF);
        self.missing_true.push(rng.below(2) == 0);
        self.value.push(rng.below(n_classes) as f64);
    }
}

/// A random valid tree: nodes are split in id order (breadth first, so
/// true children are stored), children appended.
fn valid_tree(rng: &mut Rng, max_nodes: usize, n_features: u32, n_classes: usize) -> Tree {
    let mut t = Nodes::default();
    t.push_leaf(rng, n_classes);
    let mut i = 0;
    while i < t.feature.len() && t.feature.len() + 2 <= max_nodes {
        if rng.below(3) > 0 {
            let n = t.feature.len() as u32;
            t.feature[i] = rng.below(n_features as usize) as u32;
            t.threshold[i] = rng.unit() * 4.0 - 2.0;
            t.true_child[i] = n;
            t.false_child[i] = n + 1;
            t.push_leaf(rng, n_classes);
            t.push_leaf(rng, n_classes);
        }
        i += 1;
    }
    Tree::from_node_arrays(
        t.feature,
        t.threshold,
        &t.true_child,
        &t.false_child,
        t.missing_true,
        &t.value,
        1,
    )
    .expect("splits with two children")
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
        2 => {
            if t.explicit_true_child.is_empty() {
                t.explicit_true_child = (0..n)
                    .map(|i| t.children(i).map_or(LEAF, |(yes, _)| yes))
                    .collect();
            }
            t.explicit_true_child[at] = if v < 0 { LEAF } else { v as u32 }
        }
        3 => {
            t.false_child_or_leaf[at] = if v < 0 {
                LEAF_BIT | (-v) as u32
            } else {
                v as u32
            }
        }
        4 => {
            let k = at % t.leaf_value.len();
            t.leaf_value[k] = if v % 3 == 0 {
                f64::INFINITY
            } else {
                v as f64 * 0.5
            }
        }
        5 => {
            t.threshold.pop();
        }
        _ => t.leaf_value.push(1.0),
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
                t.leaf_value = t.leaf_value.iter().flat_map(|&c| (0..n_classes).map(move |k| f64::from(k == c as usize))).collect();
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
