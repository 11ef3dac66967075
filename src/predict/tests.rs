//! Tests of the reference evaluation.

use super::*;
use crate::ir::tests::stump;
use crate::ir::*;
use ndarray::array;

#[test]
fn stump_predicts_both_sides_and_nan_goes_false() {
    let f = stump();
    f.check().unwrap();
    let p = f.predict(array![[0.5], [0.50001], [f64::NAN], [f64::NEG_INFINITY]].view());
    assert_eq!(p.classes, vec![0, 1, 1, 0]);
    assert_eq!(p.values.row(0).to_vec(), vec![1.0, 0.0]);
}

#[test]
fn vote_ties_go_to_lowest_class() {
    let mut f = stump();
    let mut flipped = f.trees[0].clone();
    flipped.leaf_value = vec![1.0, 0.0];
    f.trees.push(flipped);
    let p = f.predict(array![[0.0], [1.0]].view());
    assert_eq!(p.classes, vec![0, 0]);
    assert_eq!(p.values.row(0).to_vec(), vec![0.5, 0.5]);
}

/// The straightforward row-by-row evaluation `predict` must match bit for
/// bit, written independently of the kernels.
fn row_by_row(forest: &Forest, x: ArrayView2<'_, f64>) -> Prediction {
    let n_out = forest.n_outputs();
    let width = forest.score_width();
    let leaf_width = forest.leaf_width();
    let mut values = Array2::zeros((x.nrows(), n_out));
    let mut raw = Array2::zeros((x.nrows(), width));
    let mut classes = Vec::new();
    for (r, row) in x.rows().into_iter().enumerate() {
        let row: Vec<f64> = row
            .iter()
            .enumerate()
            .map(|(f, &v)| {
                let v = match forest.input.precision {
                    Precision::F32 => f64::from(v as f32),
                    Precision::F64 => v,
                };
                let zero = forest.input.zero_as_missing.contains(&(f as u32));
                if zero && v.abs() <= ZERO_THRESHOLD {
                    f64::NAN
                } else {
                    v
                }
            })
            .collect();
        // Summed forests start from their base values, as the libraries do.
        let mut scores = match &forest.aggregation {
            Aggregation::Sum { base_values, .. } => base_values.clone(),
            _ => vec![0.0; width],
        };
        for (t, tree) in forest.trees.iter().enumerate() {
            let leaf = leaf_for(forest, tree, &row);
            let v = tree.leaf_values(leaf, leaf_width);
            match (&forest.aggregation, forest.tree_target(t)) {
                (Aggregation::Vote, _) => scores[v[0] as usize] += 1.0,
                (_, Some(k)) => scores[k as usize] += v[0],
                _ => scores.iter_mut().zip(v).for_each(|(s, v)| *s += v),
            }
        }
        let mut out = vec![0.0; n_out];
        if let Some(class) = forest.finish_row(&mut scores, &mut out) {
            classes.push(class);
        }
        values.row_mut(r).assign(&ndarray::Array1::from(out));
        raw.row_mut(r).assign(&ndarray::Array1::from(scores));
    }
    let summed = matches!(forest.aggregation, Aggregation::Sum { .. });
    Prediction {
        classes,
        values,
        raw: summed.then_some(raw),
    }
}

fn leaf_for(forest: &Forest, tree: &Tree, row: &[f64]) -> usize {
    let mut node = 0;
    while !tree.is_leaf(node) {
        let x = row[tree.feature[node] as usize];
        let goes_true = if x.is_nan() {
            tree.missing_true[node]
        } else if let Some(set) = tree.categories.of(node as u32) {
            let c = x.trunc();
            let negative = match forest.input.categories {
                CategoryRule::NonNegative => x < 0.0,
                CategoryRule::TowardZero => c < 0.0,
                // Fractional values are no category either.
                CategoryRule::Integral => x < 0.0 || x != c,
            };
            !negative && c.is_finite() && set.iter().any(|&v| f64::from(v) == c)
        } else {
            match forest.split_op {
                SplitOp::LessOrEqual => x <= tree.threshold[node],
                SplitOp::Less => x < tree.threshold[node],
            }
        };
        let (yes, no) = tree.children(node).expect("a split");
        node = if goes_true { yes } else { no } as usize;
    }
    node
}

