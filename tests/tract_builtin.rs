//! Our tract tree-ensemble op agrees with tract's built-in one where the
//! built-in is correct: multi-class forests with `BRANCH_LEQ` splits.

mod common;

use common::*;
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::OnnxClassifier;
use forest2onnx::validate::with_adversarial_rows;
use tract_onnx::prelude::*;

fn run_builtin(onnx: &[u8], x: &ndarray::Array2<f32>) -> (Vec<i64>, Vec<f32>) {
    let plan = tract_onnx::onnx()
        .model_for_read(&mut &*onnx)
        .unwrap()
        .with_input_fact(0, f32::fact([x.nrows(), x.ncols()]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let out = plan
        .run(tvec!(x.clone().into_tensor().into_tvalue()))
        .unwrap();
    let labels = out[0]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<i64>()
        .unwrap()
        .to_vec();
    let probs = out[1]
        .try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec();
    (labels, probs)
}

#[test]
fn agrees_with_tracts_builtin_op_on_small_multiclass_forests() {
    for seed in 0..4 {
        let mut rng = Rng(100 + seed);
        let (x, y) = blobs(&mut rng, 90, 3, &[0, 1, 2, 5]);
        let params = rf_params(6, seed);
        let model: smartcore::ensemble::random_forest_classifier::RandomForestClassifier<
            f64,
            i64,
            smartcore::linalg::basic::matrix::DenseMatrix<f64>,
            Vec<i64>,
        > = smartcore::ensemble::random_forest_classifier::RandomForestClassifier::fit(
            &matrix(&x),
            &y,
            params,
        )
        .unwrap();
        let forest = forest2onnx::import::smartcore::from_random_forest(&model).unwrap();
        let onnx = to_bytes(&forest, &ExportOptions::default()).unwrap();
        let rows = with_adversarial_rows(&forest, to_f32_rows(&x).view(), 2000).unwrap();
        let ours = OnnxClassifier::from_bytes(&onnx)
            .unwrap()
            .predict(rows.view())
            .unwrap();
        let (labels, probs) = run_builtin(&onnx, &rows);
        assert_eq!(ours.labels, forest2onnx::runtime::Labels::Int(labels));
        assert_eq!(
            ours.probabilities.iter().copied().collect::<Vec<_>>(),
            probs
        );
    }
}
