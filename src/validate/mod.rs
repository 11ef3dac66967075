//! Validation: run an exported ONNX model in tract and compare it with the
//! forest's reference prediction ([`Forest::predict`]), row by row: labels,
//! the main output (probabilities, targets or anomaly scores) and raw
//! scores, for every task and precision.
//!
//! * [`validate`] / [`validate_model`] compare on given rows;
//! * [`validate_conversion`] compares the ONNX trees with the forest's node
//!   by node ([`structure`]: every split for every input value, every leaf),
//!   then adds [`adversarial_rows`] (see [`rows`]; a bounded sample of
//!   thresholds when the structure covered them all) and says whether the
//!   ONNX model reproduces the forest at all ([`ValidationOutcome`]);
//! * [`assert_round_trip`] exports and validates in one call, for tests.
//!
//! Rows are f64. A float ONNX model reads them rounded to float32, and the
//! forest is given the same rounded values (float export is exact for
//! float32 inputs only); a double model and the forest read them as given
//! (the forest applies its source library's own input precision).
//! Tolerances ([`Tolerance`]) follow the ONNX outputs' element type.

mod compare;
pub mod rows;
pub mod structure;

use std::time::{Duration, Instant};

use ndarray::{s, Array2, ArrayView2};
use serde::Serialize;

use crate::export::onnx::{float_note, to_bytes, ExportError, ExportOptions, FloatNote};
use crate::ir::{Forest, Task};
use crate::predict::ShapeError;
use crate::runtime::{ElementType, OnnxModel, OutputRole, RuntimeError};

pub use compare::{Deviation, Mismatch, Report, Tolerance};
pub use rows::{adversarial_rows, with_adversarial_rows, Probes};
pub use structure::{check_structure, Difference, StructureReport};

/// Thresholds per feature the adversarial rows probe when the structural
/// comparison covers every threshold: bounds the end-to-end comparison
/// (about 4 k rows for a float model) whatever the forest's size.
pub const SAMPLED_THRESHOLDS: usize = 1024;

/// Rows predicted and compared per step: bounds the memory of a comparison
/// on millions of rows.
const BATCH_ROWS: usize = 1 << 16;

/// Why validation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// tract failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The rows do not fit the forest.
    #[error("rows do not fit the forest: {0}")]
    Shape(#[from] ShapeError),
    /// Nothing to compare.
    #[error("no rows to compare")]
    NoRows,
    /// The ONNX model cannot be compared with the forest at all (other
    /// number of features or outputs, no label output for a classifier).
    #[error("the ONNX model does not fit the forest: {0}")]
    Incompatible(String),
}

/// Compares the ONNX model `onnx` (bytes) with `forest` on the rows `x`.
pub fn validate(
    forest: &Forest,
    onnx: &[u8],
    x: ArrayView2<'_, f64>,
) -> Result<Report, ValidateError> {
    let model = OnnxModel::from_bytes(onnx)?;
    validate_model(forest, &model, x)
}

/// [`validate`] with an already loaded model.
pub fn validate_model(
    forest: &Forest,
    model: &OnnxModel,
    x: ArrayView2<'_, f64>,
) -> Result<Report, ValidateError> {
    if x.nrows() == 0 {
        return Err(ValidateError::NoRows);
    }
    if x.ncols() != forest.n_features {
        return Err(ShapeError {
            expected: forest.n_features,
            got: x.ncols(),
        }
        .into());
    }
    let main = model.main_output();
    check_signature(forest, model)?;
    let raw = model.output(OutputRole::RawScore);
    let compare_raw =
        raw.is_some() && matches!(forest.aggregation, crate::ir::Aggregation::Sum { .. });
    let mut report = Report::new(main.role, main.element_type, compare_raw);
    let raw_type = raw.map_or(ElementType::Double, |r| r.element_type);
    let float = model.input_type() == ElementType::Float;
    for start in (0..x.nrows()).step_by(BATCH_ROWS) {
        let batch = x.slice(s![start..(start + BATCH_ROWS).min(x.nrows()), ..]);
        // A float model reads float32: the forest must see the same values.
        let rounded;
        let batch = if float {
            rounded = batch.mapv(|v| f64::from(v as f32));
            rounded.view()
        } else {
            batch
        };
        let got = model.predict(batch)?;
        let expected = forest.predict_checked(batch)?;
        check_widths(forest, &got)?;
        report.add(forest, &expected, &got, raw_type);
    }
    Ok(report)
}

