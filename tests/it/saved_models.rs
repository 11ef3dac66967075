//! Models as users save them (issue 26, section 2): XGBoost early stopping
//! (the scikit-learn wrapper predicts with `best_iteration + 1` rounds, a
//! `Booster` with all; `--rounds` overrides), and pickled XGBoost and
//! LightGBM estimators read as data. Fixtures made by
//! `python/fixtures/make_rounds_fixtures.py` with the libraries' own predictions.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use forest2onnx::runtime::{Labels, OnnxModel};
use ndarray::Array2;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/rounds")
        .join(name)
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows = v.as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap_or(f64::NAN))
        })
        .collect();
    Array2::from_shape_vec((rows.len(), width), flat).unwrap()
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `forest2onnx ARGS...`: stdout, or a panic with stderr.
fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "forest2onnx {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Converts `model` with `extra` options and checks the ONNX model on the
/// fixture's rows against `outputs` (float32 tolerance: XGBoost sums in
/// float32) and, when given, the labels.
fn check_onnx(model: &str, extra: &[&str], outputs: &Value, labels: Option<&Value>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.onnx");
    let path = fixture(model);
    let mut args = vec![
        "convert",
        path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(&args);
    let name = model.split('.').next().unwrap();
    let exp = expected(name);
    let rows = matrix(&exp["rows"]);
    let got = OnnxModel::load(&out).unwrap().predict(rows.view()).unwrap();
    let want = matrix(outputs);
    assert_eq!(got.values.dim(), want.dim(), "{model} {extra:?}");
    let worst = got
        .values
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
        .fold(0.0, f64::max);
    assert!(
        worst <= 2e-6,
        "{model} {extra:?}: outputs differ by {worst:e}"
    );
    if let Some(labels) = labels {
        let got = got.labels.expect("a label output");
        let want: Vec<Value> = labels.as_array().unwrap().clone();
        let got: Vec<Value> = (0..got.len()).map(|i| got.json(i)).collect();
        assert_eq!(got, want, "{model} {extra:?}: labels");
    }
}

#[test]
fn xgboost_sklearn_wrapper_files_convert_with_the_best_rounds() {
    let exp = expected("xgb_sklearn_early");
    assert!(
        exp["meta"]["best_iteration"].as_u64().unwrap() + 1
            < exp["meta"]["rounds"].as_u64().unwrap()
    );
    check_onnx(
        "xgb_sklearn_early.json",
        &[],
        &exp["outputs"],
        Some(&exp["labels"]),
    );
    // --rounds all: what Booster.predict gives on the same file.
    check_onnx(
        "xgb_sklearn_early.json",
        &["--rounds", "all"],
        &exp["all_rounds"],
        None,
    );
    let text = run(&[
        "inspect",
        fixture("xgb_sklearn_early.json").to_str().unwrap(),
    ]);
    assert!(
        text.contains("rounds_converted: 12: 12 of 17, up to the best iteration"),
        "{text}"
    );
}

#[test]
fn xgboost_boosters_convert_every_round_unless_asked() {
    let exp = expected("xgb_booster_early");
    check_onnx(
        "xgb_booster_early.json",
        &[],
        &exp["outputs"],
        Some(&exp["labels"]),
    );
    // all_rounds holds the best-iteration predictions for this file.
    check_onnx(
        "xgb_booster_early.json",
        &["--rounds", "best"],
        &exp["all_rounds"],
        None,
    );
    let best = exp["meta"]["best_iteration"].as_u64().unwrap() + 1;
    check_onnx(
        "xgb_booster_early.json",
        &["--rounds", &best.to_string()],
        &exp["all_rounds"],
        None,
    );
    let text = run(&[
        "inspect",
        fixture("xgb_booster_early.json").to_str().unwrap(),
    ]);
    assert!(
        text.contains("rounds_converted: 17: all, as Booster.predict does"),
        "{text}"
    );
}

#[test]
fn rounds_beyond_the_file_or_on_other_formats_are_refused() {
    let xgb = fixture("xgb_booster_early.json");
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args([
            "convert",
            xgb.to_str().unwrap(),
            "--rounds",
            "18",
            "--no-validate",
            "-o",
        ])
        .arg(std::env::temp_dir().join("forest2onnx-rounds-refused.onnx"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rounds 18: the file holds 17 rounds"),
        "{err}"
    );
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["convert", "--rounds", "all"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exact/hgb_multiclass.pkl"))
        .arg("-o")
        .arg(std::env::temp_dir().join("forest2onnx-rounds-refused2.onnx"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("applies to XGBoost and LightGBM models"),
        "{err}"
    );
}

#[test]
fn validate_compares_with_the_rounds_the_user_predicts_with() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("xgb_sklearn_early.json");
    let m = model.to_str().unwrap();
    let all = dir.path().join("all.onnx");
    run(&["convert", m, "--rounds", "all", "-o", all.to_str().unwrap()]);
    // The default (12 rounds) differs from a 17-round ONNX model...
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["validate", m, all.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // ... which is right for --rounds all.
    run(&["validate", m, all.to_str().unwrap(), "--rounds", "all"]);
}

/// Labels as the library returns them.
fn labels_of(v: &Value) -> Labels {
    let items = v.as_array().unwrap();
    if items[0].is_string() {
        Labels::Str(items.iter().map(|s| s.as_str().unwrap().into()).collect())
    } else {
        Labels::Int(items.iter().map(|s| s.as_i64().unwrap()).collect())
    }
}

#[test]
fn pickled_xgboost_and_lightgbm_estimators_convert_with_their_labels() {
    for (name, classifier) in [
        ("xgb_classifier", true),
        ("xgb_regressor", false),
        ("lgbm_classifier", true),
        ("lgbm_classifier_ints", true),
        ("lgbm_regressor", false),
    ] {
        let exp = expected(name);
        let labels = classifier.then(|| &exp["labels"]);
        check_onnx(&format!("{name}.joblib"), &[], &exp["outputs"], labels);
        if classifier {
            let forest = forest2onnx::load(fixture(&format!("{name}.joblib")))
                .unwrap()
                .forest;
            let want = labels_of(&exp["labels"]);
            let classes = forest.class_labels().unwrap();
            for i in 0..want.len() {
                assert!(
                    (0..classes.len()).any(|c| classes.same(c, &want, i)),
                    "{name}: label {} is not a class",
                    want.display(i)
                );
            }
        }
    }
}
