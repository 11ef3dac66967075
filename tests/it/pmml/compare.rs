//! Running the evaluators on the exported files, and comparing their
//! answers with `Forest::predict`.

use super::*;

pub(crate) fn evaluate(
    python: &Path,
    dir: &Path,
    evaluator: &str,
    jobs: &[Job],
) -> Result<(), String> {
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/oracles/pmml_eval.py");
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

pub(crate) fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
    }
}

pub(crate) fn label_matches(got: &Value, labels: &Labels, k: usize) -> bool {
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

/// Compares one evaluator's results with the IR.
pub(crate) fn compare(case: &Case, job: &Job, result: &Value) -> Comparison {
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
