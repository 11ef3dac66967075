//! Checks a directory written by `python/fixtures/sklearn_estimators.py` against
//! forest2onnx: every saved file must convert, describe the same model, and
//! `Forest::predict` must reproduce scikit-learn's outputs (probabilities,
//! predictions, anomaly scores), raw scores and labels on every row.
//!
//! Shared by the Python-driven tests (`tests/it/sklearn_estimators.rs`, via
//! `#[path]`) and the committed fixtures (unit tests); the including module
//! provides `sklearn` (the importer module), `Forest` and `Task`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use ndarray::Array2;
use serde::Deserialize;

use super::{sklearn, Forest, Task};

/// Largest tolerated relative difference from scikit-learn.
pub const RELATIVE: f64 = 1e-12;
/// Differences below this are tolerated whatever the magnitude (outputs
/// that are zero up to rounding).
pub const ABSOLUTE: f64 = 1e-15;
/// scikit-learn labels whose top two probabilities are this close are near
/// ties: reported, not failures.
pub const NEAR_TIE: f64 = 1e-6;

/// Row kinds outside what the IR reproduces, counted separately (see
/// `src/import/sklearn/hist/categorical.rs`).
pub const DIVERGENT_KINDS: &[&str] = &["category_fractional", "category_out_of_domain"];

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
    pub task: String,
    pub files: Vec<String>,
    pub n_rows: usize,
    pub n_features: usize,
    pub n_outputs: usize,
    pub raw_width: usize,
    pub has_labels: bool,
    pub classes: Option<Vec<String>>,
    pub n_trees: usize,
    pub n_nodes: usize,
    pub row_kinds: Vec<(String, usize)>,
}

#[derive(Deserialize)]
pub struct RefusedSpec {
    pub name: String,
    pub files: Vec<String>,
    /// `SklearnError` variant name the file must be refused with.
    pub error: String,
    /// Text the message must contain.
    #[serde(default)]
    pub contains: String,
}

/// The inputs and scikit-learn's outputs for one model.
pub struct Expected {
    pub x: Array2<f64>,
    pub values: Array2<f64>,
    pub raw: Option<Array2<f64>>,
    pub labels: Option<Vec<usize>>,
    /// Row kind of every row.
    pub kinds: Vec<String>,
}

/// What the comparison of one estimator family found.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub models: usize,
    pub files: usize,
    pub rows: usize,
    pub label_mismatches: usize,
    pub near_ties: usize,
    pub max_abs: f64,
    pub max_rel: f64,
    /// Rows of the divergent kinds, and how many of them differ.
    pub divergent_rows: usize,
    pub divergent_mismatches: usize,
    /// Values equal to the bit.
    pub exact: usize,
    pub compared: usize,
}

impl Tally {
    fn merge(&mut self, o: &Tally) {
        self.models += o.models;
        self.files += o.files;
        self.rows += o.rows;
        self.label_mismatches += o.label_mismatches;
        self.near_ties += o.near_ties;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.max_rel = self.max_rel.max(o.max_rel);
        self.divergent_rows += o.divergent_rows;
        self.divergent_mismatches += o.divergent_mismatches;
        self.exact += o.exact;
        self.compared += o.compared;
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} models, {} files, {} rows: {} label mismatches ({} near ties), max |Δ| {:.1e}, \
             max rel |Δ| {:.1e}, {}/{} values bit-identical",
            self.models,
            self.files,
            self.rows,
            self.label_mismatches,
            self.near_ties,
            self.max_abs,
            self.max_rel,
            self.exact,
            self.compared
        )?;
        if self.divergent_rows > 0 {
            write!(
                f,
                "; outside the IR's categorical rules: {} of {} rows differ",
                self.divergent_mismatches, self.divergent_rows
            )?;
        }
        Ok(())
    }
}

/// Per estimator family (`RandomForestRegressor`, ...).
#[derive(Debug, Default)]
pub struct Summary {
    pub families: BTreeMap<String, Tally>,
    pub refused: usize,
}

