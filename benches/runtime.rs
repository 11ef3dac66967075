//! Running forests: tract model load + optimisation, tract inference with
//! forest2onnx's tree-ensemble op, and the IR's reference `predict`, on one
//! thread and on all threads (throughput in rows).

mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::OnnxModel;
use forest2onnx::synth;

fn runtime(c: &mut Criterion) {
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    for size in common::sizes() {
        let forest = size.forest();
        let onnx = to_bytes(&forest, &ExportOptions::default()).expect("export");
        let x64 = synth::rows(size.rows, forest.n_features, 7);

        let mut group = c.benchmark_group(format!("tract_load/{}", size.name));
        common::configure(&mut group, &size);
        group.throughput(Throughput::Elements(forest.n_nodes() as u64));
        group.bench_function("load_and_optimise", |b| {
            b.iter(|| OnnxModel::from_bytes(black_box(&onnx)).expect("load"))
        });
        group.finish();

        let model = OnnxModel::from_bytes(&onnx).expect("load");
        let mut group = c.benchmark_group(format!("predict/{}", size.name));
        common::configure(&mut group, &size);
        group.throughput(Throughput::Elements(size.rows as u64));
        for threads in [1, all] {
            let pool = common::pool(threads);
            group.bench_function(format!("tract_{threads}_threads"), |b| {
                b.iter(|| pool.install(|| model.predict(black_box(x64.view())).expect("run")))
            });
            group.bench_function(format!("ir_{threads}_threads"), |b| {
                b.iter(|| pool.install(|| forest.predict(black_box(x64.view()))))
            });
            if threads == all && all == 1 {
                break;
            }
        }
        group.finish();
    }
}

criterion_group!(benches, runtime);
criterion_main!(benches);
