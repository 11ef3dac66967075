//! `forest2onnx inspect`: what a model file holds, without running it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use forest2onnx::export::pmml;
use forest2onnx::import::sklearn;
use forest2onnx::ir::{Aggregation, CategoryRule, InputRules, Precision, SplitOp, Task};
use forest2onnx::runtime::OnnxSummary;
use forest2onnx::store::{Compression, Metadata};
use forest2onnx::{Forest, Format};
use serde::Serialize;

use super::csv_input::list;
use super::output::{human_size, print, print_json};
use super::{load_file, read_model, Global, Status};

/// Show what a model file holds: format, signature, trees, classes, metadata.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Describe an ONNX model (inputs, outputs, opsets, operators, trees):
        forest2onnx inspect model.onnx

    Describe a native model, including its training parameters:
        forest2onnx inspect model.forest

    See what a pickle would import, without running it:
        forest2onnx inspect model.joblib

    Machine-readable:
        forest2onnx inspect model.onnx --json | jq .ensemble.trees

The format is recognised from the content: ONNX, forest2onnx .forest,
smartcore serde JSON, a scikit-learn pickle / joblib file, or PMML. Nothing is
executed: ONNX files are only decoded, and for pickles the globals they name
are listed (allowed or REFUSED) without importing anything.")]
pub struct Args {
    /// The file to inspect.
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Print the description as JSON.
    #[arg(long)]
    json: bool,
}

/// Description of a forest, from any source format.
#[derive(Serialize)]
struct ForestInfo {
    estimator: String,
    library: String,
    library_version: String,
    task: String,
    classes: Option<Vec<String>>,
    features: usize,
    feature_names: Option<Vec<String>>,
    trees: usize,
    nodes: usize,
    leaves: usize,
    max_depth: usize,
    comparison: &'static str,
    aggregation: &'static str,
    /// How inputs are read before routing, e.g. `float32`.
    input: String,
    categorical_splits: usize,
    /// Source-specific facts (objective, boosting rounds, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    details: BTreeMap<String, String>,
}

/// What a scikit-learn pickle names, read without executing it.
#[derive(Serialize)]
struct PickleInfo {
    container: &'static str,
    globals: Vec<GlobalInfo>,
    /// Why the file does not convert, when it does not.
    error: Option<String>,
}

#[derive(Serialize)]
struct GlobalInfo {
    module: String,
    name: String,
    allowed: bool,
}

#[derive(Serialize)]
struct Description<'a> {
    file: &'a Path,
    format: Format,
    bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    onnx: Option<OnnxSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    forest: Option<ForestInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    native: Option<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pickle: Option<PickleInfo>,
}

pub fn run(_g: Global, args: Args) -> Result<Status> {
    if let Some(summary) = pmml_summary(&args.file)? {
        return describe_pmml(&args, summary);
    }
    let file = read_model(&args.file)?;
    let bytes = file.bytes.len() as u64;
    let kind = file.format;
    let mut desc = Description {
        file: &args.file,
        format: kind,
        bytes,
        onnx: None,
        forest: None,
        native: None,
        pickle: None,
    };
    if kind == Format::Sklearn {
        // A pickle that does not convert is still worth describing: the
        // globals it names say what it is and why it is refused.
        let mut info = pickle_info(&file.bytes)?;
        match file.load() {
            Ok(loaded) => desc.forest = Some(forest_info(&loaded.forest)),
            Err(e) => info.error = Some(root_cause(&e)),
        }
        desc.pickle = Some(info);
    } else if kind == Format::Onnx {
        let summary = OnnxSummary::from_bytes(&file.bytes)
            .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", args.file.display()))?;
        desc.onnx = Some(summary);
    } else {
        let loaded = load_file(&args.file, &file)?;
        desc.forest = Some(forest_info(&loaded.forest));
        desc.native = loaded.provenance;
    }
    if args.json {
        print_json(&desc)?;
    } else {
        print(&text(&desc))?;
    }
    Ok(Status::Success)
}

