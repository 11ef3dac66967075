//! Fuzzes the restricted pickle reader behind the scikit-learn importer:
//! `cargo fuzz run pickle`. Any input may be refused; none may panic, hang
//! or allocate without bound, and an accepted forest must pass its checks.
#![no_main]

use forest2onnx::import::sklearn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; they are checked the same way as the
    // defaults. Every entry point gets them: under the default limits
    // (16 GiB decompressed), one small compressed input could expand to
    // gigabytes in `inspect_globals`.
    let limits = sklearn::Limits {
        max_decompressed: 16 << 20,
        ..sklearn::Limits::default()
    };
    if let Ok(forest) = sklearn::from_bytes_with(data, &limits) {
        forest.check().expect("accepted forests are valid");
    }
    // The opcode machine directly, whatever the first bytes say.
    let _ = sklearn::pickle::parse(data, &limits);
    let _ = sklearn::inspect_globals_with(data, &limits);
    let _ = sklearn::looks_like_pickle(data);
});
