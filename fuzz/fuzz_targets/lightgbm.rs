//! Fuzzes the LightGBM text-model importer: `cargo fuzz run lightgbm
//! fuzz/seeds/lightgbm`. Any input may be refused; none may panic, hang or
//! allocate without bound, and an accepted forest must pass its checks and
//! predict.
#![no_main]

use forest2onnx::import::lightgbm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = lightgbm::sniff(data);
    if let Ok(forest) = lightgbm::from_bytes(data) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
