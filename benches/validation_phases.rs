//! Times each phase of validating an ONNX export against its forest (what
//! `forest2onnx convert` does before writing): the export, loading it into
//! tract, the node-by-node comparison, and the probe rows at several sample
//! sizes.
//!
//! ```text
//! cargo bench --bench validation_phases -- MODEL
//! ```

mod args;

use args::bench_args;
use std::time::Instant;

use forest2onnx::export::onnx::{to_bytes, ExportOptions};
use forest2onnx::runtime::OnnxModel;
use forest2onnx::validate::rows::probe_rows;
use forest2onnx::validate::{check_structure, validate_model, Probes, SAMPLED_THRESHOLDS};
use ndarray::Array2;

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    println!("{what}: {:.3} s", started.elapsed().as_secs_f64());
    out
}

fn main() {
    let path = bench_args().next().expect("usage: validation_phases MODEL");
    let forest = timed("load the model", || {
        forest2onnx::load(&path).expect("a model").forest
    });
    let onnx = timed("export ONNX", || {
        to_bytes(&forest, &ExportOptions::default()).expect("export")
    });
    let model = timed("load it into tract", || {
        OnnxModel::from_bytes(&onnx).expect("tract")
    });
    let report = timed("compare node by node", || {
        check_structure(&forest, &model.ensembles()[0], model.input_type()).expect("our layout")
    });
    println!(
        "  {} splits, {} differences",
        report.splits, report.differences
    );
    for n in [SAMPLED_THRESHOLDS, 4 * SAMPLED_THRESHOLDS] {
        let rows = timed(&format!("probe rows, {n} thresholds per feature"), || {
            let probes = Probes::sampled(&forest, model.input_type(), n);
            probe_rows(
                &probes,
                Array2::zeros((0, forest.n_features)).view(),
                usize::MAX,
            )
        });
        let report = timed(&format!("compare {} rows", rows.nrows()), || {
            validate_model(&forest, &model, rows.view()).expect("comparison")
        });
        println!("  passed: {}", report.passed());
    }
}
