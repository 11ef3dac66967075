//! `forest2onnx convert DIR_OR_GLOB --out-dir OUT`: many model files in one
//! run ([`forest2onnx::migrate`]), in parallel, under a progress bar, with
//! a summary table (or `--json`); the exit status is non-zero when any file
//! was refused or failed.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use forest2onnx::export::onnx::ExportOptions;
use forest2onnx::migrate::{self, Outcome, Target, Totals, Verdict};
use serde::Serialize;

use super::output::{self, print, print_json};
use super::{Global, Status};

/// What the batch mode of `convert` was asked.
pub struct Request<'a> {
    /// A folder, a glob or a file.
    pub pattern: &'a Path,
    /// Where the outputs go (created when missing).
    pub out_dir: &'a Path,
    /// Output format.
    pub target: Target,
    /// ONNX options.
    pub onnx: ExportOptions,
    /// `--json`.
    pub json: bool,
}

#[derive(Serialize)]
struct Summary<'a> {
    target: Target,
    out_dir: &'a Path,
    totals: Totals,
    seconds: f64,
    files: &'a [Outcome],
}

/// Runs the batch conversion.
pub fn run(g: Global, req: Request<'_>) -> Result<Status> {
    let started = Instant::now();
    let pattern = req.pattern.to_string_lossy();
    let (root, files) = migrate::expand(&pattern)
        .with_context(|| format!("cannot list the models of `{pattern}`"))?;
    if files.is_empty() {
        bail!("`{pattern}` names no files");
    }
    if req.out_dir.exists() && !req.out_dir.is_dir() {
        bail!("--out-dir `{}` is not a folder", req.out_dir.display());
    }
    let jobs = migrate::plan(&files, &root, req.out_dir, req.target);
    let bar = g.progress().items(jobs.len() as u64, "converting");
    let outcomes = migrate::run(&jobs, req.target, &req.onnx, |o| {
        bar.set_message(o.input.display().to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    let totals = Totals::of(&outcomes);
    let elapsed = started.elapsed();
    if req.json {
        print_json(&Summary {
            target: req.target,
            out_dir: req.out_dir,
            totals: totals.clone(),
            seconds: elapsed.as_secs_f64(),
            files: &outcomes,
        })?;
    } else {
        print(&table(&outcomes))?;
        print(&format!(
            "{} files: {} converted, {} refused, {} failed, {} skipped (not models) in {}\n",
            totals.files,
            totals.converted,
            totals.refused,
            totals.failed,
            totals.skipped,
            output::human_duration(elapsed),
        ))?;
    }
    let failures = totals.refused + totals.failed;
    if failures > 0 {
        bail!(
            "{failures} of {} files were not converted (nothing was written for them)",
            totals.files
        );
    }
    Ok(Status::Success)
}

/// One line per file: input, source, result, reason.
fn table(outcomes: &[Outcome]) -> String {
    let rows: Vec<[String; 4]> = outcomes
        .iter()
        .map(|o| {
            let source = match (&o.library, &o.version) {
                (Some(l), Some(v)) => format!("{l} {v}"),
                (Some(l), None) => l.clone(),
                _ => "-".into(),
            };
            let result = match o.result {
                Verdict::Converted => "converted",
                Verdict::Refused => "REFUSED",
                Verdict::Skipped => "skipped",
                Verdict::Failed => "FAILED",
            };
            [
                o.input.display().to_string(),
                source,
                result.to_string(),
                o.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["FILE", "SOURCE", "RESULT", "REASON"].map(String::from);
    let width = |k: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[k].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2) = (width(0), width(1), width(2));
    let mut text = String::new();
    for r in [&header].into_iter().chain(&rows) {
        let line = format!("{:w0$}  {:w1$}  {:w2$}  {}", r[0], r[1], r[2], r[3]);
        text += line.trim_end();
        text += "\n";
    }
    text
}
