//! Comparing one runtime's outputs with `Forest::predict` over the rows of
//! a matrix case, tallied per cell (shared by `run.rs` and the onnxruntime
//! release matrix).

use std::path::Path;

use forest2onnx::export::onnx::{to_bytes, ExportOptions, Precision, LABEL, RAW_SCORE};
use forest2onnx::ir::{Aggregation, Forest, Labels, PostTransform, Task};
use ndarray::{Array2, ArrayView2};
use serde_json::Value;

use super::rows::{adversarial, Rows};

/// Every combination ONNX allows: opset 1 holds no doubles.
pub const COMBINATIONS: [(Precision, i64); 5] = [
    (Precision::Float, 1),
    (Precision::Float, 3),
    (Precision::Float, 5),
    (Precision::Double, 3),
    (Precision::Double, 5),
];

/// Agreement of one runtime with the forest over one cell of the matrix.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub models: usize,
    pub rows: usize,
    pub label_mismatches: usize,
    /// Label differences on rows whose expected top two outputs (or the
    /// anomaly decision and 0) are within the output tolerance: ties that
    /// summation order decides, counted apart.
    pub near_ties: usize,
    /// Rows whose outputs exceed the tolerance.
    pub value_mismatches: usize,
    /// Largest |Δ| on probabilities.
    pub max_abs_probability: f64,
    /// Largest relative |Δ| on other outputs: |Δ| / max(|expected|, floor),
    /// the floor where the tolerance turns absolute (0.1 for float: 1e-5
    /// relative, 1e-6 absolute; 1e-3 for double: 1e-12 relative, 1e-15
    /// absolute).
    pub max_rel_other: f64,
    pub bytes: usize,
    pub nodes: usize,
}

pub fn write_case(dir: &Path, name: &str, onnx: &[u8], x: ArrayView2<'_, f64>, f32_rows: bool) {
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

/// One model exported at one combination into a case folder.
pub struct Exported {
    /// `MODEL_<precision>_ml<opset>`.
    pub name: String,
    /// Size of the ONNX file.
    pub bytes: usize,
    pub rows: Rows,
}

/// Exports `forest` at `precision` and `opset` into `dir` with at most
/// `max_rows` adversarial rows built on `data` (float32 for float models).
pub fn export_case(
    dir: &Path,
    name: &str,
    forest: &Forest,
    data: &Array2<f64>,
    (precision, opset): (Precision, i64),
    max_rows: usize,
) -> Exported {
    let options = ExportOptions {
        ml_opset: Some(opset),
        precision,
        ..Default::default()
    };
    let onnx = to_bytes(forest, &options)
        .unwrap_or_else(|e| panic!("{name} {precision:?} opset {opset}: {e}"));
    let rows = adversarial(forest, data, precision, max_rows);
    let name = format!("{name}_{}_ml{opset}", precision.name());
    write_case(
        dir,
        &name,
        &onnx,
        rows.x.view(),
        precision == Precision::Float,
    );
    Exported {
        name,
        bytes: onnx.len(),
        rows,
    }
}

pub fn number(v: &Value) -> f64 {
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
pub fn compare(
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
