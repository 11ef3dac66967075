//! The models of the conformance matrix: one of every kind the IR holds.

use forest2onnx::ir::{
    Aggregation, CategoryRule, CategorySplits, Forest, InputRules, Labels, PostTransform,
    Precision as InputPrecision, SplitOp, Task,
};
use forest2onnx::rng::SplitMix;
use forest2onnx::synth::{self, SynthSpec};
use ndarray::Array2;
use smartcore::dataset::{breast_cancer, iris};
use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::common::{matrix, rf_params};

/// A model and the data rows its adversarial rows are built on.
pub struct Model {
    pub name: &'static str,
    pub forest: Forest,
    pub data: Array2<f64>,
}

fn smartcore_rf(data: &[f32], target: &[u32], cols: usize, trees: u16) -> (Forest, Array2<f64>) {
    let x: Vec<Vec<f64>> = data
        .chunks(cols)
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let y: Vec<i64> = target.iter().map(|&v| i64::from(v)).collect();
    let model: RandomForestClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>> =
        RandomForestClassifier::fit(&matrix(&x), &y, rf_params(trees, 7)).unwrap();
    let forest = forest2onnx::import::smartcore::from_random_forest(&model).unwrap();
    let data = Array2::from_shape_fn((x.len(), cols), |(r, c)| x[r][c]);
    (forest, data)
}

/// A synthetic scikit-learn-like forest (f64 thresholds) with its leaves
/// rewritten to hold `width` values each, for `aggregation` and `task`.
fn synthetic(spec: &SynthSpec, width: usize, aggregation: Aggregation, task: Task) -> Forest {
    let mut forest = synth::forest(spec);
    let mut rng = SplitMix(99);
    for tree in &mut forest.trees {
        tree.leaf_value = (0..tree.n_leaves() * width)
            .map(|_| {
                // Many digits, both signs, some exact zeros.
                let u = rng.unit();
                if u < 0.1 {
                    0.0
                } else {
                    (u - 0.45) * 3.7
                }
            })
            .collect();
    }
    forest.aggregation = aggregation;
    forest.task = task;
    forest
}

fn sum(
    base_values: Vec<f64>,
    post_transform: PostTransform,
    tree_targets: Vec<u32>,
) -> Aggregation {
    Aggregation::Sum {
        base_values,
        post_transform,
        tree_targets,
    }
}

/// Categorical splits on `features`, on every other node of every tree.
fn categorical(mut forest: Forest, rule: CategoryRule, features: &[u32]) -> Forest {
    forest.input.categories = rule;
    let sets: [Vec<u32>; 5] = [
        vec![0, 1, 2, 5, 9],
        vec![3],
        vec![],
        vec![(1 << 24) - 1, 1 << 24, (1 << 24) + 1, 2147483647],
        (0..12).map(|c| c * 2).collect(),
    ];
    let mut k = 0;
    for tree in &mut forest.trees {
        let mut splits = CategorySplits::default();
        for i in 0..tree.n_nodes() {
            if !tree.is_leaf(i) && i % 2 == 0 {
                tree.feature[i] = features[k % features.len()];
                splits.push(i as u32, sets[k % sets.len()].iter().copied());
                k += 1;
            }
        }
        tree.categories = splits;
    }
    forest
}

/// Data rows for synthetic forests, categorical columns as small integers.
fn synthetic_data(n_features: usize, categorical: &[u32]) -> Array2<f64> {
    let mut x = synth::rows(120, n_features, 5);
    for &f in categorical {
        let mut rng = SplitMix(u64::from(f));
        x.column_mut(f as usize)
            .mapv_inplace(|_| rng.below(12) as f64);
    }
    x
}

