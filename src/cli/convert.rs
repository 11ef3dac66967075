//! `forest2onnx convert`: a source model to the format its output names
//! (ONNX, validated before it is written, PMML, or the native `.forest` file).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use forest2onnx::export::onnx::target::TargetRuntime;
use forest2onnx::export::onnx::{choose, to_bytes, to_file, Choice, ExportOptions, Precision};
use forest2onnx::export::pmml::{self, PmmlOptions};
use forest2onnx::store::{self, Compression, SaveOptions};
use forest2onnx::{Forest, Format, Loaded};
use serde::Serialize;

use super::output::{self, human_size, print, print_json, write_atomic};
use super::progress::with_spinner;
use super::validate::{compare, data_rows};
use super::{load_model, read_model, Global, Status};
use forest2onnx::import::rounds::Rounds;
use forest2onnx::import::{lightgbm, sklearn, xgboost};
use forest2onnx::validate::ValidationOutcome;

/// Convert a model to ONNX (validated in tract before it is written) or to
/// the native .forest file.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Convert a native model (writes model.onnx next to it):
        forest2onnx convert model.forest

    Turn a scikit-learn pickle into the safe native format:
        forest2onnx convert rf.joblib -o rf.forest

    Convert a smartcore model saved with serde_json, with a ZipMap output:
        forest2onnx convert rf.json -o rf.onnx --zipmap

    With the ai.onnx.ml opset 5 operator (precision chosen as by default):
        forest2onnx convert model.forest --ml-opset 5

    A float model of a LightGBM model (float64 inputs near a threshold may
    route differently; a note says how many thresholds float32 cannot hold):
        forest2onnx convert model.txt --precision float

    Also validate on your own rows:
        forest2onnx convert model.forest -o model.onnx --data test.csv

    Export PMML 4.4 for a PMML scoring engine (JPMML, PMML4S, ...):
        forest2onnx convert model.forest -o model.pmml

INPUT:
    The format is recognised from the content, not the extension: a
    forest2onnx .forest file; a scikit-learn tree model saved with pickle or
    joblib (decision trees, random forests and extra trees, classifiers and
    regressors; GradientBoosting; HistGradientBoosting; IsolationForest),
    read as data: nothing in the file is executed; an XGBoost model saved as
    JSON or UBJSON; a LightGBM text model; a CatBoost model (.cbm or JSON
    export; its input is CatBoost's flat feature order, categorical
    features as the integer codes trained with: CatBoost stores only their
    hashes, which are inverted over the integers -2^24..=2^24); or a
    smartcore random forest or decision tree saved as serde JSON. What a format holds that cannot be
    reproduced exactly (a linear tree, a vector leaf, an unknown init
    estimator) is refused with an error naming it.

OUTPUT:
    The output's extension chooses the format: .onnx (ONNX), .pmml (PMML
    4.4) or .forest (native, zstd level --compress; provenance of a native
    input is kept). --to overrides it. Any other extension is refused.

VALIDATION:
    ONNX: unless --no-validate, the model is run in tract and compared with
    the source model on rows placed on every split threshold (and on the
    --data rows). On a mismatch nothing is written and the exit status is 3.
    Native: the encoded file is decoded again and must hold the identical
    forest, bit for bit.
    PMML: written so that a double-precision PMML evaluator scores exactly
    as the source model (float32 input rounding, NaN routing and categories
    folded into the predicates); what PMML cannot express exactly is refused.
    forest2onnx has no PMML evaluator of its own: the exporter is checked
    against JPMML in its test suite, not at each conversion.")]
pub struct Args {
    /// The model to convert (with --out-dir: a folder or a quoted glob).
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// Convert every model of the folder or glob MODEL into this folder
    /// (same relative paths), in parallel, with a summary per file; exit
    /// status 1 when any file was refused or failed.
    #[arg(long, value_name = "OUT_DIR", conflicts_with_all = ["output", "versioned", "data", "name"])]
    out_dir: Option<PathBuf>,

    /// Where to write [default: MODEL with the extension of --to, .onnx by default].
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// Output format [default: from the extension of OUT].
    #[arg(long, value_enum, value_name = "FORMAT")]
    to: Option<OutputFormat>,

    /// ai.onnx.ml opset: 1 and 3 write TreeEnsembleClassifier/Regressor (1
    /// also loads in older runtimes), 5 writes TreeEnsemble [default: the
    /// lowest that holds the precision: 1 for float, 3 for double]. ONNX
    /// only.
    #[arg(long, value_name = "1|3|5", value_parser = ml_opset_parser(), help_heading = "ONNX output")]
    ml_opset: Option<i64>,