/// Asserts `predict` equals [`row_by_row`] bit for bit on `x`, with 1 and 3
/// threads.
fn assert_matches_row_by_row(forest: &Forest, x: ArrayView2<'_, f64>) {
    let expected = row_by_row(forest, x);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let got = pool.install(|| forest.predict(x));
        assert_eq!(got.classes, expected.classes);
        let same = |a: &Array2<f64>, b: &Array2<f64>| {
            a.shape() == b.shape()
                && a.iter()
                    .zip(b.iter())
                    .all(|(a, b)| a.to_bits() == b.to_bits())
        };
        assert!(
            same(&got.values, &expected.values),
            "values differ ({threads} threads)"
        );
        match (&got.raw, &expected.raw) {
            (Some(a), Some(b)) => assert!(same(a, b), "raw scores differ"),
            (None, None) => {}
            _ => panic!("raw scores present in one prediction only"),
        }
    }
}

#[test]
fn predict_matches_row_by_row_evaluation_exactly() {
    use crate::synth::{self, SynthSpec};
    let specs = [
        // Small trees (conditional-move traversal), NaN to the true side.
        SynthSpec {
            missing_true_fraction: 0.3,
            mixed_leaf_fraction: 0.3,
            ..SynthSpec::small()
        },
        // `<`, votes, string labels.
        SynthSpec {
            split_op: SplitOp::Less,
            string_labels: true,
            ..SynthSpec::small().vote()
        },
        // Deep trees (branchy traversal) with and without packing.
        SynthSpec {
            n_trees: 6,
            missing_true_fraction: 0.1,
            ..SynthSpec::sklearn(6, 4_001, 7)
        },
    ];
    for spec in specs {
        let forest = synth::forest(&spec);
        let mut x = synth::rows(3_000, spec.n_features + 2, 5);
        // NaN in a few cells, and rows exactly on thresholds.
        for r in (0..x.nrows()).step_by(7) {
            x[[r, r % spec.n_features]] = f64::NAN;
        }
        let t = &forest.trees[0];
        for (r, i) in (1..x.nrows()).step_by(11).zip(0..t.n_nodes()) {
            if !t.is_leaf(i) {
                x[[r, t.feature[i] as usize]] = t.threshold[i];
            }
        }
        // Wider than the forest, non-contiguous, and tiny batches.
        let views = [
            x.view(),
            x.slice(ndarray::s![.., ..spec.n_features]),
            x.slice(ndarray::s![..3, ..]),
            x.slice(ndarray::s![..0, ..]),
        ];
        for view in views {
            assert_matches_row_by_row(&forest, view);
        }
    }
}

/// A synthetic forest rewritten to use every evaluation feature the IR has.
fn with_everything(mut forest: Forest, rule: CategoryRule) -> Forest {
    forest.input = InputRules {
        precision: Precision::F32,
        categories: rule,
        zero_as_missing: vec![1],
    };
    // Every third split on feature 0 becomes categorical.
    for tree in &mut forest.trees {
        let mut splits = CategorySplits::default();
        for i in 0..tree.n_nodes() {
            if !tree.is_leaf(i) && tree.feature[i] == 0 && i % 3 == 0 {
                splits.push(
                    i as u32,
                    (0..5).filter(|c| (c + i) % 2 == 0).map(|c| c as u32),
                );
            }
        }
        tree.categories = splits;
    }
    forest
}

