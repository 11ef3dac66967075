//! Row-by-row comparison of an ONNX model's outputs with the forest's
//! reference prediction, and the [`Report`] it produces.

use std::fmt;

use serde::Serialize;

use crate::ir::{Forest, Labels, Task};
use crate::predict::Prediction;
use crate::runtime::{ElementType, OnnxOutputs, OutputRole};

/// How far ONNX outputs may be from the forest's reference prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Tolerance {
    /// Largest |Δ| on probabilities.
    pub probability: f64,
    /// Largest |Δ| / |expected| on other outputs (targets, scores, raw
    /// scores)...
    pub relative: f64,
    /// ... unless |Δ| is at most this (near zero, where a relative bound
    /// means nothing).
    pub absolute: f64,
}

impl Tolerance {
    /// Float outputs: probabilities within 1e-6; other outputs within 1e-5
    /// relative, or 1e-6 absolute near zero.
    pub const FLOAT: Tolerance = Tolerance {
        probability: 1e-6,
        relative: 1e-5,
        absolute: 1e-6,
    };

    /// Double outputs: equal up to summation order: 1e-12 relative (1e-12
    /// absolute on probabilities, 1e-13 absolute near zero).
    pub const DOUBLE: Tolerance = Tolerance {
        probability: 1e-12,
        relative: 1e-12,
        absolute: 1e-13,
    };

    /// The tolerance for an output of element type `t`.
    pub fn for_type(t: ElementType) -> Tolerance {
        if t == ElementType::Double {
            Tolerance::DOUBLE
        } else {
            Tolerance::FLOAT
        }
    }

    /// Whether `got` is close enough to `expected`; probabilities have
    /// their own absolute bound. NaN equals NaN, infinities themselves.
    pub fn accepts(&self, expected: f64, got: f64, probability: bool) -> bool {
        if expected == got || (expected.is_nan() && got.is_nan()) {
            return true;
        }
        let d = (expected - got).abs();
        if probability {
            d <= self.probability
        } else {
            d <= self.absolute || d <= self.relative * expected.abs()
        }
    }
}

/// The largest differences seen on one output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Deviation {
    /// Rows where some value is beyond the tolerance.
    pub mismatches: usize,
    /// Largest |Δ| (infinite when one side is NaN or infinite alone).
    pub max_abs: f64,
    /// Largest |Δ| / |expected| over non-zero expected values.
    pub max_rel: f64,
}

impl Deviation {
    /// Adds one row's values; returns that row's largest |Δ| when the row
    /// is beyond `tolerance`.
    fn add(
        &mut self,
        expected: &[f64],
        got: &[f64],
        tolerance: &Tolerance,
        probability: bool,
    ) -> Option<f64> {
        let mut row_abs = 0f64;
        let mut bad = false;
        for (&e, &g) in expected.iter().zip(got) {
            if !tolerance.accepts(e, g, probability) {
                bad = true;
            }
            if e == g || (e.is_nan() && g.is_nan()) {
                continue;
            }
            let d = (e - g).abs();
            let d = if d.is_nan() { f64::INFINITY } else { d };
            row_abs = row_abs.max(d);
            if e != 0.0 {
                self.max_rel = self.max_rel.max(d / e.abs());
            }
        }
        self.max_abs = self.max_abs.max(row_abs);
        if bad {
            self.mismatches += 1;
            Some(row_abs)
        } else {
            None
        }
    }
}

/// How many offending rows a report keeps.
const KEEP_ROWS: usize = 10;

/// A row where the ONNX model and the forest disagree.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// Row index in the compared batch.
    pub row: usize,
    /// What differs: `label`, the main output's name, or `raw_score`.
    pub what: String,
    /// Label the forest predicts, when there are labels.
    pub expected: Option<String>,
    /// Label the ONNX model predicts.
    pub got: Option<String>,
    /// Largest |Δ| on this row's output (0 for labels).
    pub max_abs_diff: f64,
}

