//! PMML export checked by evaluators nobody here wrote: every model family
//! forest2onnx reads is exported to PMML and scored by JPMML
//! (`jpmml_evaluator`) — and by PMML4S (`pypmml`) for its figures — on data
//! rows, rows on every sampled split threshold (t, t ± 1 ulp, the float32
//! rounding boundaries), NaN rows, category values and zero-band values,
//! then compared with `Forest::predict`: 0 label mismatches and relative
//! differences within 1e-12.
//!
//! The evaluator checks need `--features python` and `bash
//! scripts/setup-python.sh` (Java and the evaluators); the command-line
//! checks at the end run in every build.
#![cfg_attr(not(feature = "python"), allow(dead_code, unused_imports))]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use forest2onnx::export::pmml::{self, PmmlError, PmmlOptions};
use forest2onnx::ir::{
    Aggregation, CategoryRule, CategorySplits, Forest, InputRules, Labels, PostTransform,
    Precision, SplitOp, Task, Tree, LEAF, ZERO_THRESHOLD,
};
use forest2onnx::predict::{category_of, read_inputs};
use forest2onnx::synth::{self, SplitMix, SynthSpec};
use ndarray::Array2;
use serde_json::Value;

const TOLERANCE: f64 = 1e-12;

/// One model of the corpus.
struct Case {
    family: &'static str,
    name: String,
    forest: Forest,
    /// Data rows (rows × features), possibly empty.
    data: Array2<f64>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_f64(path: &Path, n_features: usize) -> Array2<f64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let v: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let n = v.len().checked_div(n_features).unwrap_or(0);
    Array2::from_shape_vec((n, n_features), v[..n * n_features].to_vec()).unwrap()
}

fn json_rows(path: &Path, n_features: usize) -> Array2<f64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Array2::zeros((0, n_features));
    };
    let json: Value = serde_json::from_str(&text).unwrap();
    let rows: Vec<Vec<f64>> = json["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.as_array())
                .map(|r| r.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                .filter(|r: &Vec<f64>| r.len() == n_features)
                .collect()
        })
        .unwrap_or_default();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Array2::from_shape_vec((rows.len(), n_features), flat).unwrap()
}

/// Every fixture file of a directory that loads, with the rows found next to it.
fn load_dir(
    family: &'static str,
    dir: &Path,
    ext: &str,
    rows: impl Fn(&Path, usize) -> Array2<f64>,
) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let forest = forest2onnx::load(&p).ok()?.forest;
            let data = rows(&p, forest.n_features);
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            Some(Case {
                family,
                name,
                forest,
                data,
            })
        })
        .collect()
}

fn sibling(p: &Path, from: &str, to: &str) -> PathBuf {
    PathBuf::from(p.to_string_lossy().replace(from, to))
}

fn corpus() -> Vec<Case> {
    let f = fixtures();
    let mut cases = Vec::new();
    for v in ["1.3.2", "1.4.2"] {
        cases.extend(load_dir(
            "scikit-learn classifiers",
            &f.join(format!("sklearn/sklearn-{v}")),
            ".zlib3.joblib",
            |p, n| read_f64(&sibling(p, ".zlib3.joblib", ".X.f64"), n),
        ));
    }
    cases.extend(load_dir(
        "scikit-learn estimators",
        &f.join("sklearn/estimators-1.9.1"),
        ".p4.pkl",
        |p, n| read_f64(&sibling(p, ".p4.pkl", ".X.f64"), n),
    ));
    cases.extend(load_dir(
        "XGBoost",
        &f.join("xgboost/3.2.0"),
        ".json",
        |p, n| json_rows(&sibling(p, ".json", ".expected.json"), n),
    ));
    cases.extend(load_dir(
        "LightGBM",
        &f.join("lightgbm/4.7.0"),
        ".txt",
        |p, n| json_rows(&sibling(p, ".txt", ".expected.json"), n),
    ));
    cases.extend(smartcore_cases());
    cases.extend(synth_cases());
    cases.extend(hand_built_cases());
    cases
}

