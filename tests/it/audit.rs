//! "Is my existing ONNX right?" (issue 26, section 4): `forest2onnx
//! validate MODEL OTHER.onnx --json` on ONNX files other converters wrote,
//! listing the nodes that differ. Fixtures made by
//! `python/fixtures/make_audit_fixtures.py` (scikit-learn + skl2onnx, LightGBM and
//! XGBoost + onnxmltools, at the pinned versions); each NAME.json records
//! how onnxruntime's labels compare with the library's on data rows.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

/// `validate MODEL ONNX --json`: the exit code and the report.
fn validate(model: &str, onnx: &str) -> (i32, Value) {
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .arg("validate")
        .arg(fixture(model))
        .arg(fixture(onnx))
        .arg("--json")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{model}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn differences(report: &Value) -> &Vec<Value> {
    report["structure"]["first_differences"].as_array().unwrap()
}

fn recorded(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(&format!("{name}.json"))).unwrap())
        .unwrap()
}

#[test]
fn skl2onnx_forests_trained_with_nan_send_nan_the_wrong_way() {
    let (code, report) = validate("skl2onnx_rf_iris_nan.pkl", "skl2onnx_rf_iris_nan.onnx");
    assert_eq!(code, 3);
    assert_eq!(report["passed"], false);
    let st = &report["structure"];
    // skl2onnx writes each leaf's probabilities divided by the tree count.
    assert_eq!(st["leaf_values"], "values / trees");
    let diffs = differences(&report);
    assert_eq!(st["differences"], 16);
    assert_eq!(diffs.len(), 16, "--json lists every differing node");
    for d in diffs {
        let what = d["what"].as_str().unwrap();
        assert!(
            what.contains("(NaN true)") && what.contains("routes NaN the other way"),
            "{d}"
        );
        assert!(d["feature"].is_u64() && d["node"].is_u64() && d["tree"].is_u64());
    }
    let rows = &report["report"];
    assert_eq!(rows["label_mismatches"], 0);
    let max = rows["max_abs_diff"].as_f64().unwrap();
    assert!((max - 0.3).abs() < 1e-6, "max |Δp| {max}");
    // onnxruntime really runs the file that way: on the data rows its labels
    // differ from scikit-learn's.
    assert_eq!(recorded("skl2onnx_rf_iris_nan")["label_differences"], 3);
}

#[test]
fn onnxmltools_lightgbm_thresholds_rounded_to_nearest_misroute_float32_inputs() {
    let (code, report) = validate(
        "onnxmltools_lightgbm_no_missing.txt",
        "onnxmltools_lightgbm_no_missing.onnx",
    );
    assert_eq!(code, 3);
    assert_eq!(report["structure"]["leaf_values"], "one score");
    let diffs = differences(&report);
    assert_eq!(report["structure"]["differences"], 11);
    for d in diffs {
        // The ONNX threshold is the float32 nearest LightGBM's, above it:
        // that very float32 value goes left in ONNX, right in LightGBM.
        let (t, onnx, value) = (
            d["threshold"].as_f64().unwrap(),
            d["onnx_threshold"].as_f64().unwrap(),
            d["value"].as_f64().unwrap(),
        );
        assert!(
            onnx > t && f64::from(t as f32) == onnx && value == onnx,
            "{d}"
        );
    }
    // A float model of a float64 model: the note says how many thresholds
    // float32 cannot hold.
    assert_eq!(report["float_note"]["inexact_thresholds"], 33);
    assert_eq!(
        recorded("onnxmltools_lightgbm_no_missing")["label_differences"],
        0
    );
}

#[test]
fn onnxmltools_xgboost_classifiers_pass() {
    let (code, report) = validate("onnxmltools_xgboost.ubj", "onnxmltools_xgboost.onnx");
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["structure"]["differences"], 0);
    assert_eq!(report["structure"]["leaf_values"], "one score");
    assert_eq!(recorded("onnxmltools_xgboost")["label_differences"], 0);
}
