//! Fuzzes `inspect`'s ONNX reader ([`forest2onnx::runtime::OnnxSummary`]):
//! any bytes are refused or summarised without panicking, hanging or
//! allocating beyond their own size (the tree ensemble is compiled as the
//! runtime would).
//!
//! Seeds: `fuzz/seeds/onnx_summary` (small ONNX fixtures).
//! `cargo fuzz run onnx_summary fuzz/corpus/onnx_summary fuzz/seeds/onnx_summary`.

#![no_main]

use forest2onnx::runtime::OnnxSummary;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(summary) = OnnxSummary::from_bytes(data) {
        let _ = (summary.class_labels(), summary.feature_names());
        let _ = serde_json::to_string(&summary).expect("a summary serialises");
    }
});
