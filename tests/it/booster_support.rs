//! Shared by `tests/it/xgboost.rs` and `tests/it/lightgbm.rs`: reading the
//! `*.expected.json` files written by `python/fixtures/make_booster_fixtures.py`,
//! finding the leaf each row reaches in each converted tree, and comparing
//! with the library's own predictions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use forest2onnx::ir::Forest;
use forest2onnx::predict::traverse::{Kernels, PackedTree};
use forest2onnx::predict::{read_inputs, Prediction};
use ndarray::Array2;
use serde_json::Value;

/// One case: rows and what the library computed for them.
pub struct Expected {
    /// Directory of the case's files.
    pub dir: PathBuf,
    /// `meta` object (library, version, case, objective, files, rounds).
    pub meta: Value,
    /// Input rows.
    pub rows: Array2<f64>,
    /// Raw scores (`output_margin` / `raw_score`).
    pub margin: Array2<f64>,
    /// `predict` output.
    pub predict: Array2<f64>,
    /// Per row and tree, the value of the leaf the library reached.
    pub leaf_values: Array2<f64>,
}

/// A JSON matrix of numbers (`null` for NaN, `"inf"`/`"-inf"`).
pub fn matrix(v: &Value, what: &str) -> Array2<f64> {
    let rows = v
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array"));
    let n_cols = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    let mut data = Vec::with_capacity(rows.len() * n_cols);
    for row in rows {
        let row = row
            .as_array()
            .unwrap_or_else(|| panic!("{what}: row not an array"));
        assert_eq!(row.len(), n_cols, "{what}: ragged rows");
        data.extend(row.iter().map(|x| {
            match x {
                Value::Null => f64::NAN,
                Value::String(s) if s == "inf" => f64::INFINITY,
                Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
                other => other
                    .as_f64()
                    .unwrap_or_else(|| panic!("{what}: {other} is not a number")),
            }
        }));
    }
    Array2::from_shape_vec((rows.len(), n_cols), data).unwrap()
}

impl Expected {
    /// Reads `path` (a `NAME.expected.json`).
    pub fn read(path: &Path) -> Expected {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).unwrap();
        Expected {
            dir: path.parent().unwrap().to_path_buf(),
            meta: doc["meta"].clone(),
            rows: matrix(&doc["rows"], "rows"),
            margin: matrix(&doc["margin"], "margin"),
            predict: matrix(&doc["predict"], "predict"),
            leaf_values: matrix(&doc["leaf_values"], "leaf_values"),
        }
    }

    /// `meta.case`.
    pub fn case(&self) -> &str {
        self.meta["case"].as_str().unwrap()
    }

    /// `meta.objective`.
    pub fn objective(&self) -> &str {
        self.meta["objective"].as_str().unwrap()
    }

    /// `version/case` for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.meta["library"].as_str().unwrap(),
            self.meta["version"].as_str().unwrap(),
            self.case()
        )
    }

    /// The model files of the case.
    pub fn files(&self) -> Vec<PathBuf> {
        self.meta["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| self.dir.join(f.as_str().unwrap()))
            .collect()
    }
}

