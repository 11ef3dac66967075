//! `forest2onnx predict`: labels and outputs (class probabilities, regression
//! targets, anomaly scores) for the rows of a CSV file.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use forest2onnx::runtime::{ElementType, OnnxModel, OnnxSummary, OutputRole};
use forest2onnx::Format;
use ndarray::{s, Array2};

use super::csv_input::{Cells, Table};
use super::output::{self, write_atomic_with};
use super::{load_file, read_model, Global, Status};

/// Rows predicted per step of the progress bar.
const CHUNK: usize = 8192;

/// Predict labels and class probabilities for the rows of a CSV file.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
EXAMPLES:
    Predict with an ONNX model (run in tract) and print the CSV:
        forest2onnx predict model.onnx --data new.csv

    Predict with the native model and save the result:
        forest2onnx predict model.forest --data new.csv -o predictions.csv

INPUT:
    MODEL is an ONNX file (run in tract at its own precision), a .forest file, a
    smartcore JSON model or a scikit-learn pickle (read as the source library
    reads its inputs: scikit-learn trees, forests and GradientBoosting round
    them to float32, HistGradientBoosting compares them in f64). The CSV file
    needs a header row. When the model knows its feature names and the
    header has them all, those columns are used, in the model's order, and
    other columns (such as the target) are ignored; otherwise the file must
    have exactly one column per feature.

    An empty cell, `nan` or `NaN` is a missing value (NaN): each split sends
    it where the model's missing-value rule says (smartcore models: the
    false branch, as if the value were above every threshold). `inf` and
    `-inf` are accepted.

OUTPUT:
    A CSV header, then one line per input row (numbers as the shortest
    decimal that reads back to the same float):
      classifiers        label,<one column per class>: the label and the
                         class probabilities;
      regressors         prediction (one target) or prediction_0,
                         prediction_1, ... (several targets);
      anomaly detectors  label,score_samples,decision_function, label being
                         -1 (outlier) or 1 (inlier), as IsolationForest.")]
pub struct Args {
    /// The model: ONNX, .forest, smartcore JSON or scikit-learn pickle.
    #[arg(value_name = "MODEL")]
    model: PathBuf,

    /// The rows to predict: a CSV file with a header row.
    #[arg(long, value_name = "FILE.csv")]
    data: PathBuf,

    /// Write the predictions here instead of stdout (`-` is stdout).
    #[arg(short, long, value_name = "OUT.csv")]
    output: Option<PathBuf>,
}

/// Predictions ready to write: labels as text (none for regressors),
/// outputs as shortest decimals, one column name per output.
struct Predictions {
    classes: Vec<String>,
    labels: Vec<String>,
    probabilities: Vec<Vec<String>>,
    /// Whether there is a label column.
    labelled: bool,
}

pub fn run(g: Global, mut args: Args) -> Result<Status> {
    if args.output.as_deref() == Some(std::path::Path::new("-")) {
        args.output = None;
    }
    if let Some(out) = &args.output {
        output::check_output_path(out)?;
    }
    let file = read_model(&args.model)?;
    let predictions = if file.format == Format::Onnx {
        predict_onnx(g, &args, &file.bytes)?
    } else {
        let loaded = load_file(&args.model, &file)?;
        predict_forest(g, &args, &loaded.forest)?
    };
    let write = |w: &mut dyn Write| write_csv(w, &predictions);
    match &args.output {
        Some(out) => {
            write_atomic_with(out, write)?;
            g.note(format!(
                "wrote {} predictions to {}",
                predictions.probabilities.len(),
                out.display()
            ));
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            write(&mut stdout).context("cannot write the predictions to stdout")?;
        }
    }
    Ok(Status::Success)
}