fn smartcore_cases() -> Vec<Case> {
    use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
    use smartcore::linalg::basic::matrix::DenseMatrix;
    let mut rng = common::Rng(11);
    let (x, y) = common::blobs(&mut rng, 200, 4, &[3, 1, 4]);
    let model: RandomForestClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>> =
        RandomForestClassifier::fit(&common::matrix(&x), &y, common::rf_params(20, 3)).unwrap();
    let forest = forest2onnx::import::smartcore::from_random_forest(&model).unwrap();
    let data = Array2::from_shape_fn((x.len(), 4), |(r, c)| x[r][c]);
    let x32: Vec<Vec<f32>> = x
        .iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    let model32: RandomForestClassifier<f32, i64, DenseMatrix<f32>, Vec<i64>> =
        RandomForestClassifier::fit(&common::matrix(&x32), &y, common::rf_params(20, 4)).unwrap();
    let forest32 = forest2onnx::import::smartcore::from_random_forest(&model32).unwrap();
    vec![
        Case {
            family: "smartcore",
            name: "rf_f64_vote".into(),
            forest,
            data: data.clone(),
        },
        Case {
            family: "smartcore",
            name: "rf_f32_vote".into(),
            forest: forest32,
            data,
        },
    ]
}

fn synth_cases() -> Vec<Case> {
    let base = SynthSpec {
        n_trees: 30,
        nodes_per_tree: 41,
        ..SynthSpec::small()
    };
    let specs = [
        ("average_int", base.clone()),
        (
            "vote_ties",
            SynthSpec {
                n_trees: 4,
                ..base.clone()
            }
            .vote(),
        ),
        (
            "average_strings_mixed_nan",
            SynthSpec {
                string_labels: true,
                mixed_leaf_fraction: 0.5,
                missing_true_fraction: 0.4,
                ..base.clone()
            },
        ),
        (
            "vote_less_nan",
            SynthSpec {
                split_op: SplitOp::Less,
                missing_true_fraction: 0.5,
                n_classes: 4,
                ..base.clone()
            }
            .vote(),
        ),
    ];
    let mut cases: Vec<Case> = specs
        .into_iter()
        .map(|(name, spec)| {
            let forest = synth::forest(&spec);
            let data = synth::rows(300, forest.n_features, 5);
            Case {
                family: "synthetic (IR)",
                name: name.into(),
                forest,
                data,
            }
        })
        .collect();
    // Every aggregation and post-transform over the same trees.
    let trees = synth::forest(&SynthSpec {
        mixed_leaf_fraction: 1.0,
        missing_true_fraction: 0.3,
        ..base.clone()
    });
    let sum =
        |name: &str, task: Task, base_values: Vec<f64>, pt: PostTransform, per_class: bool| {
            let mut f = trees.clone();
            f.task = task;
            let width = base_values.len();
            let mut rng = SplitMix(name.len() as u64);
            let tree_targets: Vec<u32> = if per_class {
                (0..f.trees.len()).map(|t| (t % width) as u32).collect()
            } else {
                Vec::new()
            };
            let leaf_width = if per_class { 1 } else { width };
            for t in &mut f.trees {
                t.value = (0..t.n_nodes() * leaf_width)
                    .map(|_| (rng.unit() - 0.5) * 3.0)
                    .collect();
            }
            f.aggregation = Aggregation::Sum {
                base_values,
                post_transform: pt,
                tree_targets,
            };
            f.check().unwrap();
            Case {
                family: "synthetic (IR)",
                name: name.into(),
                data: synth::rows(300, f.n_features, 6),
                forest: f,
            }
        };
    let two = || Task::Classification(Labels::Str(vec!["neg".into(), "pos".into()]));
    let three = || Task::Classification(Labels::Float(vec![0.5, 1.0, 2.5]));
    let reg = || Task::Regression { n_targets: 1 };
    cases.extend([
        sum(
            "sum_logistic",
            two(),
            vec![0.3],
            PostTransform::Logistic,
            false,
        ),
        sum(
            "sum_softmax_per_class",
            three(),
            vec![0.1, -0.2, 0.0],
            PostTransform::Softmax,
            true,
        ),
        sum(
            "sum_softmax_wide_leaves",
            three(),
            vec![0.0, 0.0, 0.0],
            PostTransform::Softmax,
            false,
        ),
        sum(
            "sum_regression",
            reg(),
            vec![1.5],
            PostTransform::None,
            false,
        ),
        sum(
            "sum_regression_zero_base",
            reg(),
            vec![0.0],
            PostTransform::None,
            false,
        ),
        sum("sum_exp", reg(), vec![-0.5], PostTransform::Exp, false),
        sum(
            "sum_logistic_regression",
            reg(),
            vec![0.25],
            PostTransform::Logistic,
            false,
        ),
        sum(
            "isolation",
            Task::AnomalyDetection { offset: -0.5 },
            vec![0.0],
            PostTransform::IsolationScore { normalizer: 42.0 },
            false,
        ),
    ]);
    let mut avg_reg = trees.clone();
    avg_reg.task = reg();
    for t in &mut avg_reg.trees {
        t.value = t.value.chunks(3).map(|c| c[0] * 7.0 - c[1]).collect();
    }
    cases.push(Case {
        family: "synthetic (IR)",
        name: "average_regression".into(),
        data: synth::rows(300, 4, 7),
        forest: avg_reg,
    });
    cases
}

