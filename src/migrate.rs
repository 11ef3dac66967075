//! Converting many model files at once (`forest2onnx convert DIR_OR_GLOB
//! --out-dir OUT`, Python's `forest2onnx.convert_many`): the files a folder
//! or a glob names, converted in parallel, each validated as a single
//! conversion is, each written atomically, and one [`Outcome`] per file.
//!
//! A file that fails leaves nothing behind: outputs are written through a
//! temporary file and renamed into place only once validated. Files that
//! are not models (CSV data, notes, ONNX outputs) are skipped, not failed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::export::onnx::{to_bytes, ExportOptions};
use crate::export::pmml::{self, PmmlOptions};
use crate::load::LoadError;
use crate::runtime::OnnxModel;
use crate::store::{self, SaveOptions};
use crate::validate::validate_conversion;

/// Largest number of files one run takes (a bound on what a glob may
/// allocate).
pub const MAX_FILES: usize = 100_000;

/// The format every file is converted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// ONNX, validated in tract on rows at every split threshold.
    Onnx,
    /// The native `.forest` file, decoded again and compared.
    Forest,
    /// PMML 4.4.
    Pmml,
}

impl Target {
    /// The output extension.
    pub fn extension(self) -> &'static str {
        match self {
            Target::Onnx => "onnx",
            Target::Forest => store::EXTENSION,
            Target::Pmml => "pmml",
        }
    }
}

/// One input and where its output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The model file.
    pub input: PathBuf,
    /// The output file.
    pub output: PathBuf,
}

/// What became of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Converted, validated and written.
    Converted,
    /// Read, but the model cannot be converted exactly (or is not a
    /// supported model): nothing written.
    Refused,
    /// Not a model file: skipped.
    Skipped,
    /// Anything else (unreadable file, I/O error): nothing written.
    Failed,
}

/// The outcome of one file, in the order of the inputs.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The input file.
    pub input: PathBuf,
    /// The file written (converted files only).
    pub output: Option<PathBuf>,
    /// The input's format, when recognised.
    pub format: Option<String>,
    /// Library that trained the model (`scikit-learn`, ...), when read.
    pub library: Option<String>,
    /// That library's version, when the file records it.
    pub version: Option<String>,
    /// The estimator, when read.
    pub estimator: Option<String>,
    /// What happened.
    pub result: Verdict,
    /// Why it was refused, skipped or failed.
    pub reason: Option<String>,
    /// Bytes written.
    pub bytes: u64,
    /// Time spent on the file, in milliseconds.
    pub millis: u64,
}

impl Outcome {
    /// True when the file counts as a failure (refused or failed).
    pub fn is_failure(&self) -> bool {
        matches!(self.result, Verdict::Refused | Verdict::Failed)
    }
}

/// The files `pattern` names: every file under a folder (recursively), or
/// the files matching a glob (`*` and `?` within a name, `**` for any
/// number of folders), sorted. A plain file names itself.
///
/// Returns the root the outputs' relative paths start from (the folder,
/// the glob's fixed folders, or the file's folder) and the files.
pub fn expand(pattern: &str) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
    let path = Path::new(pattern);
    if !has_wildcard(pattern) {
        if path.is_dir() {
            return Ok((path.to_path_buf(), walk(path, &[])?));
        }
        return if path.is_file() {
            let root = path.parent().unwrap_or(Path::new("")).to_path_buf();
            Ok((root, vec![path.to_path_buf()]))
        } else {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("`{pattern}` is neither a file, a folder nor a glob"),
            ))
        };
    }
    // The folders before the first wildcard are the root of the walk.
    let parts: Vec<&str> = pattern.split('/').collect();
    let fixed = parts.iter().take_while(|p| !has_wildcard(p)).count();
    let root = if fixed == 0 {
        PathBuf::from(".")
    } else if parts[..fixed].join("/").is_empty() {
        PathBuf::from("/")
    } else {
        PathBuf::from(parts[..fixed].join("/"))
    };
    let files = walk(&root, &parts[fixed..])?;
    Ok((root, files))
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// Files under `root` whose path relative to it matches `pattern` (every
/// file when `pattern` is empty), sorted.
fn walk(root: &Path, pattern: &[&str]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(std::io::Error::other)?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let names: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        if pattern.is_empty() || path_matches(pattern, &names) {
            if files.len() == MAX_FILES {
                return Err(std::io::Error::other(format!(
                    "more than {MAX_FILES} files; convert fewer at a time"
                )));
            }
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Whether path components `names` match glob components `pattern`.
fn path_matches(pattern: &[&str], names: &[&str]) -> bool {
    match pattern.split_first() {
        None => names.is_empty(),
        Some((&"**", rest)) => (0..=names.len()).any(|k| path_matches(rest, &names[k..])),
        Some((p, rest)) => names.split_first().is_some_and(|(n, tail)| {
            name_matches(p.as_bytes(), n.as_bytes()) && path_matches(rest, tail)
        }),
    }
}

/// `*` (any run) and `?` (one byte) within one name.
fn name_matches(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|k| name_matches(rest, &n[k..])),
        Some((b'?', rest)) => !n.is_empty() && name_matches(rest, &n[1..]),
        Some((c, rest)) => n.first() == Some(c) && name_matches(rest, &n[1..]),
    }
}

