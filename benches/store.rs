//! Native model files: save and load at zstd levels 0 and 3, and opening an
//! uncompressed file by memory map.

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use forest2onnx::store::{self, MappedForest, SaveOptions};

fn native(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    for size in common::sizes() {
        let forest = size.forest();
        let mut group = c.benchmark_group(format!("store/{}", size.name));
        common::configure(&mut group, &size);
        group.throughput(Throughput::Elements(forest.n_nodes() as u64));
        for level in [0, 3] {
            let options = SaveOptions {
                level,
                ..SaveOptions::default()
            };
            let path = dir.path().join(format!("{}-{level}.forest", size.name));
            group.bench_function(format!("save_level{level}"), |b| {
                b.iter(|| store::save(black_box(&forest), &path, &options).expect("save"))
            });
            group.bench_function(format!("load_level{level}"), |b| {
                b.iter(|| store::load(black_box(&path)).expect("load"))
            });
            if level == 0 {
                group.bench_function("mmap_open_level0", |b| {
                    b.iter(|| MappedForest::open(black_box(&path)).expect("open"))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, native);
criterion_main!(benches);