/// The summary of a PMML file, or `None` when the file is not PMML.
fn pmml_summary(path: &Path) -> Result<Option<pmml::PmmlSummary>> {
    use std::io::Read as _;
    let Ok(mut file) = std::fs::File::open(path) else {
        return Ok(None); // read_model reports it
    };
    let mut head = Vec::with_capacity(4096);
    if file.by_ref().take(4096).read_to_end(&mut head).is_err() || !pmml::read::sniff(&head) {
        return Ok(None);
    }
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read `{}`: {e}", path.display()))?;
    pmml::summarize(&bytes)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("`{}` is not a PMML file we can read: {e}", path.display()))
}

#[derive(Serialize)]
struct PmmlDescription<'a> {
    file: &'a Path,
    format: &'static str,
    bytes: u64,
    pmml: pmml::PmmlSummary,
}

fn describe_pmml(args: &Args, summary: pmml::PmmlSummary) -> Result<Status> {
    let bytes = std::fs::metadata(&args.file).map_or(0, |m| m.len());
    if args.json {
        print_json(&PmmlDescription {
            file: &args.file,
            format: "pmml",
            bytes,
            pmml: summary,
        })?;
        return Ok(Status::Success);
    }
    let p = &summary;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: PMML {} ({})",
        args.file.display(),
        p.version,
        human_size(bytes)
    );
    if let Some(a) = &p.application {
        let _ = writeln!(s, "  written by:  {a}");
    }
    if let Some(d) = &p.description {
        let _ = writeln!(s, "  description: {d}");
    }
    let algorithm = p
        .algorithm
        .as_deref()
        .map(|a| format!(", {a}"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "  model:       {} ({}{algorithm})",
        p.model_type, p.function
    );
    if !p.segmentation_methods.is_empty() {
        let _ = writeln!(
            s,
            "  segments:    {} ({})",
            p.segments,
            p.segmentation_methods.join(", ")
        );
    }
    let _ = writeln!(s, "  trees:       {} ({} nodes)", p.trees, p.nodes);
    if p.regression_models > 0 {
        let _ = writeln!(s, "  regression models: {}", p.regression_models);
    }
    let inputs: Vec<String> = p
        .fields
        .iter()
        .filter(|f| !p.targets.contains(&f.name))
        .map(|f| f.name.clone())
        .collect();
    let _ = writeln!(s, "  inputs:      {} ({})", p.active_fields, list(&inputs));
    for t in &p.targets {
        if let Some(f) = p.fields.iter().find(|f| &f.name == t) {
            let _ = writeln!(
                s,
                "  target:      {t} ({} {}{})",
                f.optype,
                f.data_type,
                if f.values > 0 {
                    format!(", {} values", f.values)
                } else {
                    String::new()
                }
            );
        }
    }
    let _ = writeln!(s, "  outputs:     {}", list(&p.outputs));
    print(&s)?;
    Ok(Status::Success)
}

/// The innermost cause of `e`: the importer's own words.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut e = e;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string()
}

fn pickle_info(bytes: &[u8]) -> Result<PickleInfo> {
    let globals = sklearn::inspect_globals(bytes)
        .map_err(|e| anyhow::anyhow!("cannot read the pickle: {e}"))?;
    Ok(PickleInfo {
        container: sklearn::sniff(bytes).map_or("pickle", |c| c.name()),
        globals: globals
            .into_iter()
            .map(|g| GlobalInfo {
                module: g.module,
                name: g.name,
                allowed: g.allowed,
            })
            .collect(),
        error: None,
    })
}