/// Where each input's output goes: under `out_dir`, at the input's path
/// relative to `root` (the folder or the glob's fixed part), extension
/// replaced by the target's. Two inputs of one folder with the same stem
/// (`rf.pkl`, `rf.joblib`) keep their whole names (`rf.pkl.onnx`).
pub fn plan(inputs: &[PathBuf], root: &Path, out_dir: &Path, target: Target) -> Vec<Job> {
    let mut stems: HashMap<PathBuf, usize> = HashMap::new();
    for input in inputs {
        *stems.entry(input.with_extension("")).or_default() += 1;
    }
    inputs
        .iter()
        .map(|input| {
            let rel = input.strip_prefix(root).unwrap_or(input);
            let rel = if rel.as_os_str().is_empty() {
                Path::new(input.file_name().unwrap_or_default())
            } else {
                rel
            };
            let name = if stems[&input.with_extension("")] > 1 {
                rel.as_os_str().to_owned()
            } else {
                rel.with_extension("").into_os_string()
            };
            let mut out = out_dir.join(name).into_os_string();
            out.push(".");
            out.push(target.extension());
            Job {
                input: input.clone(),
                output: PathBuf::from(out),
            }
        })
        .collect()
}

/// Converts every job in parallel (rayon's pool), calling `done` as each
/// file finishes; the outcomes come back in the order of `jobs`.
pub fn run(
    jobs: &[Job],
    target: Target,
    onnx: &ExportOptions,
    done: impl Fn(&Outcome) + Sync,
) -> Vec<Outcome> {
    jobs.par_iter()
        .map(|job| {
            let outcome = convert_one(job, target, onnx);
            done(&outcome);
            outcome
        })
        .collect()
}

/// Converts one file: read, convert, validate, write atomically.
pub fn convert_one(job: &Job, target: Target, onnx: &ExportOptions) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        input: job.input.clone(),
        output: None,
        format: None,
        library: None,
        version: None,
        estimator: None,
        result: Verdict::Failed,
        reason: None,
        bytes: 0,
        millis: 0,
    };
    let finish = |mut o: Outcome| {
        o.millis = started.elapsed().as_millis() as u64;
        o
    };
    let loaded = match crate::load(&job.input) {
        Ok(l) => l,
        Err(e) if is_other_json(&e, &job.input) => {
            outcome.result = Verdict::Skipped;
            outcome.reason = Some("not a model file: JSON of no known model format".into());
            return finish(outcome);
        }
        Err(e) => {
            outcome.result = match &e {
                LoadError::Unrecognised | LoadError::Empty | LoadError::OnnxNotSource => {
                    Verdict::Skipped
                }
                LoadError::FeatureDisabled { .. } => Verdict::Refused,
                LoadError::Import { source, .. } if is_refusal(source.as_ref()) => Verdict::Refused,
                _ => Verdict::Failed,
            };
            outcome.reason = Some(with_causes(&e));
            return finish(outcome);
        }
    };
    let source = &loaded.forest.source;
    outcome.format = Some(loaded.format.describe().to_string());
    let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
    outcome.library = known(&source.library);
    outcome.version = known(&source.version);
    outcome.estimator = known(&source.estimator);
    match write(&loaded, &job.output, target, onnx) {
        Ok(bytes) => {
            outcome.result = Verdict::Converted;
            outcome.output = Some(job.output.clone());
            outcome.bytes = bytes;
        }
        Err((result, reason)) => {
            outcome.result = result;
            outcome.reason = Some(reason);
        }
    }
    finish(outcome)
}

/// Whether a file that only the smartcore JSON reader tried (the fallback
/// for any JSON object) is JSON without a smartcore model's shape, such as
/// a `manifest.json`: not a model, so skipped rather than failed. JSON that
/// does not parse still fails (it may be a damaged model).
fn is_other_json(e: &LoadError, path: &Path) -> bool {
    #[cfg(feature = "smartcore")]
    if let LoadError::Import {
        format: crate::load::Format::SmartcoreJson,
        ..
    } = e
    {
        return std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| !crate::import::smartcore::is_model_shaped(&v));
    }
    let _ = (e, path);
    false
}

