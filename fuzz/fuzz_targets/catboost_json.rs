//! Fuzzes the CatBoost JSON reader and the model conversion:
//! `cargo fuzz run catboost_json fuzz/seeds/catboost_json`. Any input may be
//! refused; none may panic, hang or allocate without bound, and an accepted
//! forest must pass its checks and predict.
#![no_main]

use forest2onnx::import::catboost;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = catboost::sniff(data);
    if data.starts_with(b"CBM1") {
        return; // the catboost_cbm target's input
    }
    if let Ok(forest) = catboost::from_bytes(data) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