pub fn models() -> Vec<Model> {
    let mut out = Vec::new();
    let d = iris::load_dataset();
    let (forest, data) = smartcore_rf(&d.data, &d.target, d.num_features, 30);
    out.push(Model {
        name: "vote_multiclass",
        forest,
        data,
    });
    let d = breast_cancer::load_dataset();
    let (forest, data) = smartcore_rf(&d.data, &d.target, d.num_features, 15);
    out.push(Model {
        name: "vote_binary",
        forest,
        data,
    });

    let spec = SynthSpec {
        n_trees: 40,
        missing_true_fraction: 0.3,
        mixed_leaf_fraction: 0.5,
        ..SynthSpec::small()
    };
    let data = synthetic_data(4, &[]);
    let push = |out: &mut Vec<Model>, name, forest: Forest, data: &Array2<f64>| {
        out.push(Model {
            name,
            forest,
            data: data.clone(),
        })
    };
    push(&mut out, "average_nan_routing", synth::forest(&spec), &data);
    let mut binary = synth::forest(&SynthSpec {
        n_classes: 2,
        split_op: SplitOp::Less,
        ..spec.clone()
    });
    binary.task = Task::Classification(Labels::Str(vec!["no".into(), "yes".into()]));
    push(&mut out, "average_binary_lt_strings", binary, &data);
    let mut float_labels = synth::forest(&spec);
    float_labels.task = Task::Classification(Labels::Float(vec![0.5, -2.0, 1e20]));
    push(&mut out, "average_float_labels", float_labels, &data);

    let classes = |k: i64| Task::Classification(Labels::Int((0..k).map(|c| 10 * c - 3).collect()));
    let n_trees = spec.n_trees as u32;
    push(
        &mut out,
        "boosted_tree_targets_softmax",
        synthetic(
            &spec,
            1,
            sum(
                vec![0.1, -0.2, 0.3],
                PostTransform::Softmax,
                (0..n_trees).map(|t| t % 3).collect(),
            ),
            classes(3),
        ),
        &data,
    );
    push(
        &mut out,
        "boosted_binary_logistic",
        synthetic(
            &spec,
            1,
            sum(vec![-0.4], PostTransform::Logistic, vec![]),
            classes(2),
        ),
        &data,
    );
    push(
        &mut out,
        "boosted_binary_raw",
        synthetic(
            &spec,
            1,
            sum(vec![0.7], PostTransform::None, vec![]),
            classes(2),
        ),
        &data,
    );
    push(
        &mut out,
        "regression_multi_target",
        synthetic(
            &spec,
            3,
            Aggregation::Average,
            Task::Regression { n_targets: 3 },
        ),
        &data,
    );
    push(
        &mut out,
        "regression_exp",
        synthetic(
            &spec,
            1,
            sum(vec![0.25], PostTransform::Exp, vec![]),
            Task::Regression { n_targets: 1 },
        ),
        &data,
    );
    push(
        &mut out,
        "regression_vector_leaves_logistic",
        synthetic(
            &spec,
            2,
            sum(vec![0.0, 1.5], PostTransform::Logistic, vec![]),
            Task::Regression { n_targets: 2 },
        ),
        &data,
    );
    // Isolation forests: path lengths (positive) summed, then 2^(-s/c).
    for (name, normalizer, offset) in [
        ("anomaly", 40.0 * 6.2, -0.52),
        ("anomaly_zero_normalizer", 0.0, -0.5),
    ] {
        let mut forest = synthetic(
            &spec,
            1,
            sum(
                vec![0.0],
                PostTransform::IsolationScore { normalizer },
                vec![],
            ),
            Task::AnomalyDetection { offset },
        );
        for tree in &mut forest.trees {
            tree.leaf_value
                .iter_mut()
                .for_each(|v| *v = (*v).abs() * 2.0 + 3.0);
        }
        push(&mut out, name, forest, &data);
    }

    let cats = [1u32, 3];
    let cat_data = synthetic_data(4, &cats);
    push(
        &mut out,
        "categorical_non_negative_boosted",
        categorical(
            synthetic(
                &spec,
                1,
                sum(vec![0.2], PostTransform::Logistic, vec![]),
                classes(2),
            ),
            CategoryRule::NonNegative,
            &cats,
        ),
        &cat_data,
    );
    let mut toward_zero = categorical(
        synthetic(
            &spec,
            1,
            sum(vec![1.0], PostTransform::None, vec![]),
            Task::Regression { n_targets: 1 },
        ),
        CategoryRule::TowardZero,
        &cats,
    );
    toward_zero.input.zero_as_missing = vec![0, 3];
    push(
        &mut out,
        "categorical_toward_zero_zero_as_missing",
        toward_zero,
        &cat_data,
    );

    let mut f32_input = synth::forest(&spec);
    f32_input.input = InputRules {
        precision: InputPrecision::F32,
        categories: CategoryRule::NonNegative,
        zero_as_missing: vec![2],
    };
    push(&mut out, "f32_input_zero_as_missing", f32_input, &data);
    out
}