fn awkward_rows(n_features: usize) -> Array2<f64> {
    let mut x = crate::synth::rows(2_000, n_features, 9);
    let specials = [
        -1.0,
        -0.5,
        -0.0,
        0.0,
        0.5,
        1.0,
        1.9,
        2.0,
        3.0,
        4.0,
        7.0,
        1e-36,
        -1e-36,
        1e-35,
        2e-35,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.1,
        1e300,
    ];
    for r in 0..x.nrows() {
        for f in 0..n_features.min(2) {
            if (r + f) % 3 == 0 {
                x[[r, f]] = specials[(r / 3 + f) % specials.len()];
            }
        }
    }
    x
}

#[test]
fn categorical_splits_precision_and_zero_band_match_row_by_row() {
    use crate::synth::{self, SynthSpec};
    for rule in [
        CategoryRule::NonNegative,
        CategoryRule::TowardZero,
        CategoryRule::Integral,
    ] {
        for spec in [SynthSpec::small(), SynthSpec::small().vote()] {
            let forest = with_everything(synth::forest(&spec), rule);
            forest.check().unwrap();
            assert_matches_row_by_row(&forest, awkward_rows(spec.n_features).view());
        }
    }
}

#[test]
fn summed_forests_with_tree_targets_and_transforms_match_row_by_row() {
    use crate::synth::{self, SynthSpec};
    let base = synth::forest(&SynthSpec::small());
    let n_trees = base.trees.len();
    let one_value = |mut f: Forest| {
        for tree in &mut f.trees {
            tree.leaf_value = tree.leaf_value.chunks(3).map(|v| v[0] - v[1]).collect();
        }
        f
    };
    let mut cases = Vec::new();
    // Multi-class boosting: one tree per class and round, softmax.
    let mut f = one_value(base.clone());
    f.aggregation = Aggregation::Sum {
        base_values: vec![0.1, -0.2, 0.3],
        post_transform: PostTransform::Softmax,
        tree_targets: (0..n_trees as u32).map(|t| t % 3).collect(),
    };
    cases.push(f);
    // Binary boosting: one score, logistic.
    let mut f = one_value(base.clone());
    f.task = Task::Classification(Labels::Str(vec!["no".into(), "yes".into()]));
    f.aggregation = Aggregation::Sum {
        base_values: vec![-0.4],
        post_transform: PostTransform::Logistic,
        tree_targets: vec![],
    };
    cases.push(f);
    // Poisson regression and multi-output regression.
    let mut f = one_value(base.clone());
    f.task = Task::Regression { n_targets: 1 };
    f.aggregation = Aggregation::Sum {
        base_values: vec![0.7],
        post_transform: PostTransform::Exp,
        tree_targets: vec![],
    };
    cases.push(f);
    let mut f = base.clone();
    f.task = Task::Regression { n_targets: 3 };
    cases.push(f);
    // An isolation forest.
    let mut f = one_value(base.clone());
    f.task = Task::AnomalyDetection { offset: -0.5 };
    f.aggregation = Aggregation::Sum {
        base_values: vec![0.0],
        post_transform: PostTransform::IsolationScore {
            normalizer: n_trees as f64 * 0.02,
        },
        tree_targets: vec![],
    };
    cases.push(f);
    for f in cases {
        f.check().unwrap();
        let x = awkward_rows(f.n_features);
        assert_matches_row_by_row(&f, x.view());
        let f = with_everything(f, CategoryRule::TowardZero);
        assert_matches_row_by_row(&f, x.view());
    }
}

#[test]
fn float32_inputs_round_before_routing() {
    // 0.1 rounds up to 0.10000000149 in float32: above a 0.1 threshold.
    let mut f = stump();
    f.trees[0].threshold[0] = 0.1;
    assert_eq!(f.predict(array![[0.1]].view()).classes, vec![0]);
    f.input.precision = Precision::F32;
    assert_eq!(f.predict(array![[0.1]].view()).classes, vec![1]);
    // Beyond float32's range a value becomes infinite.
    f.trees[0].threshold[0] = 1e300;
    assert_eq!(f.predict(array![[1e299]].view()).classes, vec![1]);
}

