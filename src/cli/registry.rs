//! `forest2onnx registry`: push, list, pull and verify versioned models on a
//! folder or an object store (see `forest2onnx::registry`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::registry::{LockFile, ModelRef, Registry, VersionInfo, LOCK_FILE_NAME, ONNX_FILE};
use serde::Serialize;

use forest2onnx::load::ModelFile;
use forest2onnx::Format;

use super::output::{human_duration, human_size, print, print_json, to_stderr};
use super::validate::compare;
use super::{load_file, Global, Status};

const URLS: &str = "\
REGISTRY URLS:
    ./models, /srv/models, file:///srv/models   a local folder
    s3://BUCKET/PREFIX    Amazon S3 or an S3-compatible server
                          (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
                          AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, ...)
    gs://BUCKET/PREFIX    Google Cloud Storage (GOOGLE_SERVICE_ACCOUNT,
                          GOOGLE_APPLICATION_CREDENTIALS, or STORAGE_EMULATOR_HOST)
    az://CONTAINER/PREFIX Azure Blob Storage (AZURE_STORAGE_ACCOUNT_NAME,
                          AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_CONNECTION_STRING,
                          AZURE_STORAGE_USE_EMULATOR, ...)
    Layout and guarantees: docs/REGISTRY.md.";

/// Publish, list, pull and verify versioned models in a folder or an object store.
#[derive(Debug, clap::Args)]
#[command(after_help = URLS)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    Push(PushArgs),
    List(ListArgs),
    Pull(PullArgs),
    Verify(VerifyArgs),
}

/// Publish a model as the next version of NAME (prints `pushed NAME vN sha256:HEX`).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    forest2onnx registry push iris.forest --to s3://models/team
    forest2onnx registry push rf.joblib --to ./models --name churn --onnx --tag stage=prod

WHAT IS STORED:
    NAME/vN/model.forest (the model as a native file; a .forest input is stored
    byte for byte), NAME/vN/model.onnx with --onnx (validated in tract first:
    on a mismatch nothing is pushed, exit status 3), and NAME/vN/manifest.json
    (sha256 and size of each file, source library, features, classes, tags),
    uploaded last. N is allocated with an exclusive create: concurrent pushes
    get distinct versions.")]
struct PushArgs {
    /// The model: any input `convert` accepts.
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// The registry URL.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Model name [default: MODEL's file name without extension].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Also publish a validated ONNX export as model.onnx.
    #[arg(long)]
    onnx: bool,
    /// A tag recorded in the manifest (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// List the published versions (of NAME, or of every model).
#[derive(Debug, clap::Args)]
struct ListArgs {
    /// The registry URL.
    #[arg(value_name = "URL")]
    url: String,
    /// Only this model.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Print the manifests as JSON.
    #[arg(long)]
    json: bool,
}

/// Download a version into a folder, every file verified first, and pin it in the lock file.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    forest2onnx registry pull s3://models/team iris -o models/iris
    forest2onnx registry pull s3://models/team iris@v3 -o models/iris
    forest2onnx registry pull s3://models/team iris -o models/iris --locked

LOCK FILE:
    Each pull records NAME, version, URL and the sha256 of every file in the
    lock file (default ./forest2onnx.lock, TOML). With --locked nothing is
    recorded and anything else is refused: another version, another URL, or a
    file whose hash changed since it was pinned. NAME without @vN then means
    the pinned version.")]
struct PullArgs {
    /// The registry URL.
    #[arg(value_name = "URL")]
    url: String,
    /// NAME, NAME@vN or NAME@latest.
    #[arg(value_name = "NAME[@vN|@latest]")]
    reference: String,
    /// The folder to write the files into (created if missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// The lock file to record the pull in (or to check, with --locked).
    #[arg(long, value_name = "FILE", default_value = LOCK_FILE_NAME)]
    lock: PathBuf,
    /// Refuse anything the lock file does not pin.
    #[arg(long)]
    locked: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Re-hash every stored file and report those that differ from their manifest (exit status 3).
#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// The registry URL.
    #[arg(value_name = "URL")]
    url: String,
    /// Only this model.
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    match args.command {
        Command::Push(a) => push(g, a),
        Command::List(a) => list(a),
        Command::Pull(a) => pull(g, a),
        Command::Verify(a) => verify(a),
    }
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[derive(Serialize)]
struct PushedJson<'a> {
    name: &'a str,
    version: u64,
    sha256: &'a str,
    url: &'a str,
    files: &'a [forest2onnx::registry::FileEntry],
    seconds: f64,
}

fn push(g: Global, args: PushArgs) -> Result<Status> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => args
            .model
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_owned)
            .context("cannot take a model name from MODEL's file name; give --name")?,
    };
    forest2onnx::registry::check_name(&name).with_context(|| {
        format!(
            "give another name with --name (MODEL: `{}`)",
            args.model.display()
        )
    })?;
    let file = ModelFile::read(&args.model)?;
    let loaded = load_file(&args.model, &file)?;
    // A native file is published byte for byte; anything else is saved as one
    // (with SOURCE_DATE_EPOCH honoured, so equal models give equal bytes).
    let forest_bytes = if file.format == Format::Native {
        file.bytes
    } else {
        forest2onnx::store::to_bytes(&loaded.forest, &Default::default())
            .context("cannot encode the model as a native file")?
    };
    let mut extra = Vec::new();
    if args.onnx {
        let options = ExportOptions {
            graph_name: name.clone(),
            created: Some(forest2onnx::store::created()),
            ..ExportOptions::default()
        };
        let onnx = to_bytes(&loaded.forest, &options).context("cannot export the model to ONNX")?;
        let outcome = compare(g.progress(), &loaded.forest, &onnx, None)?;
        if !outcome.passed {
            print(&outcome.to_text())?;
            to_stderr("error: the ONNX export does not reproduce the model; nothing was pushed");
            return Ok(Status::Mismatch);
        }
        extra.push((ONNX_FILE.to_string(), onnx));
    }
    let tags: BTreeMap<String, String> = args.tags.into_iter().collect();
    let started = Instant::now();
    let registry = Registry::open_for_push(&args.to)?;
    let pushed =
        registry.push_with_progress(&name, forest_bytes, extra, tags, &mut |step| g.note(step))?;
    let elapsed = started.elapsed();
    if args.json {
        print_json(&PushedJson {
            name: &pushed.name,
            version: pushed.version,
            sha256: &pushed.sha256,
            url: registry.url(),
            files: &pushed.manifest.files,
            seconds: elapsed.as_secs_f64(),
        })?;
    } else {
        g.note(format!(
            "{} in {} to {}",
            human_size(pushed.manifest.total_size()),
            human_duration(elapsed),
            registry.url()
        ));
        print(&format!(
            "pushed {} v{} sha256:{}\n",
            pushed.name, pushed.version, pushed.sha256
        ))?;
    }
    Ok(Status::Success)
}

