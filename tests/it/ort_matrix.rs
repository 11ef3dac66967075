//! The runtime compatibility matrix: the conformance corpus (every model
//! kind the IR holds, every family as its library saves it, and the shapes
//! of known onnxruntime bugs) × float/double × `ai.onnx.ml` opsets 1/3/5,
//! run in every onnxruntime release from 1.16 to the newest (one venv each,
//! `scripts/setup-ort-matrix.sh`), onnxruntime-node, onnxruntime-web, ONNX's reference
//! evaluator and tract, against `Forest::predict`.
//!
//! Fails on any mismatch, and on any error, unless
//! `forest2onnx::export::onnx::target` documents that release as refused
//! for that opset (`--target-runtime onnxruntime==X.Y`). Writes the table
//! the README shows to `target/ort-matrix.md`.
#![cfg(feature = "python")]

mod corpus;
mod runtimes;

use std::collections::BTreeMap;

use forest2onnx::export::onnx::target::TargetRuntime;
use forest2onnx::export::onnx::{ExportOptions, Precision};
use forest2onnx::ir::Forest;
use ndarray::{s, Array2};

use crate::matrix::check::{compare, export_case, Tally, COMBINATIONS};
use corpus::{corpus, Entry};
use runtimes::{Kind, Runtime};

/// Adversarial rows per model and combination, at most.
const MAX_ROWS: usize = 1000;

struct Case {
    name: String,
    entry: usize,
    precision: Precision,
    opset: i64,
    /// The rows as the model is fed them (float32-rounded for float).
    x: Array2<f64>,
    /// A categorical split of the model holds category 0.
    members_zero: bool,
}

/// One cell: a runtime at one opset and precision.
#[derive(Default)]
struct Cell {
    /// Models the runtime ran exactly.
    exact: usize,
    rows: usize,
    /// Models it ran with mismatches, and those rows.
    wrong: usize,
    label_mismatches: usize,
    rows_off: usize,
    /// Models it could not load or run.
    errors: usize,
    /// The documented reasons for what went wrong.
    why: std::collections::BTreeSet<&'static str>,
    /// Models that went wrong without a documented reason.
    undocumented: Vec<String>,
}

/// Defects of ONNX's reference evaluator (`onnx.reference`) that our files
/// hit, by case (its source: `onnx/reference/ops/aionnxml/`). It is no
/// runtime users serve from, so they are documented here, not refused.
fn reference_defect(case: &Case, error: Option<&str>) -> Option<&'static str> {
    let Some(error) = error else {
        // Wrong values: only where a BRANCH_MEMBER set holds category 0.
        return (case.opset == 5 && case.members_zero).then_some(
            "its reading of membership_values ends a set at a member 0.0 (falsy), \
             so sets holding category 0 are cut short (opset 5)",
        );
    };
    if error.contains("KeyError") {
        Some("it needs a weight entry for every leaf (we write only non-zero weights, as the specification allows)")
    } else if error.contains("nodes_values[") {
        Some("it ignores nodes_values_as_tensor: double thresholds (opset 3) cannot run")
    } else if error.contains("nodes_missing_value_tracks_true[") {
        Some("it fails on NaN when nodes_missing_value_tracks_true is left out (all false, the specification's default)")
    } else {
        None
    }
}

/// The number of `note` among `notes` (1-based), added when new.
fn footnote(notes: &mut Vec<String>, note: &str) -> usize {
    match notes.iter().position(|n| n == note) {
        Some(k) => k + 1,
        None => {
            notes.push(note.to_string());
            notes.len()
        }
    }
}

/// Why `release` refuses `case` for the depth of its trees as written, if
/// it does.
fn too_deep(release: &TargetRuntime, forest: &Forest, case: &Case) -> Option<&'static str> {
    let options = ExportOptions {
        precision: case.precision,
        ml_opset: Some(case.opset),
        ..ExportOptions::default()
    };
    let depth = forest2onnx::export::onnx::written_depth(forest, &options).unwrap();
    release.check_depth(depth).err().map(|_| {
        "its WebAssembly build overflows its stack on trees about 1,800 split levels deep \
         (here a 2,000-category set written as a chain at opsets 1/3); refused beyond 1,024 \
         levels as written"
    })
}

