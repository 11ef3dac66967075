//! The committed Spark fixtures converted by the `forest2onnx` binary
//! (double precision) and run in onnxruntime against Spark's own
//! predictions, with `onnx.checker`: `python/oracles/spark_onnx_check.py` does the
//! work and prints per case rows, label mismatches and the max relative
//! |Δ| (the closing-note figures). No JVM is needed.
//!
//! `bash scripts/setup-python.sh`, then
//! `cargo test --features python --test it spark_onnx::`.
#![cfg(feature = "python")]

use crate::common::python;

use std::ffi::OsStr;
use std::path::Path;

#[test]
fn every_spark_fixture_matches_spark_in_onnxruntime() {
    let py = python::python(&["onnx", "onnxruntime", "numpy"]);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spark");
    let binary: &OsStr = env!("CARGO_BIN_EXE_forest2onnx").as_ref();
    let stdout = python::run_script(
        &py,
        "oracles/spark_onnx_check.py",
        &[fixtures.as_os_str(), binary],
    );
    // One line per case, two Spark versions.
    assert!(
        stdout.lines().filter(|l| l.starts_with("3.5 ")).count() >= 10,
        "{stdout}"
    );
    assert!(
        stdout.lines().filter(|l| l.starts_with("4.")).count() >= 10,
        "{stdout}"
    );
}
