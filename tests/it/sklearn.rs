//! scikit-learn importer against scikit-learn itself.
//!
//! `python/fixtures/sklearn_fixtures.py` trains forests with the pinned scikit-learn
//! (python/requirements.txt), saves each with pickle protocols 2–5 and every
//! joblib compressor, and records inputs (including every split threshold's
//! float32 neighbourhood and NaN rows) with scikit-learn's `predict_proba` and
//! `predict`. Every file must convert and predict the same labels exactly and
//! the same probabilities within 1e-12.
//!
//! Needs Python: `$FOREST2ONNX_PYTHON`, else `<crate>/.venv/bin/python` as
//! created by `bash scripts/setup-python.sh`. Enabled with
//! `cargo test --features python --test it sklearn::`; a missing interpreter or
//! package fails the tests, it never skips them.
#![cfg(feature = "python")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use forest2onnx::import::sklearn;
use forest2onnx::ir::{Forest, Labels};

#[path = "../../src/import/sklearn/tests/fixture_check.rs"]
mod fixture_check;

use crate::common;

use common::crosscheck::*;
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::OnnxModel;

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
        let script = crate_root().join("python/fixtures/sklearn_fixtures.py");
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

#[test]
fn every_saved_forest_predicts_like_sklearn() {
    let summary = fixture_check::check_dir(fixtures(), |_, _, _| {});
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
        Some(Labels::Str(_))
    ));
    assert_eq!(
        find("rf_binary").class_labels(),
        Some(&Labels::Int(vec![-3, 7]))
    );
    assert!(find("rf_str_object").feature_names.is_some());
}

/// Models holding numpy random state (`random_state=RandomState(…)`, and a
/// `Generator` set after fitting since scikit-learn refuses one at `fit`)
/// name numpy's random pickling helpers; the importer keeps the state as an
/// inert value and converts the forest (predictions are checked with every
/// other model above and in the ONNX runtimes below).
#[test]
fn models_holding_numpy_random_state_convert() {
    let manifest = fixture_check::read_manifest(fixtures());
    for (name, helper, files) in [
        ("rf_random_state", "__randomstate_ctor", 11),
        ("dt_random_state", "__randomstate_ctor", 4),
        ("rf_generator", "__generator_ctor", 7),
    ] {
        let m = manifest.models.iter().find(|m| m.name == name).expect(name);
        assert_eq!(m.files.len(), files, "{name}");
        for file in &m.files {
            let bytes = std::fs::read(fixtures().join(file)).unwrap();
            let globals = sklearn::inspect_globals(&bytes).unwrap();
            assert!(
                globals.iter().any(|g| g.name == helper && g.allowed),
                "{file}: {globals:?}"
            );
            if file.ends_with(".pkl") {
                let root = sklearn::pickle::parse(&bytes, &sklearn::Limits::default()).unwrap();
                let state = root.as_object().unwrap().state.as_ref().unwrap();
                assert!(
                    matches!(state.get("random_state"), Some(sklearn::Value::Inert(o)) if o.class.name == helper),
                    "{file}: {:?}",
                    state.get("random_state").map(sklearn::Value::kind)
                );
            }
            sklearn::read_file(fixtures().join(file)).unwrap();
        }
    }
}

