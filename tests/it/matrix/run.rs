//! The conformance matrix: every model kind × precision × ai.onnx.ml opset,
//! checked with `onnx.checker` (full check) and run in onnxruntime (one and
//! the default number of threads) against `Forest::predict`.

use std::collections::BTreeMap;
use std::path::Path;

use forest2onnx::export::onnx::{
    to_bytes, ExportError, ExportOptions, Precision, LABEL, RAW_SCORE,
};
use forest2onnx::ir::{Aggregation, Forest, Labels, PostTransform, Task};
use ndarray::{Array2, ArrayView2};
use serde_json::Value;

use super::models::{models, Model};
use super::rows::{adversarial, Rows};

/// Every combination ONNX allows: opset 1 holds no doubles.
const COMBINATIONS: [(Precision, i64); 5] = [
    (Precision::Float, 1),
    (Precision::Float, 3),
    (Precision::Float, 5),
    (Precision::Double, 3),
    (Precision::Double, 5),
];

/// Adversarial rows per model and combination, at most.
const MAX_ROWS: usize = 3000;

/// One exported model with its rows.
struct Case {
    name: String,
    model: usize,
    precision: Precision,
    opset: i64,
    rows: Rows,
    /// Rows fed to the model (float32 rounding of `rows.x` for float
    /// models fed double rows).
    fed_f32: bool,
    /// Compare with the forest on `rows.x` (the double rows), not on what
    /// the model is fed: float export on rows float32 cannot hold.
    misrouting_demo: bool,
    bytes: usize,
}

/// Agreement of one runtime with the forest over one cell of the matrix.
#[derive(Debug, Default, Clone)]
struct Tally {
    models: usize,
    rows: usize,
    label_mismatches: usize,
    /// Label differences on rows whose expected top two outputs (or the
    /// anomaly decision and 0) are within the output tolerance: ties that
    /// summation order decides, counted apart.
    near_ties: usize,
    /// Rows whose outputs exceed the tolerance.
    value_mismatches: usize,
    /// Largest |Δ| on probabilities.
    max_abs_probability: f64,
    /// Largest relative |Δ| on other outputs: |Δ| / max(|expected|, floor),
    /// the floor where the tolerance turns absolute (0.1 for float: 1e-5
    /// relative, 1e-6 absolute; 1e-3 for double: 1e-12 relative, 1e-15
    /// absolute).
    max_rel_other: f64,
    bytes: usize,
    nodes: usize,
}

fn write_case(dir: &Path, name: &str, onnx: &[u8], x: ArrayView2<'_, f64>, f32_rows: bool) {
    std::fs::write(dir.join(format!("{name}.onnx")), onnx).unwrap();
    let (bytes, dtype): (Vec<u8>, &str) = if f32_rows {
        (
            x.iter().flat_map(|&v| (v as f32).to_le_bytes()).collect(),
            "f32",
        )
    } else {
        (x.iter().flat_map(|v| v.to_le_bytes()).collect(), "f64")
    };
    std::fs::write(dir.join(format!("{name}.input.{dtype}")), bytes).unwrap();
    let meta = serde_json::json!({"rows": x.nrows(), "cols": x.ncols(), "dtype": dtype});
    std::fs::write(dir.join(format!("{name}.json")), meta.to_string()).unwrap();
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => panic!("not a number: {other}"),
    }
}

fn label_matches(labels: &Labels, class: usize, got: &Value) -> bool {
    match labels {
        Labels::Int(v) => got.as_i64() == Some(v[class]),
        Labels::Float(v) => {
            let g = number(got);
            g == v[class] || (g.is_nan() && v[class].is_nan())
        }
        Labels::Str(v) => got.as_str() == Some(v[class].as_str()),
    }
}

