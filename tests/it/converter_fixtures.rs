//! forest2onnx's tract tree-ensemble op against onnxruntime on models written
//! by other converters (skl2onnx, onnxmltools for XGBoost and LightGBM): they
//! use what our exporter does not (BRANCH_LT, base values, LOGISTIC and
//! SOFTMAX post-transforms, both class ids in two-class models). The files
//! and onnxruntime's outputs were generated once by
//! `python/fixtures/make_converter_fixtures.py`; see that script for how.

use std::path::{Path, PathBuf};

use forest2onnx::runtime::OnnxModel;
use ndarray::Array2;
use serde_json::Value;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converters");
    let mut onnx: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    onnx.sort();
    onnx
}

#[test]
fn tract_with_our_op_matches_onnxruntime_on_other_converters_models() {
    let files = fixtures();
    assert!(
        files.len() >= 8,
        "expected the committed fixtures, found {files:?}"
    );
    let mut rows_checked = 0;
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        let (rows, cols) = (
            meta["rows"].as_u64().unwrap() as usize,
            meta["cols"].as_u64().unwrap() as usize,
        );
        let raw = std::fs::read(path.with_extension("input.f32")).unwrap();
        let x: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let x = Array2::from_shape_vec((rows, cols), x).unwrap();

        let model = OnnxModel::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = model.predict(x.mapv(f64::from).view()).unwrap();
        let expected: Vec<Value> = meta["labels"].as_array().unwrap().clone();
        let got_labels = got.labels.as_ref().expect("a label output");
        let got_labels: Vec<Value> = (0..got_labels.len()).map(|i| got_labels.json(i)).collect();
        let wrong = expected
            .iter()
            .zip(&got_labels)
            .filter(|(e, g)| e != g)
            .count();
        assert_eq!(
            wrong, 0,
            "{name}: {wrong}/{rows} labels differ from onnxruntime"
        );
        let probs: Vec<Vec<f64>> = serde_json::from_value(meta["probabilities"].clone()).unwrap();
        let mut max = 0f64;
        for (r, row) in probs.iter().enumerate() {
            assert_eq!(row.len(), got.values.ncols(), "{name}: class count");
            for (k, p) in row.iter().enumerate() {
                max = max.max((p - got.values[[r, k]]).abs());
            }
        }
        assert!(max <= 1e-6, "{name}: max |Δp| {max:e} against onnxruntime");
        eprintln!("{name}: {rows} rows, labels equal, max |Δp| {max:.2e}");
        rows_checked += rows;
    }
    eprintln!("{rows_checked} rows checked against onnxruntime");
}
