//! Times `store::load` of one native file, five times (the first reads it
//! from disk or the page cache; compare the others), and reports the loaded
//! forest's size in memory: the heap bytes of its tree arrays per node, as
//! loaded and with one value per leaf (a single-output forest of the same
//! shape). `--save` first writes any model `forest2onnx::load` reads (a
//! joblib file needs the `sklearn` feature) as a native file.
//!
//! ```text
//! cargo bench --bench native_load -- MODEL.forest
//! cargo bench --bench native_load -- --save MODEL OUT.forest [LEVEL]
//! ```

mod args;

use args::bench_args;
use forest2onnx::store::{self, SaveOptions};
use forest2onnx::Forest;
use std::time::Instant;

fn main() {
    let args: Vec<String> = bench_args().collect();
    if args.first().map(String::as_str) == Some("--save") {
        let [_, model, out, rest @ ..] = &args[..] else {
            panic!("usage: native_load --save MODEL OUT.forest [LEVEL]");
        };
        let level = rest.first().map_or(3, |l| l.parse().expect("a zstd level"));
        let forest = forest2onnx::load(model).expect("a model").forest;
        let opts = SaveOptions {
            level,
            ..SaveOptions::default()
        };
        store::save(&forest, out, &opts).expect("saved");
        let bytes = std::fs::metadata(out).expect("written").len();
        println!("saved {out}: {bytes} bytes at level {level}");
        return;
    }
    let path = args.first().expect("usage: native_load MODEL.forest");
    let mut loaded = None;
    for _ in 0..5 {
        let started = Instant::now();
        let forest = store::load(path).expect("a native model file");
        println!(
            "load {:.3} s ({} trees, {} nodes)",
            started.elapsed().as_secs_f64(),
            forest.trees.len(),
            forest.n_nodes()
        );
        loaded = Some(forest);
    }
    report_memory(&loaded.expect("loaded five times"));
}

/// Prints the bytes per node of `forest` and of its single-output twin.
fn report_memory(forest: &Forest) {
    let nodes = forest.n_nodes() as f64;
    let width = forest.leaf_width();
    let mut single = forest.clone();
    for t in &mut single.trees {
        t.leaf_value = t.leaf_value.iter().step_by(width).copied().collect();
    }
    println!(
        "in memory: {:.1} MB, {:.2} bytes per node (leaf width {width}); \
         one value per leaf: {:.2} bytes per node",
        forest.heap_bytes() as f64 / 1e6,
        forest.heap_bytes() as f64 / nodes,
        single.heap_bytes() as f64 / nodes,
    );
}
