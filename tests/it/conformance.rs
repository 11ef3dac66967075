//! Cross-runtime conformance: every exported model passes `onnx.checker`
//! (full check) and agrees with the forest in onnxruntime (one intra-op
//! thread and the default thread pool) and in tract.
//!
//! Two suites: the classifier corpus below (smartcore models, vote ties,
//! soft votes; float precision at opsets 1 and 3, also run in tract), and
//! the matrix of `matrix/run.rs` (every model kind the IR holds ×
//! float/double × opsets 1/3/5, with adversarial rows for each precision).
//!
//! Needs Python with onnx and onnxruntime: `bash scripts/setup-python.sh`,
//! then `cargo test --features python --test it conformance::`.
#![cfg(feature = "python")]

use crate::common;

use common::crosscheck::*;
use common::python::python;
use common::*;
use forest2onnx::export::onnx::{to_bytes, ExportOptions, Precision};
use forest2onnx::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree, LEAF};
use forest2onnx::runtime::{ElementType, OnnxModel};
use forest2onnx::validate::with_adversarial_rows;
use ndarray::Array2;
use smartcore::dataset::{breast_cancer, digits, iris};
use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

struct Case {
    name: String,
    forest: Forest,
    rows: Array2<f32>,
    ml_opset: i64,
}

fn rf<TX>(x: &[Vec<TX>], y: &[i64], trees: u16, seed: u64, depth: Option<u16>) -> Forest
where
    TX: smartcore::numbers::floatnum::FloatNumber
        + smartcore::numbers::basenum::Number
        + serde::Serialize,
{
    let mut params = rf_params(trees, seed);
    if let Some(d) = depth {
        params = params.with_max_depth(d);
    }
    let model: RandomForestClassifier<TX, i64, DenseMatrix<TX>, Vec<i64>> =
        RandomForestClassifier::fit(&matrix(x), &y.to_vec(), params).unwrap();
    forest2onnx::import::smartcore::from_random_forest(&model).unwrap()
}

fn dataset(data: &[f32], target: Vec<i64>, cols: usize) -> (Vec<Vec<f32>>, Vec<i64>) {
    (data.chunks(cols).map(<[f32]>::to_vec).collect(), target)
}

/// A hand-built forest using what smartcore never produces: soft-voting
/// leaves, NaN sent to the true branch, and `<` comparisons.
fn hand_built(split_op: SplitOp, n_classes: usize) -> Forest {
    let mut rng = Rng(41 + n_classes as u64);
    let trees = (0..7)
        .map(|_| {
            let mut dist = || {
                let mut v: Vec<f64> = (0..n_classes).map(|_| rng.unit() + 0.01).collect();
                let s: f64 = v.iter().sum();
                v.iter_mut().for_each(|p| *p /= s);
                v
            };
            let (a, b, c) = (dist(), dist(), dist());
            let mut value = vec![0.0; 2 * n_classes];
            value.extend(a);
            value.extend(b);
            value.extend(c);
            Tree::from_node_arrays(
                vec![0, 1, 0, 0, 0],
                vec![0.3, -0.7, 0.0, 0.0, 0.0],
                &[1, 3, LEAF, LEAF, LEAF],
                &[2, 4, LEAF, LEAF, LEAF],
                vec![true, false, false, false, false],
                &value,
                n_classes,
            )
            .unwrap()
        })
        .collect();
    Forest {
        n_features: 2,
        feature_names: Some(vec!["a".into(), "b".into()]),
        split_op,
        input: Default::default(),
        task: Task::Classification(Labels::Str(
            (0..n_classes).map(|k| format!("class {k}")).collect(),
        )),
        aggregation: Aggregation::Average,
        trees,
        source: Source::default(),
    }
}

