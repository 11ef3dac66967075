//! IR → ONNX: sizing, encoding to bytes, writing a file, and the floors the
//! file writes are compared with — writing the same bytes, with and without
//! flushing them to disk.

mod common;

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use forest2onnx::export::onnx::{
    encoded_len, to_bytes, to_file, to_model, write_to, ExportOptions,
};
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

criterion_group!(benches, export);
criterion_main!(benches);