fn forest_info(f: &Forest) -> ForestInfo {
    let (task, classes) = match &f.task {
        Task::Classification(labels) => ("classification".to_string(), Some(labels.to_strings())),
        Task::Regression { n_targets } => (format!("regression ({n_targets} targets)"), None),
        Task::AnomalyDetection { offset } => (
            format!(
                "anomaly detection (offset {})",
                forest2onnx::ir::python_float(*offset)
            ),
            None,
        ),
    };
    ForestInfo {
        estimator: f.source.estimator.clone(),
        library: f.source.library.clone(),
        library_version: f.source.version.clone(),
        task,
        classes,
        features: f.n_features,
        feature_names: f.feature_names.clone(),
        trees: f.trees.len(),
        nodes: f.n_nodes(),
        leaves: f.n_leaves(),
        max_depth: f.max_depth(),
        comparison: match f.split_op {
            SplitOp::LessOrEqual => "x <= threshold",
            SplitOp::Less => "x < threshold",
        },
        aggregation: match f.aggregation {
            Aggregation::Vote => "hard vote",
            Aggregation::Average => "average",
            Aggregation::Sum { .. } => "sum",
        },
        input: input_rules(&f.input),
        categorical_splits: f.trees.iter().map(|t| t.categories.nodes.len()).sum(),
        details: f.source.details.clone(),
    }
}

/// `float32`, or `float64`, with the category and missing-value rules
/// when they are not the defaults.
fn input_rules(r: &InputRules) -> String {
    let mut s = match r.precision {
        Precision::F32 => "float32 (values rounded to float32 before routing)".to_string(),
        Precision::F64 => "float64 (values compared as given)".to_string(),
    };
    if r.categories == CategoryRule::TowardZero {
        s += ", categories truncated toward zero";
    }
    if !r.zero_as_missing.is_empty() {
        s += &format!(", zero is missing for {} features", r.zero_as_missing.len());
    }
    s
}

fn text(d: &Description) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} ({})",
        d.file.display(),
        d.format_name(),
        human_size(d.bytes)
    );
    if let Some(o) = &d.onnx {
        onnx_text(&mut s, o);
    }
    if let Some(f) = &d.forest {
        forest_text(&mut s, f);
    }
    if let Some(m) = &d.native {
        native_text(&mut s, m);
    }
    if let Some(p) = &d.pickle {
        pickle_text(&mut s, p);
    }
    s
}

fn pickle_text(s: &mut String, p: &PickleInfo) {
    let _ = writeln!(s, "  container:   {}", p.container);
    let _ = writeln!(s, "  globals (nothing was executed):");
    for g in &p.globals {
        let verdict = if g.allowed { "allowed" } else { "REFUSED" };
        let _ = writeln!(s, "    {verdict:8} {}.{}", g.module, g.name);
    }
    match &p.error {
        None => {
            let _ = writeln!(s, "  converts:    yes");
        }
        Some(e) => {
            let _ = writeln!(s, "  converts:    no: {e}");
        }
    }
}

impl Description<'_> {
    fn format_name(&self) -> &'static str {
        self.format.describe()
    }
}

fn onnx_text(s: &mut String, o: &OnnxSummary) {
    let _ = writeln!(s, "  ir_version:  {}", o.ir_version);
    let _ = writeln!(
        s,
        "  producer:    {} {}",
        o.producer_name, o.producer_version
    );
    let opsets: Vec<String> = o.opsets.iter().map(|(d, v)| format!("{d} {v}")).collect();
    let _ = writeln!(s, "  opsets:      {}", opsets.join(", "));
    if let Some(p) = o.precision {
        let _ = writeln!(s, "  precision:   {} input", p.name());
    }
    if !o.graph_name.is_empty() {
        let _ = writeln!(s, "  graph:       {}", o.graph_name);
    }
    if !o.doc_string.is_empty() {
        let _ = writeln!(s, "  doc:         {}", o.doc_string);
    }
    let _ = writeln!(s, "  inputs:");
    for i in &o.inputs {
        let _ = writeln!(s, "    {}: {}", i.name, i.ty);
    }
    let _ = writeln!(s, "  outputs:");
    for i in &o.outputs {
        let _ = writeln!(s, "    {}: {}", i.name, i.ty);
    }
    let ops: Vec<String> = o.ops.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    let _ = writeln!(s, "  operators:   {}", ops.join(", "));
    if let Some(e) = &o.ensemble {
        let opset = e
            .ml_opset
            .map_or(String::new(), |v| format!(" (ai.onnx.ml opset {v})"));
        if let Some(error) = &e.error {
            let _ = writeln!(s, "  ensemble:    {}{opset}: INVALID: {error}", e.op_type);
        } else {
            let precision = match e.precision {
                Some(forest2onnx::runtime::Precision::Double) => "double",
                Some(forest2onnx::runtime::Precision::Half) => "float16",
                _ => "float",
            };
            let _ = writeln!(
                s,
                "  ensemble:    {}: {} trees, {} nodes, {} leaves, max depth {}",
                e.op_type, e.trees, e.nodes, e.leaves, e.max_depth
            );
            let modes: Vec<&str> = e.branch_modes.iter().map(|m| m.name()).collect();
            let post = e.post_transform.unwrap_or_default().name();
            let aggregate = e.aggregate_function.unwrap_or_default().name();
            let _ = writeln!(
                s,
                "               {precision} thresholds and weights{opset}, aggregate {aggregate}, post_transform {post}"
            );
            let _ = writeln!(
                s,
                "               splits {}, features used: {}",
                modes.join(" "),
                e.features_used
            );
            match &e.classes {
                Some(c) => {
                    let _ = writeln!(s, "  classes:     {} ({})", c.len(), list(c));
                }
                None => {
                    let _ = writeln!(s, "  targets:     {}", e.outputs);
                }
            }
        }
    }
    if !o.metadata.is_empty() {
        let _ = writeln!(s, "  metadata:");
        for (k, v) in &o.metadata {
            let _ = writeln!(s, "    {k}: {v}");
        }
    }
}

