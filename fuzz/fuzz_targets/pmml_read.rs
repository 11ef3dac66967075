//! Fuzzes the PMML summary reader of `inspect`: `cargo fuzz run pmml_read
//! fuzz/seeds/pmml_read`. Any input may be refused; none may panic, hang or
//! allocate without bound.
#![no_main]

use forest2onnx::export::pmml::{read, summarize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read::sniff(data);
    if let Ok(s) = summarize(data) {
        assert!(s.fields.len() <= read::MAX_LISTED);
        assert!(s.outputs.len() <= read::MAX_LISTED);
    }
});
