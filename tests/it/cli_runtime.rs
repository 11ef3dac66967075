//! The binary's `inspect`, `predict` and `validate` on ONNX files that are
//! not only ours: other converters' models (skl2onnx, onnxmltools), the
//! ONNX backend tests' opset 5 `TreeEnsemble` models, and hostile files
//! (unknown opsets, dangling node ids).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use prost::Message;

use forest2onnx::onnx_proto::ModelProto;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

fn bin() -> Command {
    Command::cargo_bin("forest2onnx").expect("binary built")
}

fn stdout_of(args: &[&str]) -> String {
    let out = bin()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// Runs a command that must fail with `code`; returns stderr (no panic).
fn stderr_of(args: &[&str], code: i32) -> String {
    let out = bin().args(args).assert().code(code).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// A converter fixture's input rows as a CSV file (columns by position).
fn fixture_csv(dir: &Path, name: &str) -> (PathBuf, serde_json::Value) {
    let meta: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(fixture(&format!("converters/{name}.json"))).unwrap(),
    )
    .unwrap();
    let cols = meta["cols"].as_u64().unwrap() as usize;
    let raw = fs::read(fixture(&format!("converters/{name}.input.f32"))).unwrap();
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut csv = (0..cols)
        .map(|c| format!("f{c}"))
        .collect::<Vec<_>>()
        .join(",");
    csv.push('\n');
    for row in values.chunks(cols) {
        let cells: Vec<String> = row
            .iter()
            .map(|v| {
                if v.is_nan() {
                    String::new()
                } else {
                    v.to_string()
                }
            })
            .collect();
        csv += &cells.join(",");
        csv.push('\n');
    }
    let path = dir.join(format!("{name}.csv"));
    fs::write(&path, csv).unwrap();
    (path, meta)
}

#[test]
fn inspect_describes_other_converters_models() {
    for (name, op, modes) in [
        (
            "skl2onnx_rf_multiclass",
            "TreeEnsembleClassifier",
            "BRANCH_LEQ",
        ),
        ("xgboost_binary_lt", "TreeEnsembleClassifier", "BRANCH_LT"),
        (
            "lightgbm_multiclass",
            "TreeEnsembleClassifier",
            "BRANCH_LEQ",
        ),
    ] {
        let path = fixture(&format!("converters/{name}.onnx"));
        let out = stdout_of(&["inspect", path.to_str().unwrap()]);
        for needle in [
            format!("ensemble:    {op}: "),
            "float thresholds and weights".to_string(),
            format!("splits {modes}"),
            "precision:   float input".to_string(),
        ] {
            assert!(out.contains(&needle), "{name}: {needle:?} in\n{out}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&stdout_of(&["inspect", path.to_str().unwrap(), "--json"]))
                .unwrap();
        assert!(v["onnx"]["ensemble"]["trees"].as_u64().unwrap() > 0, "{v}");
        assert_eq!(v["onnx"]["ensemble"]["precision"], "float");
    }
}

#[test]
fn inspect_and_predict_run_opset5_tree_ensembles() {
    let dir = tempfile::tempdir().unwrap();
    let case = fixture("onnx_backend/test_ai_onnx_ml_tree_ensemble_set_membership/model.onnx");
    let out = stdout_of(&["inspect", case.to_str().unwrap()]);
    for needle in [
        "ai.onnx.ml 5",
        "ensemble:    TreeEnsemble: 1 trees, 7 nodes, 4 leaves, max depth 3",
        "float thresholds and weights (ai.onnx.ml opset 5), aggregate SUM, post_transform NONE",
        "splits BRANCH_LEQ BRANCH_MEMBER",
        "targets:     4",
    ] {
        assert!(out.contains(needle), "{needle:?} in\n{out}");
    }
    // A regressor-like output: no label column.
    let csv = dir.path().join("x.csv");
    fs::write(&csv, "x\n1.2\n3.4\n-0.12\nnan\n12\n7\n").unwrap();
    let out = stdout_of(&[
        "predict",
        case.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(
        out,
        "prediction_0,prediction_1,prediction_2,prediction_3\n1,0,0,0\n0,0,0,100\n0,0,0,100\n0,0,1000,0\n0,0,1000,0\n0,10,0,0\n"
    );
    let case = fixture("onnx_backend/test_ai_onnx_ml_tree_ensemble_single_tree/model.onnx");
    let out = stdout_of(&["inspect", case.to_str().unwrap()]);
    assert!(out.contains("double thresholds and weights"), "{out}");
    assert!(out.contains("precision:   double input"), "{out}");
    fs::write(&csv, "a,b\n1.2,3.4\n-0.12,1.66\n4.14,1.77\n").unwrap();
    let out = stdout_of(&[
        "predict",
        case.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out, "prediction_0,prediction_1\n5.23,0\n5.23,0\n0,12.12\n");
}

#[test]
fn predict_reproduces_onnxruntime_on_other_converters_models() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "skl2onnx_rf_binary",
        "xgboost_multiclass_lt",
        "lightgbm_binary",
    ] {
        let (csv, meta) = fixture_csv(dir.path(), name);
        let model = fixture(&format!("converters/{name}.onnx"));
        let out = stdout_of(&[
            "predict",
            model.to_str().unwrap(),
            "--data",
            csv.to_str().unwrap(),
        ]);
        let labels: Vec<String> = out
            .lines()
            .skip(1)
            .map(|l| l.split(',').next().unwrap().to_string())
            .collect();
        let expected: Vec<String> = meta["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.to_string().trim_matches('"').to_string())
            .collect();
        assert_eq!(labels, expected, "{name}");
    }
}

/// `model` with its opset of `domain` set to `version`.
fn with_opset(model: &Path, domain: &str, version: i64) -> Vec<u8> {
    let mut m = ModelProto::decode(&*fs::read(model).unwrap()).unwrap();
    let o = m
        .opset_import
        .iter_mut()
        .find(|o| o.domain == domain)
        .expect("the fixture imports the domain");
    o.version = version;
    m.encode_to_vec()
}

#[test]
fn opsets_newer_than_known_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("converters/skl2onnx_rf_binary.onnx");
    let csv = dir.path().join("x.csv");
    fs::write(&csv, "a,b,c,d\n1,2,3,4\n").unwrap();
    for (domain, version, what) in [
        (
            "",
            1_000_000,
            "ai.onnx opset 1000000; the newest forest2onnx knows is 28",
        ),
        (
            "ai.onnx.ml",
            6,
            "ai.onnx.ml opset 6; the newest forest2onnx knows is 5",
        ),
    ] {
        let path = dir.path().join("future.onnx");
        fs::write(&path, with_opset(&source, domain, version)).unwrap();
        for args in [
            vec!["inspect", path.to_str().unwrap()],
            vec![
                "predict",
                path.to_str().unwrap(),
                "--data",
                csv.to_str().unwrap(),
            ],
        ] {
            let e = stderr_of(&args, 1);
            assert!(e.contains(what), "{args:?}: {e}");
        }
    }
}

#[test]
fn hostile_ensembles_are_refused_naming_the_attribute() {
    use forest2onnx::onnx_proto::AttributeProto;
    let dir = tempfile::tempdir().unwrap();
    let source = fixture("converters/skl2onnx_rf_binary.onnx");
    let mut m = ModelProto::decode(&*fs::read(&source).unwrap()).unwrap();
    let node = m
        .graph
        .as_mut()
        .unwrap()
        .node
        .iter_mut()
        .find(|n| n.op_type == "TreeEnsembleClassifier")
        .unwrap();
    let t: &mut AttributeProto = node
        .attribute
        .iter_mut()
        .find(|a| a.name == "nodes_truenodeids")
        .unwrap();
    t.ints[0] = 99_999;
    let path = dir.path().join("hostile.onnx");
    fs::write(&path, m.encode_to_vec()).unwrap();
    let out = stdout_of(&["inspect", path.to_str().unwrap()]);
    assert!(
        out.contains("INVALID: `nodes_truenodeids[0]` = 99999 points to no node of tree 0"),
        "{out}"
    );
    let csv = dir.path().join("x.csv");
    fs::write(&csv, "a,b,c,d\n1,2,3,4\n").unwrap();
    let e = stderr_of(
        &[
            "predict",
            path.to_str().unwrap(),
            "--data",
            csv.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        e.contains("`nodes_truenodeids[0]` = 99999 points to no node of tree 0"),
        "{e}"
    );
}
