//! Checks a directory written by `python/fixtures/sklearn_fixtures.py` against
//! forest2onnx: every saved file must convert, describe the same model and
//! predict scikit-learn's labels exactly and its probabilities within 1e-12.
//!
//! Shared by the Python-driven tests (`tests/it/sklearn.rs`, via `#[path]`) and
//! the committed legacy fixtures (unit tests); the including module provides
//! `sklearn` (the importer module) and the IR types named below.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use serde::Deserialize;

use super::{sklearn, Forest, Labels};

/// Largest tolerated |p_forest2onnx − p_sklearn|.
pub const TOLERANCE: f64 = 1e-12;

#[derive(Deserialize)]
pub struct Manifest {
    pub sklearn: String,
    pub models: Vec<ModelSpec>,
    #[serde(default)]
    pub refused: Vec<RefusedSpec>,
}

#[derive(Deserialize)]
pub struct ModelSpec {
    pub name: String,
    pub estimator: String,
    pub files: Vec<String>,
    pub n_rows: usize,
    pub n_features: usize,
    pub n_classes: usize,
    pub classes: Vec<String>,
    pub n_trees: usize,
    pub n_nodes: usize,
    pub feature_names: Option<Vec<String>>,
}

#[derive(Deserialize)]
pub struct RefusedSpec {
    pub name: String,
    pub files: Vec<String>,
    /// `SklearnError` variant name the file must be refused with.
    pub error: String,
}

/// The inputs and scikit-learn's outputs for one model.
pub struct Expected {
    pub x: Array2<f64>,
    pub proba: Array2<f64>,
    pub labels: Vec<usize>,
}

/// What a directory check covered.
#[derive(Debug, Default)]
pub struct Summary {
    pub models: usize,
    pub files: usize,
    pub rows: usize,
    pub max_delta: f64,
    /// Probabilities equal to the bit.
    pub exact: usize,
    pub compared: usize,
}

pub fn read_manifest(dir: &Path) -> Manifest {
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .unwrap_or_else(|e| panic!("{}/manifest.json: {e}", dir.display()));
    serde_json::from_str(&text).expect("manifest.json parses")
}

fn read_le<const N: usize, T>(path: &Path, from: fn([u8; N]) -> T) -> Vec<T> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len().is_multiple_of(N),
        "{}: truncated",
        path.display()
    );
    bytes
        .chunks_exact(N)
        .map(|c| from(c.try_into().expect("chunk size")))
        .collect()
}

pub fn read_expected(dir: &Path, m: &ModelSpec) -> Expected {
    let x = read_le(&dir.join(format!("{}.X.f64", m.name)), f64::from_le_bytes);
    let proba = read_le(
        &dir.join(format!("{}.proba.f64", m.name)),
        f64::from_le_bytes,
    );
    let labels = read_le(
        &dir.join(format!("{}.label.i64", m.name)),
        i64::from_le_bytes,
    );
    Expected {
        x: Array2::from_shape_vec((m.n_rows, m.n_features), x).expect("X shape"),
        proba: Array2::from_shape_vec((m.n_rows, m.n_classes), proba).expect("proba shape"),
        labels: labels.into_iter().map(|l| l as usize).collect(),
    }
}

/// Python's `str()` of a class label as forest2onnx names it: integral
/// floats (`1.0`) and bools (`True`) become integer labels.
fn python_label(s: &str) -> String {
    match s {
        "True" => "1".into(),
        "False" => "0".into(),
        // Float labels print as Python prints them (`2.0`, `nan`).
        _ => s.to_string(),
    }
}

/// Checks a converted forest's metadata against the manifest.
pub fn check_metadata(forest: &Forest, m: &ModelSpec, sklearn_version: &str, file: &str) {
    assert_eq!(forest.n_features, m.n_features, "{file}: n_features");
    assert_eq!(forest.trees.len(), m.n_trees, "{file}: trees");
    assert_eq!(forest.n_nodes(), m.n_nodes, "{file}: nodes");
    assert_eq!(forest.source.library, "scikit-learn", "{file}");
    assert_eq!(forest.source.version, sklearn_version, "{file}: version");
    assert_eq!(forest.source.estimator, m.estimator, "{file}: estimator");
    assert_eq!(
        forest.feature_names, m.feature_names,
        "{file}: feature names"
    );
    let labels: &Labels = forest.class_labels().expect("a classifier");
    let got: Vec<String> = (0..labels.len()).map(|i| labels.display(i)).collect();
    let want: Vec<String> = m.classes.iter().map(|c| python_label(c)).collect();
    assert_eq!(got, want, "{file}: classes");
}

/// Compares the forest's reference prediction with scikit-learn's.
pub fn check_predictions(forest: &Forest, e: &Expected, file: &str, summary: &mut Summary) {
    let p = forest.predict(e.x.view());
    let mismatched: Vec<usize> = (0..e.labels.len())
        .filter(|&r| p.classes[r] != e.labels[r])
        .collect();
    assert!(
        mismatched.is_empty(),
        "{file}: {} labels differ from scikit-learn, first at row {} (x = {:?}): got {}, want {}",
        mismatched.len(),
        mismatched[0],
        e.x.row(mismatched[0]).to_vec(),
        p.classes[mismatched[0]],
        e.labels[mismatched[0]]
    );
    let delta = max_abs_delta(p.values.view(), e.proba.view());
    assert!(
        delta <= TOLERANCE,
        "{file}: probabilities differ from scikit-learn by {delta:e} (> {TOLERANCE:e})"
    );
    summary.max_delta = summary.max_delta.max(delta);
    summary.exact += p
        .values
        .iter()
        .zip(e.proba.iter())
        .filter(|(a, b)| a.to_bits() == b.to_bits())
        .count();
    summary.compared += e.proba.len();
    summary.rows += e.labels.len();
}

pub fn max_abs_delta(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "prediction shapes");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Checks every model and refused file of a fixture directory; `extra`
/// runs further checks (exported runtimes) on each converted forest.
pub fn check_dir(dir: &Path, mut extra: impl FnMut(&str, &Forest, &Expected)) -> Summary {
    let manifest = read_manifest(dir);
    let mut summary = Summary::default();
    for m in &manifest.models {
        let expected = read_expected(dir, m);
        summary.models += 1;
        for file in &m.files {
            let forest = sklearn::read_file(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            check_metadata(&forest, m, &manifest.sklearn, file);
            check_predictions(&forest, &expected, file, &mut summary);
            extra(file, &forest, &expected);
            summary.files += 1;
        }
    }
    for r in &manifest.refused {
        for file in &r.files {
            let err = sklearn::read_file(dir.join(file))
                .err()
                .unwrap_or_else(|| panic!("{file} ({}) was converted; it must be refused", r.name));
            let variant = format!("{err:?}");
            assert!(
                variant.starts_with(&r.error),
                "{file}: refused with {err} ({variant}); expected {}",
                r.error
            );
        }
    }
    summary
}
