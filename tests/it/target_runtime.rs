//! `convert --target-runtime onnxruntime==X.Y` (and `onnxruntime-node`,
//! `onnxruntime-web`): refuses what that release
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
    assert!(String::from_utf8_lossy(&o.stderr).contains("PACKAGE==X.Y"));
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

/// A stump whose categorical split holds 2,000 scattered categories: at
/// opsets 1/3 it is written as a chain 4,000 nodes deep (every split being
/// categorical, each category is a `BRANCH_LT`/`BRANCH_LEQ` pair).
fn deep_when_written() -> forest2onnx::ir::Forest {
    use forest2onnx::ir::{
        Aggregation, CategoryRule, CategorySplits, Forest, PostTransform, SplitOp, Task, Tree,
    };
    let mut categories = CategorySplits::default();
    categories.push(0, (0..2000u32).map(|c| 3 * c));
    Forest {
        n_features: 2,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        input: forest2onnx::ir::InputRules {
            categories: CategoryRule::NonNegative,
            ..Default::default()
        },
        task: Task::Regression { n_targets: 1 },
        aggregation: Aggregation::Sum {
            base_values: vec![0.0],
            post_transform: PostTransform::None,
            tree_targets: vec![],
        },
        trees: vec![{
            let mut t = Tree::default();
            t.push_split(0, 0.0, (1, 2), false);
            t.push_leaf(&[1.0]);
            t.push_leaf(&[-1.0]);
            t.categories = categories;
            t
        }],
        source: Default::default(),
    }
}

/// onnxruntime-node follows the native rules; onnxruntime-web refuses opset
/// 5 and trees deeper than its WebAssembly stack holds, as written.
#[test]
fn node_and_web_targets() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("deep.forest");
    let bytes = forest2onnx::store::to_bytes(&deep_when_written(), &Default::default()).unwrap();
    std::fs::write(&model, bytes).unwrap();
    let run = |extra: &[&str]| {
        let out = dir.path().join("m.onnx");
        let _ = std::fs::remove_file(&out);
        let o = Command::cargo_bin("forest2onnx")
            .unwrap()
            .arg("convert")
            .arg(&model)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.success(), out.exists(), "{stderr}");
        (o.status.success(), stderr)
    };
    let opset3 = ["--ml-opset", "3", "--precision", "float"];
    let (ok, stderr) =
        run(&[&["--target-runtime", "onnxruntime-node==1.31"][..], &opset3].concat());
    assert!(ok, "{stderr}");
    let (ok, stderr) = run(&[
        &["--target-runtime", "onnxruntime-web==1.31.1"][..],
        &opset3,
    ]
    .concat());
    assert!(!ok);
    assert!(
        stderr.contains("4000 split levels") && stderr.contains("onnxruntime-web==1.31.1"),
        "{stderr}"
    );
    let (ok, stderr) = run(&[
        "--target-runtime",
        "onnxruntime-web==1.31",
        "--ml-opset",
        "5",
        "--precision",
        "float",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--ml-opset 1 or 3"), "{stderr}");
    // A model with shallow trees converts for the web at the default opset.
    let o = convert(&dir, &["--target-runtime", "onnxruntime-web==1.31"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
