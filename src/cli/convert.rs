//! `forest2onnx convert`: a source model to ONNX, validated before it is written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use forest2onnx::export::onnx::{to_model, ExportOptions};
use forest2onnx::export::zipmap::to_bytes_with_zipmap;
use prost::Message;
use serde::Serialize;

use super::model_file::{self, Kind};
use super::output::{self, human_size, print, print_json, write_atomic};
use super::progress::with_spinner;
use super::validate::{compare, data_rows};
use super::{Global, Status};
use forest2onnx::validate::ValidationOutcome;

/// Convert a model to ONNX (validated in tract before it is written).
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Convert a native model (writes model.onnx next to it):
        forest2onnx convert model.forest

    Convert a smartcore model saved with serde_json, with a ZipMap output:
        forest2onnx convert rf.json -o rf.onnx --zipmap

    Also validate on your own rows:
        forest2onnx convert model.forest -o model.onnx --data test.csv

INPUT:
    The format is recognised from the content, not the extension: a
    forest2onnx .forest file, a smartcore RandomForestClassifier or
    DecisionTreeClassifier saved as serde JSON, or a scikit-learn
    RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier or
    ExtraTreeClassifier saved with pickle or joblib (read as data: nothing in
    the file is executed).

VALIDATION:
    Unless --no-validate, the ONNX model is run in tract and compared with
    the source model on rows placed on every split threshold (and on the
    --data rows). On a mismatch nothing is written and the exit status is 3.")]
pub struct Args {
    /// The model to convert.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// Where to write the ONNX model [default: MODEL with the extension .onnx].
    #[arg(short, long, value_name = "OUT.onnx")]
    output: Option<PathBuf>,

    /// ai.onnx.ml opset of the TreeEnsembleClassifier node (1 also loads in older runtimes).
    #[arg(long, value_name = "1|3", default_value_t = 1, value_parser = ml_opset_parser())]
    ml_opset: i64,

    /// Add a ZipMap node and an `output_probability` output (one {label:
    /// probability} map per row), as scikit-learn-onnx does.
    #[arg(long)]
    zipmap: bool,

    /// Graph name [default: the model file's name without extension].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Doc string stored in the model.
    #[arg(long, value_name = "TEXT")]
    doc: Option<String>,

    /// Also validate on the rows of this CSV file.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "no_validate")]
    data: Option<PathBuf>,

    /// Skip validation (write the ONNX model without running it).
    #[arg(long)]
    no_validate: bool,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Converted<'a> {
    input: &'a Path,
    input_format: Kind,
    output: Option<&'a Path>,
    bytes: usize,
    ml_opset: i64,
    zipmap: bool,
    trees: usize,
    nodes: usize,
    validation: Option<&'a ValidationOutcome>,
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| args.model.with_extension("onnx"));
    output::check_output_path(&out)?;
    let loaded = model_file::load_forest(&args.model)?;
    let forest = &loaded.forest;
    // Read the data before exporting: a bad file should fail fast.
    let data = match &args.data {
        Some(p) => Some(data_rows(g.progress(), forest, p)?),
        None => None,
    };

    let started = Instant::now();
    let options = ExportOptions {
        ml_opset: args.ml_opset,
        graph_name: args.name.clone().unwrap_or_else(|| stem(&args.model)),
        doc_string: args.doc.clone().unwrap_or_default(),
        created: None,
    };
    let model = with_spinner(g.progress(), "exporting to ONNX", || {
        to_model(forest, &options)
    })
    .context("cannot export the model to ONNX")?;
    let bytes = if args.zipmap {
        to_bytes_with_zipmap(model).context("cannot add the ZipMap output")?
    } else {
        model.encode_to_vec()
    };

    let validation = if args.no_validate {
        None
    } else {
        Some(compare(g.progress(), forest, &bytes, data)?)
    };
    let passed = validation.as_ref().is_none_or(|v| v.passed);
    if passed {
        write_atomic(&out, &bytes)?;
    }
    let summary = Converted {
        input: &args.model,
        input_format: loaded.kind,
        output: passed.then_some(out.as_path()),
        bytes: bytes.len(),
        ml_opset: args.ml_opset,
        zipmap: args.zipmap,
        trees: forest.trees.len(),
        nodes: forest.n_nodes(),
        validation: validation.as_ref(),
    };
    if args.json {
        print_json(&summary)?;
    } else {
        let mut text = String::new();
        if let Some(v) = &validation {
            text += &v.to_text();
        }
        if passed {
            text += &format!(
                "wrote {} ({}, {} trees, {} nodes, ai.onnx.ml opset {}{}) in {}\n",
                out.display(),
                human_size(bytes.len() as u64),
                forest.trees.len(),
                forest.n_nodes(),
                args.ml_opset,
                if args.zipmap { ", with ZipMap" } else { "" },
                output::human_duration(started.elapsed()),
            );
            if validation.is_none() {
                text += "not validated (--no-validate)\n";
            }
        }
        print(&text)?;
    }
    if !passed {
        eprintln!(
            "error: the ONNX model does not reproduce `{}`; `{}` was not written",
            args.model.display(),
            out.display()
        );
        return Ok(Status::Mismatch);
    }
    Ok(Status::Success)
}

/// Accepts exactly `1` and `3` (and lists them in errors and help).
fn ml_opset_parser() -> impl clap::builder::TypedValueParser<Value = i64> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["1", "3"]).map(|s| if s == "3" { 3 } else { 1 })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or("forest".into(), |s| s.to_string_lossy().into_owned())
}
