//! Fuzzes the tree-ensemble attribute parser of forest2onnx's tract
//! operator: any bytes decoded as an ONNX `NodeProto` (read as each of the
//! three tree-ensemble operators) must be refused with an error or compile
//! into an ensemble that evaluates rows without panicking, looping or
//! allocating beyond the input's own size.
//!
//! Seeds: `fuzz/seeds/tree_ensemble` (the nodes of the converter and ONNX
//! backend fixtures). `cargo fuzz run tree_ensemble fuzz/corpus/tree_ensemble
//! fuzz/seeds/tree_ensemble`.

#![no_main]

use forest2onnx::onnx_proto::NodeProto;
use forest2onnx::runtime::{attributes, CompiledEnsemble};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(mut node) = NodeProto::decode(data) else {
        return;
    };
    for op in ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"] {
        node.op_type = op.into();
        let Ok(a) = attributes::read(&node) else {
            continue;
        };
        let Ok(e) = CompiledEnsemble::compile(&a) else {
            continue;
        };
        // The summary's walks must terminate too.
        let _ = (e.max_depth(), e.modes(), e.n_leaves());
        let width = e.n_features().clamp(1, 64);
        if e.n_features() > width {
            continue; // would need an absurdly wide row
        }
        let rows: Vec<f64> = [0.0, -1.0, f64::NAN, 1e30, 0.5, -0.0, 3.0, f64::INFINITY]
            .iter()
            .cycle()
            .take(width * 8)
            .copied()
            .collect();
        let mut out = vec![0.0; 8 * e.n_outputs()];
        let mut classes = vec![0; 8];
        e.eval_rows(&rows, width, &mut out, &mut classes);
        if e.is_classifier() {
            assert!(classes.iter().all(|&c| c < e.n_outputs()));
        }
    }
});
