//! Shared set-up of the criterion benchmarks: forest sizes, sample counts.
//!
//! Sizes are chosen with `FOREST2ONNX_BENCH_SIZES` (comma-separated, default
//! `small,medium,large`):
//!
//! * `small`: ~2 k nodes, a 100-tree forest on iris;
//! * `medium`: ~2.73 M nodes, 200 full-depth trees on 100 k × 20 rows;
//! * `large`: ~6.83 M nodes, 500 full-depth trees on 100 k × 20 rows.
//!
//! Forests come from [`forest2onnx::synth`], shaped like scikit-learn's.

#![allow(dead_code)] // each bench file uses a different subset

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use forest2onnx::synth::{self, SynthSpec};
use forest2onnx::Forest;

/// One benchmarked forest size.
pub struct Size {
    /// `small`, `medium` or `large`.
    pub name: &'static str,
    /// The forest.
    pub spec: SynthSpec,
    /// Rows per prediction batch (throughput benchmarks).
    pub rows: usize,
}

impl Size {
    /// Whether one iteration takes long enough that criterion's defaults
    /// would make the run take minutes.
    pub fn is_big(&self) -> bool {
        self.name != "small"
    }

    /// Generates the forest (deterministic).
    pub fn forest(&self) -> Forest {
        synth::forest(&self.spec)
    }
}

/// The sizes selected by `FOREST2ONNX_BENCH_SIZES`.
pub fn sizes() -> Vec<Size> {
    let wanted =
        std::env::var("FOREST2ONNX_BENCH_SIZES").unwrap_or_else(|_| "small,medium,large".into());
    let mut sizes = Vec::new();
    for name in wanted.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rows) = match name {
            "small" => ("small", 20_000),
            "medium" => ("medium", 5_000),
            "large" => ("large", 2_000),
            other => {
                panic!("FOREST2ONNX_BENCH_SIZES: unknown size {other:?} (small, medium, large)")
            }
        };
        sizes.push(Size {
            name,
            spec: SynthSpec::named(name).expect("known size"),
            rows,
        });
    }
    sizes
}

/// Few samples and a short measurement for the big sizes, so that the whole
/// `cargo bench` run stays well under 15 minutes.
pub fn configure(group: &mut BenchmarkGroup<'_, WallTime>, size: &Size) {
    if size.is_big() {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(4));
    } else {
        group.sample_size(30);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
    }
}

/// A rayon pool of `threads` threads (0 = one per core).
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}
