//! Fuzzes the Spark ML importer on packed model folders (the metadata JSON
//! and the Parquet node, weight and category-map tables): `cargo fuzz run
//! spark fuzz/seeds/spark`. Any input may be refused; none may panic, hang
//! or allocate without bound, and an accepted forest must pass its checks
//! and predict.
//!
//! The `parquet` crate panics on some malformed pages; the importer contains
//! those panics (`forest2onnx::panics::contain`) and returns an error, which
//! is the behaviour under test. libFuzzer's panic hook aborts on every
//! panic, so the target lets contained ones unwind to their catcher and
//! hands every other panic to libFuzzer as a crash.
#![no_main]

use std::sync::Once;

use forest2onnx::import::spark;
use libfuzzer_sys::fuzz_target;

fn pass_contained_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let crash = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !forest2onnx::panics::is_contained() {
                crash(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    pass_contained_panics();
    let _ = spark::sniff(data);
    if let Ok(forest) = spark::from_bytes(data) {
        forest.check().expect("accepted forests are valid");
        let row = ndarray::Array2::<f64>::zeros((1, forest.n_features));
        let _ = forest.predict(row.view());
    }
});
