//! Fuzzes the Spark ML importer on packed model folders (the metadata JSON
//! and the Parquet node, weight and category-map tables): `cargo fuzz run
//! spark fuzz/seeds/spark`. Any input may be refused; none may panic, hang
//! or allocate without bound, and an accepted forest must pass its checks
//! and predict.
#![no_main]

use forest2onnx::import::spark;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spark::sniff(data);
    if let Ok(forest) = spark::from_bytes(data) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
