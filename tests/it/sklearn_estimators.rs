//! scikit-learn regressors, gradient boosting, histogram gradient boosting
//! and isolation forests against scikit-learn itself, over a grid trained
//! fresh with the pinned scikit-learn (python/requirements.txt):
//! binary and multi-class, multi-output, NaN-trained, categorical, depth-1
//! stumps, single trees, one boosting stage, constant targets, 64-bit
//! labels, every loss and init estimator, pickle protocols 2 and 5 and
//! joblib. `Forest::predict` must reproduce `predict_proba`/`predict`/
//! `score_samples`/`decision_function` and the raw scores within 1e-12
//! relative, and the labels exactly, on data rows, every threshold and one
//! float32 and float64 step either side, NaN rows and categorical values;
//! models scikit-learn's semantics cannot be reproduced for must be refused.
//!
//! Needs Python (`$FOREST2ONNX_PYTHON`, else `<crate>/.venv/bin/python`);
//! enabled with `cargo test --features python --test it sklearn_estimators::`.
#![cfg(feature = "python")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use forest2onnx::import::sklearn;
use forest2onnx::ir::{Forest, Task};

#[path = "../../src/import/sklearn/tests/estimator_check.rs"]
mod estimator_check;

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let python = std::env::var_os("FOREST2ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_root().join(".venv/bin/python"));
    let probe = Command::new(&python)
        .args(["-c", "import sklearn, joblib, numpy"])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        other => panic!(
            "{} cannot import scikit-learn, joblib and numpy ({other:?}); install them with \
             `bash scripts/setup-python.sh` or point FOREST2ONNX_PYTHON at an interpreter",
            python.display()
        ),
    }
}

/// The grid, trained once per test run.
fn grid() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = crate_root().join("python/fixtures/sklearn_estimators.py");
        let out = Command::new(python())
            .arg(&script)
            .arg(dir.path())
            .args(["--profile", "grid"])
            .output()
            .expect("run sklearn_estimators.py");
        assert!(
            out.status.success(),
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
    .path()
}

#[test]
fn every_grid_model_predicts_like_sklearn() {
    let summary = estimator_check::check_dir(grid(), |_, _: &Forest, _| {});
    eprintln!("scikit-learn grid:\n{summary}");
    let total = summary.total();
    assert!(total.models >= 45, "{summary}");
    assert_eq!(total.label_mismatches, 0, "{summary}");
    assert!(summary.refused >= 4, "{summary}");
    // Every family of the issue is in the grid.
    for family in [
        "RandomForestRegressor",
        "ExtraTreesRegressor",
        "DecisionTreeRegressor",
        "ExtraTreeRegressor",
        "GradientBoostingClassifier",
        "GradientBoostingRegressor",
        "HistGradientBoostingClassifier",
        "HistGradientBoostingRegressor",
        "IsolationForest",
    ] {
        assert!(summary.families.contains_key(family), "{family}: {summary}");
    }
}

#[test]
fn grid_models_name_only_allowed_globals() {
    let manifest = estimator_check::read_manifest(grid());
    for m in &manifest.models {
        for file in &m.files {
            let bytes = std::fs::read(grid().join(file)).unwrap();
            let globals = sklearn::inspect_globals(&bytes).unwrap();
            assert!(
                globals.iter().all(|g| g.allowed),
                "{file}: {:?}",
                globals.iter().filter(|g| !g.allowed).collect::<Vec<_>>()
            );
            assert!(globals.iter().any(|g| g.name == m.estimator), "{file}");
        }
    }
}
