//! The `forest2onnx` binary on scikit-learn regressors, boosted models and
//! isolation forests committed under tests/fixtures/sklearn/cli/ (written by
//! `python/fixtures/sklearn_cli_fixtures.py`, with scikit-learn's own outputs):
//! `predict`, `inspect` and `train --task regression`, run as a user would.
//!
//! `iris_rf7` is issue 18's case: f64 rows at and one f64 step either side
//! of every threshold of a 7-tree iris forest, which `predict model.pkl`
//! must route as scikit-learn does (after a float32 cast) and predict within
//! 1e-12 of `predict_proba`.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

const MODELS: &[&str] = &[
    "iris_rf7",
    "gb_binary",
    "rf_regressor_2targets",
    "hgb_poisson",
    "isolation_forest",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn/cli")
        .join(name)
}

fn run(args: &[&str]) -> String {
    let out = Command::cargo_bin("forest2onnx")
        .expect("binary built")
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).expect("UTF-8 stdout")
}

/// A CSV file as its header and rows of cells.
fn read_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("a header")
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Compares `predict` output with scikit-learn's: same header, labels equal,
/// numbers within `tolerance` relative (1e-15 absolute near zero).
fn compare(name: &str, got: &str, want: &str, tolerance: f64) -> usize {
    let (gh, gr) = read_csv(got);
    let (wh, wr) = read_csv(want);
    assert_eq!(gh, wh, "{name}: header");
    assert_eq!(gr.len(), wr.len(), "{name}: rows");
    let numeric_from = usize::from(wh[0] == "label");
    for (r, (g, w)) in gr.iter().zip(&wr).enumerate() {
        if numeric_from == 1 {
            assert_eq!(g[0], w[0], "{name} row {r}: label");
        }
        for (a, b) in g[numeric_from..].iter().zip(&w[numeric_from..]) {
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(
                (a - b).abs() <= tolerance * b.abs() || (a - b).abs() <= 1e-15,
                "{name} row {r}: {a} vs scikit-learn {b}"
            );
        }
    }
    gr.len()
}

#[test]
fn predict_on_pickles_and_joblib_files_matches_scikit_learn() {
    for name in MODELS {
        let expected = fs::read_to_string(fixture(&format!("{name}.expected.csv"))).unwrap();
        let data = fixture(&format!("{name}.csv"));
        for ext in ["pkl", "joblib"] {
            let model = fixture(&format!("{name}.{ext}"));
            let got = run(&[
                "predict",
                model.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ]);
            let rows = compare(&format!("{name}.{ext}"), &got, &expected, 1e-12);
            assert!(rows > 40, "{name}: {rows} rows");
        }
    }
}

/// The regression test of issue 18: the f64 rows at and next to the
/// thresholds of the iris forest do route differently in f64, so the
/// float32 rule is what makes `predict` agree.
#[test]
fn iris_rows_next_to_thresholds_need_the_float32_cast() {
    let mut forest = forest2onnx::import::sklearn::read_file(fixture("iris_rf7.pkl")).unwrap();
    assert_eq!(
        forest.input.precision,
        forest2onnx::ir::Precision::F32,
        "scikit-learn trees read float32"
    );
    let text = fs::read_to_string(fixture("iris_rf7.csv")).unwrap();
    let (_, rows) = read_csv(&text);
    let x = ndarray::Array2::from_shape_fn((rows.len(), 4), |(r, c)| rows[r][c].parse().unwrap());
    let expected = fs::read_to_string(fixture("iris_rf7.expected.csv")).unwrap();
    let (_, want) = read_csv(&expected);
    let differing = |forest: &forest2onnx::Forest| {
        let p = forest.predict(x.view());
        (0..rows.len())
            .filter(|&r| {
                (0..3).any(|k| {
                    let w: f64 = want[r][k + 1].parse().unwrap();
                    (p.values[[r, k]] - w).abs() > 1e-12
                })
            })
            .count()
    };
    assert_eq!(differing(&forest), 0);
    forest.input.precision = forest2onnx::ir::Precision::F64;
    let wrong = differing(&forest);
    assert!(wrong > 0, "routing in f64 must differ on these rows");
    eprintln!(
        "iris_rf7: {wrong} of {} rows differ when routed in f64",
        rows.len()
    );
}

#[test]
fn inspect_describes_every_estimator() {
    for (name, needles) in [
        ("iris_rf7", &["RandomForestClassifier", "setosa"][..]),
        (
            "gb_binary",
            &["GradientBoostingClassifier", "classification"][..],
        ),
        (
            "rf_regressor_2targets",
            &["RandomForestRegressor", "2 targets"][..],
        ),
        (
            "hgb_poisson",
            &["HistGradientBoostingRegressor", "regression"][..],
        ),
        ("isolation_forest", &["IsolationForest", "anomaly"][..]),
    ] {
        let model = fixture(&format!("{name}.pkl"));
        let out = run(&["inspect", model.to_str().unwrap()]);
        for n in needles {
            assert!(out.contains(n), "{name}: {n:?} missing from\n{out}");
        }
    }
}

#[test]
fn train_regression_writes_a_forest_that_predicts_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("houses.csv");
    let mut text = String::from("rooms,age,price\n");
    for i in 0..200 {
        let rooms = (i % 7 + 1) as f64;
        let age = ((i * 37) % 50) as f64;
        text += &format!(
            "{rooms},{age},{}\n",
            rooms * 30.0 - age * 0.5 + (i % 3) as f64
        );
    }
    fs::write(&csv, text).unwrap();
    let model = dir.path().join("price.forest");
    let json = dir.path().join("price.json");
    let out = run(&[
        "train",
        "--data",
        csv.to_str().unwrap(),
        "--task",
        "regression",
        "--trees",
        "20",
        "-o",
        model.to_str().unwrap(),
        "--smartcore-json",
        json.to_str().unwrap(),
    ]);
    assert!(
        out.contains("RandomForestRegressor") && out.contains("training R²"),
        "{out}"
    );
    // The native file and smartcore's JSON (which knows no feature names,
    // so it reads a file of features only) predict the same values.
    let features = dir.path().join("features.csv");
    let only: String = fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    fs::write(&features, only).unwrap();
    let data = csv.to_str().unwrap();
    let a = run(&["predict", model.to_str().unwrap(), "--data", data]);
    let only = features.to_str().unwrap();
    let b = run(&["predict", json.to_str().unwrap(), "--data", only]);
    assert!(a.starts_with("prediction\n"), "{a}");
    assert_eq!(a, b);
    // Classification-only options are refused, not ignored.
    Command::cargo_bin("forest2onnx")
        .unwrap()
        .args([
            "train",
            "--data",
            csv.to_str().unwrap(),
            "--task",
            "regression",
            "--criterion",
            "entropy",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("--criterion"));
}
