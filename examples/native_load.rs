//! Times `store::load` of one native file, five times (the first reads it
//! from disk or the page cache; compare the others):
//!
//! ```text
//! cargo run --release --example native_load -- MODEL.forest
//! ```

use std::time::Instant;

fn main() {
    let path = std::env::args()
        .nth(1)
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