fn label(runtime: &Runtime) -> String {
    format!("{} {}", runtime.family, runtime.version)
}

#[test]
fn every_runtime_release_runs_the_corpus_exactly() {
    let reference_python = crate::common::python::python(&["numpy", "onnx"]);
    let mut runtimes = runtimes::all(reference_python);
    let entries = corpus();
    let dir = tempfile::tempdir().unwrap();
    let cases_dir = dir.path().join("cases");
    std::fs::create_dir(&cases_dir).unwrap();
    let mut cases = Vec::new();
    for (e, Entry { name, forest, data }) in entries.iter().enumerate() {
        forest.check().unwrap_or_else(|err| panic!("{name}: {err}"));
        for (precision, opset) in COMBINATIONS {
            let case = export_case(&cases_dir, name, forest, data, (precision, opset), MAX_ROWS);
            let x = match precision {
                Precision::Float => case.rows.x.mapv(|v| f64::from(v as f32)),
                // COMBINATIONS names float or double.
                Precision::Double | Precision::Auto => case.rows.x,
            };
            cases.push(Case {
                name: case.name,
                entry: e,
                precision,
                opset,
                x,
                members_zero: forest
                    .trees
                    .iter()
                    .any(|t| t.categories.iter().any(|(_, set)| set.contains(&0))),
            });
        }
    }

    // Two runtimes at a time: each runs one thread.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<(usize, serde_json::Value)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let (next, runtimes, dir) = (&next, &runtimes, dir.path());
                let cases_dir = &cases_dir;
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let r = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(runtime) = runtimes.get(r) else {
                            break;
                        };
                        let out = dir.join(format!("result-{w}.json"));
                        let started = std::time::Instant::now();
                        let result = runtimes::run(runtime, cases_dir, &out);
                        eprintln!(
                            "{}: {:.1} s",
                            label(runtime),
                            started.elapsed().as_secs_f64()
                        );
                        done.push((r, result));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });

    let mut cells: BTreeMap<(usize, i64, &'static str), Cell> = BTreeMap::new();
    for (r, result) in results {
        let runtime = &mut runtimes[r];
        if runtime.version.is_empty() {
            runtime.version = result["version"].as_str().unwrap().to_string();
        }
        let runtime = &runtimes[r];
        let refusal = match runtime.kind {
            Kind::Python(_, "onnxruntime") | Kind::Node(_) => Some(
                format!("{}=={}", runtime.family, runtime.version)
                    .parse::<TargetRuntime>()
                    .unwrap(),
            ),
            _ => None,
        };
        let stride = result["stride"].as_u64().unwrap() as usize;
        for case in &cases {
            let entry = &entries[case.entry];
            let cell = cells
                .entry((r, case.opset, case.precision.name()))
                .or_default();
            let got = &result["cases"][&case.name];
            let error = got.get("error").map(|e| e.to_string());
            let mut tally = Tally::default();
            if error.is_none() {
                let x = case.x.slice(s![..;stride, ..]).to_owned();
                let what = format!("{} {}", label(runtime), case.name);
                compare(
                    &mut tally,
                    &what,
                    &entry.forest,
                    &x,
                    case.precision,
                    &got["outputs"],
                );
                cell.rows += tally.rows;
            }
            if error.is_none() && tally.label_mismatches + tally.value_mismatches == 0 {
                cell.exact += 1;
                continue;
            }
            match &error {
                Some(_) => cell.errors += 1,
                None => {
                    cell.wrong += 1;
                    cell.label_mismatches += tally.label_mismatches;
                    cell.rows_off += tally.value_mismatches;
                }
            }
            let documented = match &refusal {
                Some(release) => release
                    .refusal(case.opset, case.precision)
                    .or_else(|| too_deep(release, &entry.forest, case)),
                None if runtime.family == "onnx.reference" => {
                    reference_defect(case, error.as_deref())
                }
                None => None,
            };
            match documented {
                Some(why) => {
                    cell.why.insert(why);
                }
                None => {
                    let detail = error.unwrap_or_else(|| {
                        format!(
                            "{} label mismatches, {} rows off",
                            tally.label_mismatches, tally.value_mismatches
                        )
                    });
                    cell.undocumented.push(format!("{}: {detail}", case.name));
                }
            }
        }
    }

    let mut table = vec![
        "| runtime | ml opset | precision | models exact | rows | models wrong | label mismatches | rows off | models not run | verdict |".to_string(),
        "|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    // The README's table: one row per runtime, one column per combination.
    let mut compact: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut notes: Vec<String> = Vec::new();
    for ((r, opset, precision), cell) in &cells {
        let runtime = &runtimes[*r];
        let what = format!("{} opset {opset} {precision}", label(runtime));
        let refused = match runtime.kind {
            Kind::Python(_, "onnxruntime") => format!("onnxruntime=={}", runtime.version)
                .parse::<TargetRuntime>()
                .unwrap()
                .refusal(
                    *opset,
                    if *precision == "double" {
                        Precision::Double
                    } else {
                        Precision::Float
                    },
                ),
            _ => None,
        };
        for bad in &cell.undocumented {
            failures.push(format!("{what}: {bad}"));
        }
        if refused.is_some() && cell.wrong + cell.errors == 0 {
            failures.push(format!(
                "{what}: refused by --target-runtime, yet every model ran exactly: drop the refusal"
            ));
        }
        let reasons = cell.why.iter().copied().collect::<Vec<_>>().join("; ");
        let verdict = match (refused, cell.why.is_empty(), cell.undocumented.is_empty()) {
            (_, _, false) => "**MISMATCH**".to_string(),
            (Some(why), _, true) => format!("refused: {why}"),
            (None, false, true) => format!("{} defect: {reasons}", runtime.family),
            (None, true, true) => "exact".to_string(),
        };
        let total = cell.exact + cell.wrong + cell.errors;
        let short = match (refused, cell.why.is_empty()) {
            (Some(why), _) if cell.errors == total => {
                format!("refused [{}]: not loaded", footnote(&mut notes, why))
            }
            (Some(why), _) => format!(
                "refused [{}]: {}/{total} wrong",
                footnote(&mut notes, why),
                cell.wrong
            ),
            (None, true) => format!("{}/{total} exact", cell.exact),
            (None, false) => format!(
                "{}/{total} exact [{}]",
                cell.exact,
                footnote(&mut notes, &reasons)
            ),
        };
        compact.entry(*r).or_default().push(short);
        table.push(format!(
            "| {} | {opset} | {precision} | {} | {} | {} | {} | {} | {} | {verdict} |",
            label(runtime),
            cell.exact,
            cell.rows,
            cell.wrong,
            cell.label_mismatches,
            cell.rows_off,
            cell.errors,
        ));
    }
    let table = table.join("\n");
    eprintln!("{table}");
    let columns: Vec<String> = cells
        .keys()
        .filter(|(r, ..)| *r == 0)
        .map(|(_, opset, precision)| format!("{precision} opset {opset}"))
        .collect();
    let mut readme = vec![
        format!("| runtime | {} |", columns.join(" | ")),
        format!("|---|{}", "---|".repeat(columns.len())),
    ];
    for (r, row) in &compact {
        readme.push(format!(
            "| {} | {} |",
            label(&runtimes[*r]),
            row.join(" | ")
        ));
    }
    readme.push(String::new());
    for (k, note) in notes.iter().enumerate() {
        readme.push(format!("[{}] {note}", k + 1));
    }
    let rows: usize = cells.values().map(|c| c.rows).sum();
    let exact: usize = cells.values().map(|c| c.exact).sum();
    readme.push(String::new());
    readme.push(format!(
        "{} runtimes × {} combinations × {} models: {exact} runs exact, {rows} rows compared",
        runtimes.len(),
        columns.len(),
        entries.len()
    ));
    let readme = readme.join("\n");
    eprintln!("{readme}");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let _ = std::fs::create_dir_all(&target_dir);
    std::fs::write(
        target_dir.join("ort-matrix.md"),
        format!("{readme}\n\n{table}\n"),
    )
    .unwrap();
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