/// Categorical splits under every precision and category rule, zero-as-
/// missing features, a single-leaf tree and float labels.
fn hand_built_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for precision in [Precision::F32, Precision::F64] {
        for rule in [CategoryRule::NonNegative, CategoryRule::TowardZero] {
            for op in [SplitOp::LessOrEqual, SplitOp::Less] {
                let name = format!("categorical_{precision:?}_{rule:?}_{op:?}").to_lowercase();
                cases.push(Case {
                    family: "hand-built IR",
                    name,
                    forest: categorical_forest(precision, rule, op),
                    data: Array2::zeros((0, 3)),
                });
            }
        }
    }
    let mut single = common_stump();
    single.trees.push(Tree {
        feature: vec![0],
        threshold: vec![0.0],
        true_child: vec![LEAF],
        false_child: vec![LEAF],
        missing_true: vec![false],
        value: vec![1.0],
        categories: CategorySplits::default(),
    });
    single.task = Task::Classification(Labels::Float(vec![-1.5, 1e-300]));
    cases.push(Case {
        family: "hand-built IR",
        name: "stump_and_single_leaf_float_labels".into(),
        forest: single,
        data: Array2::zeros((0, 1)),
    });
    cases
}

fn common_stump() -> Forest {
    Forest {
        n_features: 1,
        feature_names: Some(vec!["only feature".into()]),
        input: InputRules::default(),
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int(vec![10, 20])),
        aggregation: Aggregation::Vote,
        trees: vec![Tree {
            feature: vec![0, 0, 0],
            threshold: vec![0.1, 0.0, 0.0],
            true_child: vec![1, LEAF, LEAF],
            false_child: vec![2, LEAF, LEAF],
            missing_true: vec![true, false, false],
            value: vec![0.0, 0.0, 1.0],
            categories: CategorySplits::default(),
        }],
        source: Default::default(),
    }
}