    /// Element type of the input, thresholds and outputs: auto (the one that
    /// reproduces the source: double where it compares float64 inputs with
    /// float64 thresholds, as LightGBM and HistGradientBoosting do; float
    /// where it rounds inputs to float32 first, as scikit-learn trees and
    /// XGBoost do), float (exact routing for float32 inputs) or double
    /// (exact for every double input; needs --ml-opset 3 or 5).
    /// [default: auto]. ONNX only.
    #[arg(long, value_name = "auto|float|double", value_parser = precision_parser(), help_heading = "ONNX output")]
    precision: Option<Precision>,

    /// Add a ZipMap node and an `output_probability` output (one {label:
    /// probability} map per row), as scikit-learn-onnx does.
    #[arg(long, help_heading = "ONNX output")]
    zipmap: bool,

    /// The onnxruntime release the file is for, e.g. onnxruntime==1.18,
    /// onnxruntime-node==1.31 or onnxruntime-web==1.31: refuses an
    /// --ml-opset and --precision that release does not run exactly (opset
    /// 5 before 1.24 and in onnxruntime-web, double at opset 3 in 1.16), and
    /// trees too deep for onnxruntime-web's stack; see the README's
    /// onnxruntime matrix. ONNX only.
    #[arg(long, value_name = "PACKAGE==X.Y", help_heading = "ONNX output")]
    target_runtime: Option<TargetRuntime>,

    /// Graph name (ONNX) or model name (PMML) [default: the model file's
    /// name without extension].
    #[arg(long, value_name = "NAME", help_heading = "ONNX output")]
    name: Option<String>,

    /// Doc string stored in the model (the header description of PMML).
    #[arg(long, value_name = "TEXT", help_heading = "ONNX output")]
    doc: Option<String>,

    /// Also validate on the rows of this CSV file.
    #[arg(
        long,
        value_name = "FILE.csv",
        conflicts_with = "no_validate",
        help_heading = "ONNX output"
    )]
    data: Option<PathBuf>,

    /// zstd level of a native file: 0 = uncompressed (memory-mappable),
    /// 1-22 [default: 3]. Native only.
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(i32).range(0..=22), help_heading = "Native output")]
    compress: Option<i32>,

    /// Save as NAME_vN_<UTC time>.forest in OUT's folder, NAME being OUT's
    /// file name without extension and N one more than the latest version
    /// (concurrent conversions get distinct versions). Native only.
    #[arg(long, help_heading = "Native output")]
    versioned: bool,

    /// Boosting rounds of an XGBoost or LightGBM model to convert: all,
    /// best (up to the best iteration early stopping recorded) or a number
    /// [default: those the API that saved the model predicts with: up to
    /// the best iteration for XGBoost's scikit-learn wrappers and LightGBM
    /// boosters that record one, all for an XGBoost Booster].
    #[arg(long, value_name = "all|best|N")]
    pub rounds: Option<Rounds>,

    /// Skip validation (write the output without checking it).
    #[arg(long)]
    no_validate: bool,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// The formats `convert` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// ONNX (`.onnx`).
    Onnx,
    /// forest2onnx's native file (`.forest`).
    Forest,
    /// PMML 4.4 (`.pmml`).
    Pmml,
}

impl OutputFormat {
    const ALL: [OutputFormat; 3] = [OutputFormat::Onnx, OutputFormat::Forest, OutputFormat::Pmml];

    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Onnx => "onnx",
            OutputFormat::Forest => store::EXTENSION,
            OutputFormat::Pmml => "pmml",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            OutputFormat::Onnx => "ONNX",
            OutputFormat::Forest => "forest2onnx native",
            OutputFormat::Pmml => "PMML",
        }
    }

    /// The format named by `path`'s extension (any case).
    fn of_path(path: &Path) -> Result<OutputFormat> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        if let Some(f) = Self::ALL
            .into_iter()
            .find(|f| ext.as_deref() == Some(f.extension()))
        {
            return Ok(f);
        }
        let known: Vec<String> = Self::ALL
            .iter()
            .map(|f| format!(".{} ({})", f.extension(), f.describe()))
            .collect();
        bail!(
            "cannot tell the output format from `{}`: the known extensions are {}; \
             or choose one with --to {}",
            path.display(),
            known.join(", "),
            Self::ALL.map(|f| f.extension()).join("|"),
        )
    }
}