#[test]
fn categories_are_read_by_the_forest_rule() {
    let mut f = stump();
    f.trees[0].categories.push(0, [0, 3]);
    f.trees[0].missing_true[0] = true;
    let x = array![
        [0.0],
        [-0.0],
        [-0.5],
        [3.7],
        [3.0],
        [2.0],
        [-3.0],
        [f64::NAN],
        [f64::INFINITY]
    ];
    // NonNegative: -0.5 is no category; TowardZero: it reads as 0.
    assert_eq!(f.predict(x.view()).classes, vec![0, 0, 1, 0, 0, 1, 1, 0, 1]);
    f.input.categories = CategoryRule::TowardZero;
    assert_eq!(f.predict(x.view()).classes, vec![0, 0, 0, 0, 0, 1, 1, 0, 1]);
    // Integral (Spark): 3.7 is no category, -0.0 is 0.
    f.input.categories = CategoryRule::Integral;
    assert_eq!(f.predict(x.view()).classes, vec![0, 0, 1, 1, 0, 1, 1, 0, 1]);
}

#[test]
fn zero_as_missing_routes_the_zero_band_like_nan() {
    let mut f = stump();
    f.trees[0].threshold[0] = -1.0;
    f.trees[0].missing_true[0] = true;
    f.input.zero_as_missing = vec![0];
    let z = ZERO_THRESHOLD;
    let x = array![[0.0], [z], [-z], [z * 1.5], [f64::NAN], [-2.0], [0.5]];
    assert_eq!(f.predict(x.view()).classes, vec![0, 0, 0, 1, 0, 0, 1]);
}

#[test]
fn anomaly_scores_follow_scikit_learn() {
    let mut f = stump();
    f.trees[0].leaf_value = vec![2.0, 6.0];
    f.task = Task::AnomalyDetection { offset: -0.5 };
    f.aggregation = Aggregation::Sum {
        base_values: vec![0.0],
        post_transform: PostTransform::IsolationScore { normalizer: 4.0 },
        tree_targets: vec![],
    };
    f.check().unwrap();
    let p = f.predict(array![[0.0], [1.0]].view());
    let s0 = -(2f64.powf(-0.5));
    let s1 = -(2f64.powf(-1.5));
    assert_eq!(p.values.row(0).to_vec(), vec![s0, s0 + 0.5]);
    assert_eq!(p.values.row(1).to_vec(), vec![s1, s1 + 0.5]);
    // -0.707 + 0.5 < 0: an outlier; -0.354 + 0.5 >= 0: an inlier.
    assert_eq!(p.classes, vec![0, 1]);
    assert_eq!(f.output_labels(), Some(&Labels::Int(vec![-1, 1])));
    assert_eq!(p.raw.unwrap().column(0).to_vec(), vec![2.0, 6.0]);
}

/// Batches of fewer rows than lanes go one row at a time through several
/// trees at once (`Plan::few_rows`); every batch size on either side of
/// that limit agrees with the row-by-row evaluation, with categorical and
/// numeric trees mixed, NaN, float32 rounding and the zero band.
#[test]
fn every_small_batch_size_matches_row_by_row() {
    use crate::synth::{self, SynthSpec};
    let plain = synth::forest(&SynthSpec {
        missing_true_fraction: 0.3,
        ..SynthSpec::small()
    });
    let mixed = with_everything(synth::forest(&SynthSpec::small()), CategoryRule::TowardZero);
    assert!(mixed.trees.iter().any(|t| t.categories.is_empty()));
    assert!(mixed.trees.iter().any(|t| !t.categories.is_empty()));
    for forest in [plain, mixed] {
        forest.check().unwrap();
        let x = awkward_rows(forest.n_features);
        for n in 1..=traverse::LANES + 1 {
            for first in [0, 5, x.nrows() - n] {
                assert_matches_row_by_row(&forest, x.slice(ndarray::s![first..first + n, ..]));
            }
        }
    }
}