/// Whether an importer error says "not supported" rather than "broken".
fn is_refusal(e: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(feature = "sklearn")]
    if let Some(e) = e.downcast_ref::<crate::import::sklearn::SklearnError>() {
        use crate::import::sklearn::SklearnError as E;
        return matches!(
            e,
            E::UnsupportedEstimator { .. } | E::Unsupported { .. } | E::MultiOutput { .. }
        );
    }
    let text = e.to_string();
    text.contains("not supported") || text.contains("unsupported")
}

/// `error: cause: cause`.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text += ": ";
            text += &line;
        }
        source = cause.source();
    }
    text
}

type Failure = (Verdict, String);

fn write(
    loaded: &crate::Loaded,
    out: &Path,
    target: Target,
    onnx: &ExportOptions,
) -> std::result::Result<u64, Failure> {
    let forest = &loaded.forest;
    let refused = |e: &dyn std::error::Error| (Verdict::Refused, with_causes(e));
    let failed = |what: &str, e: &dyn std::error::Error| (Verdict::Failed, format!("{what}: {e}"));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(&format!("cannot create {}", dir.display()), &e))?;
    }
    let bytes = match target {
        Target::Forest => {
            let opts = loaded
                .provenance
                .as_ref()
                .map(SaveOptions::from_metadata)
                .unwrap_or_default();
            let bytes = store::to_bytes(forest, &opts).map_err(|e| refused(&e))?;
            store::verify(forest, &bytes)
                .map_err(|e| failed("the native file does not reload identically", &e))?;
            bytes
        }
        Target::Onnx => {
            let mut options = onnx.clone();
            if options.graph_name.is_empty() {
                options.graph_name = stem(out);
            }
            let bytes = to_bytes(forest, &options).map_err(|e| refused(&e))?;
            let model = OnnxModel::from_bytes(&bytes)
                .map_err(|e| failed("tract cannot load the ONNX model", &e))?;
            let none = Array2::zeros((0, forest.n_features));
            let outcome = validate_conversion(forest, &model, none.view())
                .map_err(|e| failed("validation", &e))?;
            if !outcome.passed {
                return Err((
                    Verdict::Failed,
                    format!(
                        "the ONNX model does not reproduce the source model: {}",
                        outcome.to_text().lines().next().unwrap_or_default()
                    ),
                ));
            }
            bytes
        }
        Target::Pmml => {
            pmml::check(forest).map_err(|e| refused(&e))?;
            let options = PmmlOptions {
                model_name: Some(stem(out)),
                description: None,
                indent: None,
            };
            pmml::write(forest, &options, Vec::new()).map_err(|e| refused(&e))?
        }
    };
    crate::atomic::write(out, &bytes, crate::atomic::Existing::Replace)
        .map_err(|e| failed(&format!("cannot write {}", out.display()), &e))?;
    Ok(bytes.len() as u64)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or("forest".into(), |s| s.to_string_lossy().into_owned())
}

/// Counts of a run, by result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Files looked at.
    pub files: usize,
    /// Converted.
    pub converted: usize,
    /// Refused.
    pub refused: usize,
    /// Skipped (not models).
    pub skipped: usize,
    /// Failed.
    pub failed: usize,
}

impl Totals {
    /// The totals of `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Totals {
        let mut t = Totals {
            files: outcomes.len(),
            ..Totals::default()
        };
        for o in outcomes {
            match o.result {
                Verdict::Converted => t.converted += 1,
                Verdict::Refused => t.refused += 1,
                Verdict::Skipped => t.skipped += 1,
                Verdict::Failed => t.failed += 1,
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_names_and_folders() {
        assert!(name_matches(b"*.pkl", b"rf.p4.pkl"));
        assert!(!name_matches(b"*.pkl", b"rf.joblib"));
        assert!(name_matches(b"rf.p?.pkl", b"rf.p4.pkl"));
        assert!(path_matches(&["**", "*.pkl"], &["a", "b", "rf.pkl"]));
        assert!(path_matches(&["**", "*.pkl"], &["rf.pkl"]));
        assert!(!path_matches(&["*", "*.pkl"], &["rf.pkl"]));
    }

    #[test]
    fn same_stems_keep_their_whole_names() {
        let inputs = [
            PathBuf::from("in/rf.pkl"),
            PathBuf::from("in/rf.joblib"),
            PathBuf::from("in/sub/dt.pkl"),
        ];
        let jobs = plan(&inputs, Path::new("in"), Path::new("out"), Target::Onnx);
        let outs: Vec<_> = jobs.iter().map(|j| j.output.clone()).collect();
        assert_eq!(
            outs,
            [
                PathBuf::from("out/rf.pkl.onnx"),
                PathBuf::from("out/rf.joblib.onnx"),
                PathBuf::from("out/sub/dt.onnx")
            ]
        );
    }
}
