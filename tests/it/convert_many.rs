//! `forest2onnx convert DIR_OR_GLOB --out-dir OUT` (issue 29): the real
//! binary migrating folders of committed scikit-learn pickles, as a user
//! runs it: every model converted and validated, the summary per file,
//! `--json`, the exit status, and nothing left behind for failed files.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn")
}

/// A folder with two releases' pickles, a data file and a broken pickle.
fn mixed_folder(dir: &Path) {
    let copy = |from: &str, to: &str| {
        let to = dir.join(to);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(fixtures().join(from), to).unwrap();
    };
    copy("estimators-1.1.3/gbc_binary.p4.pkl", "old/gbc_binary.pkl");
    copy(
        "estimators-1.1.3/gbc_binary.zlib3.joblib",
        "old/gbc_binary.joblib",
    );
    copy("estimators-1.9.1/iforest.p4.pkl", "new/iforest.pkl");
    copy("estimators-1.9.1/rfr.X.f64", "new/rfr.X.f64");
    let pickle = fs::read(fixtures().join("estimators-1.9.1/rfr.p4.pkl")).unwrap();
    fs::write(dir.join("new/truncated.pkl"), &pickle[..pickle.len() / 2]).unwrap();
}

fn convert(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .arg("convert")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.push(
                e.path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    out
}

#[test]
fn a_folder_converts_what_it_can_and_fails_loudly_for_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("in"), tmp.path().join("out"));
    mixed_folder(&src);
    let (ok, stdout, stderr) = convert(&[
        src.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--to",
        "forest",
    ]);
    assert!(!ok, "a failed file must make the run fail");
    assert!(
        stderr.contains("1 of 5 files were not converted"),
        "{stderr}"
    );
    assert!(
        stdout.contains("5 files: 3 converted, 0 refused, 1 failed, 1 skipped"),
        "{stdout}"
    );
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{stdout}"))
            .to_string()
    };
    assert!(line("gbc_binary.pkl").contains("scikit-learn 1.1.3  converted"));
    assert!(line("iforest.pkl").contains("scikit-learn 1.9.1  converted"));
    assert!(line("truncated.pkl").contains("FAILED"));
    assert!(line("rfr.X.f64").contains("skipped"));
    // Same stems in one folder keep their whole names; the failed and the
    // skipped file leave nothing, not even a temporary file.
    assert_eq!(
        files(&out),
        [
            "new/iforest.forest",
            "old/gbc_binary.joblib.forest",
            "old/gbc_binary.pkl.forest"
        ]
    );
    // Each output is a native file holding the model.
    let (ok, text, _) = {
        let o = Command::cargo_bin("forest2onnx")
            .unwrap()
            .args(["inspect", out.join("new/iforest.forest").to_str().unwrap()])
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8(o.stdout).unwrap(), ())
    };
    assert!(ok && text.contains("IsolationForest"), "{text}");
}

