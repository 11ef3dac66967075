//! PMML from the command line: `convert -o x.pmml`, `--to pmml`,
//! `inspect x.pmml`. (The evaluator checks of every family are in `pmml`.)

use std::path::{Path, PathBuf};

use forest2onnx::export::pmml;
use forest2onnx::ir::Task;
use forest2onnx::synth::{self, SynthSpec};
use forest2onnx::Forest;
use serde_json::Value;

fn native_file(dir: &Path, name: &str, forest: &Forest) -> PathBuf {
    let path = dir.join(name);
    let bytes = forest2onnx::store::to_bytes(forest, &Default::default()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn cli() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("forest2onnx").unwrap()
}

#[test]
fn convert_writes_pmml_by_extension_and_inspect_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut forest = synth::forest(&SynthSpec {
        string_labels: true,
        ..SynthSpec::small()
    });
    forest.feature_names = Some(
        ["sepal length", "sepal width", "petal length", "petal width"]
            .map(String::from)
            .to_vec(),
    );
    let model = native_file(dir.path(), "iris.forest", &forest);
    let out = dir.path().join("iris.pmml");
    cli()
        .args([
            "convert",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains("PMML 4.4"));
    let summary = pmml::summarize(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(summary.trees, forest.trees.len());
    assert_eq!(summary.nodes, forest.n_nodes());
    assert_eq!(summary.fields[0].name, "sepal length");
    // Default output name from --to, and --name as the model name.
    cli()
        .args([
            "convert",
            model.to_str().unwrap(),
            "--to",
            "pmml",
            "--name",
            "iris rf",
        ])
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.path().join("iris.pmml")).unwrap();
    assert!(text.contains("modelName=\"iris rf\""));
    cli()
        .args(["inspect", out.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicates::str::contains("PMML 4.4"))
        .stdout(predicates::str::contains("MiningModel (classification"))
        .stdout(predicates::str::contains("trees:       100"))
        .stdout(predicates::str::contains("probability(class_0)"));
    let json = cli()
        .args(["inspect", out.to_str().unwrap(), "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["format"], "pmml");
    assert_eq!(v["pmml"]["trees"], 100);
}

#[test]
fn convert_refuses_what_pmml_cannot_express_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut forest = synth::forest(&SynthSpec::small());
    forest.task = Task::Regression { n_targets: 3 };
    let model = native_file(dir.path(), "multi.forest", &forest);
    let out = dir.path().join("multi.pmml");
    cli()
        .args([
            "convert",
            model.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains("a regressor of 3 targets"));
    assert!(!out.exists());
    // ONNX-only options are refused for PMML output.
    let ok = native_file(dir.path(), "ok.forest", &synth::forest(&SynthSpec::small()));
    cli()
        .args([
            "convert",
            ok.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--zipmap",
        ])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "--zipmap does not apply to PMML output",
        ));
    assert!(!out.exists());
}