/// Three features: 0 categorical (NaN true at the root), 1 numeric with
/// zero-as-missing, 2 categorical with a huge category. Summed binary
/// logistic, as LightGBM builds them.
fn categorical_forest(precision: Precision, rule: CategoryRule, op: SplitOp) -> Forest {
    let mut trees = Vec::new();
    for k in 0..3u32 {
        let mut categories = CategorySplits::default();
        categories.push(0, [0, 1, 2, 5 + k, 7 + k]);
        categories.push(2, [3, 16_777_217, forest2onnx::ir::MAX_CATEGORY]);
        // 0: cat f0 -> 1 (num f1) | 2 (cat f2); 1 -> 3 | 4; 2 -> 5 | 6
        trees.push(Tree {
            feature: vec![0, 1, 2, 0, 0, 0, 0],
            threshold: vec![0.0, 0.0 + f64::from(k) * 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],
            true_child: vec![1, 3, 5, LEAF, LEAF, LEAF, LEAF],
            false_child: vec![2, 4, 6, LEAF, LEAF, LEAF, LEAF],
            missing_true: vec![k != 1, k == 2, k == 0, false, false, false, false],
            value: vec![0.0, 0.0, 0.0, -1.25, 0.5, 2.0, -0.75 + f64::from(k)],
            categories,
        });
    }
    let f = Forest {
        n_features: 3,
        feature_names: None,
        input: InputRules {
            precision,
            categories: rule,
            zero_as_missing: vec![1],
        },
        split_op: op,
        task: Task::Classification(Labels::Int(vec![0, 1])),
        aggregation: Aggregation::Sum {
            base_values: vec![0.125],
            post_transform: PostTransform::Logistic,
            tree_targets: vec![],
        },
        trees,
        source: Default::default(),
    };
    f.check().unwrap();
    f
}

// ---------------------------------------------------------------------------
// Adversarial rows.

/// Whether the read row goes to the true child at internal node `i`.
fn goes_true(f: &Forest, t: &Tree, i: usize, x: &[f64]) -> bool {
    let v = x[t.feature[i] as usize];
    if v.is_nan() {
        return t.missing_true[i];
    }
    match t.categories.of(i as u32) {
        Some(set) => {
            category_of(v, f.input.categories).is_some_and(|c| set.binary_search(&c).is_ok())
        }
        None => match f.split_op {
            SplitOp::LessOrEqual => v <= t.threshold[i],
            SplitOp::Less => v < t.threshold[i],
        },
    }
}

fn read_row(f: &Forest, row: &[f64]) -> Vec<f64> {
    let mut r = row.to_vec();
    read_inputs(&f.input, &mut r, f.n_features);
    r
}

/// A value of feature `t.feature[i]` that sends rows to the `want` child
/// of numeric or categorical node `i`.
fn steer(f: &Forest, t: &Tree, i: usize, want: bool) -> f64 {
    if let Some(set) = t.categories.of(i as u32) {
        return match (want, set.first()) {
            (true, Some(&c)) => f64::from(c),
            _ => -1.0,
        };
    }
    let th = t.threshold[i];
    let f32_side = |below: bool| -> f64 {
        let g = th as f32;
        let g = if below {
            if f64::from(g) > th || (f.split_op == SplitOp::Less && f64::from(g) >= th) {
                g.next_down()
            } else {
                g
            }
        } else if f64::from(g) < th || (f.split_op == SplitOp::LessOrEqual && f64::from(g) <= th) {
            g.next_up()
        } else {
            g
        };
        f64::from(g)
    };
    match (f.input.precision, f.split_op, want) {
        (Precision::F32, _, w) => f32_side(w),
        (Precision::F64, SplitOp::LessOrEqual, true) => th,
        (Precision::F64, SplitOp::LessOrEqual, false) => th.next_up(),
        (Precision::F64, SplitOp::Less, true) => th.next_down(),
        (Precision::F64, SplitOp::Less, false) => th,
    }
}