/// Refuses ONNX models whose outputs cannot be compared with `forest`.
fn check_signature(forest: &Forest, model: &OnnxModel) -> Result<(), ValidateError> {
    let incompatible = |why: String| Err(ValidateError::Incompatible(why));
    if model.n_features() != forest.n_features {
        return incompatible(format!(
            "the ONNX model takes {} features; the forest takes {}",
            model.n_features(),
            forest.n_features
        ));
    }
    if forest.output_labels().is_some() && model.output(OutputRole::Label).is_none() {
        return incompatible("the ONNX model has no label output".into());
    }
    let main = model.main_output().role;
    let expected = match forest.task {
        Task::Classification(_) => OutputRole::Probabilities,
        Task::Regression { .. } => OutputRole::Variable,
        Task::AnomalyDetection { .. } => OutputRole::Scores,
    };
    if main != expected {
        return incompatible(format!(
            "the ONNX model outputs {main:?}; the forest predicts {expected:?}"
        ));
    }
    Ok(())
}

/// Refuses outputs of another width than the forest's.
fn check_widths(forest: &Forest, got: &crate::runtime::OnnxOutputs) -> Result<(), ValidateError> {
    if got.values.ncols() != forest.n_outputs() {
        return Err(ValidateError::Incompatible(format!(
            "the ONNX model has {} outputs per row; the forest has {}",
            got.values.ncols(),
            forest.n_outputs()
        )));
    }
    if let Some(raw) = &got.raw_score {
        if matches!(forest.aggregation, crate::ir::Aggregation::Sum { .. })
            && raw.ncols() != forest.score_width()
        {
            return Err(ValidateError::Incompatible(format!(
                "the ONNX model has {} raw scores per row; the forest has {}",
                raw.ncols(),
                forest.score_width()
            )));
        }
    }
    Ok(())
}

/// A finished validation of a conversion: the data rows and the
/// adversarial rows compared, or why the models cannot be compared.
#[derive(Clone, Debug, Serialize)]
pub struct ValidationOutcome {
    /// True when the ONNX model reproduces the forest.
    pub passed: bool,
    /// Rows taken from the caller's data.
    pub data_rows: usize,
    /// Adversarial rows added.
    pub adversarial_rows: usize,
    /// Distinct numeric thresholds the adversarial rows probe (each at the
    /// threshold and either side).
    pub thresholds_probed: usize,
    /// Distinct categories of categorical splits probed.
    pub categories_probed: usize,
    /// Why the models cannot be compared at all (other number of features
    /// or outputs): a mismatch too.
    pub incompatible: Option<String>,
    /// Row-by-row report (absent when incompatible).
    pub report: Option<Report>,
    /// Node-by-node comparison of the ONNX trees with the forest's: every
    /// split for every input value, every leaf.
    pub structure: Option<StructureReport>,
    /// Why the trees could not be compared node by node (a graph laid out
    /// otherwise than forest2onnx writes it); the rows then probe every
    /// threshold.
    pub structure_skipped: Option<String>,
    /// A float ONNX model of a forest that compares float64 inputs with
    /// float64 thresholds: exact for float32 inputs only (the rows compared
    /// are float32), and how many thresholds float32 cannot hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_note: Option<FloatNote>,
    /// Time spent building the rows and comparing.
    #[serde(serialize_with = "millis")]
    pub elapsed: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

impl ValidationOutcome {
    /// Number of mismatches, counting an incompatibility as one.
    pub fn mismatches(&self) -> usize {
        self.report.as_ref().map_or(1, Report::mismatches)
            + self.structure.as_ref().map_or(0, |s| s.differences)
    }

