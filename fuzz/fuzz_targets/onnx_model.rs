//! Fuzzes the ONNX model loader of the runtime ([`OnnxModel::from_bytes`]):
//! the wire-level walk that compiles tree-ensemble nodes aside
//! (`runtime::precompile`), then tract's decoder and graph analysis. Any
//! bytes are refused with an error or load into a model that runs a row
//! without panicking, hanging or allocating beyond their own size.
//!
//! Seeds: `fuzz/seeds/onnx_model` (small ONNX fixtures).
//! `cargo fuzz run onnx_model fuzz/corpus/onnx_model fuzz/seeds/onnx_model`.

#![no_main]

use forest2onnx::runtime::OnnxModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(model) = OnnxModel::from_bytes(data) else {
        return;
    };
    let width = model.n_features();
    if (1..=64).contains(&width) {
        let row = ndarray::Array2::from_shape_fn((2, width), |(r, c)| {
            [0.5, f64::NAN, -1.0, 3.0][(r + c) % 4]
        });
        let _ = model.predict(row.view());
    }
});
