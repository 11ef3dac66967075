//! scikit-learn importer against scikit-learn itself.
//!
//! `python/sklearn_fixtures.py` trains forests with the pinned scikit-learn
//! (python/requirements.txt), saves each with pickle protocols 2–5 and every
//! joblib compressor, and records inputs (including every split threshold's
//! float32 neighbourhood and NaN rows) with scikit-learn's `predict_proba` and
//! `predict`. Every file must convert and predict the same labels exactly and
//! the same probabilities within 1e-12.
//!
//! Needs Python: `$FOREST2ONNX_PYTHON`, else `<crate>/.venv/bin/python` as
//! created by `bash scripts/setup-python.sh`. Enabled with
//! `cargo test --features python --test sklearn`; a missing interpreter or
//! package fails the tests, it never skips them.
#![cfg(feature = "python")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use forest2onnx::import::sklearn;
use forest2onnx::ir::{ClassLabels, Forest};

#[path = "../src/import/sklearn/tests/fixture_check.rs"]
mod fixture_check;

use fixture_check::Expected;

const SETUP_HINT: &str = "install it with `bash scripts/setup-python.sh` (creates .venv from \
                          python/requirements.txt) or point FOREST2ONNX_PYTHON at an interpreter \
                          with scikit-learn, joblib, numpy and lz4";

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter to use; panics with install instructions when unusable.
fn python() -> PathBuf {
    let python = std::env::var_os("FOREST2ONNX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate_root().join(".venv/bin/python"));
    let probe = Command::new(&python)
        .args([
            "-c",
            "import sklearn, joblib, numpy, lz4; print(sklearn.__version__)",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{} cannot import scikit-learn/joblib/numpy/lz4: {}\n{SETUP_HINT}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run Python at {}: {e}\n{SETUP_HINT}",
            python.display()
        ),
    }
}

/// Fixtures generated once per test run into a temporary directory.
fn fixtures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = crate_root().join("python/sklearn_fixtures.py");
        let out = Command::new(python())
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("run sklearn_fixtures.py");
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

/// Hook for the exporters: once ONNX export lands, export `forest` here and
/// compare tract / onnxruntime outputs on `expected.x` with
/// `expected.proba` / `expected.labels` (same tolerance as the IR check).
fn check_exported_runtimes(_file: &str, _forest: &Forest, _expected: &Expected) {}

#[test]
fn every_saved_forest_predicts_like_sklearn() {
    let summary = fixture_check::check_dir(fixtures(), check_exported_runtimes);
    eprintln!("{summary:?}");
    assert!(summary.models >= 15, "{summary:?}");
    assert!(summary.files >= 100, "{summary:?}");
}

#[test]
fn real_models_name_only_allowed_globals() {
    let manifest = fixture_check::read_manifest(fixtures());
    for m in &manifest.models {
        for file in &m.files {
            let bytes = std::fs::read(fixtures().join(file)).unwrap();
            assert!(sklearn::looks_like_pickle(&bytes), "{file}");
            let globals = sklearn::inspect_globals(&bytes).unwrap();
            assert!(globals.iter().all(|g| g.allowed), "{file}: {globals:?}");
            assert!(
                globals.iter().any(|g| g.name == m.estimator),
                "{file}: {globals:?}"
            );
        }
    }
}

#[test]
fn containers_are_detected_from_magic_bytes() {
    use sklearn::Container;
    let manifest = fixture_check::read_manifest(fixtures());
    let mut seen = std::collections::BTreeSet::new();
    for file in manifest.models.iter().flat_map(|m| &m.files) {
        let bytes = std::fs::read(fixtures().join(file)).unwrap();
        let want = match file.rsplit('.').nth(1).unwrap_or("") {
            "zlib3" => Container::Zlib,
            "gzip" => Container::Gzip,
            "bz2" => Container::Bz2,
            "xz" => Container::Xz,
            "lzma" => Container::Lzma,
            "lz4" => Container::Lz4,
            _ => Container::Pickle,
        };
        assert_eq!(sklearn::sniff(&bytes), Some(want), "{file}");
        seen.insert(want.name());
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
}

#[test]
fn string_and_integer_labels_keep_their_type() {
    let manifest = fixture_check::read_manifest(fixtures());
    let find = |name: &str| {
        let m = manifest.models.iter().find(|m| m.name == name).unwrap();
        sklearn::read_file(fixtures().join(&m.files[0])).unwrap()
    };
    assert!(matches!(
        find("rf_str_unicode").class_labels(),
        Some(ClassLabels::Str(_))
    ));
    assert_eq!(
        find("rf_binary").class_labels(),
        Some(&ClassLabels::Int(vec![-3, 7]))
    );
    assert!(find("rf_str_object").feature_names.is_some());
}