impl Summary {
    pub fn total(&self) -> Tally {
        let mut t = Tally::default();
        self.families.values().for_each(|f| t.merge(f));
        t
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (family, t) in &self.families {
            writeln!(f, "  {family}: {t}")?;
        }
        write!(
            f,
            "  all: {} ({} refused files)",
            self.total(),
            self.refused
        )
    }
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

fn matrix(dir: &Path, file: String, rows: usize, cols: usize) -> Array2<f64> {
    let v = read_le(&dir.join(&file), f64::from_le_bytes);
    Array2::from_shape_vec((rows, cols), v).unwrap_or_else(|e| panic!("{file}: {e}"))
}

pub fn read_expected(dir: &Path, m: &ModelSpec) -> Expected {
    let n = m.n_rows;
    let kinds: Vec<String> = m
        .row_kinds
        .iter()
        .flat_map(|(k, c)| std::iter::repeat_n(k.clone(), *c))
        .collect();
    assert_eq!(kinds.len(), n, "{}: row kinds", m.name);
    Expected {
        x: matrix(dir, format!("{}.X.f64", m.name), n, m.n_features),
        values: matrix(dir, format!("{}.values.f64", m.name), n, m.n_outputs),
        raw: (m.raw_width > 0).then(|| matrix(dir, format!("{}.raw.f64", m.name), n, m.raw_width)),
        labels: m.has_labels.then(|| {
            read_le(
                &dir.join(format!("{}.label.i64", m.name)),
                i64::from_le_bytes,
            )
            .into_iter()
            .map(|l| l as usize)
            .collect()
        }),
        kinds,
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
    assert_eq!(forest.n_outputs(), m.n_outputs, "{file}: outputs");
    let task = match &forest.task {
        Task::Classification(_) => "classification",
        Task::Regression { .. } => "regression",
        Task::AnomalyDetection { .. } => "anomaly",
    };
    assert_eq!(task, m.task, "{file}: task");
    if let Some(classes) = &m.classes {
        let labels = forest.class_labels().expect("a classifier");
        assert_eq!(&labels.to_strings(), classes, "{file}: classes");
    }
}

fn within(got: f64, want: f64) -> bool {
    (got.is_nan() && want.is_nan())
        || got == want
        || (got - want).abs() <= ABSOLUTE
        || (got - want).abs() <= RELATIVE * want.abs()
}

/// Compares the forest's reference prediction with scikit-learn's; returns
/// this file's tally and the first failures, if any.
pub fn compare(forest: &Forest, e: &Expected, task: &str) -> (Tally, Vec<String>) {
    let p = forest.predict(e.x.view());
    // Raw scores scikit-learn reports scaled (the exponential loss).
    let scale: f64 = forest
        .source
        .details
        .get(sklearn::RAW_SCORE_SCALE)
        .map_or(1.0, |s| s.parse().expect("a number"));
    let mut t = Tally {
        rows: e.x.nrows(),
        files: 1,
        ..Tally::default()
    };
    let mut failures = Vec::new();
    for r in 0..e.x.nrows() {
        let divergent = DIVERGENT_KINDS.contains(&e.kinds[r].as_str());
        let mut scratch = Tally::default();
        let tally = if divergent { &mut scratch } else { &mut t };
        let mut problems = Vec::new();
        let row = |a: &Array2<f64>| a.row(r).to_vec();
        compare_values(
            &row(&p.values),
            &row(&e.values),
            "outputs",
            tally,
            &mut problems,
        );
        if let (Some(want), Some(got)) = (&e.raw, &p.raw) {
            let scaled: Vec<f64> = row(got).iter().map(|v| v / scale).collect();
            compare_values(&scaled, &row(want), "raw scores", tally, &mut problems);
        }
        if let Some(labels) = &e.labels {
            if p.classes[r] != labels[r] {
                if is_near_tie(task, &row(&e.values)) {
                    tally.near_ties += 1;
                } else {
                    tally.label_mismatches += 1;
                    problems.push(format!(
                        "label {}, scikit-learn {}",
                        p.classes[r], labels[r]
                    ));
                }
            }
        }
        if divergent {
            t.divergent_rows += 1;
            t.divergent_mismatches += usize::from(!problems.is_empty());
        } else if !problems.is_empty() && failures.len() < 5 {
            failures.push(format!(
                "row {r} ({}): {}; x = {:?}",
                e.kinds[r],
                problems.join("; "),
                e.x.row(r).to_vec()
            ));
        }
    }
    (t, failures)
}

fn compare_values(
    got: &[f64],
    want: &[f64],
    what: &str,
    t: &mut Tally,
    problems: &mut Vec<String>,
) {
    let mut ok = true;
    for (&g, &w) in got.iter().zip(want) {
        t.compared += 1;
        t.exact += usize::from(g.to_bits() == w.to_bits());
        let d = (g - w).abs();
        if d.is_finite() {
            t.max_abs = t.max_abs.max(d);
            if w != 0.0 {
                t.max_rel = t.max_rel.max(d / w.abs());
            }
        }
        ok &= within(g, w);
    }
    if !ok {
        problems.push(format!("{what} {got:?}, scikit-learn {want:?}"));
    }
}

/// Whether scikit-learn's own outputs make the label a near tie: the top two
/// probabilities within [`NEAR_TIE`], or an anomaly decision that close to 0.
fn is_near_tie(task: &str, values: &[f64]) -> bool {
    match task {
        "anomaly" => values.get(1).is_some_and(|d| d.abs() <= NEAR_TIE),
        _ if values.len() >= 2 => {
            let mut sorted = values.to_vec();
            sorted.sort_by(|a, b| b.total_cmp(a));
            sorted[0] - sorted[1] <= NEAR_TIE
        }
        _ => false,
    }
}

/// Checks every model and refused file of a fixture directory; `extra`
/// runs further checks on each converted forest.
pub fn check_dir(dir: &Path, mut extra: impl FnMut(&str, &Forest, &Expected)) -> Summary {
    let manifest = read_manifest(dir);
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for m in &manifest.models {
        let expected = read_expected(dir, m);
        let family = summary.families.entry(m.estimator.clone()).or_default();
        family.models += 1;
        for file in &m.files {
            let forest = sklearn::read_file(dir.join(file))
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
            check_metadata(&forest, m, &manifest.sklearn, file);
            let (t, f) = compare(&forest, &expected, &m.task);
            failures.extend(f.into_iter().map(|f| format!("{file}: {f}")));
            family.merge(&t);
            extra(file, &forest, &expected);
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from scikit-learn {} in {}:\n{}",
        failures.len(),
        manifest.sklearn,
        dir.display(),
        failures.join("\n")
    );
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
            assert!(
                err.to_string().contains(&r.contains),
                "{file}: {err} does not mention {:?}",
                r.contains
            );
            summary.refused += 1;
        }
    }
    summary
}
