//! `--precision auto` (issue 26, section 1): a plain `forest2onnx convert`
//! of a model that compares float64 inputs with float64 thresholds
//! (LightGBM, HistGradientBoosting) reproduces the library's own
//! `predict`/`predict_proba` on float64 rows at, one float64 step around,
//! and between the float32 neighbours of every threshold. Fixtures made by
//! `python/fixtures/make_exact_fixtures.py` with the pinned libraries.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use forest2onnx::export::onnx::float_note;
use forest2onnx::runtime::{Labels, OnnxModel};
use ndarray::Array2;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exact")
        .join(name)
}

/// The library's own answers on its probe rows.
struct Expected {
    rows: Array2<f64>,
    labels: Vec<i64>,
    probabilities: Array2<f64>,
}

fn matrix(v: &Value) -> Array2<f64> {
    let rows = v.as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    let flat: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        .collect();
    Array2::from_shape_vec((rows.len(), width), flat).unwrap()
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    Expected {
        rows: matrix(&doc["rows"]),
        labels: doc["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect(),
        probabilities: matrix(&doc["probabilities"]),
    }
}

const CASES: [(&str, &str); 2] = [
    ("lightgbm_binary", "lightgbm_binary.txt"),
    ("hgb_multiclass", "hgb_multiclass.pkl"),
];

/// `forest2onnx convert MODEL -o OUT ARGS... --json`: the summary and the
/// ONNX bytes.
fn convert(model: &Path, out: &Path, args: &[&str]) -> (Value, Vec<u8>, String) {
    let output = Command::cargo_bin("forest2onnx")
        .unwrap()
        .arg("convert")
        .arg(model)
        .arg("-o")
        .arg(out)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "convert failed: {stderr}");
    let summary: Value = serde_json::from_slice(&output.stdout).unwrap();
    (summary, std::fs::read(out).unwrap(), stderr)
}

/// Rows whose ONNX label differs from the library's, and the largest
/// relative difference of the probabilities.
fn differences(onnx: &[u8], exp: &Expected) -> (usize, f64) {
    let got = OnnxModel::from_bytes(onnx)
        .unwrap()
        .predict(exp.rows.view())
        .unwrap();
    let Some(Labels::Int(labels)) = got.labels else {
        panic!("integer labels expected")
    };
    let flips = labels
        .iter()
        .zip(&exp.labels)
        .filter(|(a, b)| a != b)
        .count();
    let rel = got
        .values
        .iter()
        .zip(&exp.probabilities)
        .map(|(&a, &b)| (a - b).abs() / b.abs().max(1e-300))
        .fold(0.0, f64::max);
    (flips, rel)
}

#[test]
fn a_plain_convert_of_float64_models_is_exact_at_every_threshold() {
    let dir = tempfile::tempdir().unwrap();
    for (name, file) in CASES {
        let exp = expected(name);
        let out = dir.path().join(format!("{name}.onnx"));
        let (summary, onnx, _) = convert(&fixture(file), &out, &[]);
        assert_eq!(summary["precision"], "double", "{name}: {summary}");
        assert_eq!(summary["ml_opset"], 3, "{name}");
        assert_eq!(summary["precision_choice"]["automatic"], true, "{name}");
        let (flips, rel) = differences(&onnx, &exp);
        assert_eq!(flips, 0, "{name}: labels differ on {flips} rows");
        // LightGBM and scikit-learn compute in float64 too; only exp's last
        // bits may differ.
        assert!(
            rel <= 1e-9,
            "{name}: probabilities differ by {rel:e} relative"
        );
        assert!(exp.rows.nrows() > 800, "{name}: {} rows", exp.rows.nrows());
    }
}

#[test]
fn forcing_float_on_a_float64_model_notes_the_thresholds_and_misroutes_nearby_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut total_flips = 0;
    for (name, file) in CASES {
        let exp = expected(name);
        let out = dir.path().join(format!("{name}.onnx"));
        let (summary, onnx, _) = convert(&fixture(file), &out, &["--precision", "float"]);
        assert_eq!(summary["precision"], "float");
        assert_eq!(summary["ml_opset"], 1);
        let forest = forest2onnx::load(fixture(file)).unwrap().forest;
        let note = float_note(&forest);
        assert!(note.inexact_thresholds > 0 && note.inexact_thresholds <= note.thresholds);
        let written = &summary["precision_choice"]["float_note"];
        assert_eq!(written["inexact_thresholds"], note.inexact_thresholds);
        assert_eq!(summary["validation"]["float_note"], *written);
        // The float model reads float32: some of the rows route otherwise.
        total_flips += differences(&onnx, &exp).0;
    }
    assert!(
        total_flips > 0,
        "the probe rows do not tell float from double"
    );
}

#[test]
fn the_text_summary_and_inspect_say_what_was_chosen_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("lightgbm_binary.txt");
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("forest2onnx")
            .unwrap()
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let m = model.to_str().unwrap();
    let (stdout, _) = run(&["convert", m, "-o", "a.onnx"]);
    assert!(
        stdout.contains("ai.onnx.ml opset 3, double")
            && stdout.contains("precision double (auto): lightgbm Booster")
            && stdout.contains("float64 thresholds"),
        "{stdout}"
    );
    let (stdout, _) = run(&["convert", m, "-o", "b.onnx", "--precision", "float"]);
    assert!(
        stdout.contains("note: ") && stdout.contains("lie strictly between two float32 values"),
        "{stdout}"
    );
    let (_, stderr) = run(&[
        "convert",
        m,
        "-o",
        "c.onnx",
        "--precision",
        "float",
        "--no-validate",
    ]);
    assert!(
        stderr.contains("strictly between two float32 values"),
        "{stderr}"
    );
    let (stdout, _) = run(&["inspect", m]);
    assert!(
        stdout.contains("to ONNX:     double, ai.onnx.ml opset 3: lightgbm Booster"),
        "{stdout}"
    );
    // validate gives the same note for a float model it is handed.
    let (stdout, _) = run(&["validate", m, "b.onnx"]);
    assert!(
        stdout.contains("strictly between two float32 values"),
        "{stdout}"
    );
    let (stdout, _) = run(&["validate", m, "a.onnx"]);
    assert!(!stdout.contains("float32 values"), "{stdout}");
}

#[test]
fn float32_sources_stay_float_at_opset_1() {
    let dir = tempfile::tempdir().unwrap();
    let xgb = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/xgboost/3.2.0/binary_logistic.json");
    let (summary, _, stderr) = convert(&xgb, &dir.path().join("x.onnx"), &[]);
    assert_eq!(summary["precision"], "float");
    assert_eq!(summary["ml_opset"], 1);
    assert!(summary["precision_choice"].get("float_note").is_none());
    assert!(!stderr.contains("note:"));
    // An explicit opset 5 keeps auto's choice.
    let (summary, _, _) = convert(
        &fixture("hgb_multiclass.pkl"),
        &dir.path().join("h.onnx"),
        &["--ml-opset", "5"],
    );
    assert_eq!(
        (&summary["precision"], &summary["ml_opset"]),
        (&"double".into(), &5.into())
    );
}