/// Hard-vote forests built so that many rows tie: tree `t` splits feature 0
/// at `t * 0.5` and votes `classes[t]` left, `classes[t + 1]` right. Ties
/// must go to the lowest class index in every runtime, with any threading.
fn vote_ties(n_classes: usize, n_trees: usize) -> Forest {
    let trees = (0..n_trees)
        .map(|t| {
            let mut tree = Tree::default();
            tree.push_split(0, t as f64 * 0.5, (1, 2), false);
            tree.push_leaf(&[(t % n_classes) as f64]);
            tree.push_leaf(&[((t + 1) % n_classes) as f64]);
            tree
        })
        .collect();
    Forest {
        input: Default::default(),
        n_features: 1,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int((0..n_classes as i64).map(|k| 10 - k).collect())),
        aggregation: Aggregation::Vote,
        trees,
        source: Source::default(),
    }
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, forest: Forest, data: Array2<f32>| {
        let rows = with_adversarial_rows(
            &forest,
            ElementType::Float,
            data.mapv(f64::from).view(),
            4000,
        )
        .unwrap()
        .mapv(|v| v as f32);
        for ml_opset in [1, 3] {
            cases.push(Case {
                name: format!("{name}_ml{ml_opset}"),
                forest: forest.clone(),
                rows: rows.clone(),
                ml_opset,
            });
        }
    };
    let d = iris::load_dataset();
    let (x, y) = dataset(
        &d.data,
        d.target.iter().map(|&v| v.into()).collect(),
        d.num_features,
    );
    add("iris_f32", rf(&x, &y, 100, 42, None), to_f32_rows(&x));
    let mut strings = rf(&x, &y, 10, 1, None);
    strings.task = Task::Classification(Labels::Str(vec![
        "setosa".into(),
        "versicolor".into(),
        "virginica".into(),
    ]));
    add("iris_string_labels", strings, to_f32_rows(&x));

    let d = breast_cancer::load_dataset();
    let (x, y) = dataset(
        &d.data,
        d.target.iter().map(|&v| v.into()).collect(),
        d.num_features,
    );
    add(
        "breast_cancer_binary",
        rf(&x, &y, 25, 3, None),
        to_f32_rows(&x),
    );

    let d = digits::load_dataset();
    let (x, y) = dataset(
        &d.data,
        d.target.iter().map(|&v| v as i64).collect(),
        d.num_features,
    );
    add("digits_10_classes", rf(&x, &y, 8, 5, None), to_f32_rows(&x));

    let mut rng = Rng(7);
    let (x, y) = blobs(&mut rng, 150, 4, &[-1, 3, 7]);
    let rows = to_f32_rows(&x);
    add(
        "f64_noncontiguous_labels",
        rf(&x, &y, 15, 2, None),
        rows.clone(),
    );
    add("stumps", rf(&x, &y, 20, 3, Some(2)), rows.clone());
    add("single_leaf_trees", rf(&x, &y, 3, 3, Some(1)), rows.clone());
    let tree: DecisionTreeClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>> =
        DecisionTreeClassifier::fit(&matrix(&x), &y, DecisionTreeClassifierParameters::default())
            .unwrap();
    add(
        "single_tree",
        forest2onnx::import::smartcore::from_decision_tree(&tree).unwrap(),
        rows.clone(),
    );
    let mut nan_rows = rows.clone();
    nan_rows
        .rows_mut()
        .into_iter()
        .enumerate()
        .for_each(|(i, mut r)| r[i % 4] = f32::NAN);
    add("nan_inputs", rf(&x, &y, 10, 4, None), nan_rows);

    let (xb, yb) = blobs(&mut rng, 120, 3, &[0, 1]);
    add("binary_f64", rf(&xb, &yb, 9, 6, None), to_f32_rows(&xb));
    // Every tree a single leaf voting the same class: the degenerate binary case.
    let x_const = vec![vec![0.5f64, 1.0]; 20];
    let y_const: Vec<i64> = (0..20).map(|i| i64::from(i < 15)).collect();
    add(
        "binary_all_vote_one_class",
        rf(&x_const, &y_const, 5, 1, None),
        to_f32_rows(&x_const),
    );
    let y_const: Vec<i64> = (0..20).map(|i| i64::from(i < 5)).collect();
    add(
        "binary_all_vote_other_class",
        rf(&x_const, &y_const, 5, 1, None),
        to_f32_rows(&x_const),
    );

    let line = Array2::from_shape_fn((200, 1), |(r, _)| r as f32 * 0.25 - 5.0);
    add("vote_ties_binary", vote_ties(2, 4), line.clone());
    add("vote_ties_4_classes", vote_ties(4, 100), line.clone());
    add("vote_ties_3_classes_odd", vote_ties(3, 9), line);

    let grid = Array2::from_shape_fn((40, 2), |(r, c)| {
        (r as f32 * 0.13 - 2.0) * if c == 0 { 1.0 } else { -1.3 }
    });
    add(
        "soft_vote_missing_true_leq",
        hand_built(SplitOp::LessOrEqual, 3),
        grid.clone(),
    );
    add(
        "soft_vote_missing_true_lt_binary",
        hand_built(SplitOp::Less, 2),
        grid,
    );
    cases
}

#[test]
fn exported_models_pass_checker_and_agree_in_onnxruntime_and_tract() {
    let py = python(&["numpy", "onnx", "onnxruntime"]);
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    for case in &cases {
        let options = ExportOptions {
            ml_opset: Some(case.ml_opset),
            precision: Precision::Float,
            ..Default::default()
        };
        let onnx = to_bytes(&case.forest, &options).unwrap();
        write_case(
            dir.path(),
            &case.name,
            &onnx,
            &case.rows,
            serde_json::json!({}),
        );
    }
    run_conformance(&py, dir.path());

    let (mut ort1, mut ort_n, mut tract) = (Tally::default(), Tally::default(), Tally::default());
    let mut checker_failures = Vec::new();
    for case in &cases {
        let labels = case.forest.class_labels().unwrap();
        let native = case.forest.predict(case.rows.mapv(f64::from).view());
        let expected_labels = labels_json(labels, &native.classes);
        let expected = (&expected_labels[..], &native.values);
        let result = read_result(dir.path(), &case.name);
        if result["checker"] != "ok" {
            checker_failures.push(format!("{}: {}", case.name, result["checker"]));
        }
        assert!(
            result.get("error").is_none(),
            "{}: onnxruntime: {}",
            case.name,
            result["error"]
        );
        for (tally, key) in [(&mut ort1, "one_thread"), (&mut ort_n, "default_threads")] {
            let (l, p) = runtime_json(&result, key);
            tally.compare(
                &format!("{} onnxruntime {key}", case.name),
                expected,
                (&l, &p),
            );
        }
        let onnx = std::fs::read(dir.path().join(format!("{}.onnx", case.name))).unwrap();
        let t = OnnxModel::from_bytes(&onnx)
            .unwrap()
            .predict(case.rows.mapv(f64::from).view())
            .unwrap();
        let (l, p) = tract_json(&t);
        tract.compare(&format!("{} tract", case.name), expected, (&l, &p));
    }
    let summary = [
        format!("conformance summary: {} models", cases.len()),
        ort1.line("onnxruntime (1 thread)"),
        ort_n.line("onnxruntime (default threads)"),
        tract.line("tract"),
        format!("  onnx.checker failures: {}", checker_failures.len()),
    ]
    .join("\n");
    eprintln!("{summary}");
    assert!(
        checker_failures.is_empty(),
        "onnx.checker: {checker_failures:#?}"
    );
    for t in [&ort1, &ort_n, &tract] {
        assert_eq!(t.label_mismatches, 0, "{summary}");
        assert!(t.max_abs_diff <= 1e-6, "{summary}");
    }
}
