//! Tests of the comparison and of the adversarial rows.

use super::*;
use crate::ir::{Aggregation, CategorySplits, Labels, Source, SplitOp, Tree};

fn stump(threshold: f64) -> Forest {
    Forest {
        input: Default::default(),
        n_features: 2,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int(vec![0, 1])),
        aggregation: Aggregation::Vote,
        trees: vec![{
            let mut t = Tree::default();
            t.push_split(1, threshold, (1, 2), false);
            t.push_leaf(&[0.0]);
            t.push_leaf(&[1.0]);
            t
        }],
        source: Source::default(),
    }
}

fn column(rows: &Array2<f64>, f: usize) -> Vec<f64> {
    let mut c: Vec<f64> = rows.column(f).to_vec();
    c.sort_by(f64::total_cmp);
    c
}

#[test]
fn float_probes_straddle_the_float32_threshold() {
    let f = stump(0.1);
    let base = Array2::from_elem((1, 2), 7.0);
    let rows = adversarial_rows(&f, ElementType::Float, base.view(), usize::MAX).unwrap();
    let below = 0.1f32.next_down(); // 0.1 rounds up to float32
    let expected: Vec<f64> = [below.next_down(), below, 0.1f32, 0.1f32.next_up()]
        .map(f64::from)
        .to_vec();
    let got = column(&rows, 1);
    assert!(got[4].is_nan());
    assert_eq!(&got[..4], &expected[..]);
    // Feature 0 splits nothing: it keeps the base row's value.
    assert!(rows.column(0).iter().all(|&v| v == 7.0));
}

#[test]
fn double_probes_reach_between_float32_neighbours() {
    let t = 0.1f64;
    let f = stump(t);
    let rows = adversarial_rows(
        &f,
        ElementType::Double,
        Array2::zeros((0, 2)).view(),
        usize::MAX,
    )
    .unwrap();
    let got = column(&rows, 1);
    let (a, b) = (f64::from(0.1f32.next_down()), f64::from(0.1f32));
    assert!(a < t && t < b);
    for v in [t, t.next_up(), t.next_down(), (a + t) / 2.0, (t + b) / 2.0] {
        assert!(got.contains(&v), "{v} missing from {got:?}");
    }
    // Between the float32 neighbours, strictly: float32 inputs cannot be there.
    assert!(got.iter().filter(|v| !v.is_nan()).all(|&v| v > a && v < b));
}

#[test]
fn category_and_zero_band_probes() {
    let mut f = stump(0.5);
    let mut cats = CategorySplits::default();
    cats.push(0, [1, 3]);
    f.trees[0].categories = cats;
    f.input.zero_as_missing = vec![0];
    let rows = adversarial_rows(
        &f,
        ElementType::Double,
        Array2::zeros((0, 2)).view(),
        usize::MAX,
    )
    .unwrap();
    let c = column(&rows, 1);
    for v in [1.0, 3.0, 1.5, 0.5, 2.5, 4.0, -1.0, -0.5] {
        assert!(c.contains(&v), "category probe {v} missing");
    }
    let z = column(&rows, 0);
    assert!(
        z.contains(&crate::ir::ZERO_THRESHOLD) && z.contains(&0.0) && z.iter().any(|v| v.is_nan())
    );
}

#[test]
fn rows_of_the_wrong_width_are_an_error_not_a_panic() {
    let f = stump(0.1);
    let x = Array2::<f64>::zeros((3, 5));
    assert_eq!(
        with_adversarial_rows(&f, ElementType::Float, x.view(), 10).unwrap_err(),
        ShapeError {
            expected: 2,
            got: 5
        }
    );
    let onnx = to_bytes(&f, &ExportOptions::default()).unwrap();
    assert!(matches!(
        validate(&f, &onnx, x.view()),
        Err(ValidateError::Shape(ShapeError {
            expected: 2,
            got: 5
        }))
    ));
}

#[test]
fn a_stump_round_trips_and_a_wrong_model_fails() {
    let f = stump(0.1);
    let report = assert_round_trip(&f, Array2::zeros((0, 2)).view());
    assert!(report.rows >= 5);
    // The same graph for another threshold misroutes the probes.
    let other = to_bytes(&stump(0.2), &ExportOptions::default()).unwrap();
    let model = OnnxModel::from_bytes(&other).unwrap();
    let outcome = validate_conversion(&f, &model, Array2::zeros((0, 2)).view()).unwrap();
    assert!(!outcome.passed);
    let report = outcome.report.unwrap();
    assert!(report.label_mismatches > 0, "{report}");
}