/// The outcome of comparing an ONNX model with its forest, row by row.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Rows compared.
    pub rows: usize,
    /// The main output compared: probabilities, targets (`variable`) or
    /// anomaly scores.
    pub output: OutputRole,
    /// Element type of the ONNX main output.
    pub precision: ElementType,
    /// Tolerance applied to the main output (and to raw scores of the same
    /// element type).
    pub tolerance: Tolerance,
    /// Rows whose labels differ (outside near-ties).
    pub label_mismatches: usize,
    /// Rows whose labels differ where the forest's own top outputs are
    /// within the tolerance of each other (or an anomaly score within it
    /// of the decision threshold): rounding may pick either; not failures.
    pub near_ties: usize,
    /// Rows whose main output is beyond the tolerance.
    pub output_mismatches: usize,
    /// Largest |Δ| on the main output.
    pub max_abs_diff: f64,
    /// Largest relative |Δ| on the main output.
    pub max_rel_diff: f64,
    /// The raw scores, when both the forest and the ONNX model have them.
    pub raw_score: Option<Deviation>,
    /// The first offending rows.
    pub first_mismatches: Vec<Mismatch>,
}

impl Report {
    /// An empty report for an ONNX model whose main output is `output` of
    /// type `precision`.
    pub(super) fn new(output: OutputRole, precision: ElementType, raw: bool) -> Report {
        Report {
            rows: 0,
            output,
            precision,
            tolerance: Tolerance::for_type(precision),
            label_mismatches: 0,
            near_ties: 0,
            output_mismatches: 0,
            max_abs_diff: 0.0,
            max_rel_diff: 0.0,
            raw_score: raw.then(Deviation::default),
            first_mismatches: Vec::new(),
        }
    }

    /// True when every label matches (near-ties aside) and every output is
    /// within tolerance.
    pub fn passed(&self) -> bool {
        self.mismatches() == 0
    }

    /// Rows with a mismatch, counted once per kind (labels, outputs, raw
    /// scores).
    pub fn mismatches(&self) -> usize {
        self.label_mismatches + self.output_mismatches + self.raw_score.map_or(0, |r| r.mismatches)
    }

    /// Adds a batch: `expected` from `forest`, `got` from the ONNX model;
    /// `raw_type` is the element type of the ONNX raw scores.
    pub(super) fn add(
        &mut self,
        forest: &Forest,
        expected: &Prediction,
        got: &OnnxOutputs,
        raw_type: ElementType,
    ) {
        let first = self.rows;
        let probability = self.output == OutputRole::Probabilities;
        let labels = forest.output_labels();
        let raw_tolerance = Tolerance::for_type(raw_type);
        let output_name = match self.output {
            OutputRole::Probabilities => "probabilities",
            OutputRole::Variable => "variable",
            OutputRole::Scores => "scores",
            _ => "output",
        };
        for r in 0..expected.values.nrows() {
            let row = first + r;
            let e = expected.values.row(r);
            let g = got.values.row(r);
            let e = e.as_slice().expect("standard layout");
            let g = g.as_slice().expect("standard layout");
            if let Some(d) = self_deviation(self, e, g, probability) {
                self.keep(row, output_name, None, d);
            }
            if let (Some(dev), Some(er), Some(gr)) = (
                self.raw_score.as_mut(),
                expected.raw.as_ref(),
                got.raw_score.as_ref(),
            ) {
                let (er, gr) = (er.row(r), gr.row(r));
                let er = er.as_slice().expect("standard layout");
                let gr = gr.as_slice().expect("standard layout");
                if let Some(d) = dev.add(er, gr, &raw_tolerance, false) {
                    self.keep(row, "raw_score", None, d);
                }
            }
            if let (Some(labels), Some(got_labels)) = (labels, got.labels.as_ref()) {
                let class = expected.classes[r];
                if !labels.same(class, got_labels, r) {
                    if near_tie(forest, e, labels, got_labels, r, &self.tolerance) {
                        self.near_ties += 1;
                    } else {
                        self.label_mismatches += 1;
                        self.keep(
                            row,
                            "label",
                            Some((labels.display(class), got_labels.display(r))),
                            0.0,
                        );
                    }
                }
            }
        }
        self.rows += expected.values.nrows();
    }

    fn keep(&mut self, row: usize, what: &str, labels: Option<(String, String)>, d: f64) {
        if self.first_mismatches.len() < KEEP_ROWS {
            let (expected, got) = labels.unzip();
            self.first_mismatches.push(Mismatch {
                row,
                what: what.into(),
                expected,
                got,
                max_abs_diff: d,
            });
        }
    }
}