fn forest_text(s: &mut String, f: &ForestInfo) {
    let _ = writeln!(
        s,
        "  model:       {} ({} {})",
        f.estimator, f.library, f.library_version
    );
    let _ = writeln!(s, "  task:        {}", f.task);
    if let Some(c) = &f.classes {
        let _ = writeln!(s, "  classes:     {} ({})", c.len(), list(c));
    }
    let _ = writeln!(s, "  features:    {}", f.features);
    if let Some(n) = &f.feature_names {
        let _ = writeln!(s, "               {}", list(n));
    }
    let _ = writeln!(
        s,
        "  trees:       {} ({} nodes, {} leaves, max depth {})",
        f.trees, f.nodes, f.leaves, f.max_depth
    );
    let _ = writeln!(s, "  splits:      {}, {}", f.comparison, f.aggregation);
    if f.categorical_splits > 0 {
        let _ = writeln!(s, "  categorical: {} splits", f.categorical_splits);
    }
    let _ = writeln!(s, "  input:       {}", f.input);
    for (k, v) in &f.details {
        let _ = writeln!(s, "  {:<12} {v}", format!("{k}:"));
    }
}

fn native_text(s: &mut String, m: &Metadata) {
    let _ = writeln!(
        s,
        "  file format: {} (written by forest2onnx {} at {})",
        m.format, m.forest2onnx_version, m.created
    );
    let compression = match m.compression {
        Compression::None => "none (memory-mappable)".to_string(),
        Compression::Zstd { level } => format!("zstd level {level}"),
    };
    let _ = writeln!(s, "  compression: {compression}");
    if let Some(p) = &m.training_params {
        let _ = writeln!(s, "  training:    {p}");
    }
    if let Some(d) = &m.data_fingerprint {
        let _ = writeln!(
            s,
            "  data:        {} rows × {} columns, {}",
            d.rows, d.cols, d.hash
        );
    }
    for (k, v) in &m.tags {
        let _ = writeln!(s, "  tag:         {k} = {v}");
    }
    if let Some(e) = &m.environment {
        environment_text(s, e);
    }
}

/// The environment a native file recorded (`dump` in Python).
fn environment_text(s: &mut String, e: &forest2onnx::store::Environment) {
    let mut parts: Vec<String> = e.python.iter().cloned().collect();
    parts.extend(e.packages.iter().map(|(k, v)| format!("{k} {v}")));
    let _ = writeln!(s, "  environment: {}", parts.join(", "));
    if let Some(p) = &e.platform {
        let _ = writeln!(s, "  platform:    {p}");
    }
    if let Some(h) = &e.requirements_hash {
        let n = e.requirements.as_deref().map_or(0, |r| r.lines().count());
        let _ = writeln!(s, "  packages:    {n} installed, {h}");
    }
}