/// A row that reaches node `node` of `t` (starting from `base`), if found.
fn path_row(f: &Forest, t: &Tree, parents: &[u32], node: usize, base: &[f64]) -> Option<Vec<f64>> {
    let mut path = vec![node];
    let mut at = node;
    while at != 0 {
        at = parents[at] as usize;
        path.push(at);
    }
    path.reverse();
    let mut row = base.to_vec();
    for w in path.windows(2) {
        let (a, child) = (w[0], w[1]);
        let want = t.true_child[a] as usize == child;
        if goes_true(f, t, a, &read_row(f, &row)) != want {
            row[t.feature[a] as usize] = steer(f, t, a, want);
        }
    }
    let read = read_row(f, &row);
    path.windows(2)
        .all(|w| goes_true(f, t, w[0], &read) == (t.true_child[w[0]] as usize == w[1]))
        .then_some(row)
}

/// Values that probe node `i`: the threshold, one ulp either side, the
/// float32 rounding boundaries, NaN, category values, zero-band values.
fn probes(f: &Forest, t: &Tree, i: usize) -> Vec<f64> {
    let mut v = vec![f64::NAN];
    if let Some(set) = t.categories.of(i as u32) {
        v.extend([-0.5, -1.0, -1.5, -0.0, 0.999_999_999, 1e10]);
        for &c in set.iter().take(6) {
            let c = f64::from(c);
            v.extend([
                c,
                c + 0.5,
                (c + 1.0).next_down(),
                c - 0.5,
                c.next_down(),
                c + 1.0,
            ]);
        }
    } else {
        let th = t.threshold[i];
        if th.is_finite() {
            v.extend([th, th.next_up(), th.next_down()]);
        }
        let g = th as f32;
        for (a, b) in [(g.next_down(), g), (g, g.next_up())] {
            let m = (f64::from(a) + f64::from(b)) / 2.0;
            if m.is_finite() {
                v.extend([m, m.next_up(), m.next_down(), f64::from(b)]);
            }
        }
    }
    if f.input.zero_as_missing.contains(&t.feature[i]) {
        let z = ZERO_THRESHOLD;
        v.extend([0.0, -0.0, z, -z, z.next_up(), -z.next_up(), z.next_down()]);
    }
    v
}

/// Data rows, then threshold/NaN/category probes at up to `max_nodes`
/// internal nodes (spread over the trees), each on a row that reaches it.
fn test_rows(case: &Case, max_nodes: usize) -> Array2<f64> {
    let f = &case.forest;
    let n = f.n_features;
    let mut rows: Vec<f64> = case
        .data
        .rows()
        .into_iter()
        .take(400)
        .flatten()
        .copied()
        .collect();
    let base: Vec<f64> = case
        .data
        .rows()
        .into_iter()
        .next()
        .map(|r| r.to_vec())
        .unwrap_or_else(|| vec![0.5; n]);
    let internal: usize = f.trees.iter().map(|t| t.n_nodes() - t.n_leaves()).sum();
    let stride = internal.div_ceil(max_nodes).max(1);
    let mut k = 0;
    for t in &f.trees {
        let mut parents = vec![0u32; t.n_nodes()];
        for i in 0..t.n_nodes() {
            if !t.is_leaf(i) {
                parents[t.true_child[i] as usize] = i as u32;
                parents[t.false_child[i] as usize] = i as u32;
            }
        }
        for i in 0..t.n_nodes() {
            if t.is_leaf(i) {
                continue;
            }
            k += 1;
            if k % stride != 0 {
                continue;
            }
            let Some(row) = path_row(f, t, &parents, i, &base) else {
                continue;
            };
            for p in probes(f, t, i) {
                let mut r = row.clone();
                r[t.feature[i] as usize] = p;
                rows.extend(r);
            }
        }
    }
    // All missing.
    rows.extend(vec![f64::NAN; n]);
    Array2::from_shape_vec((rows.len() / n, n), rows).unwrap()
}

// ---------------------------------------------------------------------------
// Evaluation and comparison.

struct Job {
    case: usize,
    pmml: PathBuf,
    rows: Array2<f64>,
    out: PathBuf,
    summary: pmml::PmmlSummary,
    export_seconds: f64,
    bytes: usize,
}

