//! `--precision auto`: the element type and `ai.onnx.ml` opset that
//! reproduce a forest exactly, and why.
//!
//! The source library's comparison precision ([`InputRules::precision`],
//! declared by each importer) decides: a forest that compares float64 inputs
//! with float64 thresholds (LightGBM, HistGradientBoosting) needs a double
//! graph, which needs opset 3; one that rounds inputs to float32 first
//! (scikit-learn trees, XGBoost) is exact in a float graph at opset 1, which
//! loads everywhere.
//!
//! [`InputRules::precision`]: crate::ir::InputRules::precision

use serde::Serialize;

use super::{ExportOptions, Precision};
use crate::ir::{Forest, Precision as Compared};

/// The lowest `ai.onnx.ml` opset that holds double attributes.
pub const DOUBLE_MIN_OPSET: i64 = 3;

/// The precision and opset an export uses, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Choice {
    /// `Float` or `Double`, never `Auto`.
    pub precision: Precision,
    /// The `ai.onnx.ml` opset.
    pub ml_opset: i64,
    /// Whether the precision was chosen (`auto`) rather than given.
    pub automatic: bool,
    /// Why this precision, in one sentence.
    pub reason: String,
    /// When a float graph is written for a forest that compares in float64:
    /// float64 inputs near a threshold may route otherwise than in the
    /// source library.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_note: Option<FloatNote>,
}

/// What a float graph of a float64-comparing forest loses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FloatNote {
    /// Numeric thresholds strictly between two float32 values.
    pub inexact_thresholds: usize,
    /// Numeric thresholds in all.
    pub thresholds: usize,
}

impl FloatNote {
    /// The note as the command line prints it.
    pub fn to_text(&self) -> String {
        format!(
            "note: the source model compares float64 inputs with float64 thresholds; in a \
             float ONNX model, float64 inputs near a threshold may route differently: {} of \
             its {} thresholds lie strictly between two float32 values (use --precision \
             double, or auto, for an exact model)",
            self.inexact_thresholds, self.thresholds
        )
    }
}

impl Choice {
    /// One line for summaries, e.g. `precision double (auto): LightGBM
    /// compares float64 inputs with float64 thresholds: double is exact`.
    pub fn why(&self) -> String {
        format!(
            "precision {} ({}): {}",
            self.precision.name(),
            if self.automatic { "auto" } else { "as asked" },
            self.reason
        )
    }
}

/// The precision and opset [`to_bytes`](super::to_bytes) uses for `forest`
/// under `options`. An explicit opset that cannot hold the asked precision
/// is kept: the export then refuses it with the reason.
pub fn choose(forest: &Forest, options: &ExportOptions) -> Choice {
    let compares_f64 = forest.input.precision == Compared::F64;
    let source = source_name(forest);
    let (precision, reason) = match options.precision {
        Precision::Float => (Precision::Float, "--precision float".to_string()),
        Precision::Double => (Precision::Double, "--precision double".to_string()),
        Precision::Auto if !compares_f64 => (
            Precision::Float,
            format!("{source} rounds inputs to float32 before comparing: float is exact"),
        ),
        Precision::Auto if options.ml_opset == Some(1) => (
            Precision::Float,
            format!(
                "{source} compares in float64, but ai.onnx.ml opset 1 holds no doubles: float \
                 is the closest"
            ),
        ),
        Precision::Auto => (
            Precision::Double,
            format!("{source} compares float64 inputs with float64 thresholds: double is exact"),
        ),
    };
    let ml_opset = options.ml_opset.unwrap_or(match precision {
        Precision::Double => DOUBLE_MIN_OPSET,
        _ => 1,
    });
    let float_note = (compares_f64 && precision == Precision::Float).then(|| float_note(forest));
    Choice {
        precision,
        ml_opset,
        automatic: options.precision == Precision::Auto,
        reason,
        float_note,
    }
}

/// Counts the numeric thresholds of `forest` that float32 cannot hold.
pub fn float_note(forest: &Forest) -> FloatNote {
    let mut note = FloatNote {
        inexact_thresholds: 0,
        thresholds: 0,
    };
    for tree in &forest.trees {
        for (i, &t) in tree.threshold.iter().enumerate() {
            let numeric = !tree.is_leaf(i) && tree.categories.of(i as u32).is_none();
            if numeric {
                note.thresholds += 1;
                // NaN thresholds never route anything; infinities are exact.
                if !t.is_nan() && f64::from(t as f32) != t {
                    note.inexact_thresholds += 1;
                }
            }
        }
    }
    note
}

/// `LightGBM`, `scikit-learn HistGradientBoostingClassifier`, ... or `the
/// source model` when the forest does not say.
fn source_name(forest: &Forest) -> String {
    let s = &forest.source;
    match (s.library.is_empty(), s.estimator.is_empty()) {
        (true, true) => "the source model".into(),
        (false, true) => s.library.clone(),
        (true, false) => s.estimator.clone(),
        (false, false) => format!("{} {}", s.library, s.estimator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::tests::stump;

    fn with(precision: Precision, ml_opset: Option<i64>) -> ExportOptions {
        ExportOptions {
            precision,
            ml_opset,
            ..Default::default()
        }
    }

    #[test]
    fn auto_follows_the_comparison_precision() {
        let mut f = stump();
        f.input.precision = Compared::F64;
        let c = choose(&f, &ExportOptions::default());
        assert_eq!(
            (c.precision, c.ml_opset, c.automatic),
            (Precision::Double, 3, true)
        );
        assert_eq!(c.float_note, None);
        f.input.precision = Compared::F32;
        let c = choose(&f, &ExportOptions::default());
        assert_eq!((c.precision, c.ml_opset), (Precision::Float, 1));
        assert_eq!(c.float_note, None);
    }

    #[test]
    fn auto_keeps_an_explicit_opset() {
        let mut f = stump();
        f.input.precision = Compared::F64;
        let c = choose(&f, &with(Precision::Auto, Some(5)));
        assert_eq!((c.precision, c.ml_opset), (Precision::Double, 5));
        let c = choose(&f, &with(Precision::Auto, Some(1)));
        assert_eq!((c.precision, c.ml_opset), (Precision::Float, 1));
        assert!(c.float_note.is_some());
    }

    #[test]
    fn forced_float_on_a_float64_forest_counts_inexact_thresholds() {
        let mut f = stump();
        f.input.precision = Compared::F64;
        f.trees.push(f.trees[0].clone());
        f.trees[1].threshold[0] = 0.1; // not a float32 value
        let c = choose(&f, &with(Precision::Float, None));
        assert_eq!(
            (c.precision, c.ml_opset, c.automatic),
            (Precision::Float, 1, false)
        );
        assert_eq!(
            c.float_note,
            Some(FloatNote {
                inexact_thresholds: 1,
                thresholds: 2
            })
        );
        // Double asked: no note, the lowest opset that holds doubles.
        let c = choose(&f, &with(Precision::Double, None));
        assert_eq!(
            (c.precision, c.ml_opset, c.float_note),
            (Precision::Double, 3, None)
        );
    }
}
