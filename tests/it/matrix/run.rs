//! The conformance matrix: every model kind × precision × ai.onnx.ml opset,
//! checked with `onnx.checker` (full check) and run in onnxruntime (one and
//! the default number of threads) against `Forest::predict`.

use std::collections::BTreeMap;

use forest2onnx::export::onnx::{to_bytes, ExportError, ExportOptions, Precision};

use super::check::{compare, export_case, write_case, Tally, COMBINATIONS};
use super::models::{models, Model};
use super::rows::{adversarial, Rows};

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

#[test]
fn every_model_kind_precision_and_opset_passes_checker_and_onnxruntime() {
    let py = crate::common::python::python(&["numpy", "onnx", "onnxruntime"]);
    let dir = tempfile::tempdir().unwrap();
    let models = models();
    let mut cases = Vec::new();
    for (m, Model { name, forest, data }) in models.iter().enumerate() {
        forest.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        for (precision, opset) in COMBINATIONS {
            let case = export_case(dir.path(), name, forest, data, (precision, opset), MAX_ROWS);
            cases.push(Case {
                name: case.name,
                model: m,
                precision,
                opset,
                bytes: case.bytes,
                rows: case.rows,
                fed_f32: precision == Precision::Float,
                misrouting_demo: false,
            });
            if precision == Precision::Double {
                // The same rows through the float export: values float32
                // cannot hold next to a threshold are misrouted there.
                let float = ExportOptions {
                    ml_opset: Some(opset),
                    precision: Precision::Float,
                    ..Default::default()
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
        ml_opset: Some(1),
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
