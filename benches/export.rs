//! IR → ONNX: sizing, encoding to bytes, writing a file, and the floors the
//! file writes are compared with — writing the same bytes, with and without
//! flushing them to disk; then `to_bytes` of the other layouts (opset 5,
//! double precision, a boosted regressor, ZipMap).

mod common;

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use forest2onnx::export::onnx::{
    encoded_len, to_bytes, to_file, to_model, write_to, ExportOptions, Precision,
};
use forest2onnx::ir::{Aggregation, PostTransform, Task};
use prost::Message;

fn export(c: &mut Criterion) {
    let options = ExportOptions::default();
    let dir = tempfile::tempdir().expect("temp dir");
    for size in common::sizes() {
        let forest = size.forest();
        let bytes = to_bytes(&forest, &options).expect("export");
        let path = dir.path().join(format!("{}.onnx", size.name));
        let mut group = c.benchmark_group(format!("export/{}", size.name));
        common::configure(&mut group, &size);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("encoded_len", |b| {
            b.iter(|| encoded_len(black_box(&forest), &options).expect("size"))
        });
        group.bench_function("to_bytes", |b| {
            b.iter(|| to_bytes(black_box(&forest), &options).expect("export"))
        });
        // Durable: `to_file` flushes to disk (fsync) before renaming into
        // place; its floor is writing the same bytes and flushing them.
        group.bench_function("to_file", |b| {
            b.iter(|| to_file(black_box(&forest), &options, &path).expect("export"))
        });
        group.bench_function("write_fsync_same_bytes", |b| {
            b.iter(|| {
                let mut file = std::fs::File::create(&path).expect("create");
                file.write_all(black_box(&bytes)).expect("write");
                file.sync_all().expect("sync");
            })
        });
        // Page cache only: streaming to a `File`, against `std::fs::write`.
        group.bench_function("write_to_file", |b| {
            b.iter(|| {
                let file = std::fs::File::create(&path).expect("create");
                write_to(black_box(&forest), &options, file).expect("export")
            })
        });
        group.bench_function("fs_write_same_bytes", |b| {
            b.iter(|| std::fs::write(&path, black_box(&bytes)).expect("write"))
        });
        if size.name != "large" {
            // The prost reference: every attribute as a Vec, then encoded.
            group.bench_function("to_model_encode_reference", |b| {
                b.iter(|| {
                    to_model(black_box(&forest), &options)
                        .expect("export")
                        .encode_to_vec()
                })
            });
        }
        group.finish();
    }
}

/// `to_bytes` of every layout besides the default one.
fn layouts(c: &mut Criterion) {
    for size in common::sizes() {
        let forest = size.forest();
        // The same trees summed: a boosted regressor with one value per leaf.
        let mut boosted = forest.clone();
        for tree in &mut boosted.trees {
            tree.leaf_value = tree
                .leaf_value
                .chunks_exact(3)
                .map(|v| v[1] - v[0])
                .collect();
        }
        boosted.aggregation = Aggregation::Sum {
            base_values: vec![0.5],
            post_transform: PostTransform::None,
            tree_targets: Vec::new(),
        };
        boosted.task = Task::Regression { n_targets: 1 };
        let mut group = c.benchmark_group(format!("export_layouts/{}", size.name));
        common::configure(&mut group, &size);
        let cases = [
            ("classifier_ml5_float", &forest, 5, Precision::Float, false),
            (
                "classifier_ml5_double",
                &forest,
                5,
                Precision::Double,
                false,
            ),
            (
                "classifier_ml3_double",
                &forest,
                3,
                Precision::Double,
                false,
            ),
            ("classifier_ml1_zipmap", &forest, 1, Precision::Float, true),
            ("boosted_ml1_float", &boosted, 1, Precision::Float, false),
            ("boosted_ml5_double", &boosted, 5, Precision::Double, false),
        ];
        for (name, forest, ml_opset, precision, zipmap) in cases {
            let options = ExportOptions {
                ml_opset: Some(ml_opset),
                precision,
                zipmap,
                ..Default::default()
            };
            let bytes = to_bytes(forest, &options).expect("export").len();
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(name, |b| {
                b.iter(|| to_bytes(black_box(forest), &options).expect("export"))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, export, layouts);
criterion_main!(benches);