/// Adds one row of the main output to the report's figures.
fn self_deviation(report: &mut Report, e: &[f64], g: &[f64], probability: bool) -> Option<f64> {
    let mut dev = Deviation {
        mismatches: report.output_mismatches,
        max_abs: report.max_abs_diff,
        max_rel: report.max_rel_diff,
    };
    let bad = dev.add(e, g, &report.tolerance, probability);
    report.output_mismatches = dev.mismatches;
    report.max_abs_diff = dev.max_abs;
    report.max_rel_diff = dev.max_rel;
    bad
}

/// Whether the label the ONNX model chose for row `r` is one the forest
/// could also have chosen up to rounding: a class whose reference output is
/// within the tolerance of the best one, or, for anomaly detectors, a
/// decision within the tolerance of 0.
fn near_tie(
    forest: &Forest,
    outputs: &[f64],
    labels: &Labels,
    got: &Labels,
    r: usize,
    tolerance: &Tolerance,
) -> bool {
    let Some(chosen) = (0..labels.len()).find(|&c| labels.same(c, got, r)) else {
        return false;
    };
    match forest.task {
        Task::AnomalyDetection { .. } => {
            let decision = outputs[1];
            decision.abs() <= tolerance.absolute.max(tolerance.probability)
        }
        _ => {
            let best = outputs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let slack = if matches!(forest.task, Task::Classification(_)) {
                tolerance.probability
            } else {
                tolerance.absolute
            };
            outputs.get(chosen).is_some_and(|&v| best - v <= slack)
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let output = match self.output {
            OutputRole::Probabilities => "probabilities",
            OutputRole::Variable => "targets",
            OutputRole::Scores => "scores",
            _ => "outputs",
        };
        writeln!(f, "rows compared: {}", self.rows)?;
        writeln!(
            f,
            "label mismatches: {} (near-ties: {})",
            self.label_mismatches, self.near_ties
        )?;
        let t = &self.tolerance;
        let bound = if self.output == OutputRole::Probabilities {
            format!("|Δ| > {:e}", t.probability)
        } else {
            format!("|Δ| > max({:e} relative, {:e})", t.relative, t.absolute)
        };
        writeln!(
            f,
            "{output} mismatches ({} {bound}): {}",
            self.precision.name(),
            self.output_mismatches
        )?;
        write!(
            f,
            "max |Δ| {output}: {:.3e} (relative {:.3e})",
            self.max_abs_diff, self.max_rel_diff
        )?;
        if let Some(raw) = &self.raw_score {
            write!(
                f,
                "\nraw scores: {} mismatches, max |Δ| {:.3e} (relative {:.3e})",
                raw.mismatches, raw.max_abs, raw.max_rel
            )?;
        }
        for m in &self.first_mismatches {
            match (&m.expected, &m.got) {
                (Some(e), Some(g)) => write!(f, "\n  row {}: label {e} expected, got {g}", m.row)?,
                _ => write!(
                    f,
                    "\n  row {}: {} differs by {:.3e}",
                    m.row, m.what, m.max_abs_diff
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerances_bound_absolute_near_zero_and_relative_elsewhere() {
        let t = Tolerance::FLOAT;
        assert!(t.accepts(0.5, 0.5 + 9e-7, true));
        assert!(!t.accepts(0.5, 0.5 + 2e-6, true));
        assert!(t.accepts(1000.0, 1000.009, false));
        assert!(!t.accepts(1000.0, 1000.02, false));
        assert!(t.accepts(1e-9, 5e-7, false));
        assert!(t.accepts(f64::NAN, f64::NAN, false));
        assert!(!t.accepts(f64::NAN, 0.0, false));
        assert!(t.accepts(f64::INFINITY, f64::INFINITY, false));
        let d = Tolerance::DOUBLE;
        assert!(d.accepts(1e6, 1e6 * (1.0 + 5e-13), false));
        assert!(!d.accepts(1e6, 1e6 * (1.0 + 5e-12), false));
    }

    #[test]
    fn deviations_track_absolute_and_relative_maxima() {
        let mut d = Deviation::default();
        assert!(d
            .add(&[1.0, 100.0], &[1.0, 100.0001], &Tolerance::FLOAT, false)
            .is_none());
        assert!((d.max_rel - 1e-6).abs() < 1e-9);
        assert_eq!(
            d.add(&[0.0], &[f64::NAN], &Tolerance::FLOAT, false),
            Some(f64::INFINITY)
        );
        assert_eq!(d.mismatches, 1);
    }
}