#[derive(Serialize)]
struct Converted<'a> {
    input: &'a Path,
    input_format: Format,
    output: Option<&'a Path>,
    output_format: OutputFormat,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ml_opset: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    precision: Option<&'static str>,
    /// How the precision and opset were chosen (ONNX output).
    #[serde(skip_serializing_if = "Option::is_none")]
    precision_choice: Option<&'a Choice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zipmap: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compression_level: Option<i32>,
    trees: usize,
    nodes: usize,
    validation: Option<&'a ValidationOutcome>,
    /// Native output: whether decoding the file gave back the identical forest.
    #[serde(skip_serializing_if = "Option::is_none")]
    reloads_identical: Option<bool>,
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    if let Some(out_dir) = &args.out_dir {
        return super::convert_many::run(g, batch_request(&args, out_dir));
    }
    if let Some(out) = &args.output {
        // A folder or a missing folder says more than its extension.
        output::check_output_path(out)?;
    }
    let (out, format) = output_of(&args)?;
    output::check_output_path(&out)?;
    refuse_foreign_options(&args, format)?;
    let loaded = load_rounds(&args.model, args.rounds)?;
    match format {
        OutputFormat::Onnx => to_onnx(g, &args, &loaded, &out),
        OutputFormat::Forest => to_native(g, &args, &loaded, &out),
        OutputFormat::Pmml => to_pmml(g, &args, &loaded, &out),
    }
}

/// Loads the model at `path`, keeping the boosting rounds `rounds` asks
/// for (XGBoost and LightGBM models only).
pub(super) fn load_rounds(path: &Path, rounds: Option<Rounds>) -> Result<Loaded> {
    let Some(rounds) = rounds else {
        return load_model(path);
    };
    let file = read_model(path)?;
    let context = || format!("cannot load `{}`", path.display());
    let forest = match file.format {
        Format::Xgboost => xgboost::from_bytes_with(&file.bytes, rounds).with_context(context)?,
        Format::Lightgbm => lightgbm::from_bytes_with(&file.bytes, rounds).with_context(context)?,
        // Pickled XGBoost and LightGBM estimators; any other refuses.
        Format::Sklearn => {
            sklearn::from_bytes_with_rounds(&file.bytes, rounds).with_context(context)?
        }
        other => bail!(
            "--rounds applies to XGBoost and LightGBM models; `{}` is a {other}",
            path.display()
        ),
    };
    Ok(Loaded {
        forest,
        format: file.format,
        provenance: None,
    })
}

/// The batch mode's request (`--out-dir`): ONNX options as for one file.
fn batch_request<'a>(args: &'a Args, out_dir: &'a Path) -> super::convert_many::Request<'a> {
    use forest2onnx::migrate::Target;
    super::convert_many::Request {
        pattern: &args.model,
        out_dir,
        target: match args.to.unwrap_or(OutputFormat::Onnx) {
            OutputFormat::Onnx => Target::Onnx,
            OutputFormat::Forest => Target::Forest,
            OutputFormat::Pmml => Target::Pmml,
        },
        onnx: ExportOptions {
            ml_opset: args.ml_opset,
            precision: args.precision.unwrap_or_default(),
            zipmap: args.zipmap,
            graph_name: String::new(),
            doc_string: args.doc.clone().unwrap_or_default(),
            created: None,
        },
        json: args.json,
    }
}

/// The output path and format, from `-o` and `--to`.
fn output_of(args: &Args) -> Result<(PathBuf, OutputFormat)> {
    match (&args.output, args.to) {
        (Some(out), Some(to)) => Ok((out.clone(), to)),
        (Some(out), None) => Ok((out.clone(), OutputFormat::of_path(out)?)),
        (None, to) => {
            let to = to.unwrap_or(OutputFormat::Onnx);
            let out = args.model.with_extension(to.extension());
            if out == args.model {
                bail!(
                    "the default output `{}` is the input itself; name the output with -o",
                    out.display()
                );
            }
            Ok((out, to))
        }
    }
}