fn list(args: ListArgs) -> Result<Status> {
    let registry = Registry::open(&args.url)?;
    let listing = registry.list_checked(args.name.as_deref())?;
    if args.json {
        let manifests: Vec<_> = listing.versions.iter().map(|v| &v.manifest).collect();
        print_json(&manifests)?;
    } else {
        print(&table(&listing.versions))?;
    }
    let mut unreadable = 0;
    for p in &listing.problems {
        to_stderr(format!(
            "error: {} v{} {}: {}",
            p.name,
            p.version,
            p.file,
            escape(&p.error)
        ));
        unreadable += 1;
    }
    for entry in &listing.bad_entries {
        to_stderr(format!("error: {}", escape(entry)));
        unreadable += 1;
    }
    if unreadable > 0 {
        bail!("{unreadable} entries of the registry could not be read; the rest is listed above");
    }
    Ok(Status::Success)
}

/// `text` with control characters (newlines, terminal escapes) and
/// Unicode bidirectional controls escaped, so that a manifest's strings
/// cannot forge rows or restyle the terminal.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// One line per version: name, version, created, size, source, tags.
fn table(versions: &[VersionInfo]) -> String {
    if versions.is_empty() {
        return "no published models\n".into();
    }
    let rows: Vec<[String; 6]> = versions
        .iter()
        .map(|v| {
            let m = &v.manifest;
            let source = [&m.source.library, &m.source.version, &m.source.estimator]
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let tags = m
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            [
                v.name.clone(),
                format!("v{}", v.version),
                m.created.clone(),
                human_size(m.total_size()),
                source,
                tags,
            ]
            .map(|cell| escape(&cell))
        })
        .collect();
    let header = ["NAME", "VERSION", "CREATED", "SIZE", "SOURCE", "TAGS"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    std::iter::once(&header)
        .chain(&rows)
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

#[derive(Serialize)]
struct PulledJson<'a> {
    name: &'a str,
    version: u64,
    url: &'a str,
    written: &'a [PathBuf],
    lock: Option<&'a Path>,
}

fn pull(g: Global, args: PullArgs) -> Result<Status> {
    let reference: ModelRef = args.reference.parse()?;
    let pin = if args.locked {
        let lock = LockFile::load(&args.lock)?;
        let Some(pin) = lock.get(&reference.name).cloned() else {
            bail!(
                "--locked: `{}` pins no version of {} (pull once without --locked to pin one)",
                args.lock.display(),
                reference.name
            );
        };
        Some(pin)
    } else {
        None
    };
    let registry = Registry::open(&args.url)?;
    let pulled = match &pin {
        Some(pin) => registry.pull(&reference, &args.output, Some(pin))?,
        // The lock is written before the folder is switched, under a lock
        // of its own: see `Registry::pull_and_pin`.
        None => registry.pull_and_pin(&reference, &args.output, &args.lock)?,
    };
    let m = &pulled.manifest;
    if args.json {
        print_json(&PulledJson {
            name: &m.name,
            version: m.version,
            url: registry.url(),
            written: &pulled.written,
            lock: (!args.locked).then_some(args.lock.as_path()),
        })?;
    } else {
        if !args.locked {
            g.note(format!("pinned in {}", args.lock.display()));
        }
        print(&format!(
            "pulled {} v{} ({}, {} files verified) into {}\n",
            m.name,
            m.version,
            human_size(m.total_size()),
            m.files.len(),
            args.output.display()
        ))?;
    }
    Ok(Status::Success)
}

fn verify(args: VerifyArgs) -> Result<Status> {
    let registry = Registry::open(&args.url)?;
    let report = registry.verify(args.name.as_deref())?;
    if args.json {
        print_json(&report)?;
    } else {
        let mut text = String::new();
        for p in &report.problems {
            text += &format!(
                "MISMATCH {} v{} {}: {}\n",
                p.name,
                p.version,
                p.file,
                escape(&p.error)
            );
        }
        for entry in &report.bad_entries {
            text += &format!("UNREADABLE {}\n", escape(entry));
        }
        for (name, version) in &report.incomplete {
            text += &format!("note: {name} v{version} has no manifest (an interrupted or running push; invisible)\n");
        }
        text += &format!(
            "{} versions, {} files, {} checked: {}\n",
            report.versions,
            report.files,
            human_size(report.bytes),
            if report.passed() {
                "all match their manifests".to_string()
            } else {
                format!(
                    "{} problems",
                    report.problems.len() + report.bad_entries.len()
                )
            }
        );
        print(&text)?;
    }
    Ok(if report.passed() {
        Status::Success
    } else {
        Status::Mismatch
    })
}
