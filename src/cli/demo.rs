//! `forest2onnx demo`: the whole pipeline on built-in data, in one command.
//!
//! Train (smartcore, iris, 100 trees, seed 42) → save natively → reload →
//! export ONNX → run it in tract and compare with the reloaded model on every
//! iris row and on rows placed exactly on every split threshold → compare
//! smartcore's own predictions on the same rows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::ElementType;
use forest2onnx::store::{self, DataFingerprint, SaveOptions};
use forest2onnx::train::datasets::Builtin;
use forest2onnx::train::{self as lib, Targets, TrainParams, TrainingData};
use forest2onnx::validate::with_adversarial_rows;
use serde::Serialize;

use super::output::{self, human_duration, human_size, millis, print, print_json, write_atomic};
use super::progress::with_spinner;
use super::validate::compare;
use super::{Global, Status};
use forest2onnx::validate::ValidationOutcome;

/// Train, save, reload, export and validate a model on built-in data.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Run the demo; files go to a new folder forest2onnx-demo-<UTC time>:
        forest2onnx demo

    Put the files in a folder of your choice (created if missing; files in it
    with the same names are replaced):
        forest2onnx demo --out demo

    Machine-readable summary:
        forest2onnx demo --json

WHAT IT DOES:
    Trains a smartcore RandomForestClassifier (100 trees, seed 42) on the
    built-in iris data, saves it as iris.forest, reloads it, exports
    iris.onnx, runs the ONNX model in tract and compares it with the reloaded
    model on all 150 rows plus rows placed exactly on every split threshold
    (one float step either side, and NaN), and compares smartcore's own
    predictions on the same rows. It also writes iris.csv (the data) so you
    can try `forest2onnx predict`. Exit status 3 if anything disagrees.")]
pub struct Args {
    /// Folder for the files [default: a new folder forest2onnx-demo-YYYYMMDD-HHMMSS
    /// (UTC) in the current directory].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

const TREES: u16 = 100;
const SEED: u64 = 42;

#[derive(Default)]
struct Timings {
    train: Duration,
    save: Duration,
    reload: Duration,
    export: Duration,
    validate: Duration,
}

#[derive(Serialize)]
struct FileInfo {
    path: PathBuf,
    bytes: u64,
    what: &'static str,
}

#[derive(Serialize)]
struct Summary {
    passed: bool,
    dir: PathBuf,
    dir_created: bool,
    trees: usize,
    nodes: usize,
    leaves: usize,
    max_depth: usize,
    training_accuracy: f64,
    training_rows: usize,
    rows_compared: usize,
    adversarial_rows: usize,
    mismatches: usize,
    onnx_mismatches: usize,
    smartcore_mismatches: usize,
    reload_identical: bool,
    max_abs_diff: f64,
    timings_ms: serde_json::Value,
    files: Vec<FileInfo>,
    validation: ValidationOutcome,
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    let (dir, dir_created) = out_dir(args.out.as_deref())?;
    let data = Builtin::Iris.load();
    let params = TrainParams {
        trees: TREES,
        seed: SEED,
        ..Default::default()
    };
    let mut t = Timings::default();

    let started = Instant::now();
    let trained = with_spinner(
        g.progress(),
        format!("training a random forest of {TREES} trees on iris"),
        || lib::train(&data, &params),
    )
    .context("training on iris failed")?;
    t.train = started.elapsed();
    let accuracy = trained.accuracy(&data);

    let model_path = dir.join("iris.forest");
    let started = Instant::now();
    let opts = SaveOptions {
        training_params: Some(params.to_json(data.x.ncols())),
        data_fingerprint: Some(DataFingerprint::of(data.x.view())),
        tags: [("dataset".to_string(), "iris".to_string())].into(),
        ..Default::default()
    };
    store::save(&trained.forest, &model_path, &opts)
        .with_context(|| format!("cannot save `{}`", model_path.display()))?;
    t.save = started.elapsed();