/// Options meant for the other output format are an error, not ignored.
fn refuse_foreign_options(args: &Args, format: OutputFormat) -> Result<()> {
    let given: &[(&str, bool)] = match format {
        OutputFormat::Onnx => &[
            ("--compress", args.compress.is_some()),
            ("--versioned", args.versioned),
        ],
        OutputFormat::Forest => &[
            ("--ml-opset", args.ml_opset.is_some()),
            ("--precision", args.precision.is_some()),
            ("--zipmap", args.zipmap),
            ("--target-runtime", args.target_runtime.is_some()),
            ("--name", args.name.is_some()),
            ("--doc", args.doc.is_some()),
            ("--data", args.data.is_some()),
        ],
        OutputFormat::Pmml => &[
            ("--compress", args.compress.is_some()),
            ("--versioned", args.versioned),
            ("--ml-opset", args.ml_opset.is_some()),
            ("--precision", args.precision.is_some()),
            ("--zipmap", args.zipmap),
            ("--target-runtime", args.target_runtime.is_some()),
            ("--data", args.data.is_some()),
        ],
    };
    if let Some((flag, _)) = given.iter().find(|(_, on)| *on) {
        bail!(
            "{flag} does not apply to {} output; the output format is {}",
            format.describe(),
            format.extension()
        );
    }
    Ok(())
}

fn to_onnx(g: Global, args: &Args, loaded: &Loaded, out: &Path) -> Result<Status> {
    let forest = &loaded.forest;
    // Read the data before exporting: a bad file should fail fast.
    let data = match &args.data {
        Some(p) => Some(data_rows(g.progress(), forest, p)?),
        None => None,
    };

    let started = Instant::now();
    let options = ExportOptions {
        ml_opset: args.ml_opset,
        precision: args.precision.unwrap_or_default(),
        zipmap: args.zipmap,
        graph_name: args.name.clone().unwrap_or_else(|| stem(&args.model)),
        doc_string: args.doc.clone().unwrap_or_default(),
        created: None,
    };
    let choice = choose(forest, &options);
    if let (Some(note), true) = (&choice.float_note, args.no_validate) {
        // Otherwise the validation report carries it.
        eprintln!("{}", note.to_text());
    }
    if let Some(target) = &args.target_runtime {
        target.check(choice.ml_opset, choice.precision)?;
        target.check_depth(forest2onnx::export::onnx::written_depth(forest, &options)?)?;
    }
    // Without validation the model is streamed to the file; validation
    // needs its bytes in memory first.
    let (bytes, validation) = if args.no_validate {
        let bytes = with_spinner(g.progress(), "exporting to ONNX", || {
            to_file(forest, &options, out)
        })
        .context("cannot export the model to ONNX")?;
        (bytes, None)
    } else {
        let onnx = with_spinner(g.progress(), "exporting to ONNX", || {
            to_bytes(forest, &options)
        })
        .context("cannot export the model to ONNX")?;
        let validation = compare(g.progress(), forest, &onnx, data)?;
        if validation.passed {
            write_atomic(out, &onnx)?;
        }
        (onnx.len() as u64, Some(validation))
    };
    let passed = validation.as_ref().is_none_or(|v| v.passed);
    let summary = Converted {
        input: &args.model,
        input_format: loaded.format,
        output: passed.then_some(out),
        output_format: OutputFormat::Onnx,
        bytes,
        ml_opset: Some(choice.ml_opset),
        precision: Some(choice.precision.name()),
        precision_choice: Some(&choice),
        zipmap: Some(args.zipmap),
        compression_level: None,
        trees: forest.trees.len(),
        nodes: forest.n_nodes(),
        validation: validation.as_ref(),
        reloads_identical: None,
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
                "wrote {} ({}, {} trees, {} nodes, ai.onnx.ml opset {}, {}{}) in {}\n{}\n",
                out.display(),
                human_size(bytes),
                forest.trees.len(),
                forest.n_nodes(),
                choice.ml_opset,
                choice.precision.name(),
                if args.zipmap { ", with ZipMap" } else { "" },
                output::human_duration(started.elapsed()),
                choice.why(),
            );
            if validation.is_none() {
                text += "not validated (--no-validate)\n";
            }
        }
        print(&text)?;
    }
    if !passed {
        super::output::to_stderr(format!(
            "error: the ONNX model does not reproduce `{}`; `{}` was not written",
            args.model.display(),
            out.display()
        ));
        return Ok(Status::Mismatch);
    }
    Ok(Status::Success)
}

