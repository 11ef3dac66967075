//! Adversarial rows for the conformance matrix: every split at its
//! threshold and one step either side — float32 steps of the rounded
//! threshold for float models; f64 steps, and values strictly between the
//! two float32 neighbours of the threshold, for double models — NaN in every
//! split feature, categorical values seen, unseen, negative, fractional and
//! huge, and values in and around the zero band of zero-as-missing features.

use std::collections::BTreeSet;

use forest2onnx::export::onnx::Precision;
use forest2onnx::ir::thresholds::{f32_at_or_below, onnx_threshold};
use forest2onnx::ir::{Forest, ZERO_THRESHOLD};
use ndarray::Array2;

/// Rows as the model reads them, and which of them hold a value float32
/// cannot represent next to a threshold (double models only).
pub struct Rows {
    pub x: Array2<f64>,
    pub between: Vec<bool>,
}

/// `base` followed by at most `cap` adversarial rows built on it (each one
/// feature changed in a row of `base`, cycling).
pub fn adversarial(forest: &Forest, base: &Array2<f64>, precision: Precision, cap: usize) -> Rows {
    let double = precision == Precision::Double;
    let as_input = |v: f64| if double { v } else { f64::from(v as f32) };
    // (feature, value bits, between float32 neighbours)
    let mut values: BTreeSet<(u32, u64, bool)> = BTreeSet::new();
    let mut push = |f: u32, v: f64, between: bool| {
        values.insert((f, as_input(v).to_bits(), between && double));
    };
    for tree in &forest.trees {
        for i in 0..tree.n_nodes() {
            if tree.is_leaf(i) {
                continue;
            }
            let f = tree.feature[i];
            push(f, f64::NAN, false);
            if let Some(set) = tree.categories.of(i as u32) {
                for &c in set {
                    let c = f64::from(c);
                    for v in [c, c + 0.5, c + 0.999_999, c - 0.25] {
                        push(f, v, false);
                    }
                }
                let unseen = set.last().map_or(0.0, |&c| f64::from(c) + 1.0);
                for v in [
                    unseen,
                    -0.0,
                    -0.5,
                    -0.999,
                    -1.0,
                    -1.5,
                    -3.0,
                    1e30,
                    2147483647.0,
                    2147483648.0,
                    16777217.0,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ] {
                    push(f, v, false);
                }
                continue;
            }
            let t = tree.threshold[i];
            if double {
                for v in [t, t.next_up(), t.next_down()] {
                    push(f, v, false);
                }
                // Float32 cannot tell these apart from the threshold's
                // float32 neighbours: float export misroutes some of them.
                let lo = f64::from(f32_at_or_below(t));
                let hi = f64::from(f32_at_or_below(t).next_up());
                push(f, lo, false);
                push(f, hi, false);
                for v in [(lo + t) / 2.0, (t + hi) / 2.0] {
                    if v > lo && v < hi && v != t {
                        push(f, v, true);
                    }
                }
            } else {
                let t = onnx_threshold(t, forest.split_op);
                for v in [t, t.next_up(), t.next_down(), t.next_up().next_up()] {
                    push(f, f64::from(v), false);
                }
            }
        }
    }
    for &f in &forest.input.zero_as_missing {
        let z = ZERO_THRESHOLD;
        for v in [
            0.0,
            -0.0,
            z,
            -z,
            z.next_up(),
            -z.next_up(),
            z.next_down(),
            1e-40,
            -1e-40,
            1e-30,
        ] {
            push(f, v, false);
        }
        let zf = z as f32;
        for v in [zf.next_up(), zf.next_down(), -zf.next_up()] {
            push(f, f64::from(v), false);
        }
    }
    let values: Vec<(u32, u64, bool)> = values.into_iter().collect();
    let keep_every = values.len().div_ceil(cap.max(1)).max(1);
    let chosen: Vec<_> = values.into_iter().step_by(keep_every).collect();
    let n = base.nrows() + chosen.len();
    let mut x = Array2::<f64>::zeros((n, forest.n_features));
    let mut between = vec![false; n];
    for (r, row) in base.rows().into_iter().enumerate() {
        x.row_mut(r).assign(&row.mapv(as_input));
    }
    for (k, (f, bits, b)) in chosen.into_iter().enumerate() {
        let r = base.nrows() + k;
        if base.nrows() > 0 {
            let from = base.row(k % base.nrows()).mapv(as_input);
            x.row_mut(r).assign(&from);
        }
        x[[r, f as usize]] = f64::from_bits(bits);
        between[r] = b;
    }
    Rows { x, between }
}
