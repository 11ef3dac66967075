//! The ONNX the `forest2onnx` binary writes for every committed XGBoost and
//! LightGBM fixture, at float and double precision, run in onnxruntime (one
//! intra-op thread and the default pool) and in tract (`forest2onnx
//! predict`), against the libraries' own recorded predictions; every model
//! must also pass `onnx.checker` (full check), and the models the fixtures
//! keep for refusal must be refused. The work is `python/oracles/booster_ours.py
//! --check` (which prints the tables of the closing note): 0 label
//! mismatches and every output within 1e-5 relative or 1e-6 absolute.
//!
//! Needs Python with onnx, onnxruntime and LightGBM (LightGBM predicts the
//! float32 rows a float model is fed): `bash scripts/setup-python.sh`, then
//! `cargo test --features python --test it booster_onnx::`.
#![cfg(feature = "python")]

use crate::common::python;

use std::ffi::OsStr;
use std::path::Path;

#[test]
fn every_fixture_matches_its_library_in_onnxruntime_and_tract() {
    let py = python::python(&["onnx", "onnxruntime", "lightgbm", "numpy"]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("tests/fixtures");
    let args: [&OsStr; 6] = [
        fixtures.as_os_str(),
        env!("CARGO_BIN_EXE_forest2onnx").as_ref(),
        "--check".as_ref(),
        "--jobs".as_ref(),
        "2".as_ref(),
        "--by-objective".as_ref(),
    ];
    let stdout = python::run_script(&py, "oracles/booster_ours.py", &args);
    // The check must have covered every fixture model and every refusal.
    assert!(models(&stdout, "xgboost") >= 250, "{stdout}");
    assert!(models(&stdout, "lightgbm") >= 45, "{stdout}");
    // gblinear, the legacy binary format, linear trees (2).
    assert!(stdout.matches("| exit 1: ").count() >= 4, "{stdout}");
}

/// The models counted on the first totals line of `library` (float export).
fn models(stdout: &str, library: &str) -> usize {
    let prefix = format!("| {library} | all | all | ");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(" |").next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