fn to_native(g: Global, args: &Args, loaded: &Loaded, out: &Path) -> Result<Status> {
    let forest: &Forest = &loaded.forest;
    let started = Instant::now();
    // A native input keeps its provenance; anything else starts afresh.
    let mut opts = loaded
        .provenance
        .as_ref()
        .map(SaveOptions::from_metadata)
        .unwrap_or_default();
    if let Some(level) = args.compress {
        opts.level = level;
    }
    let bytes = with_spinner(g.progress(), "encoding the native file", || {
        store::to_bytes(forest, &opts)
    })
    .context("cannot encode the native file")?;
    if !args.no_validate {
        with_spinner(g.progress(), "decoding it again", || {
            store::verify(forest, &bytes)
        })
        .context("the native file does not reproduce the model; nothing was written")?;
    }
    let out = if args.versioned {
        let name = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        store::write_versioned(&bytes, output::parent_dir(out), &name)
            .with_context(|| format!("cannot save a new version of `{name}`"))?
    } else {
        write_atomic(out, &bytes)?;
        out.to_path_buf()
    };
    let out = out.as_path();
    // The writer stores a payload raw rather than exceed the reader's
    // compression-ratio limit: report what was written.
    let level = match store::metadata_from_bytes(&bytes)?.compression {
        Compression::None => 0,
        Compression::Zstd { level } => level,
    };
    let summary = Converted {
        input: &args.model,
        input_format: loaded.format,
        output: Some(out),
        output_format: OutputFormat::Forest,
        bytes: bytes.len() as u64,
        ml_opset: None,
        precision: None,
        precision_choice: None,
        zipmap: None,
        compression_level: Some(level),
        trees: forest.trees.len(),
        nodes: forest.n_nodes(),
        validation: None,
        reloads_identical: (!args.no_validate).then_some(true),
    };
    if args.json {
        print_json(&summary)?;
    } else {
        let compression = match level {
            0 => "uncompressed".to_string(),
            level => format!("zstd level {level}"),
        };
        let check = if args.no_validate {
            "not verified (--no-validate)"
        } else {
            "verified: it reloads to the identical forest"
        };
        print(&format!(
            "wrote {} ({}, {compression}, {} trees, {} nodes) in {}\n{check}\n",
            out.display(),
            human_size(bytes.len() as u64),
            forest.trees.len(),
            forest.n_nodes(),
            output::human_duration(started.elapsed()),
        ))?;
    }
    Ok(Status::Success)
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    bytes: usize,
}

impl<W: std::io::Write> std::io::Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn to_pmml(g: Global, args: &Args, loaded: &Loaded, out: &Path) -> Result<Status> {
    let forest: &Forest = &loaded.forest;
    let started = Instant::now();
    // Refused models fail before any file is created.
    pmml::check(forest).context("cannot export the model to PMML")?;
    let options = PmmlOptions {
        model_name: Some(args.name.clone().unwrap_or_else(|| stem(&args.model))),
        description: args.doc.clone(),
        indent: None,
    };
    let bytes = with_spinner(g.progress(), "writing PMML", || {
        let mut bytes = 0;
        output::write_atomic_with(out, |w| {
            let counted = pmml::write(forest, &options, Counting { inner: w, bytes: 0 })
                .map_err(std::io::Error::other)?;
            bytes = counted.bytes;
            Ok(())
        })
        .map(|()| bytes)
    })?;
    let summary = Converted {
        input: &args.model,
        input_format: loaded.format,
        output: Some(out),
        output_format: OutputFormat::Pmml,
        bytes: bytes as u64,
        ml_opset: None,
        precision: None,
        precision_choice: None,
        zipmap: None,
        compression_level: None,
        trees: forest.trees.len(),
        nodes: forest.n_nodes(),
        validation: None,
        reloads_identical: None,
    };
    if args.json {
        print_json(&summary)?;
    } else {
        print(&format!(
            "wrote {} (PMML 4.4, {}, {} trees, {} nodes) in {}\n",
            out.display(),
            human_size(bytes as u64),
            forest.trees.len(),
            forest.n_nodes(),
            output::human_duration(started.elapsed()),
        ))?;
    }
    Ok(Status::Success)
}

/// Accepts exactly `1`, `3` and `5` (and lists them in errors and help).
fn ml_opset_parser() -> impl clap::builder::TypedValueParser<Value = i64> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["1", "3", "5"]).map(|s| s.parse().unwrap_or(1))
}

/// Accepts exactly `auto`, `float` and `double`.
fn precision_parser() -> impl clap::builder::TypedValueParser<Value = Precision> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["auto", "float", "double"]).map(|s| {
        match s.as_str() {
            "double" => Precision::Double,
            "float" => Precision::Float,
            _ => Precision::Auto,
        }
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or("forest".into(), |s| s.to_string_lossy().into_owned())
}
