//! Shared helpers for the integration tests: smartcore training, synthetic
//! data, and the source ↔ IR ↔ ONNX comparison every round-trip test runs.

#[cfg(feature = "python")]
pub mod crosscheck;
#[cfg(feature = "python")]
pub mod python;

use std::sync::atomic::{AtomicUsize, Ordering};

use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::ir::{Forest, Labels};
use forest2onnx::runtime::ElementType;
use forest2onnx::validate::{validate, with_adversarial_rows};
use ndarray::Array2;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::numbers::basenum::Number;
use smartcore::numbers::floatnum::FloatNumber;
use smartcore::tree::decision_tree_classifier::{
    DecisionTreeClassifier, DecisionTreeClassifierParameters,
};

/// Models and rows compared across a test binary (printed by each test).
pub static MODELS: AtomicUsize = AtomicUsize::new(0);
pub static ROWS: AtomicUsize = AtomicUsize::new(0);

/// The deterministic PRNG of the benchmarks' forest generator.
pub use forest2onnx::rng::SplitMix as Rng;

/// Gaussian-ish blobs: each class centred elsewhere, values with many digits.
pub fn blobs(
    rng: &mut Rng,
    rows: usize,
    features: usize,
    labels: &[i64],
) -> (Vec<Vec<f64>>, Vec<i64>) {
    let centres: Vec<Vec<f64>> = labels
        .iter()
        .map(|_| (0..features).map(|_| rng.unit() * 4.0 - 2.0).collect())
        .collect();
    let mut x = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for r in 0..rows {
        let c = if r < labels.len() {
            r
        } else {
            rng.below(labels.len())
        };
        x.push(
            centres[c]
                .iter()
                .map(|m| m + (rng.unit() + rng.unit() + rng.unit() - 1.5) * 1.7)
                .collect(),
        );
        y.push(labels[c]);
    }
    (x, y)
}

pub fn matrix<T: Copy + std::fmt::Debug + std::fmt::Display>(rows: &[Vec<T>]) -> DenseMatrix<T> {
    let ncols = rows.first().map_or(0, Vec::len);
    let flat: Vec<T> = rows.iter().flatten().copied().collect();
    DenseMatrix::new(rows.len(), ncols, flat, false).expect("rectangular data")
}

pub fn rf_params(trees: u16, seed: u64) -> RandomForestClassifierParameters {
    RandomForestClassifierParameters::default()
        .with_n_trees(trees)
        .with_seed(seed)
}

pub fn to_f32_rows<T: Copy + Into<f64>>(rows: &[Vec<T>]) -> Array2<f32> {
    let ncols = rows.first().map_or(0, Vec::len);
    Array2::from_shape_fn((rows.len(), ncols), |(r, c)| rows[r][c].into() as f32)
}

/// Compare a smartcore model, its IR and its ONNX export (both ai.onnx.ml
/// opsets, run in tract) on `rows` plus adversarial threshold rows. The source
/// and the IR see the same float32 values the ONNX model sees.
pub fn check_model<TX>(
    forest: &Forest,
    source_predict: impl Fn(&DenseMatrix<TX>) -> Vec<i64>,
    rows: &Array2<f32>,
) where
    TX: Number + FloatNumber + From<f32>,
{
    forest.check().expect("imported forest is valid");
    let all = with_adversarial_rows(
        forest,
        ElementType::Float,
        rows.mapv(f64::from).view(),
        20_000,
    )
    .unwrap();
    let as_source: Vec<Vec<TX>> = all
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .map(|&v| <TX as From<f32>>::from(v as f32))
                .collect()
        })
        .collect();
    let source_labels = source_predict(&matrix(&as_source));
    let ir = forest.predict(all.view());
    let Labels::Int(labels) = forest.class_labels().expect("classifier") else {
        panic!("smartcore labels are integers")
    };
    let ir_labels: Vec<i64> = ir.classes.iter().map(|&c| labels[c]).collect();
    assert_eq!(
        ir_labels, source_labels,
        "IR labels differ from smartcore's"
    );
    for ml_opset in [1, 3] {
        let options = ExportOptions {
            ml_opset,
            ..Default::default()
        };
        let onnx = to_bytes(forest, &options).expect("export");
        let report = validate(forest, &onnx, all.view()).expect("validation runs");
        assert!(report.passed(), "opset {ml_opset}:\n{report}");
        assert!(report.max_abs_diff <= 1e-6);
    }
    MODELS.fetch_add(1, Ordering::Relaxed);
    ROWS.fetch_add(all.nrows(), Ordering::Relaxed);
}

/// Train a smartcore random forest on `x`/`y` and run [`check_model`].
pub fn check_rf<TX>(x: &[Vec<TX>], y: &[i64], params: RandomForestClassifierParameters) -> Forest
where
    TX: Number + FloatNumber + From<f32> + Into<f64> + serde::Serialize,
{
    let model: RandomForestClassifier<TX, i64, DenseMatrix<TX>, Vec<i64>> =
        RandomForestClassifier::fit(&matrix(x), &y.to_vec(), params).expect("training");
    let forest = forest2onnx::import::smartcore::from_random_forest(&model).expect("import");
    check_model(
        &forest,
        |m| model.predict(m).expect("predict"),
        &to_f32_rows(x),
    );
    forest
}

/// Train a smartcore decision tree on `x`/`y` and run [`check_model`].
pub fn check_tree<TX>(x: &[Vec<TX>], y: &[i64], params: DecisionTreeClassifierParameters) -> Forest
where
    TX: Number + FloatNumber + From<f32> + Into<f64> + serde::Serialize,
{
    let model: DecisionTreeClassifier<TX, i64, DenseMatrix<TX>, Vec<i64>> =
        DecisionTreeClassifier::fit(&matrix(x), &y.to_vec(), params).expect("training");
    let forest = forest2onnx::import::smartcore::from_decision_tree(&model).expect("import");
    check_model(
        &forest,
        |m| model.predict(m).expect("predict"),
        &to_f32_rows(x),
    );
    forest
}

pub fn summary(test: &str) {
    eprintln!(
        "{test}: {} models, {} rows compared so far in this binary, 0 mismatches",
        MODELS.load(Ordering::Relaxed),
        ROWS.load(Ordering::Relaxed)
    );
}
