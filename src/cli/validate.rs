//! `forest2onnx validate`: compare an ONNX model with its source forest, and
//! the comparison itself, shared by `convert` and `demo`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forest2onnx::runtime::OnnxModel;
use forest2onnx::validate::{validate_conversion, ValidationOutcome};
use forest2onnx::{Forest, Format};
use ndarray::Array2;

use super::csv_input::{Cells, Table};
use super::output::{print, print_json};
use super::progress::{with_spinner, Progress};
use super::{read_model, Global, Status};

/// Check that an ONNX model reproduces a forest, row by row.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Compare an ONNX file with the model it was made from:
        forest2onnx validate model.forest model.onnx

    Also compare on your own rows, and get a machine-readable report:
        forest2onnx validate model.forest model.onnx --data test.csv --json

NODES COMPARED:
    Every ONNX tree is walked alongside the source model's tree, as tract's
    tree-ensemble operator reads it: every split must send exactly the same
    input values to each side for every value of the input type (checked at
    both thresholds, one step either side, NaN, the infinities and the
    zero-as-missing band; categorical splits at every category of either
    side), and every leaf must hold the source model's values. A difference
    names the tree, the node, the feature and both thresholds. ONNX files
    laid out otherwise (other converters) are compared on rows only.

ROWS COMPARED:
    Adversarial rows probe the splits end to end: thresholds exactly and
    one step either side (float32 steps for float models; f64 steps and the
    values between the two float32 neighbours of the threshold for double
    models), NaN in every split feature, categories seen, unseen, negative
    and fractional, and the edges of zero-as-missing bands. Each row probes
    every feature at once, built on the --data rows when given. When the
    nodes were compared, at most 1024 thresholds per feature (evenly spread,
    the lowest and highest among them) are probed; otherwise every one. A
    float model reads float32, and the source model is given the same
    values.
    Labels must be equal (near-ties within the tolerance are reported
    apart); float outputs within 1e-6 (probabilities) or 1e-5 relative
    (others), double outputs within 1e-12 relative; raw scores too.

EXIT STATUS:
    0 the ONNX model matches, 3 it does not (or has another number of
    features or outputs), 1 the comparison could not run.")]
pub struct Args {
    /// The source model: a .forest file, a smartcore JSON model or a scikit-learn pickle.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// The ONNX model to check.
    #[arg(value_name = "MODEL.onnx")]
    onnx: PathBuf,

    /// Also compare on the rows of this CSV file (header row; columns picked by
    /// the model's feature names when present, else exactly one per feature).
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,

    /// Boosting rounds of an XGBoost or LightGBM model to compare with (as
    /// `convert --rounds`).
    #[arg(long, value_name = "all|best|N")]
    rounds: Option<forest2onnx::import::rounds::Rounds>,

    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Compares the ONNX model `onnx` with `forest` on `data` (already in the
/// forest's feature order) plus adversarial rows.
pub fn compare(
    progress: Progress,
    forest: &Forest,
    onnx: &[u8],
    data: Option<Array2<f64>>,
) -> Result<ValidationOutcome> {
    let data = data.unwrap_or_else(|| Array2::zeros((0, forest.n_features)));
    let model = with_spinner(progress, "loading the ONNX model in tract", || {
        OnnxModel::from_bytes(onnx)
    })
    .context("tract cannot load the ONNX model")?;
    with_spinner(progress, "comparing with the source model in tract", || {
        validate_conversion(forest, &model, data.view())
    })
    .context("the comparison could not run")
}

/// Reads the rows of `path` in `forest`'s feature order.
pub fn data_rows(progress: Progress, forest: &Forest, path: &Path) -> Result<Array2<f64>> {
    let table = Table::read(path, progress)?;
    let cols = table.feature_columns(forest.n_features, forest.feature_names.as_deref())?;
    table.numbers(&cols, Cells::AllowMissing)
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    let loaded = super::convert::load_rounds(&args.model, args.rounds)?;
    let onnx_file = read_model(&args.onnx)?;
    if onnx_file.format != Format::Onnx {
        anyhow::bail!(
            "`{}` is a {}, not an ONNX model; give the ONNX file second",
            args.onnx.display(),
            onnx_file.format
        );
    }
    let data = match &args.data {
        Some(p) => Some(data_rows(g.progress(), &loaded.forest, p)?),
        None => None,
    };
    let cmp = compare(g.progress(), &loaded.forest, &onnx_file.bytes, data)?;
    if args.json {
        print_json(&cmp)?;
    } else {
        print(&format!(
            "{} vs {}\n{}{}\n",
            args.onnx.display(),
            args.model.display(),
            cmp.to_text(),
            if cmp.passed {
                "PASSED: the ONNX model reproduces the forest"
            } else {
                "FAILED: the ONNX model does not reproduce the forest"
            }
        ))?;
    }
    if !cmp.passed {
        super::output::to_stderr(format!(
            "error: `{}` does not reproduce `{}` ({} mismatches)",
            args.onnx.display(),
            args.model.display(),
            cmp.mismatches()
        ));
        return Ok(Status::Mismatch);
    }
    Ok(Status::Success)
}
