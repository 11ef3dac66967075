//! Validation: run an exported ONNX model in tract and compare it with the
//! forest's reference prediction, row by row.
//!
//! [`adversarial_rows`] builds the inputs most likely to expose a conversion
//! error: every split feature exactly at its (float32) threshold and one
//! float step either side, plus NaN in every split feature.

use std::collections::BTreeSet;
use std::fmt;

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

use crate::export::onnx::{to_bytes, ExportError, ExportOptions};
use crate::ir::Forest;
use crate::predict::ShapeError;
use crate::runtime::{OnnxClassifier, RuntimeError};
use crate::thresholds::onnx_threshold;

/// Largest accepted |Δp| between the ONNX model and the forest.
///
/// ONNX probabilities are float32: votes / n_trees rounds at ~6e-8.
pub const PROBABILITY_TOLERANCE: f64 = 1e-6;

/// How many offending rows a report keeps.
const KEEP_ROWS: usize = 10;

/// Why validation could not run.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// Export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// tract failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The forest is not a classifier.
    #[error("only classifiers can be validated")]
    NotClassifier,
    /// The rows do not fit the forest.
    #[error("rows do not fit the forest: {0}")]
    Shape(#[from] ShapeError),
    /// Nothing to compare.
    #[error("no rows to compare")]
    NoRows,
    /// The ONNX model has another number of classes.
    #[error("the ONNX model has {onnx} classes; the forest has {forest}")]
    Classes {
        /// Classes in the ONNX output.
        onnx: usize,
        /// Classes in the forest.
        forest: usize,
    },
}

/// A row where ONNX and the forest disagree.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// Row index in the compared batch.
    pub row: usize,
    /// Label the forest predicts.
    pub expected: String,
    /// Label the ONNX model predicts.
    pub got: String,
    /// Largest |Δp| on this row.
    pub max_abs_diff: f64,
}

/// The outcome of comparing an ONNX model with its forest.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Rows compared.
    pub rows: usize,
    /// Rows whose labels differ.
    pub label_mismatches: usize,
    /// Rows whose probabilities differ by more than the tolerance.
    pub probability_mismatches: usize,
    /// Largest |Δp| over all rows and classes.
    pub max_abs_diff: f64,
    /// Tolerance used for probabilities.
    pub tolerance: f64,
    /// The first offending rows.
    pub first_mismatches: Vec<Mismatch>,
}

impl Report {
    /// True when every label matches and every probability is within tolerance.
    pub fn passed(&self) -> bool {
        self.label_mismatches == 0 && self.probability_mismatches == 0
    }

    /// Total rows with any mismatch counted once per kind.
    pub fn mismatches(&self) -> usize {
        self.label_mismatches + self.probability_mismatches
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows compared: {}", self.rows)?;
        writeln!(f, "label mismatches: {}", self.label_mismatches)?;
        writeln!(
            f,
            "probability mismatches (|Δp| > {:e}): {}",
            self.tolerance, self.probability_mismatches
        )?;
        write!(f, "max |Δp|: {:.3e}", self.max_abs_diff)?;
        for m in &self.first_mismatches {
            write!(
                f,
                "\n  row {}: expected {}, got {} (max |Δp| {:.3e})",
                m.row, m.expected, m.got, m.max_abs_diff
            )?;
        }
        Ok(())
    }
}

/// Compare the ONNX model `onnx` (bytes) with `forest` on `x` (rows × features).
pub fn validate(
    forest: &Forest,
    onnx: &[u8],
    x: ArrayView2<'_, f32>,
) -> Result<Report, ValidateError> {
    let model = OnnxClassifier::from_bytes(onnx)?;
    validate_model(forest, &model, x)
}

/// [`validate`] with an already loaded model.
pub fn validate_model(
    forest: &Forest,
    model: &OnnxClassifier,
    x: ArrayView2<'_, f32>,
) -> Result<Report, ValidateError> {
    let labels = forest.class_labels().ok_or(ValidateError::NotClassifier)?;
    if x.nrows() == 0 {
        return Err(ValidateError::NoRows);
    }
    let got = model.predict(x)?;
    if got.probabilities.ncols() != labels.len() {
        return Err(ValidateError::Classes {
            onnx: got.probabilities.ncols(),
            forest: labels.len(),
        });
    }
    // The forest sees exactly the float32 values the ONNX model sees.
    let expected = forest.predict_checked(x.mapv(f64::from).view())?;
    let mut report = Report {
        rows: x.nrows(),
        label_mismatches: 0,
        probability_mismatches: 0,
        max_abs_diff: 0.0,
        tolerance: PROBABILITY_TOLERANCE,
        first_mismatches: Vec::new(),
    };
    for r in 0..x.nrows() {
        let row_diff = expected
            .values
            .row(r)
            .iter()
            .zip(got.probabilities.row(r))
            .map(|(e, g)| (e - f64::from(*g)).abs())
            .fold(
                0.0,
                |a: f64, d| if d.is_nan() { f64::INFINITY } else { a.max(d) },
            );
        report.max_abs_diff = report.max_abs_diff.max(row_diff);
        let label_ok = labels.same(expected.classes[r], &got.labels, r);
        if !label_ok {
            report.label_mismatches += 1;
        }
        if row_diff > PROBABILITY_TOLERANCE {
            report.probability_mismatches += 1;
        }
        if (!label_ok || row_diff > PROBABILITY_TOLERANCE)
            && report.first_mismatches.len() < KEEP_ROWS
        {
            report.first_mismatches.push(Mismatch {
                row: r,
                expected: labels.display(expected.classes[r]),
                got: got.labels.display(r),
                max_abs_diff: row_diff,
            });
        }
    }
    Ok(report)
}