fn predict_forest(g: Global, args: &Args, forest: &forest2onnx::Forest) -> Result<Predictions> {
    use forest2onnx::ir::Task;
    let x = read_rows(g, args, forest.n_features, forest.feature_names.as_deref())?;
    let bar = g.progress().items(x.nrows() as u64, "predicting");
    let labels = forest.output_labels();
    let classes = match &forest.task {
        Task::Classification(l) => l.to_strings(),
        Task::Regression { n_targets: 1 } => vec!["prediction".to_string()],
        Task::Regression { n_targets } => {
            (0..*n_targets).map(|i| format!("prediction_{i}")).collect()
        }
        Task::AnomalyDetection { .. } => {
            vec!["score_samples".to_string(), "decision_function".to_string()]
        }
    };
    let mut out = Predictions {
        classes,
        labels: Vec::with_capacity(x.nrows()),
        probabilities: Vec::with_capacity(x.nrows()),
        labelled: labels.is_some(),
    };
    for start in (0..x.nrows()).step_by(CHUNK) {
        let end = (start + CHUNK).min(x.nrows());
        let p = forest.predict(x.slice(s![start..end, ..]));
        if let Some(labels) = labels {
            out.labels
                .extend(p.classes.iter().map(|&c| labels.display(c)));
        }
        out.probabilities.extend(
            p.values
                .rows()
                .into_iter()
                .map(|r| r.iter().map(f64::to_string).collect()),
        );
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

fn predict_onnx(g: Global, args: &Args, bytes: &[u8]) -> Result<Predictions> {
    let summary = OnnxSummary::from_bytes(bytes)
        .with_context(|| format!("cannot read `{}`", args.model.display()))?;
    let model =
        super::progress::with_spinner(g.progress(), "loading the ONNX model in tract", || {
            OnnxModel::from_bytes(bytes)
        })
        .with_context(|| format!("tract cannot load `{}`", args.model.display()))?;
    let names = summary.feature_names();
    let x = read_rows(g, args, model.n_features(), names.as_deref())?;
    let bar = g.progress().items(x.nrows() as u64, "predicting in tract");
    let main = model.main_output();
    // Values print as the shortest decimal of their own type.
    let float = main.element_type != ElementType::Double;
    let mut out = Predictions {
        classes: Vec::new(),
        labels: Vec::with_capacity(x.nrows()),
        probabilities: Vec::with_capacity(x.nrows()),
        labelled: false,
    };
    for start in (0..x.nrows()).step_by(CHUNK) {
        let end = (start + CHUNK).min(x.nrows());
        let p = model
            .predict(x.slice(s![start..end, ..]))
            .context("tract failed to run the model")?;
        if let Some(labels) = &p.labels {
            out.labelled = true;
            out.labels
                .extend((0..labels.len()).map(|i| labels.display(i)));
        }
        out.probabilities
            .extend(p.values.rows().into_iter().map(|r| {
                r.iter()
                    .map(|&v| {
                        if float {
                            (v as f32).to_string()
                        } else {
                            v.to_string()
                        }
                    })
                    .collect()
            }));
        if out.classes.is_empty() {
            let n = p.values.ncols();
            out.classes = match main.role {
                OutputRole::Probabilities => summary
                    .class_labels()
                    .filter(|c| c.len() == n)
                    .unwrap_or_else(|| (0..n).map(|i| format!("class_{i}")).collect()),
                OutputRole::Scores if n == 2 => {
                    vec!["score_samples".into(), "decision_function".into()]
                }
                _ if n == 1 => vec!["prediction".into()],
                _ => (0..n).map(|i| format!("prediction_{i}")).collect(),
            };
        }
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

fn read_rows(
    g: Global,
    args: &Args,
    n_features: usize,
    names: Option<&[String]>,
) -> Result<Array2<f64>> {
    let table = Table::read(&args.data, g.progress())?;
    let cols = table.feature_columns(n_features, names)?;
    table.numbers(&cols, Cells::AllowMissing)
}

fn write_csv(w: &mut dyn Write, p: &Predictions) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    let label = p.labelled.then_some("label");
    let header = label
        .into_iter()
        .chain(p.classes.iter().map(String::as_str));
    csv.write_record(header).map_err(io_error)?;
    for (r, outputs) in p.probabilities.iter().enumerate() {
        let label = p.labels.get(r).map(String::as_str);
        csv.write_record(label.into_iter().chain(outputs.iter().map(String::as_str)))
            .map_err(io_error)?;
    }
    csv.flush()
}

/// Keeps the I/O error itself (a broken pipe must stay recognisable).
fn io_error(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}
