//! The models of the onnxruntime release matrix: every kind the IR holds
//! (the conformance matrix's models), a model of every family as its
//! library saved it (committed fixtures, read with our own importers), and
//! the tree shapes that known onnxruntime tree-ensemble bugs are about.

use std::path::Path;

use forest2onnx::ir::{
    Aggregation, CategoryRule, Forest, Labels, PostTransform, SplitOp, Task, Tree, LEAF,
};
use forest2onnx::synth;
use ndarray::Array2;

use crate::matrix::models::{models, Model};

/// Committed fixtures, one or more per family and estimator kind.
const FIXTURES: &[&str] = &[
    "sklearn/sklearn-1.4.2/rf.p4.pkl",
    "sklearn/sklearn-1.4.2/et.p4.pkl",
    "sklearn/sklearn-1.4.2/dt.p4.pkl",
    "sklearn/estimators-1.9.1/dtr_nan.p4.pkl",
    "sklearn/estimators-1.9.1/rfr.p4.pkl",
    "sklearn/estimators-1.9.1/etr_multi.p4.pkl",
    "sklearn/estimators-1.9.1/gbc_binary.p4.pkl",
    "sklearn/estimators-1.9.1/gbc_multi.p4.pkl",
    "sklearn/estimators-1.9.1/gbr_huber.p4.pkl",
    "sklearn/estimators-1.9.1/hgbc_binary_nan.p4.pkl",
    "sklearn/estimators-1.9.1/hgbc_multi.p4.pkl",
    "sklearn/estimators-1.9.1/hgbc_categorical.p4.pkl",
    "sklearn/estimators-1.9.1/hgbr_categorical.p4.pkl",
    "sklearn/estimators-1.9.1/hgbr_poisson.p4.pkl",
    "sklearn/estimators-1.9.1/iforest.p4.pkl",
    "xgboost/3.2.0/binary_logistic.ubj",
    "xgboost/3.2.0/multi_softprob.ubj",
    "xgboost/3.2.0/reg_squarederror.ubj",
    "xgboost/3.2.0/count_poisson.ubj",
    "xgboost/3.2.0/categorical.ubj",
    "xgboost/3.2.0/random_forest.ubj",
    "xgboost/1.0.2/multi_softmax.json",
    "lightgbm/4.7.0/binary.txt",
    "lightgbm/4.7.0/binary_zero_as_missing.txt",
    "lightgbm/4.7.0/multiclass.txt",
    "lightgbm/4.7.0/regression.txt",
    "lightgbm/4.7.0/poisson.txt",
    "lightgbm/4.7.0/categorical.txt",
    "lightgbm/4.7.0/categorical_multiclass.txt",
    "lightgbm/4.7.0/random_forest.txt",
    "lightgbm/4.7.0/single_leaf.txt",
];

/// A model of the matrix, named for the table and error messages.
pub struct Entry {
    pub name: String,
    pub forest: Forest,
    pub data: Array2<f64>,
}

pub fn corpus() -> Vec<Entry> {
    let mut out: Vec<Entry> = models()
        .into_iter()
        .map(|Model { name, forest, data }| Entry {
            name: format!("ir_{name}"),
            forest,
            data,
        })
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for (k, file) in FIXTURES.iter().enumerate() {
        let loaded = forest2onnx::load(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let forest = loaded.forest;
        let data = synth::rows(40, forest.n_features, k as u64);
        let name = file
            .trim_end_matches(|c| c != '.')
            .trim_end_matches('.')
            .trim_end_matches(".p4")
            .replace(['/', '.', '-'], "_");
        out.push(Entry { name, forest, data });
    }
    out.extend(bug_patterns());
    out
}

/// A tree from preorder nodes: `(feature, threshold, true, false)` for
/// splits, `None` for leaves, with one value per node.
fn tree(nodes: &[Option<(u32, f64, u32, u32)>], values: &[f64]) -> Tree {
    let (mut feature, mut threshold, mut true_child, mut false_child) =
        (vec![], vec![], vec![], vec![]);
    for n in nodes {
        let (f, t, a, b) = n.unwrap_or((0, 0.0, LEAF, LEAF));
        feature.push(f);
        threshold.push(t);
        true_child.push(a);
        false_child.push(b);
    }
    let width = values.len() / nodes.len();
    Tree::from_node_arrays(
        feature,
        threshold,
        &true_child,
        &false_child,
        vec![false; nodes.len()],
        values,
        width,
    )
    .expect("splits with two children")
}

fn regression(trees: Vec<Tree>, n_features: usize, post_transform: PostTransform) -> Forest {
    Forest {
        n_features,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        input: Default::default(),
        task: Task::Regression { n_targets: 1 },
        aggregation: Aggregation::Sum {
            base_values: vec![0.25],
            post_transform,
            tree_targets: vec![],
        },
        trees,
        source: Default::default(),
    }
}

/// The shapes known onnxruntime tree-ensemble bugs are about (see the
/// README's "onnxruntime releases" section).
fn bug_patterns() -> Vec<Entry> {
    let data = synth::rows(40, 3, 77);
    let mut out = Vec::new();
    // microsoft/onnxruntime#24679: `TreeEnsemble` (opset 5) takes a root
    // for a leaf when its true child is leaf k and its false child split k.
    // Leaves and splits are numbered across trees: after a first tree of one
    // split and two leaves, a root whose true child is a leaf and whose
    // false child is a split has both children numbered 2.
    let stump = tree(&[Some((0, 0.5, 1, 2)), None, None], &[0.0, -1.0, 1.0]);
    let lopsided = tree(
        &[Some((1, 0.3, 1, 2)), None, Some((2, 0.6, 3, 4)), None, None],
        &[0.0, 2.0, 0.0, 3.0, 5.0],
    );
    out.push(Entry {
        name: "bug_root_children_same_index".into(),
        forest: regression(
            vec![stump, lopsided.clone(), lopsided],
            3,
            PostTransform::None,
        ),
        data: data.clone(),
    });
    // microsoft/onnxruntime#27533 (LOGISTIC skipped for leaf-only trees with
    // non-negative weights) and #26596 (opset 5 LOGISTIC ignored for one
    // target): single-leaf trees, non-negative weights, logistic link.
    let mut binary = regression(
        vec![tree(&[None], &[0.75]), tree(&[None], &[0.5])],
        3,
        PostTransform::Logistic,
    );
    binary.task = Task::Classification(Labels::Int(vec![0, 1]));
    out.push(Entry {
        name: "bug_leaf_only_logistic".into(),
        forest: binary,
        data: data.clone(),
    });
    // microsoft/onnxruntime#25400 (large membership sets crash opset 5, and
    // long BRANCH_EQ chains crash 1.21.0): sets of 2000 scattered
    // categories (no runs, so opsets 1/3 write one BRANCH_EQ each).
    let mut big = regression(
        (0..3)
            .map(|t| {
                tree(
                    &[Some((0, 0.0, 1, 2)), None, None],
                    &[0.0, 1.0 + t as f64, -2.0],
                )
            })
            .collect(),
        3,
        PostTransform::None,
    );
    big.input.categories = CategoryRule::NonNegative;
    for (t, tree) in big.trees.iter_mut().enumerate() {
        tree.categories
            .push(0, (0..2000u32).map(|c| 3 * c + t as u32));
    }
    let mut cat_data = data.clone();
    cat_data
        .column_mut(0)
        .iter_mut()
        .enumerate()
        .for_each(|(r, v)| *v = (r * 37 % 6100) as f64);
    out.push(Entry {
        name: "bug_large_membership_sets".into(),
        forest: big,
        data: cat_data,
    });
    out
}