/// Export `forest` with default options, validate it on `x` plus the
/// adversarial rows, and panic with the report unless everything matches.
///
/// Meant for users' own test suites.
pub fn assert_round_trip(forest: &Forest, x: ArrayView2<'_, f32>) -> Report {
    let onnx = to_bytes(forest, &ExportOptions::default()).expect("ONNX export failed");
    let rows = with_adversarial_rows(forest, x, usize::MAX).expect("rows of the model's width");
    let report = validate(forest, &onnx, rows.view()).expect("validation could not run");
    assert!(report.passed(), "ONNX round trip failed:\n{report}");
    report
}

/// `x` followed by [`adversarial_rows`] built on it (at most `max_extra` of them).
///
/// Fails when `x` does not have one column per feature of `forest`.
pub fn with_adversarial_rows(
    forest: &Forest,
    x: ArrayView2<'_, f32>,
    max_extra: usize,
) -> Result<Array2<f32>, ShapeError> {
    let extra = adversarial_rows(forest, x, max_extra)?;
    let mut all = Array2::zeros((x.nrows() + extra.nrows(), forest.n_features));
    all.slice_mut(ndarray::s![..x.nrows(), ..]).assign(&x);
    all.slice_mut(ndarray::s![x.nrows().., ..]).assign(&extra);
    Ok(all)
}

/// Rows that put every split feature exactly at its float32 threshold and
/// one float step either side, and NaN in every split feature.
///
/// Each row starts from a row of `base` (cycling through them, zeros when
/// `base` is empty) so that the rows reach many different nodes. At most
/// `max_rows` rows are made; splits are then sampled evenly. Fails when
/// `base` does not have one column per feature of `forest`.
pub fn adversarial_rows(
    forest: &Forest,
    base: ArrayView2<'_, f32>,
    max_rows: usize,
) -> Result<Array2<f32>, ShapeError> {
    if base.ncols() != forest.n_features {
        return Err(ShapeError {
            expected: forest.n_features,
            got: base.ncols(),
        });
    }
    let mut splits = BTreeSet::new();
    let mut features = BTreeSet::new();
    for tree in &forest.trees {
        for i in 0..tree.n_nodes() {
            // Feature ids are in range on checked forests; skip, never index,
            // the others.
            if !tree.is_leaf(i) && (tree.feature[i] as usize) < forest.n_features {
                let t = onnx_threshold(tree.threshold[i], forest.split_op);
                splits.insert((tree.feature[i], t.to_bits()));
                features.insert(tree.feature[i]);
            }
        }
    }
    let values_per_split = 4;
    let wanted = splits.len() * values_per_split + features.len();
    let keep_every = wanted.div_ceil(max_rows.max(1)).max(1);
    let mut rows: Vec<(u32, f32)> = Vec::new();
    for &f in &features {
        rows.push((f, f32::NAN));
    }
    for (f, bits) in splits {
        let t = f32::from_bits(bits);
        rows.extend([
            (f, t),
            (f, t.next_up()),
            (f, t.next_down()),
            (f, t.next_up().next_up()),
        ]);
    }
    let rows: Vec<(u32, f32)> = rows
        .into_iter()
        .step_by(keep_every)
        .take(max_rows)
        .collect();
    let mut out = Array2::<f32>::zeros((rows.len(), forest.n_features));
    for (r, (f, v)) in rows.into_iter().enumerate() {
        if base.nrows() > 0 {
            out.row_mut(r).assign(&base.row(r % base.nrows()));
        }
        out[[r, f as usize]] = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Aggregation, Labels, Source, SplitOp, Task, Tree, LEAF};

    fn stump() -> Forest {
        Forest {
            input: Default::default(),
            n_features: 2,
            feature_names: None,
            split_op: SplitOp::LessOrEqual,
            task: Task::Classification(Labels::Int(vec![0, 1])),
            aggregation: Aggregation::Vote,
            trees: vec![Tree {
                categories: Default::default(),
                feature: vec![1, 0, 0],
                threshold: vec![0.1, 0.0, 0.0],
                true_child: vec![1, LEAF, LEAF],
                false_child: vec![2, LEAF, LEAF],
                missing_true: vec![false; 3],
                value: vec![0.0, 0.0, 1.0],
            }],
            source: Source::default(),
        }
    }

    #[test]
    fn adversarial_rows_straddle_the_float32_threshold() {
        let f = stump();
        let base = Array2::from_elem((1, 2), 7.0f32);
        let rows = adversarial_rows(&f, base.view(), 100).unwrap();
        let t = onnx_threshold(0.1, SplitOp::LessOrEqual);
        let column: Vec<f32> = rows.column(1).to_vec();
        assert!(column[0].is_nan());
        assert_eq!(&column[1..4], &[t, t.next_up(), t.next_down()]);
        assert!(rows.column(0).iter().all(|&v| v == 7.0));
    }

    #[test]
    fn rows_of_the_wrong_width_are_an_error_not_a_panic() {
        let f = stump();
        let x = Array2::<f32>::zeros((3, 5));
        assert_eq!(
            with_adversarial_rows(&f, x.view(), 10).unwrap_err(),
            ShapeError {
                expected: 2,
                got: 5
            }
        );
        let onnx = to_bytes(&f, &ExportOptions::default()).unwrap();
        assert!(matches!(
            validate(&f, &onnx, x.view()),
            Err(ValidateError::Runtime(RuntimeError::Shape(ShapeError {
                expected: 2,
                got: 5
            })))
        ));
    }
}
