//! Property: for any small dataset and forest parameters, smartcore, the IR
//! and the ONNX model (tract) agree exactly on labels and within 1e-6 on
//! probabilities, threshold rows included.

use crate::common;

use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn smartcore_ir_and_onnx_agree(
        seed in any::<u64>(),
        n_classes in 2usize..6,
        features in 1usize..6,
        rows in 8usize..90,
        trees in 1u16..9,
        depth in proptest::option::of(1u16..7),
        grid in proptest::option::of(1u32..6),
        min_leaf in 1usize..4,
    ) {
        let mut rng = Rng(seed);
        let labels: Vec<i64> = (0..n_classes as i64).map(|k| k * 3 - 4).collect();
        let (mut x, y) = blobs(&mut rng, rows.max(n_classes), features, &labels);
        if let Some(g) = grid {
            // Coarse values: many equal values, ties in votes and thresholds.
            x.iter_mut().flatten().for_each(|v| *v = (*v * g as f64).round() / g as f64);
        }
        let mut params = rf_params(trees, seed).with_min_samples_leaf(min_leaf);
        if let Some(d) = depth {
            params = params.with_max_depth(d);
        }
        check_rf(&x, &y, params);
    }
}