/// The ONNX export of every scikit-learn model (first saved file of each)
/// agrees with scikit-learn in tract and in onnxruntime (1 and default
/// threads): labels exactly, probabilities within 1e-6, on the data rows,
/// every split threshold's float32 neighbourhood and NaN rows. The same rows
/// go through skl2onnx's conversion of the same model, for comparison.
#[test]
fn exported_onnx_agrees_with_sklearn_in_tract_and_onnxruntime() {
    let dir = fixtures();
    let cases = tempfile::tempdir().unwrap();
    let manifest = fixture_check::read_manifest(dir);
    let mut models = Vec::new();
    for m in &manifest.models {
        let file = &m.files[0];
        let forest = sklearn::read_file(dir.join(file)).unwrap();
        let expected = fixture_check::read_expected(dir, m);
        // scikit-learn trees compare float32 inputs; the fixtures hold only
        // float32 values, so the ONNX model sees exactly what scikit-learn saw.
        let x = expected.x.mapv(|v| v as f32);
        assert!(x
            .iter()
            .zip(&expected.x)
            .all(|(a, b)| f64::from(*a) == *b || b.is_nan()));
        let onnx = to_bytes(&forest, &ExportOptions::default()).unwrap();
        let extra = serde_json::json!({"sklearn_model": dir.join(file)});
        write_case(cases.path(), &m.name, &onnx, &x, extra);
        models.push((m.name.clone(), forest, expected, x, onnx));
    }
    run_conformance(&python(), cases.path());

    let (mut tract, mut ort1, mut ort_n) = (Tally::default(), Tally::default(), Tally::default());
    let (mut skl2onnx_vs_sklearn, mut ours_vs_skl2onnx) = (Tally::default(), Tally::default());
    let mut skl2onnx_failed = Vec::new();
    let mut skl2onnx_wrong = Vec::new();
    for (name, forest, expected, x, onnx) in &models {
        let labels = forest.class_labels().unwrap();
        let sk_labels = labels_json(labels, &expected.labels);
        let sk = (&sk_labels[..], &expected.proba);
        let got = OnnxModel::from_bytes(onnx)
            .unwrap()
            .predict(x.mapv(f64::from).view())
            .unwrap();
        let (l, p) = tract_json(&got);
        tract.compare(&format!("{name} tract"), sk, (&l, &p));
        let result = read_result(cases.path(), name);
        assert_eq!(result["checker"], "ok", "{name}: onnx.checker");
        for (tally, key) in [(&mut ort1, "one_thread"), (&mut ort_n, "default_threads")] {
            let (l, p) = runtime_json(&result, key);
            tally.compare(&format!("{name} onnxruntime {key}"), sk, (&l, &p));
        }
        if result.get("skl2onnx").is_some() {
            let (sl, sp) = runtime_json(&result, "skl2onnx");
            // Not asserted: this is skl2onnx's fidelity, reported for comparison.
            let quiet = |t: &mut Tally, e: (&[serde_json::Value], &ndarray::Array2<f64>)| {
                t.rows += sl.len();
                for (r, (a, b)) in e.0.iter().zip(&sl).enumerate() {
                    t.label_mismatches += usize::from(a != b);
                    for (k, v) in sp[r].iter().enumerate() {
                        t.max_abs_diff = t.max_abs_diff.max((v - e.1[[r, k]]).abs());
                    }
                }
            };
            let before = skl2onnx_vs_sklearn.label_mismatches;
            quiet(&mut skl2onnx_vs_sklearn, sk);
            if skl2onnx_vs_sklearn.label_mismatches > before {
                skl2onnx_wrong.push(format!(
                    "{name} ({})",
                    skl2onnx_vs_sklearn.label_mismatches - before
                ));
            }
            let ours = runtime_json(&result, "one_thread");
            let ours_p =
                ndarray::Array2::from_shape_fn((ours.1.len(), labels.len()), |(r, k)| ours.1[r][k]);
            quiet(&mut ours_vs_skl2onnx, (&ours.0, &ours_p));
        } else {
            skl2onnx_failed.push(format!("{name}: {}", result["skl2onnx_error"]));
        }
    }
    let summary = [
        format!("scikit-learn ONNX summary: {} models", models.len()),
        tract.line("tract vs scikit-learn"),
        ort1.line("onnxruntime (1 thread) vs scikit-learn"),
        ort_n.line("onnxruntime (default threads) vs scikit-learn"),
        skl2onnx_vs_sklearn.line("skl2onnx's ONNX in onnxruntime vs scikit-learn"),
        ours_vs_skl2onnx.line("skl2onnx's ONNX vs ours (both onnxruntime)"),
        format!("  models where skl2onnx's labels differ (rows): {skl2onnx_wrong:?}"),
        format!("  models skl2onnx could not convert: {skl2onnx_failed:?}"),
    ]
    .join("\n");
    eprintln!("{summary}");
    for t in [&tract, &ort1, &ort_n] {
        assert_eq!(t.label_mismatches, 0, "{summary}");
        assert!(t.max_abs_diff <= 1e-6, "{summary}");
    }
}
