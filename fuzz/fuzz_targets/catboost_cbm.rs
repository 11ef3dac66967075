//! Fuzzes the CatBoost `.cbm` reader (the FlatBuffers walk and the model
//! conversion): `cargo fuzz run catboost_cbm fuzz/seeds/catboost_cbm`. The
//! input is the FlatBuffers model core; the target adds the `CBM1` header
//! and its size. Any input may be refused; none may panic, hang or allocate
//! without bound, and an accepted forest must pass its checks and predict.
#![no_main]

use forest2onnx::import::catboost;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|core: &[u8]| {
    let mut file = b"CBM1".to_vec();
    file.extend_from_slice(&(core.len() as u32).to_le_bytes());
    file.extend_from_slice(core);
    if let Ok(forest) = catboost::from_bytes(&file) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