/// Compares one runtime's outputs with the forest's prediction on `x`.
fn compare(
    tally: &mut Tally,
    what: &str,
    forest: &Forest,
    x: &Array2<f64>,
    precision: Precision,
    outputs: &Value,
) {
    let expected = forest.predict(x.view());
    let n = x.nrows();
    tally.rows += n;
    let double = precision == Precision::Double;
    let mut bad_rows = vec![false; n];
    let mut off_rows = vec![false; n];
    // Float: 1e-5 relative, 1e-6 absolute near 0; double: 1e-12 relative,
    // 1e-15 absolute near 0 (probabilities: 1e-6 absolute in float).
    let tolerance = |e: f64| {
        if double {
            1e-12 * e.abs().max(1e-3)
        } else {
            1e-6_f64.max(1e-5 * e.abs())
        }
    };
    if let Some(labels) = forest.output_labels() {
        let got = outputs[LABEL].as_array().expect("a label output");
        for r in 0..n {
            if !label_matches(labels, expected.classes[r], &got[r]) {
                let row = expected.values.row(r);
                let gap = match forest.task {
                    Task::AnomalyDetection { .. } => row[1].abs(),
                    _ => {
                        let mut sorted: Vec<f64> = row.to_vec();
                        sorted.sort_by(|a, b| b.total_cmp(a));
                        sorted[0] - sorted[1]
                    }
                };
                if gap <= 2.0 * tolerance(row[expected.classes[r].min(row.len() - 1)]) {
                    tally.near_ties += 1;
                    eprintln!(
                        "{what}: row {r}: near tie (gap {gap:e}): expected {}, got {}",
                        labels.display(expected.classes[r]),
                        got[r]
                    );
                    continue;
                }
                tally.label_mismatches += 1;
                bad_rows[r] = true;
                if tally.label_mismatches <= 5 {
                    eprintln!(
                        "{what}: row {r} {:?}: expected {}, got {}",
                        x.row(r).to_vec(),
                        labels.display(expected.classes[r]),
                        got[r]
                    );
                }
            }
        }
    }
    let main = match forest.task {
        Task::Classification(_) => "probabilities",
        Task::Regression { .. } => "variable",
        Task::AnomalyDetection { .. } => "scores",
    };
    // Classifier outputs are probabilities unless the post-transform is none.
    let probabilities = main == "probabilities"
        && !matches!(
            forest.aggregation,
            Aggregation::Sum {
                post_transform: PostTransform::None,
                ..
            }
        );
    let mut check = |name: &str, values: &Array2<f64>, probability: bool| {
        let got = outputs[name]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no {name} output"));
        for (r, row) in got.iter().enumerate() {
            let row = row.as_array().unwrap();
            assert_eq!(row.len(), values.ncols(), "{what}: {name} width");
            for (k, g) in row.iter().enumerate() {
                let (e, g) = (values[[r, k]], number(g));
                let d = (e - g).abs();
                let d = if d.is_nan() { f64::INFINITY } else { d };
                let ok = if probability && !double {
                    d <= 1e-6
                } else {
                    d <= tolerance(e)
                };
                if probability {
                    tally.max_abs_probability = tally.max_abs_probability.max(d);
                } else {
                    // Relative, with the absolute floor of the tolerance.
                    let floor = if double { 1e-3 } else { 0.1 };
                    tally.max_rel_other = tally.max_rel_other.max(d / e.abs().max(floor));
                }
                if !ok {
                    if !bad_rows[r] && tally.value_mismatches < 5 {
                        eprintln!("{what}: row {r} {name}[{k}]: expected {e:e}, got {g:e}");
                    }
                    bad_rows[r] = true;
                    off_rows[r] = true;
                }
            }
        }
    };
    check(main, &expected.values, probabilities);
    if let Some(raw) = &expected.raw {
        check(RAW_SCORE, raw, false);
    }
    tally.value_mismatches += off_rows.iter().filter(|&&b| b).count();
}

