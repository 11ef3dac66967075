//! `forest2onnx validate`: compare an ONNX model with its source forest, and
//! the comparison itself, shared by `convert` and `demo`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use forest2onnx::runtime::OnnxClassifier;
use forest2onnx::validate::{validate_model, with_adversarial_rows, Report, ValidateError};
use forest2onnx::{Forest, Format};
use ndarray::Array2;
use serde::Serialize;

use super::csv_input::{Cells, Table};
use super::output::{print, print_json};
use super::progress::{with_spinner, Progress};
use super::{load_model, read_model, Global, Status};

/// Most adversarial rows added to a comparison: 4 per distinct split and 1
/// per split feature, sampled evenly beyond this.
pub const MAX_ADVERSARIAL_ROWS: usize = 100_000;

/// Check that an ONNX model reproduces a forest, row by row.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Compare an ONNX file with the model it was made from:
        forest2onnx validate model.forest model.onnx

    Also compare on your own rows, and get a machine-readable report:
        forest2onnx validate model.forest model.onnx --data test.csv --json

ROWS COMPARED:
    Adversarial rows put every split feature exactly on its threshold, one
    float32 step either side, and NaN (built on the --data rows when given,
    else on zeros; at most 100000). The forest sees the same float32 values
    as the ONNX model. Labels must be equal and probabilities within 1e-6.

EXIT STATUS:
    0 the ONNX model matches, 3 it does not (or has another number of
    features or classes), 1 the comparison could not run.")]
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

    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// A finished comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ValidationOutcome {
    /// True when the ONNX model reproduces the forest.
    pub passed: bool,
    /// Rows taken from the data file.
    pub data_rows: usize,
    /// Adversarial threshold rows added.
    pub adversarial_rows: usize,
    /// Why the models cannot be compared at all (different number of
    /// features or classes): a mismatch too.
    pub incompatible: Option<String>,
    /// Row-by-row report (absent when incompatible).
    pub report: Option<Report>,
}

impl ValidationOutcome {
    /// Number of mismatches, counting an incompatibility as one.
    pub fn mismatches(&self) -> usize {
        match (&self.report, &self.incompatible) {
            (Some(r), _) => r.mismatches(),
            (None, _) => 1,
        }
    }

    /// Largest |Δp| seen (0 when incompatible).
    pub fn max_abs_diff(&self) -> f64 {
        self.report.as_ref().map_or(0.0, |r| r.max_abs_diff)
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        match (&self.report, &self.incompatible) {
            (Some(r), _) => {
                s += &format!(
                    "{r}\n  ({} data rows + {} adversarial threshold rows)\n",
                    self.data_rows, self.adversarial_rows
                );
            }
            (None, Some(why)) => s += &format!("incompatible: {why}\n"),
            (None, None) => {}
        }
        s += &format!("mismatches: {}\n", self.mismatches());
        s
    }
}

/// Compares the ONNX model `onnx` with `forest` on `data` (already in the
/// forest's feature order) plus adversarial rows.
pub fn compare(
    progress: Progress,
    forest: &Forest,
    onnx: &[u8],
    data: Option<Array2<f32>>,
) -> Result<ValidationOutcome> {
    let data = data.unwrap_or_else(|| Array2::zeros((0, forest.n_features)));
    let model = with_spinner(progress, "loading the ONNX model in tract", || {
        OnnxClassifier::from_bytes(onnx)
    })
    .context("tract cannot load the ONNX model")?;
    let incompatible = |why: String| ValidationOutcome {
        passed: false,
        data_rows: data.nrows(),
        adversarial_rows: 0,
        incompatible: Some(why),
        report: None,
    };
    if model.n_features() != forest.n_features {
        return Ok(incompatible(format!(
            "the ONNX model takes {} features; the forest takes {}",
            model.n_features(),
            forest.n_features
        )));
    }
    let rows = with_adversarial_rows(forest, data.view(), MAX_ADVERSARIAL_ROWS)?;
    let adversarial_rows = rows.nrows() - data.nrows();
    let message = format!("comparing {} rows in tract", rows.nrows());
    match with_spinner(progress, message, || {
        validate_model(forest, &model, rows.view())
    }) {
        Ok(report) => Ok(ValidationOutcome {
            passed: report.passed(),
            data_rows: data.nrows(),
            adversarial_rows,
            incompatible: None,
            report: Some(report),
        }),
        Err(e @ ValidateError::Classes { .. }) => Ok(incompatible(e.to_string())),
        Err(e) => Err(e).context("the comparison could not run"),
    }
}

/// Reads the rows of `path` in `forest`'s feature order, as the float32
/// values an ONNX model sees.
pub fn data_rows(progress: Progress, forest: &Forest, path: &Path) -> Result<Array2<f32>> {
    let table = Table::read(path, progress)?;
    let cols = table.feature_columns(forest.n_features, forest.feature_names.as_deref())?;
    Ok(table
        .numbers(&cols, Cells::AllowMissing)?
        .mapv(|v| v as f32))
}

pub fn run(g: Global, args: Args) -> Result<Status> {
    let loaded = load_model(&args.model)?;
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
        eprintln!(
            "error: `{}` does not reproduce `{}` ({} mismatches)",
            args.onnx.display(),
            args.model.display(),
            cmp.mismatches()
        );
        return Ok(Status::Mismatch);
    }
    Ok(Status::Success)
}
