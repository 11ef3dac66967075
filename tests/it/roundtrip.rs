//! smartcore → IR → ONNX round trips: labels exactly equal and |Δp| ≤ 1e-6
//! between smartcore, the IR and the ONNX model in tract, on the data rows
//! plus every split's threshold and one float step either side.

use crate::common;

use common::*;
use smartcore::dataset::{breast_cancer, digits, iris};
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifierParameters;

fn dataset_rows(data: &[f32], cols: usize) -> Vec<Vec<f32>> {
    data.chunks(cols).map(<[f32]>::to_vec).collect()
}

#[test]
fn iris_100_trees_seed_42() {
    let d = iris::load_dataset();
    let x = dataset_rows(&d.data, d.num_features);
    let y: Vec<i64> = d.target.iter().map(|&v| i64::from(v)).collect();
    let forest = check_rf(&x, &y, rf_params(100, 42));
    assert_eq!(forest.trees.len(), 100);
    summary("iris");
}

#[test]
fn breast_cancer_binary_f32_and_f64() {
    let d = breast_cancer::load_dataset();
    let x = dataset_rows(&d.data, d.num_features);
    let y: Vec<i64> = d.target.iter().map(|&v| i64::from(v)).collect();
    check_rf(&x, &y, rf_params(30, 7));
    let x64: Vec<Vec<f64>> = x
        .iter()
        .map(|r| r.iter().map(|&v| f64::from(v) * 1.1).collect())
        .collect();
    check_rf(&x64, &y, rf_params(15, 8));
    summary("breast_cancer");
}

#[test]
fn digits_ten_classes() {
    let d = digits::load_dataset();
    let x = dataset_rows(&d.data, d.num_features);
    let y: Vec<i64> = d.target.iter().map(|&v| v as i64).collect();
    check_rf(&x, &y, rf_params(12, 3));
    summary("digits");
}

#[test]
fn synthetic_many_seeds_and_shapes() {
    for seed in 0..12u64 {
        let mut rng = Rng(seed);
        let n_classes = 2 + (seed as usize % 4);
        let labels: Vec<i64> = (0..n_classes as i64).collect();
        let features = 1 + rng.below(6);
        let rows = 40 + rng.below(120);
        let (x, y) = blobs(&mut rng, rows, features, &labels);
        let trees = 1 + rng.below(25) as u16;
        if seed % 2 == 0 {
            check_rf(&x, &y, rf_params(trees, seed));
        } else {
            let x32: Vec<Vec<f32>> = x
                .iter()
                .map(|r| r.iter().map(|&v| v as f32).collect())
                .collect();
            check_rf(&x32, &y, rf_params(trees, seed));
        }
    }
    summary("synthetic");
}

#[test]
fn non_contiguous_and_negative_labels_stay_as_they_are() {
    let mut rng = Rng(99);
    let (x, y) = blobs(&mut rng, 120, 3, &[-1, 3, 7]);
    let forest = check_rf(&x, &y, rf_params(9, 1));
    assert_eq!(
        forest.class_labels(),
        Some(&forest2onnx::ir::Labels::Int(vec![-1, 3, 7]))
    );
    summary("labels");
}

#[test]
fn single_decision_tree_and_depth_limits() {
    let mut rng = Rng(5);
    let (x, y) = blobs(&mut rng, 150, 4, &[0, 1, 2]);
    let full = check_tree(&x, &y, DecisionTreeClassifierParameters::default());
    assert_eq!(full.trees.len(), 1);
    // Depth-1 stumps (smartcore counts the root as level 1): leaves cut by
    // max_depth keep a split value in smartcore.
    let stump = check_tree(
        &x,
        &y,
        DecisionTreeClassifierParameters::default().with_max_depth(2),
    );
    assert_eq!(stump.max_depth(), 1);
    let stumps = check_rf(&x, &y, rf_params(20, 2).with_max_depth(2));
    assert!(stumps.trees.iter().all(|t| t.depth() <= 1));
    summary("trees");
}

#[test]
fn pure_and_constant_data_give_single_leaf_trees() {
    // Constant features: no split is possible, every tree is one leaf.
    let x = vec![vec![1.5f64, -2.0]; 30];
    let y: Vec<i64> = (0..30).map(|i| i64::from(i % 3 == 0)).collect();
    let forest = check_rf(&x, &y, rf_params(5, 3));
    assert!(forest.trees.iter().all(|t| t.n_nodes() == 1));
    // Depth 0: the root is a leaf even on separable data.
    let mut rng = Rng(8);
    let (x, y) = blobs(&mut rng, 60, 2, &[4, 9]);
    let forest = check_rf(&x, &y, rf_params(4, 4).with_max_depth(0));
    assert!(forest.trees.iter().all(|t| t.n_nodes() == 1));
    // One feature constant among varying ones.
    let (mut x, y) = blobs(&mut rng, 80, 3, &[0, 1, 2]);
    x.iter_mut().for_each(|r| r[1] = 0.25);
    check_rf(&x, &y, rf_params(10, 5));
    summary("pure");
}

#[test]
fn nan_inputs_take_the_false_branch_everywhere() {
    let mut rng = Rng(17);
    let (x, y) = blobs(&mut rng, 100, 3, &[0, 1, 2]);
    let model_rows: Vec<Vec<f64>> = x
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r[i % 3] = f64::NAN;
            r
        })
        .collect();
    let forest = check_rf(&x, &y, rf_params(10, 9));
    // check_rf already adds one NaN row per split feature; also whole NaN rows.
    let onnx = forest2onnx::export::onnx::to_bytes(&forest, &Default::default()).unwrap();
    let rows = to_f32_rows(&model_rows);
    let report =
        forest2onnx::validate::validate(&forest, &onnx, rows.mapv(f64::from).view()).unwrap();
    assert!(report.passed(), "{report}");
    summary("nan");
}

#[test]
fn wine_three_classes_f64() {
    let d = forest2onnx::train::datasets::Builtin::Wine.load();
    let x: Vec<Vec<f64>> = d.x.rows().into_iter().map(|r| r.to_vec()).collect();
    let forest2onnx::train::Targets::Int(y) = &d.y else {
        panic!("wine classes are integers")
    };
    let forest = check_rf(&x, y, rf_params(40, 11));
    assert_eq!(forest.n_features, 13);
    summary("wine");
}
