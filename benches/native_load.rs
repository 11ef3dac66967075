//! Times `store::load` of one native file, five times (the first reads it
//! from disk or the page cache; compare the others):
//!
//! ```text
//! cargo bench --bench native_load -- MODEL.forest
//! ```

mod args;

use args::bench_args;
use std::time::Instant;

fn main() {
    let path = bench_args()
        .next()
        .expect("usage: native_load MODEL.forest");
    for _ in 0..5 {
        let started = Instant::now();
        let forest = forest2onnx::store::load(&path).expect("a native model file");
        println!(
            "load {:.3} s ({} trees, {} nodes)",
            started.elapsed().as_secs_f64(),
            forest.trees.len(),
            forest.n_nodes()
        );
    }
}
