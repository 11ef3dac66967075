//! Train a smartcore random forest on iris, convert it to ONNX, validate the
//! ONNX in tract against the forest, and write it to the path given (default
//! `iris.onnx`).
//!
//! `cargo run --release --example iris -- iris.onnx`

use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::import::smartcore::from_random_forest;
use forest2onnx::runtime::ElementType;
use forest2onnx::validate::{validate, with_adversarial_rows};
use ndarray::Array2;
use smartcore::dataset::iris;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "iris.onnx".into());
    let data = iris::load_dataset();
    let x = DenseMatrix::new(
        data.num_samples,
        data.num_features,
        data.data.clone(),
        false,
    )?;
    let params = RandomForestClassifierParameters::default()
        .with_n_trees(100)
        .with_seed(42);
    let model = RandomForestClassifier::fit(&x, &data.target, params)?;

    let forest = from_random_forest(&model)?;
    let onnx = to_bytes(&forest, &ExportOptions::default())?;
    let rows =
        Array2::from_shape_vec((data.num_samples, data.num_features), data.data)?.mapv(f64::from);
    let rows = with_adversarial_rows(&forest, ElementType::Float, rows.view(), usize::MAX)?;
    let report = validate(&forest, &onnx, rows.view())?;
    println!("{report}");
    std::fs::write(&out, &onnx)?;
    println!("wrote {out} ({} bytes)", onnx.len());
    anyhow::ensure!(report.passed(), "validation failed");
    Ok(())
}
