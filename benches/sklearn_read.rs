//! Times reading a scikit-learn forest file into the IR.
//!
//! ```text
//! python benches/python/sklearn_bench.py train /tmp/bench          # rf.joblib + expected outputs
//! cargo bench --no-run --bench sklearn_read     # prints the binary's path
//! /usr/bin/time -v target/release/deps/sklearn_read-HASH /tmp/bench/rf.joblib
//! cargo bench --bench sklearn_read -- /tmp/bench/rf.joblib --phases
//! /usr/bin/time -v python benches/python/sklearn_bench.py load /tmp/bench/rf.joblib
//! ```
//!
//! With `--phases` it also times decompression and decoding separately
//! (this holds the decompressed bytes twice, so peak memory is not
//! representative then). When the file's directory holds a `manifest.json`
//! from `sklearn_bench.py`, the converted forest's predictions are checked
//! against scikit-learn's.

mod args;

use args::bench_args;
use std::path::Path;
use std::time::Instant;

use forest2onnx::import::sklearn;
use forest2onnx::ir::{Forest, Labels};

#[path = "../src/import/sklearn/tests/fixture_check.rs"]
#[allow(dead_code)]
mod fixture_check;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = bench_args().collect();
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .ok_or("usage: sklearn_read FILE [--phases]")?;
    let path = Path::new(path);
    let size = std::fs::metadata(path)?.len();

    let start = Instant::now();
    let forest = sklearn::read_file(path)?;
    let read_s = start.elapsed().as_secs_f64();
    println!(
        "read_file: {read_s:.3} s for {:.1} MB ({} {} trees, {} nodes, {} classes, depth {})",
        size as f64 / 1e6,
        forest.source.estimator,
        forest.trees.len(),
        forest.n_nodes(),
        forest.n_outputs(),
        forest.max_depth()
    );

    if args.iter().any(|a| a == "--phases") {
        phases(path)?;
    }

    let dir = path.parent().unwrap_or(Path::new("."));
    if dir.join("manifest.json").exists() {
        let manifest = fixture_check::read_manifest(dir);
        let spec = &manifest.models[0];
        let expected = fixture_check::read_expected(dir, spec);
        fixture_check::check_metadata(&forest, spec, &manifest.sklearn, &spec.files[0]);
        let mut summary = fixture_check::Summary::default();
        fixture_check::check_predictions(&forest, &expected, &spec.files[0], &mut summary);
        println!(
            "predictions match scikit-learn on {} rows (max |Δp| = {:e}, {}/{} bit-exact)",
            summary.rows, summary.max_delta, summary.exact, summary.compared
        );
    }
    Ok(())
}

/// Decompression alone, then decoding + conversion of the decompressed bytes.
fn phases(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use std::io::Read;
    let compressed = std::fs::read(path)?;
    let start = Instant::now();
    let raw = match sklearn::sniff(&compressed) {
        Some(sklearn::Container::Zlib) => {
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(&compressed[..]).read_to_end(&mut out)?;
            out
        }
        _ => compressed.clone(),
    };
    let decompress_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let forest: Forest = sklearn::from_bytes(&raw)?;
    let decode_s = start.elapsed().as_secs_f64();
    assert!(matches!(
        forest.class_labels(),
        Some(Labels::Int(_) | Labels::Str(_))
    ));
    println!(
        "phases: zlib {decompress_s:.3} s ({:.1} MB out), decode + convert {decode_s:.3} s",
        raw.len() as f64 / 1e6
    );
    Ok(())
}