    let started = Instant::now();
    let reloaded = store::load(&model_path)
        .with_context(|| format!("cannot reload `{}`", model_path.display()))?;
    t.reload = started.elapsed();
    let reload_identical = reloaded == trained.forest;

    let onnx_path = dir.join("iris.onnx");
    let started = Instant::now();
    let onnx = to_bytes(&reloaded, &ExportOptions::default()).context("ONNX export failed")?;
    write_atomic(&onnx_path, &onnx)?;
    t.export = started.elapsed();

    let csv_path = dir.join("iris.csv");
    write_atomic(&csv_path, data_csv(&data).as_bytes())?;

    // The ONNX model sees float32; iris values are float32 already, so the
    // rows below are exactly the training rows.
    let x = data.x.mapv(|v| f64::from(v as f32));
    let started = Instant::now();
    let validation = compare(g.progress(), &reloaded, &onnx, Some(x.clone()))?;
    let rows = with_adversarial_rows(&reloaded, ElementType::Float, x.view(), usize::MAX)?;
    let ours = reloaded.predict(rows.view()).classes;
    let theirs = with_spinner(g.progress(), "comparing with smartcore", || {
        trained.predict_smartcore(rows.view())
    })?;
    let smartcore_mismatches = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
    t.validate = started.elapsed();

    let onnx_mismatches = validation.mismatches();
    let mismatches = onnx_mismatches + smartcore_mismatches + usize::from(!reload_identical);
    let files = vec![
        FileInfo {
            bytes: output::file_size(&model_path),
            path: model_path,
            what: "native model (zstd level 3)",
        },
        FileInfo {
            bytes: output::file_size(&onnx_path),
            path: onnx_path,
            what: "ONNX model (ai.onnx.ml opset 1)",
        },
        FileInfo {
            bytes: output::file_size(&csv_path),
            path: csv_path,
            what: "the iris data, to try `predict` on",
        },
    ];
    let summary = Summary {
        passed: mismatches == 0,
        dir: output::absolute(&dir),
        dir_created,
        trees: reloaded.trees.len(),
        nodes: reloaded.n_nodes(),
        leaves: reloaded.n_leaves(),
        max_depth: reloaded.max_depth(),
        training_accuracy: accuracy,
        training_rows: data.x.nrows(),
        rows_compared: rows.nrows(),
        adversarial_rows: rows.nrows() - x.nrows(),
        mismatches,
        onnx_mismatches,
        smartcore_mismatches,
        reload_identical,
        max_abs_diff: validation.max_abs_diff(),
        timings_ms: serde_json::json!({
            "train": millis(t.train),
            "save": millis(t.save),
            "reload": millis(t.reload),
            "export": millis(t.export),
            "validate": millis(t.validate),
        }),
        files,
        validation,
    };
    if args.json {
        print_json(&summary)?;
    } else {
        print(&text(&summary, &t, &dir))?;
    }
    Ok(if summary.passed {
        Status::Success
    } else {
        Status::Mismatch
    })
}

/// The folder to write to, and whether this run created it.
fn out_dir(out: Option<&Path>) -> Result<(PathBuf, bool)> {
    if let Some(dir) = out {
        if dir.exists() && !dir.is_dir() {
            anyhow::bail!("`{}` exists and is not a folder", dir.display());
        }
        let created = !dir.exists();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder `{}`", dir.display()))?;
        return Ok((dir.to_path_buf(), created));
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .unwrap_or_else(|_| "run".into());
    // Never reuse a folder: two demos in the same second get -2, -3, ...
    for n in 1..1000 {
        let name = if n == 1 {
            format!("forest2onnx-demo-{stamp}")
        } else {
            format!("forest2onnx-demo-{stamp}-{n}")
        };
        let dir = PathBuf::from(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((dir, true)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot create the folder `{}` in the current directory (use --out DIR)",
                        dir.display()
                    )
                })
            }
        }
    }
    anyhow::bail!("cannot find a free folder name for the demo; use --out DIR")
}

