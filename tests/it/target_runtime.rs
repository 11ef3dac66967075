//! `convert --target-runtime onnxruntime==X.Y`: refuses what that release
//! mis-runs (the rules of `export::onnx::target`, found by `ort_matrix.rs`),
//! accepts the rest, and rejects values it cannot read.

use assert_cmd::Command;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/lightgbm/4.7.0/binary.txt"
);

fn convert(dir: &tempfile::TempDir, extra: &[&str]) -> std::process::Output {
    let out = dir.path().join("m.onnx");
    Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["convert", MODEL, "-o"])
        .arg(&out)
        .args(extra)
        .output()
        .unwrap()
}

/// `convert --target-runtime RELEASE --ml-opset OPSET --precision PRECISION`.
fn convert_for(
    dir: &tempfile::TempDir,
    [release, opset, precision]: [&str; 3],
) -> std::process::Output {
    let args = [
        "--target-runtime",
        release,
        "--ml-opset",
        opset,
        "--precision",
        precision,
    ];
    convert(dir, &args)
}

#[test]
fn refuses_opsets_a_release_mis_runs_and_names_what_works() {
    let dir = tempfile::tempdir().unwrap();
    for (release, opset, precision, works) in [
        ("onnxruntime==1.20", "5", "float", "--ml-opset 1 or 3"),
        ("onnxruntime==1.23.2", "5", "double", "--ml-opset 3"),
        ("onnxruntime==1.16", "3", "double", "--precision float"),
    ] {
        let o = convert_for(&dir, [release, opset, precision]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{release} {opset}: {stderr}");
        assert!(
            stderr.contains(release) && stderr.contains(works) && !stderr.contains("panicked"),
            "{release} {opset}: {stderr}"
        );
        assert!(!dir.path().join("m.onnx").exists(), "{release}: no file");
    }
}

#[test]
fn accepts_what_a_release_runs_exactly() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        ["onnxruntime==1.16.3", "1", "float"],
        ["onnxruntime==1.17", "3", "double"],
        ["onnxruntime==1.24", "5", "double"],
    ] {
        let o = convert_for(&dir, args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn rejects_unreadable_targets_and_pmml_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = convert(&dir, &["--target-runtime", "tract==0.21"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("onnxruntime==X.Y"));
    let pmml = dir.path().join("m.pmml");
    let o = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["convert", MODEL, "-o"])
        .arg(&pmml)
        .args(["--target-runtime", "onnxruntime==1.18"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--target-runtime does not apply"));
}
