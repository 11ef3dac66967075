//! `forest2onnx.Report`: the outcome of a validation.

use forest2onnx::validate::ValidationOutcome;
use pyo3::prelude::*;

/// The outcome of comparing an ONNX model with the forest row by row (the
/// given rows plus adversarial rows at every split threshold).
#[pyclass(frozen, module = "forest2onnx")]
pub struct Report {
    /// True when every row matched: same labels, outputs within tolerance.
    #[pyo3(get)]
    passed: bool,
    /// Rows that did not match (an incompatible model counts as one).
    #[pyo3(get)]
    mismatches: usize,
    /// Largest absolute difference seen on the main output.
    #[pyo3(get)]
    max_abs_diff: f64,
    /// Rows taken from `X`.
    #[pyo3(get)]
    data_rows: usize,
    /// Adversarial rows added (each split threshold and one step either side).
    #[pyo3(get)]
    adversarial_rows: usize,
    /// Distinct thresholds probed.
    #[pyo3(get)]
    thresholds_probed: usize,
    /// Why the models cannot be compared at all, if they cannot.
    #[pyo3(get)]
    incompatible: Option<String>,
    /// The report as the command line prints it.
    #[pyo3(get)]
    text: String,
}

impl From<&ValidationOutcome> for Report {
    fn from(o: &ValidationOutcome) -> Report {
        Report {
            passed: o.passed,
            mismatches: o.mismatches(),
            max_abs_diff: o.max_abs_diff(),
            data_rows: o.data_rows,
            adversarial_rows: o.adversarial_rows,
            thresholds_probed: o.thresholds_probed,
            incompatible: o.incompatible.clone(),
            text: o.to_text(),
        }
    }
}

#[pymethods]
impl Report {
    fn __bool__(&self) -> bool {
        self.passed
    }

    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Report(passed={}, mismatches={}, max_abs_diff={:e}, rows={})",
            if self.passed { "True" } else { "False" },
            self.mismatches,
            self.max_abs_diff,
            self.data_rows + self.adversarial_rows
        )
    }
}