#[test]
fn json_gives_each_files_source_result_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("in"), tmp.path().join("out"));
    mixed_folder(&src);
    let (ok, stdout, _) = convert(&[
        src.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(!ok);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["totals"]["files"], 5);
    assert_eq!(v["totals"]["converted"], 3);
    assert_eq!(v["totals"]["failed"], 1);
    assert_eq!(v["totals"]["skipped"], 1);
    let by_name = |name: &str| {
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["input"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    let gb = by_name("gbc_binary.pkl");
    assert_eq!(gb["library"], "scikit-learn");
    assert_eq!(gb["version"], "1.1.3");
    assert_eq!(gb["estimator"], "GradientBoostingClassifier");
    assert_eq!(gb["result"], "converted");
    assert!(gb["output"]
        .as_str()
        .unwrap()
        .ends_with("old/gbc_binary.pkl.onnx"));
    let bad = by_name("truncated.pkl");
    assert_eq!(bad["result"], "failed");
    assert!(!bad["reason"].as_str().unwrap().is_empty());
    assert!(bad["output"].is_null());
}

/// Regression: any JSON object was tried as a smartcore model, so a
/// fixture folder's `manifest.json` counted as a failed model.
#[test]
fn json_that_is_no_model_is_skipped_and_a_broken_model_still_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, out) = (tmp.path().join("in"), tmp.path().join("out"));
    fs::create_dir_all(&src).unwrap();
    fs::copy(
        fixtures().join("estimators-1.9.1/iforest.p4.pkl"),
        src.join("iforest.pkl"),
    )
    .unwrap();
    fs::copy(
        fixtures().join("estimators-1.9.1/manifest.json"),
        src.join("manifest.json"),
    )
    .unwrap();
    fs::write(src.join("settings.json"), r#"{"threads": 4, "name": "x"}"#).unwrap();
    let run = |args: &[&str]| {
        let (ok, stdout, _) = convert(args);
        (ok, serde_json::from_str::<Value>(&stdout).unwrap())
    };
    let (s, o) = (src.to_str().unwrap(), out.to_str().unwrap());
    let (ok, v) = run(&[s, "--out-dir", o, "--json"]);
    assert!(ok, "{v}");
    assert_eq!(v["totals"]["converted"], 1, "{v}");
    assert_eq!(v["totals"]["skipped"], 2, "{v}");
    assert_eq!(v["totals"]["failed"], 0, "{v}");
    // A file with a smartcore model's shape that does not read is a failure.
    fs::write(src.join("forest.json"), r#"{"trees": 5}"#).unwrap();
    let (ok, v) = run(&[s, "--out-dir", o, "--json"]);
    assert!(!ok);
    assert_eq!(v["totals"]["failed"], 1, "{v}");
    assert_eq!(v["totals"]["skipped"], 2, "{v}");
}

fn convert_glob(pattern: &str, out: &Path, to: &str) -> (bool, String, String) {
    let pattern = format!("{}/{pattern}", fixtures().display());
    convert(&[&pattern, "--out-dir", out.to_str().unwrap(), "--to", to])
}

#[test]
fn a_glob_of_every_committed_pickle_converts_to_onnx() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = convert_glob("estimators-1.*/*.pkl", tmp.path(), "onnx");
    assert!(ok, "{stdout}\n{stderr}");
    let written = files(tmp.path());
    assert_eq!(written.len(), 116);
    assert!(written.iter().all(|f| f.ends_with(".onnx")), "{written:?}");
    let total = stdout.lines().last().unwrap();
    assert!(
        total.starts_with("116 files: 116 converted, 0 refused"),
        "{total}"
    );
}

#[test]
fn models_pmml_cannot_express_are_refused_and_not_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = convert_glob("estimators-1.*/*.pkl", tmp.path(), "pmml");
    assert!(!ok);
    assert!(
        stderr.contains("10 of 116 files were not converted"),
        "{stderr}"
    );
    let refused: Vec<&str> = stdout.lines().filter(|l| l.contains("REFUSED")).collect();
    assert_eq!(refused.len(), 10, "{stdout}");
    assert!(refused
        .iter()
        .all(|l| l.contains("tr_multi.p4.pkl") && l.contains("PMML cannot express")));
    let written = files(tmp.path());
    assert_eq!(written.len(), 106);
    assert!(
        !written.iter().any(|f| f.contains("tr_multi")),
        "{written:?}"
    );
}

#[test]
fn a_missing_source_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = convert(&[
        tmp.path().join("nothing").to_str().unwrap(),
        "--out-dir",
        tmp.path().join("out").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("neither a file, a folder nor a glob"),
        "{stderr}"
    );
}

/// `inspect` shows the environment a native file recorded (the Python
/// package's `dump` writes it; here the library writes it directly).
#[test]
fn inspect_shows_the_recorded_environment() {
    use forest2onnx::store::{self, Environment, SaveOptions};
    let tmp = tempfile::tempdir().unwrap();
    let loaded = forest2onnx::load(fixtures().join("estimators-1.9.1/rfr.p4.pkl")).unwrap();
    let path = tmp.path().join("rfr.forest");
    let requirements = "numpy==2.4.6\nscikit-learn==1.9.1\n".to_string();
    let env = Environment {
        python: Some("CPython 3.11.7".into()),
        platform: Some("Linux-6.1-x86_64".into()),
        packages: [
            ("numpy".into(), "2.4.6".into()),
            ("scikit-learn".into(), "1.9.1".into()),
        ]
        .into(),
        requirements_hash: Some("sha256:abc".into()),
        requirements: Some(requirements),
    };
    let opts = SaveOptions {
        environment: Some(env.clone()),
        ..SaveOptions::default()
    };
    store::save(&loaded.forest, &path, &opts).unwrap();
    let out = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["inspect", path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("environment: CPython 3.11.7, numpy 2.4.6, scikit-learn 1.9.1"),
        "{text}"
    );
    assert!(text.contains("platform:    Linux-6.1-x86_64"), "{text}");
    assert!(
        text.contains("packages:    2 installed, sha256:abc"),
        "{text}"
    );
    let json = Command::cargo_bin("forest2onnx")
        .unwrap()
        .args(["inspect", path.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let found = find_key(&v, "environment").expect("environment in inspect --json");
    assert_eq!(found["packages"]["scikit-learn"], "1.9.1");
    assert_eq!(found["requirements"], "numpy==2.4.6\nscikit-learn==1.9.1\n");
}

fn find_key<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}
