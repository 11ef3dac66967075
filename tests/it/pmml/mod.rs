//! PMML export checked by evaluators nobody here wrote: every model family
//! forest2onnx reads is exported to PMML and scored by JPMML
//! (`jpmml_evaluator`) — and by PMML4S (`pypmml`) for its figures — on data
//! rows, rows on every sampled split threshold (t, t ± 1 ulp, the float32
//! rounding boundaries), NaN rows, category values and zero-band values,
//! then compared with `Forest::predict`: 0 label mismatches and relative
//! differences within 1e-12.
//!
//! Needs `--features python` and `bash scripts/setup-python.sh` (Java and
//! the evaluators); the command-line checks are in `pmml_cli.rs`.
//!
//! `corpus.rs` builds the models, `rows.rs` the adversarial rows,
//! `compare.rs` runs the evaluators and compares their answers.
#![cfg(feature = "python")]

use crate::common;
mod compare;
mod corpus;
mod rows;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use forest2onnx::export::pmml::{self, PmmlError, PmmlOptions};
use forest2onnx::ir::{
    Aggregation, CategoryRule, CategorySplits, Forest, InputRules, Labels, PostTransform,
    Precision, SplitOp, Task, Tree, LEAF, ZERO_THRESHOLD,
};
use forest2onnx::predict::{category_of, read_inputs};
use forest2onnx::rng::SplitMix;
use forest2onnx::synth::{self, SynthSpec};
use ndarray::Array2;
use serde_json::Value;

use compare::*;
use corpus::*;
use rows::*;

const TOLERANCE: f64 = 1e-12;

/// One model of the corpus.
struct Case {
    family: &'static str,
    name: String,
    forest: Forest,
    /// Data rows (rows × features), possibly empty.
    data: Array2<f64>,
}

struct Job {
    case: usize,
    pmml: PathBuf,
    rows: Array2<f64>,
    out: PathBuf,
    summary: pmml::PmmlSummary,
    export_seconds: f64,
    bytes: usize,
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

#[test]
fn jpmml_and_pypmml_reproduce_every_model_family() {
    let python = common::python::python(&["jpmml_evaluator", "pandas", "numpy", "xmlschema"]);
    let dir = tempfile::tempdir().unwrap();
    let cases = corpus();
    let mut jobs = Vec::new();
    let mut refused: Vec<(String, String)> = Vec::new();
    for (c, case) in cases.iter().enumerate() {
        let started = std::time::Instant::now();
        // Both layouts: indented and compact.
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
