//! Our tract tree-ensemble op against references that are not ours: the
//! ONNX repository's own backend node tests of the tree-ensemble operators
//! (every expected output reproduced), and tract's built-in op where the
//! built-in is correct (multi-class forests with `BRANCH_LEQ` splits).

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::{ElementType, OnnxModel};
use forest2onnx::validate::with_adversarial_rows;
use prost::Message;
use tract_onnx::prelude::*;

/// A serialized `TensorProto` of floats or doubles, as the backend tests
/// store inputs and outputs.
fn load_tensor(path: &Path) -> Tensor {
    let t = tract_onnx::pb::TensorProto::decode(&*std::fs::read(path).unwrap()).unwrap();
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    match t.data_type {
        1 => {
            let v: Vec<f32> = if t.raw_data.is_empty() {
                t.float_data.clone()
            } else {
                t.raw_data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            };
            tract_ndarray::ArrayD::from_shape_vec(shape, v)
                .unwrap()
                .into_tensor()
        }
        11 => {
            let v: Vec<f64> = if t.raw_data.is_empty() {
                t.double_data.clone()
            } else {
                t.raw_data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect()
            };
            tract_ndarray::ArrayD::from_shape_vec(shape, v)
                .unwrap()
                .into_tensor()
        }
        other => panic!("{}: data type {other}", path.display()),
    }
}

fn backend_cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_backend");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.onnx").exists())
        .collect();
    cases.sort();
    cases
}

#[test]
fn onnx_backend_node_tests_pass() {
    let cases = backend_cases();
    assert!(
        cases.len() >= 2,
        "expected the committed cases, found {cases:?}"
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let plan = forest2onnx::runtime::tract()
            .model_for_path(case.join("model.onnx"))
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let sets: Vec<PathBuf> = std::fs::read_dir(&case)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        assert!(!sets.is_empty(), "{name}: no test_data_set");
        for set in sets {
            let input = load_tensor(&set.join("input_0.pb"));
            let expected = load_tensor(&set.join("output_0.pb"));
            let got = plan.run(tvec!(input.into_tvalue())).unwrap();
            assert_eq!(
                got[0].datum_type(),
                expected.datum_type(),
                "{name}: output type"
            );
            // Exact: the expected values are the leaf weights themselves.
            assert_eq!(*got[0], expected, "{name}");
        }
        // And through OnnxModel, on f64 rows.
        let model = OnnxModel::load(&case.join("model.onnx")).unwrap();
        assert_eq!(model.outputs().len(), 1, "{name}");
        eprintln!("{name}: passed ({:?} input)", model.input_type());
    }
}

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
        let data = to_f32_rows(&x).mapv(f64::from);
        let rows = with_adversarial_rows(&forest, ElementType::Float, data.view(), 2000).unwrap();
        let ours = OnnxModel::from_bytes(&onnx)
            .unwrap()
            .predict(rows.view())
            .unwrap();
        let (labels, probs) = run_builtin(&onnx, &rows.mapv(|v| v as f32));
        assert_eq!(ours.labels, Some(forest2onnx::runtime::Labels::Int(labels)));
        let ours: Vec<f32> = ours.values.iter().map(|&v| v as f32).collect();
        assert_eq!(ours, probs);
    }
}
