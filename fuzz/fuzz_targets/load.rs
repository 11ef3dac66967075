//! Fuzzes the model-file loader: no input may panic, hang or allocate
//! without bound; whatever loads must be valid and survive a round trip.
//!
//! cargo-fuzz builds with `--cfg fuzzing`, under which the loader skips
//! checksum comparisons so the fuzzer reaches the parsing behind them.
//! Seeds: `cargo test --test it store:: -- --ignored write_fuzz_seeds`, then
//! `cargo fuzz run load fuzz/corpus/load fuzz/seeds/load`.

#![no_main]

use forest2onnx::store::{self, SaveOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let aligned = store::from_bytes_with_metadata(data);
    // The same bytes one byte off alignment go through the copying decoder.
    let mut shifted = Vec::with_capacity(data.len() + 1);
    shifted.push(0);
    shifted.extend_from_slice(data);
    let unaligned = store::from_bytes_with_metadata(&shifted[1..]);
    match (&aligned, &unaligned) {
        (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("aligned and unaligned decoding disagree"),
    }
    let header = store::metadata_from_bytes(data);
    if let Ok((forest, metadata)) = aligned {
        assert_eq!(
            header.expect("a loadable file has a readable header"),
            metadata
        );
        forest.check().expect("loaded forests are checked");
        let opts = SaveOptions {
            level: 0,
            ..SaveOptions::default()
        };
        let bytes = store::to_bytes(&forest, &opts).expect("a loaded forest saves");
        let again = store::from_bytes(&bytes).expect("a saved forest loads");
        // Debug output compares NaN thresholds of leaves as equal.
        assert_eq!(format!("{forest:?}"), format!("{again:?}"));
    }
});
