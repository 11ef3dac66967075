//! Fuzzes the XGBoost importer (its JSON and UBJSON readers and the model
//! conversion): `cargo fuzz run xgboost fuzz/seeds/xgboost`. Any input may be
//! refused; none may panic, hang or allocate without bound, and an accepted
//! forest must pass its checks and predict.
#![no_main]

use forest2onnx::import::xgboost;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xgboost::sniff(data);
    if let Ok(forest) = xgboost::from_bytes(data) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