    /// Largest |Δ| seen on the main output (0 when incompatible).
    pub fn max_abs_diff(&self) -> f64 {
        self.report.as_ref().map_or(0.0, |r| r.max_abs_diff)
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(st) = &self.structure {
            s += &format!(
                "structure: {} ONNX trees, {} nodes ({} numeric splits on {} distinct thresholds, \
                 {} categorical splits, {} leaves as {}), {} differences\n",
                st.onnx_trees,
                st.nodes,
                st.splits,
                st.thresholds,
                st.categorical_splits,
                st.leaves,
                st.leaf_values,
                st.differences
            );
            for d in st
                .first_differences
                .iter()
                .take(structure::SHOWN_DIFFERENCES)
            {
                s += &format!(
                    "  tree {} (ONNX tree {}) node {}{}{}{}: {}\n",
                    d.tree,
                    d.onnx_tree,
                    d.node,
                    d.feature
                        .map_or(String::new(), |f| format!(", feature {f}")),
                    d.threshold
                        .map_or(String::new(), |t| format!(", threshold {t:?}")),
                    d.onnx_threshold
                        .map_or(String::new(), |t| format!(", ONNX threshold {t:?}")),
                    d.what
                );
            }
            let more = st.differences.saturating_sub(structure::SHOWN_DIFFERENCES);
            if more > 0 {
                s += &format!("  ... and {more} more (validate --json lists them)\n");
            }
        } else if let Some(why) = &self.structure_skipped {
            s += &format!("structure: not compared ({why}); every threshold probed by rows\n");
        }
        match (&self.report, &self.incompatible) {
            (Some(r), _) => {
                s += &format!(
                    "{r}\n  ({} data rows + {} adversarial rows probing {} thresholds{})\n",
                    self.data_rows,
                    self.adversarial_rows,
                    self.thresholds_probed,
                    if self.categories_probed > 0 {
                        format!(" and {} categories", self.categories_probed)
                    } else {
                        String::new()
                    }
                );
            }
            (None, Some(why)) => s += &format!("incompatible: {why}\n"),
            (None, None) => {}
        }
        s += &format!("mismatches: {}\n", self.mismatches());
        if let Some(note) = &self.float_note {
            s += &note.to_text();
            s.push('\n');
        }
        s
    }
}

/// Compares `model` with `forest` on `data` (rows in the forest's feature
/// order; may be empty) followed by adversarial rows probing every split.
///
/// An ONNX model that cannot be compared (other number of features or
/// outputs) is a failed outcome, not an error; errors are for comparisons
/// that could not run.
pub fn validate_conversion(
    forest: &Forest,
    model: &OnnxModel,
    data: ArrayView2<'_, f64>,
) -> Result<ValidationOutcome, ValidateError> {
    let started = Instant::now();
    let mut outcome = ValidationOutcome {
        passed: false,
        data_rows: data.nrows(),
        adversarial_rows: 0,
        thresholds_probed: 0,
        categories_probed: 0,
        incompatible: None,
        report: None,
        structure: None,
        structure_skipped: None,
        float_note: (model.input_type() == ElementType::Float
            && forest.input.precision == crate::ir::Precision::F64)
            .then(|| float_note(forest)),
        elapsed: Duration::ZERO,
    };
    if let Err(ValidateError::Incompatible(why)) = check_signature(forest, model) {
        outcome.incompatible = Some(why);
        outcome.elapsed = started.elapsed();
        return Ok(outcome);
    }
    if data.ncols() != forest.n_features {
        return Err(ShapeError {
            expected: forest.n_features,
            got: data.ncols(),
        }
        .into());
    }
    let structure = match model.ensembles() {
        [ensemble] => check_structure(forest, ensemble, model.input_type()),
        [] => Err("the graph has no tree-ensemble operator".into()),
        many => Err(format!(
            "the graph has {} tree-ensemble operators",
            many.len()
        )),
    };
    // Every threshold compared node by node: the rows need only check the
    // rest of the graph, on a bounded sample of thresholds.
    let probes = match structure {
        Ok(report) => {
            outcome.structure = Some(report);
            Probes::sampled(forest, model.input_type(), SAMPLED_THRESHOLDS)
        }
        Err(why) => {
            outcome.structure_skipped = Some(why);
            Probes::new(forest, model.input_type())
        }
    };
    let extra = rows::probe_rows(&probes, data, usize::MAX);
    outcome.adversarial_rows = extra.nrows();
    outcome.thresholds_probed = probes.thresholds;
    outcome.categories_probed = probes.categories;
    let mut all = Array2::zeros((data.nrows() + extra.nrows(), forest.n_features));
    all.slice_mut(s![..data.nrows(), ..]).assign(&data);
    all.slice_mut(s![data.nrows().., ..]).assign(&extra);
    drop(extra);
    if all.nrows() == 0 {
        // A forest without splits and no data: one row of zeros still
        // compares the constant outputs.
        all = Array2::zeros((1, forest.n_features));
        outcome.adversarial_rows = 1;
    }
    match validate_model(forest, model, all.view()) {
        Ok(report) => {
            outcome.passed = report.passed()
                && outcome
                    .structure
                    .as_ref()
                    .is_none_or(StructureReport::passed);
            outcome.report = Some(report);
        }
        Err(ValidateError::Incompatible(why)) => outcome.incompatible = Some(why),
        Err(e) => return Err(e),
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// Exports `forest` with default options, validates it on `x` plus the
/// adversarial rows, and panics with the report unless everything matches.
///
/// Meant for users' own test suites.
pub fn assert_round_trip(forest: &Forest, x: ArrayView2<'_, f64>) -> Report {
    let onnx = to_bytes(forest, &ExportOptions::default()).expect("ONNX export failed");
    let model = OnnxModel::from_bytes(&onnx).expect("tract loads the export");
    let outcome = validate_conversion(forest, &model, x).expect("validation could not run");
    assert!(
        outcome.passed,
        "ONNX round trip failed:\n{}",
        outcome.to_text()
    );
    outcome.report.expect("a passed outcome has a report")
}

#[cfg(test)]
mod structure_tests;
#[cfg(test)]
mod tests;