/// The dataset as CSV: feature columns, then the class names.
fn data_csv(data: &TrainingData) -> String {
    let mut s = data.feature_names.join(",");
    let _ = writeln!(s, ",{}", data.target_name);
    for (r, row) in data.x.rows().into_iter().enumerate() {
        // iris is stored as float32: its shortest float32 decimal is the
        // value as published (5.1, not 5.099999904632568).
        let cells: Vec<String> = row.iter().map(|&v| (v as f32).to_string()).collect();
        let label = match &data.y {
            Targets::Int(v) => v[r].to_string(),
            Targets::Str(v) => v[r].clone(),
        };
        let _ = writeln!(s, "{},{label}", cells.join(","));
    }
    s
}

fn text(s: &Summary, t: &Timings, dir: &Path) -> String {
    let v = &s.validation;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "forest2onnx demo: smartcore RandomForestClassifier ({TREES} trees, seed {SEED}) on iris ({} rows, 4 features, 3 classes)",
        s.training_rows
    );
    let _ = writeln!(o, "training accuracy: {:.2}%", s.training_accuracy * 100.0);
    let _ = writeln!(
        o,
        "model: {} trees, {} nodes, {} leaves, max depth {}",
        s.trees, s.nodes, s.leaves, s.max_depth
    );
    let _ = writeln!(
        o,
        "native save → reload: {}",
        if s.reload_identical {
            "identical forest"
        } else {
            "DIFFERENT forest"
        }
    );
    let _ = writeln!(
        o,
        "rows compared: {} ({} iris rows + {} adversarial threshold rows)",
        s.rows_compared, s.training_rows, s.adversarial_rows
    );
    match &v.report {
        Some(r) => {
            let _ = writeln!(
                o,
                "  ONNX in tract vs reloaded model: {} label, {} probability mismatches",
                r.label_mismatches, r.output_mismatches
            );
        }
        None => {
            let _ = writeln!(
                o,
                "  ONNX in tract vs reloaded model: {}",
                v.incompatible.as_deref().unwrap_or("not compared")
            );
        }
    }
    let _ = writeln!(
        o,
        "  smartcore predict vs reloaded model: {} label mismatches",
        s.smartcore_mismatches
    );
    let _ = writeln!(o, "mismatches: {}", s.mismatches);
    let _ = writeln!(o, "max |Δp|: {:.3e}", s.max_abs_diff);
    let where_ = if s.dir_created {
        "new folder"
    } else {
        "existing folder"
    };
    let _ = writeln!(o, "files ({where_} {}):", s.dir.display());
    for f in &s.files {
        let name = f
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let _ = writeln!(o, "  {name:<12} {:>10}  {}", human_size(f.bytes), f.what);
    }
    let _ = writeln!(
        o,
        "timings: train {}, save {}, reload {}, export {}, validate {}",
        human_duration(t.train),
        human_duration(t.save),
        human_duration(t.reload),
        human_duration(t.export),
        human_duration(t.validate)
    );
    let onnx = dir.join("iris.onnx");
    let csv = dir.join("iris.csv");
    let me = this_command();
    let _ = writeln!(o, "next:");
    let _ = writeln!(o, "  {me} inspect {}", onnx.display());
    let _ = writeln!(
        o,
        "  {me} predict {} --data {}",
        onnx.display(),
        csv.display()
    );
    o
}

/// How to run this binary again from the current folder: `forest2onnx`
/// when that name on the PATH is this binary, else its path (after `cargo
/// run` nothing is installed on the PATH), relative to the current folder
/// when it lies below it.
fn this_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(|p| p.canonicalize()) else {
        return "forest2onnx".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            dir.join("forest2onnx")
                .canonicalize()
                .is_ok_and(|found| found == exe)
        })
    });
    if on_path {
        return "forest2onnx".into();
    }
    let cwd = std::env::current_dir().and_then(|d| d.canonicalize());
    match cwd
        .ok()
        .and_then(|cwd| exe.strip_prefix(&cwd).ok().map(Path::to_path_buf))
    {
        Some(relative) => relative.display().to_string(),
        None => exe.display().to_string(),
    }
}