#[test]
fn every_model_kind_precision_and_opset_passes_checker_and_onnxruntime() {
    let py = crate::common::python::python(&["numpy", "onnx", "onnxruntime"]);
    let dir = tempfile::tempdir().unwrap();
    let models = models();
    let mut cases = Vec::new();
    for (m, Model { name, forest, data }) in models.iter().enumerate() {
        forest.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        for (precision, opset) in COMBINATIONS {
            let options = ExportOptions {
                ml_opset: opset,
                precision,
                ..Default::default()
            };
            let onnx = to_bytes(forest, &options)
                .unwrap_or_else(|e| panic!("{name} {precision:?} opset {opset}: {e}"));
            let rows = adversarial(forest, data, precision, MAX_ROWS);
            let case = format!("{name}_{}_ml{opset}", precision.name());
            let f32_rows = precision == Precision::Float;
            write_case(dir.path(), &case, &onnx, rows.x.view(), f32_rows);
            cases.push(Case {
                name: case,
                model: m,
                precision,
                opset,
                bytes: onnx.len(),
                rows,
                fed_f32: f32_rows,
                misrouting_demo: false,
            });
            if precision == Precision::Double {
                // The same rows through the float export: values float32
                // cannot hold next to a threshold are misrouted there.
                let float = ExportOptions {
                    precision: Precision::Float,
                    ..options
                };
                let onnx = to_bytes(forest, &float).unwrap();
                let rows = adversarial(forest, data, precision, MAX_ROWS);
                let name = format!("{name}_float_on_double_rows_ml{opset}");
                write_case(dir.path(), &name, &onnx, rows.x.view(), true);
                cases.push(Case {
                    name,
                    model: m,
                    precision: Precision::Float,
                    opset,
                    bytes: onnx.len(),
                    rows,
                    fed_f32: true,
                    misrouting_demo: true,
                });
            }
        }
    }
    crate::common::crosscheck::run_conformance(&py, dir.path());

    let mut cells: BTreeMap<(String, i64, &str), Tally> = BTreeMap::new();
    let mut checker_failures = Vec::new();
    let mut demo = Tally::default();
    let mut demo_between = (0usize, 0usize);
    for case in &cases {
        let Model { name, forest, .. } = &models[case.model];
        let result = crate::common::crosscheck::read_result(dir.path(), &case.name);
        if result["checker"] != "ok" {
            checker_failures.push(format!("{}: {}", case.name, result["checker"]));
        }
        assert!(
            result.get("error").is_none(),
            "{}: onnxruntime: {}",
            case.name,
            result["error"]
        );
        for key in ["one_thread", "default_threads"] {
            let outputs = &result[key]["outputs"];
            let x = if case.fed_f32 && !case.misrouting_demo {
                case.rows.x.mapv(|v| f64::from(v as f32))
            } else {
                case.rows.x.clone()
            };
            if case.misrouting_demo {
                let mut t = Tally::default();
                compare(&mut t, &case.name, forest, &x, case.precision, outputs);
                demo.rows += t.rows;
                demo.label_mismatches += t.label_mismatches + t.near_ties;
                demo.value_mismatches += t.value_mismatches;
                if key == "one_thread" {
                    demo_between.0 += case.rows.between.iter().filter(|&&b| b).count();
                    demo_between.1 += 1;
                }
                continue;
            }
            let what = format!("{} ({key})", case.name);
            let cell = cells
                .entry((case.precision.name().to_string(), case.opset, key))
                .or_default();
            compare(cell, &what, forest, &x, case.precision, outputs);
            if key == "one_thread" {
                cell.models += 1;
                cell.bytes += case.bytes;
                cell.nodes += forest.n_nodes();
            }
        }
        let _ = name;
    }
    let mut table = vec![
        "| precision | ml opset | runtime | models | rows | label mismatches | near ties | rows off | max abs Δ probabilities | max rel Δ other outputs | bytes per node |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for ((precision, opset, key), t) in &cells {
        let per_node = cells
            .get(&(precision.clone(), *opset, "one_thread"))
            .map_or(0.0, |c| c.bytes as f64 / c.nodes.max(1) as f64);
        table.push(format!(
            "| {precision} | {opset} | onnxruntime {} | {} | {} | {} | {} | {} | {:.2e} | {:.2e} | {per_node:.1} |",
            if *key == "one_thread" { "1 thread" } else { "default threads" },
            cells[&(precision.clone(), *opset, "one_thread")].models,
            t.rows,
            t.label_mismatches,
            t.near_ties,
            t.value_mismatches,
            t.max_abs_probability,
            t.max_rel_other,
        ));
    }
    table.push(format!(
        "float export fed double rows (float32-rounded): {} rows, {} label mismatches, {} rows off \
         ({} rows strictly between two float32 neighbours of a threshold, over {} models)",
        demo.rows, demo.label_mismatches, demo.value_mismatches, demo_between.0, demo_between.1
    ));
    table.push(format!("onnx.checker failures: {}", checker_failures.len()));
    let table = table.join("\n");
    eprintln!("{table}");
    assert!(
        checker_failures.is_empty(),
        "onnx.checker: {checker_failures:#?}"
    );
    for ((precision, opset, key), t) in &cells {
        assert_eq!(
            (t.label_mismatches, t.value_mismatches),
            (0, 0),
            "{precision} opset {opset} {key}:\n{table}"
        );
    }
    // The double rows matter: float export cannot route all of them.
    assert!(demo.label_mismatches + demo.value_mismatches > 0, "{table}");
}

#[test]
fn opset_1_double_is_refused_with_a_clear_message() {
    let forest = &models()[0].forest;
    let options = ExportOptions {
        ml_opset: 1,
        precision: Precision::Double,
        ..Default::default()
    };
    let err = to_bytes(forest, &options).unwrap_err();
    assert!(matches!(err, ExportError::Unsupported(_)));
    let message = err.to_string();
    assert!(
        message.contains("double") && message.contains("opset 3 or 5"),
        "{message}"
    );
}