/// Every `*.expected.json` below `root` (one directory level per version),
/// sorted.
pub fn cases(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(".expected.json") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

/// Per row and tree, the values of the leaf the row reaches in the forest
/// ([`Forest::leaf_width`] columns per tree), computed with the IR's own
/// traversal kernels.
pub fn leaf_values(forest: &Forest, rows: &Array2<f64>) -> Array2<f64> {
    let stride = rows.ncols();
    let mut data: Vec<f64> = rows.iter().copied().collect();
    read_inputs(&forest.input, &mut data, stride);
    let n = rows.nrows();
    let width = forest.leaf_width();
    let mut out = Array2::zeros((n, forest.trees.len() * width));
    let any_missing = forest.trees.iter().any(|t| t.missing_true.contains(&true));
    let kernels = Kernels::new(forest.split_op, any_missing, forest.input.categories);
    let mut packed = PackedTree::default();
    let mut leaves = vec![0u32; n];
    for (t, tree) in forest.trees.iter().enumerate() {
        kernels.leaves(tree, &mut packed, &data, stride, &mut leaves);
        for (r, &leaf) in leaves.iter().enumerate() {
            let values = tree.leaf_values(leaf as usize, width);
            for k in 0..width {
                out[[r, t * width + k]] = values[k];
            }
        }
    }
    out
}

/// Largest deviations seen over a set of comparisons.
#[derive(Default, Debug, Clone, Copy)]
pub struct Stats {
    /// Values compared.
    pub values: usize,
    /// Largest `|a - b| / max(|b|, 1e-300)` over values with `|b| >= 1e-3`.
    pub max_rel: f64,
    /// Largest `|a - b|`.
    pub max_abs: f64,
}

impl Stats {
    /// Records one comparison of `ours` with the library's `theirs`.
    pub fn add(&mut self, ours: f64, theirs: f64) {
        self.values += 1;
        let d = (ours - theirs).abs();
        self.max_abs = self.max_abs.max(d);
        if theirs.abs() >= 1e-3 {
            self.max_rel = self.max_rel.max(d / theirs.abs());
        }
    }

    /// Folds another set in.
    pub fn merge(&mut self, o: Stats) {
        self.values += o.values;
        self.max_rel = self.max_rel.max(o.max_rel);
        self.max_abs = self.max_abs.max(o.max_abs);
    }
}

/// Compares `ours` with `theirs` element by element: each pair must be
/// within `rel` relative or `abs` absolute (NaN only matches NaN).
pub fn compare(
    what: &str,
    ours: &Array2<f64>,
    theirs: &Array2<f64>,
    rel: f64,
    abs: f64,
) -> Result<Stats, String> {
    if ours.dim() != theirs.dim() {
        return Err(format!(
            "{what}: shape {:?}, library {:?}",
            ours.dim(),
            theirs.dim()
        ));
    }
    let mut stats = Stats::default();
    for ((idx, &a), &b) in ours.indexed_iter().zip(theirs.iter()) {
        if a.is_nan() || b.is_nan() {
            if a.is_nan() != b.is_nan() {
                return Err(format!("{what}[{idx:?}]: ours {a}, library {b}"));
            }
            continue;
        }
        let d = (a - b).abs();
        if d > abs && d > rel * b.abs() {
            return Err(format!(
                "{what}[{idx:?}]: ours {a:e}, library {b:e} (|Δ| {d:e})"
            ));
        }
        stats.add(a, b);
    }
    Ok(stats)
}

/// The forest's label indices as a column.
pub fn classes_column(p: &Prediction) -> Array2<f64> {
    Array2::from_shape_fn((p.classes.len(), 1), |(r, _)| p.classes[r] as f64)
}

/// The crate's fixture directory `tests/fixtures/NAME`.
pub fn fixtures(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Trains the `--grid` models of `python/fixtures/make_booster_fixtures.py` for
/// `library` with the project's Python (pinned XGBoost/LightGBM) into a
/// temporary directory laid out like the fixtures; returns the directory.
#[cfg(feature = "python")]
pub fn train_grid(library: &str, module: &str) -> tempfile::TempDir {
    let py = crate::common::python::python(&[module, "numpy"]);
    let dir = tempfile::tempdir().unwrap();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/fixtures/make_booster_fixtures.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(library)
        .arg(dir.path().join("grid"))
        .arg("--grid")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "training the {library} grid failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Per group (library version and objective or case): models, rows, label
/// mismatches and the largest deviations.
#[derive(Default)]
pub struct Tally {
    pub models: usize,
    pub rows: usize,
    pub label_mismatches: usize,
    pub margin: Stats,
    pub predict: Stats,
}

/// Tallies by group, printed in order.
pub type Tallies = BTreeMap<String, Tally>;

/// Checks every case under `root` (at least `min_cases`) with `check`,
/// prints the tallies and fails with every case's problem.
pub fn check_all(
    root: &Path,
    min_cases: usize,
    check: impl Fn(&Expected, &mut Tallies) -> Result<(), String>,
) {
    let all = cases(root);
    assert!(all.len() >= min_cases, "only {} cases", all.len());
    let mut tallies = Tallies::new();
    let mut failures = Vec::new();
    for path in &all {
        let exp = Expected::read(path);
        if let Err(e) = check(&exp, &mut tallies) {
            failures.push(format!("{}: {e}", exp.label()));
        }
    }
    println!(
        "version group                     models  rows  label≠  raw max rel / abs     predict max rel / abs"
    );
    for (key, t) in &tallies {
        println!(
            "{key:<32} {:>6} {:>5} {:>7}   {:.1e} / {:.1e}      {:.1e} / {:.1e}",
            t.models,
            t.rows,
            t.label_mismatches,
            t.margin.max_rel,
            t.margin.max_abs,
            t.predict.max_rel,
            t.predict.max_abs
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