fn evaluate(python: &Path, dir: &Path, evaluator: &str, jobs: &[Job]) -> Result<(), String> {
    let xsd = fixtures().join("pmml/pmml-4-4.jpmml.xsd");
    let request = serde_json::json!({
        "evaluator": evaluator,
        "xsd": xsd,
        "jobs": jobs.iter().map(|j| serde_json::json!({
            "pmml": j.pmml,
            "rows": j.pmml.with_extension("rows"),
            "features": j.summary.fields[..j.rows.ncols()].iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
            "out": j.out.with_extension(format!("{evaluator}.json")),
        })).collect::<Vec<_>>(),
    });
    let path = dir.join(format!("{evaluator}-request.json"));
    std::fs::write(&path, request.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pmml_eval.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[derive(Default, Debug)]
struct Tally {
    models: usize,
    rows: usize,
    label_mismatches: usize,
    predicted_mismatches: usize,
    errors: usize,
    max_rel: f64,
    seconds: f64,
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
    }
}

fn label_matches(got: &Value, labels: &Labels, k: usize) -> bool {
    // PMML4S returns numeric labels as text.
    let parsed;
    let got = match (labels, got) {
        (Labels::Int(_) | Labels::Float(_), Value::String(s)) => {
            parsed = s.parse::<f64>().map(Value::from).unwrap_or(Value::Null);
            &parsed
        }
        _ => got,
    };
    match (labels, got) {
        (Labels::Int(v), Value::Number(n)) => {
            n.as_i64() == Some(v[k]) || n.as_f64() == Some(v[k] as f64)
        }
        (Labels::Float(v), Value::Number(n)) => n.as_f64() == Some(v[k]),
        (Labels::Str(v), Value::String(s)) => *s == v[k],
        _ => false,
    }
}

/// One evaluator's results against the IR.
struct Comparison {
    /// Rows whose `label` output differs.
    mismatches: usize,
    /// Rows whose predicted target value differs (the evaluator's own tie
    /// breaking).
    predicted_mismatches: usize,
    /// Rows the evaluator failed on.
    errors: usize,
    max_rel: f64,
    first: Option<String>,
}

/// Compares one evaluator's results with the IR.
fn compare(case: &Case, job: &Job, result: &Value) -> Comparison {
    let f = &case.forest;
    let p = f.predict(job.rows.view());
    let cols = &result["columns"];
    let col = |name: &str| -> Vec<Value> { cols[name].as_array().cloned().unwrap_or_default() };
    let errors = result["errors"]
        .as_array()
        .map(|e| e.iter().filter(|e| !e.is_null()).count())
        .unwrap_or(0);
    let outs = &job.summary.outputs;
    let mut mismatches = 0;
    let mut predicted_mismatches = 0;
    let mut max_rel = 0.0f64;
    let mut first = None;
    let mut check = |row: usize, what: &str, got: Option<f64>, want: f64| {
        let d = match got {
            Some(g) => rel(g, want),
            None => f64::INFINITY,
        };
        if d > TOLERANCE && first.is_none() {
            first = Some(format!(
                "row {row} {what}: got {got:?}, want {want:e} (row {:?})",
                job.rows.row(row).to_vec()
            ));
        }
        max_rel = max_rel.max(d);
    };
    let n = job.rows.nrows();
    match &f.task {
        Task::Classification(labels) => {
            // Outputs: one probability per class, then the label.
            let k = labels.len();
            let got_labels = col(&outs[k]);
            // (PMML4S does not return the predicted target value.)
            let predicted = col(&job.summary.targets[0]);
            for r in 0..n {
                if !got_labels
                    .get(r)
                    .is_some_and(|g| label_matches(g, labels, p.classes[r]))
                {
                    mismatches += 1;
                }
                if !predicted.is_empty()
                    && !predicted
                        .get(r)
                        .is_some_and(|g| label_matches(g, labels, p.classes[r]))
                {
                    predicted_mismatches += 1;
                }
            }
            for (c, name) in outs[..k].iter().enumerate() {
                let got = col(name);
                for r in 0..n {
                    check(
                        r,
                        name,
                        got.get(r).and_then(Value::as_f64),
                        p.values[[r, c]],
                    );
                }
            }
        }
        Task::Regression { .. } => {
            let c = col(&outs[0]);
            for r in 0..n {
                check(
                    r,
                    &outs[0],
                    c.get(r).and_then(Value::as_f64),
                    p.values[[r, 0]],
                );
            }
        }
        Task::AnomalyDetection { .. } => {
            let raw = p.raw.as_ref().unwrap();
            let cols: Vec<Vec<Value>> = outs.iter().map(|o| col(o)).collect();
            for r in 0..n {
                check(
                    r,
                    &outs[0],
                    cols[0].get(r).and_then(Value::as_f64),
                    raw[[r, 0]],
                );
                check(
                    r,
                    &outs[1],
                    cols[1].get(r).and_then(Value::as_f64),
                    p.values[[r, 0]],
                );
                check(
                    r,
                    &outs[2],
                    cols[2].get(r).and_then(Value::as_f64),
                    p.values[[r, 1]],
                );
                let want = if p.classes[r] == 1 { 1 } else { -1 };
                if cols[3].get(r).and_then(Value::as_i64) != Some(want) {
                    mismatches += 1;
                }
            }
        }
    }
    if mismatches > 0 && first.is_none() {
        first = Some("label mismatch".into());
    }
    Comparison {
        mismatches,
        predicted_mismatches,
        errors,
        max_rel,
        first,
    }
}

#[cfg(feature = "python")]
#[test]
fn jpmml_and_pypmml_reproduce_every_model_family() {
    let python = common::python::python(&["jpmml_evaluator", "pandas", "numpy", "xmlschema"]);
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let mut jobs = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for (c, case) in cases.iter().enumerate() {
        let started = std::time::Instant::now();
        // Both writers: indented (quick-xml events) and compact (raw tags).
        let options = PmmlOptions {
            indent: Some(c % 2 == 0),
            ..Default::default()
        };
        let bytes = match pmml::to_bytes(&case.forest, &options) {
            Ok(b) => b,
            Err(PmmlError::Unsupported { what, why }) => {
                refused.push((
                    format!("{}/{}", case.family, case.name),
                    format!("{what}: {why}"),
                ));
                continue;
            }
            Err(e) => panic!("{}: {e}", case.name),
        };
        let export_seconds = started.elapsed().as_secs_f64();
        let summary = pmml::summarize(&bytes).unwrap();
        let rows = test_rows(case, 300);
        let stem = format!("{c:03}");
        let pmml_path = dir.path().join(format!("{stem}.pmml"));
        std::fs::write(&pmml_path, &bytes).unwrap();
        let raw: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(pmml_path.with_extension("rows"), raw).unwrap();
        jobs.push(Job {
            case: c,
            out: dir.path().join(&stem),
            pmml: pmml_path,
            rows,
            summary,
            export_seconds,
            bytes: bytes.len(),
        });
    }
    if let Ok(keep) = std::env::var("FOREST2ONNX_KEEP_PMML") {
        let _ = std::fs::create_dir_all(&keep);
        for j in &jobs {
            let name = format!("{}.pmml", cases[j.case].name.replace('/', "_"));
            let _ = std::fs::copy(&j.pmml, Path::new(&keep).join(name));
        }
    }
    evaluate(&python, dir.path(), "jpmml", &jobs).expect("JPMML runs");
    evaluate(&python, dir.path(), "xsd", &jobs).expect("the XSD validation runs");
    let mut invalid = Vec::new();
    for j in &jobs {
        let text = std::fs::read_to_string(j.out.with_extension("xsd.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        if v["valid"] != Value::Bool(true) {
            invalid.push(format!("{}: {}", cases[j.case].name, v["errors"]));
        }
    }
    eprintln!(
        "XSD (PMML 4.4): {} of {} files valid",
        jobs.len() - invalid.len(),
        jobs.len()
    );
    let pypmml = Command::new(&python)
        .args(["-c", "import pypmml"])
        .status()
        .is_ok_and(|s| s.success());
    let pypmml_ok = pypmml
        && evaluate(&python, dir.path(), "pypmml", &jobs)
            .map_err(|e| eprintln!("pypmml failed: {e}"))
            .is_ok();

    let mut failures = Vec::new();
    let mut per_family: BTreeMap<(&str, &str), Tally> = BTreeMap::new();
    for evaluator in ["jpmml", "pypmml"] {
        if evaluator == "pypmml" && !pypmml_ok {
            continue;
        }
        for j in &jobs {
            let case = &cases[j.case];
            let path = j.out.with_extension(format!("{evaluator}.json"));
            let result: Value = match std::fs::read_to_string(&path) {
                Ok(t) => serde_json::from_str(&t).unwrap(),
                Err(_) => {
                    failures.push(format!("{evaluator} {}: no result", case.name));
                    continue;
                }
            };
            let Comparison {
                mismatches,
                predicted_mismatches,
                errors,
                max_rel,
                first,
            } = compare(case, j, &result);
            let t = per_family.entry((evaluator, case.family)).or_default();
            t.models += 1;
            t.rows += j.rows.nrows();
            t.label_mismatches += mismatches;
            t.predicted_mismatches += predicted_mismatches;
            t.errors += errors;
            t.max_rel = t.max_rel.max(max_rel);
            t.seconds += result["seconds"].as_f64().unwrap_or(0.0);
            let line = format!(
                "{evaluator:6} {:28} {:40} rows {:5} mismatches {mismatches} (predicted value {predicted_mismatches}) errors {errors} max rel {max_rel:.1e} ({} bytes, export {:.1} ms){}",
                case.family,
                case.name,
                j.rows.nrows(),
                j.bytes,
                j.export_seconds * 1e3,
                first.as_deref().map(|f| format!("\n       first: {f}")).unwrap_or_default()
            );
            eprintln!("{line}");
            if evaluator == "jpmml" && (mismatches > 0 || errors > 0 || max_rel > TOLERANCE) {
                failures.push(line);
            }
        }
    }
    eprintln!("\nper family (evaluator, family: models, rows, label mismatches, predicted-value mismatches, errors, max relative |Δ|, evaluation seconds):");
    for ((e, fam), t) in &per_family {
        eprintln!(
            "  {e:6} {fam:28} {:3} models {:6} rows {:3} mismatches {:3} predicted {:3} errors  max rel {:.1e}  {:.2} s",
            t.models, t.rows, t.label_mismatches, t.predicted_mismatches, t.errors, t.max_rel, t.seconds
        );
    }
    eprintln!("refused by the PMML exporter ({}):", refused.len());
    for (name, why) in &refused {
        eprintln!("  {name}: {why}");
    }
    assert!(
        failures.is_empty(),
        "JPMML disagrees with the IR:\n{}",
        failures.join("\n")
    );
    assert!(
        invalid.is_empty(),
        "files invalid against the PMML 4.4 XSD:\n{}",
        invalid.join("\n")
    );
    // Every family that has an exportable model was checked.
    for fam in [
        "scikit-learn classifiers",
        "scikit-learn estimators",
        "XGBoost",
        "LightGBM",
        "smartcore",
        "synthetic (IR)",
        "hand-built IR",
    ] {
        assert!(
            per_family.contains_key(&("jpmml", fam)),
            "no {fam} model was checked"
        );
    }
}

// ---------------------------------------------------------------------------
// The command line: `convert -o x.pmml`, `--to pmml`, `inspect x.pmml`.

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
