//! The corpus: every model family forest2onnx reads, as fixtures,
//! smartcore models, synthetic IR forests and hand-built edge cases.

use super::*;

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub(crate) fn read_f64(path: &Path, n_features: usize) -> Array2<f64> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let v: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let n = v.len().checked_div(n_features).unwrap_or(0);
    Array2::from_shape_vec((n, n_features), v[..n * n_features].to_vec()).unwrap()
}

pub(crate) fn json_rows(path: &Path, n_features: usize) -> Array2<f64> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Array2::zeros((0, n_features));
    };
    let json: Value = serde_json::from_str(&text).unwrap();
    let rows: Vec<Vec<f64>> = json["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.as_array())
                .map(|r| r.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                .filter(|r: &Vec<f64>| r.len() == n_features)
                .collect()
        })
        .unwrap_or_default();
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Array2::from_shape_vec((rows.len(), n_features), flat).unwrap()
}

/// Every fixture file of a directory that loads, with the rows found next to it.
pub(crate) fn load_dir(
    family: &'static str,
    dir: &Path,
    ext: &str,
    rows: impl Fn(&Path, usize) -> Array2<f64>,
) -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| {
            let forest = forest2onnx::load(&p).ok()?.forest;
            let data = rows(&p, forest.n_features);
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            Some(Case {
                family,
                name,
                forest,
                data,
            })
        })
        .collect()
}

pub(crate) fn sibling(p: &Path, from: &str, to: &str) -> PathBuf {
    PathBuf::from(p.to_string_lossy().replace(from, to))
}

pub(crate) fn corpus() -> Vec<Case> {
    let f = fixtures();
    let mut cases = Vec::new();
    for v in ["1.3.2", "1.4.2"] {
        cases.extend(load_dir(
            "scikit-learn classifiers",
            &f.join(format!("sklearn/sklearn-{v}")),
            ".zlib3.joblib",
            |p, n| read_f64(&sibling(p, ".zlib3.joblib", ".X.f64"), n),
        ));
    }
    cases.extend(load_dir(
        "scikit-learn estimators",
        &f.join("sklearn/estimators-1.9.1"),
        ".p4.pkl",
        |p, n| read_f64(&sibling(p, ".p4.pkl", ".X.f64"), n),
    ));
    cases.extend(load_dir(
        "XGBoost",
        &f.join("xgboost/3.2.0"),
        ".json",
        |p, n| json_rows(&sibling(p, ".json", ".expected.json"), n),
    ));
    cases.extend(load_dir(
        "LightGBM",
        &f.join("lightgbm/4.7.0"),
        ".txt",
        |p, n| json_rows(&sibling(p, ".txt", ".expected.json"), n),
    ));
    cases.extend(smartcore_cases());
    cases.extend(synth_cases());
    cases.extend(hand_built_cases());
    cases
}

pub(crate) fn smartcore_cases() -> Vec<Case> {
    use smartcore::ensemble::random_forest_classifier::RandomForestClassifier;
    use smartcore::linalg::basic::matrix::DenseMatrix;
    let mut rng = common::Rng(11);
    let (x, y) = common::blobs(&mut rng, 200, 4, &[3, 1, 4]);
    let model: RandomForestClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>> =
        RandomForestClassifier::fit(&common::matrix(&x), &y, common::rf_params(20, 3)).unwrap();
    let forest = forest2onnx::import::smartcore::from_random_forest(&model).unwrap();
    let data = Array2::from_shape_fn((x.len(), 4), |(r, c)| x[r][c]);
    let x32: Vec<Vec<f32>> = x
        .iter()
        .map(|r| r.iter().map(|&v| v as f32).collect())
        .collect();
    let model32: RandomForestClassifier<f32, i64, DenseMatrix<f32>, Vec<i64>> =
        RandomForestClassifier::fit(&common::matrix(&x32), &y, common::rf_params(20, 4)).unwrap();
    let forest32 = forest2onnx::import::smartcore::from_random_forest(&model32).unwrap();
    vec![
        Case {
            family: "smartcore",
            name: "rf_f64_vote".into(),
            forest,
            data: data.clone(),
        },
        Case {
            family: "smartcore",
            name: "rf_f32_vote".into(),
            forest: forest32,
            data,
        },
    ]
}

pub(crate) fn synth_cases() -> Vec<Case> {
    let base = SynthSpec {
        n_trees: 30,
        nodes_per_tree: 41,
        ..SynthSpec::small()
    };
    let specs = [
        ("average_int", base.clone()),
        (
            "vote_ties",
            SynthSpec {
                n_trees: 4,
                ..base.clone()
            }
            .vote(),
        ),
        (
            "average_strings_mixed_nan",
            SynthSpec {
                string_labels: true,
                mixed_leaf_fraction: 0.5,
                missing_true_fraction: 0.4,
                ..base.clone()
            },
        ),
        (
            "vote_less_nan",
            SynthSpec {
                split_op: SplitOp::Less,
                missing_true_fraction: 0.5,
                n_classes: 4,
                ..base.clone()
            }
            .vote(),
        ),
    ];
    let mut cases: Vec<Case> = specs
        .into_iter()
        .map(|(name, spec)| {
            let forest = synth::forest(&spec);
            let data = synth::rows(300, forest.n_features, 5);
            Case {
                family: "synthetic (IR)",
                name: name.into(),
                forest,
                data,
            }
        })
        .collect();
    // Every aggregation and post-transform over the same trees.
    let trees = synth::forest(&SynthSpec {
        mixed_leaf_fraction: 1.0,
        missing_true_fraction: 0.3,
        ..base.clone()
    });
    let sum =
        |name: &str, task: Task, base_values: Vec<f64>, pt: PostTransform, per_class: bool| {
            let mut f = trees.clone();
            f.task = task;
            let width = base_values.len();
            let mut rng = SplitMix(name.len() as u64);
            let tree_targets: Vec<u32> = if per_class {
                (0..f.trees.len()).map(|t| (t % width) as u32).collect()
            } else {
                Vec::new()
            };
            let leaf_width = if per_class { 1 } else { width };
            for t in &mut f.trees {
                t.leaf_value = (0..t.n_leaves() * leaf_width)
                    .map(|_| (rng.unit() - 0.5) * 3.0)
                    .collect();
            }
            f.aggregation = Aggregation::Sum {
                base_values,
                post_transform: pt,
                tree_targets,
            };
            f.check().unwrap();
            Case {
                family: "synthetic (IR)",
                name: name.into(),
                data: synth::rows(300, f.n_features, 6),
                forest: f,
            }
        };
    let two = || Task::Classification(Labels::Str(vec!["neg".into(), "pos".into()]));
    let three = || Task::Classification(Labels::Float(vec![0.5, 1.0, 2.5]));
    let reg = || Task::Regression { n_targets: 1 };
    cases.extend([
        sum(
            "sum_logistic",
            two(),
            vec![0.3],
            PostTransform::Logistic,
            false,
        ),
        sum(
            "sum_softmax_per_class",
            three(),
            vec![0.1, -0.2, 0.0],
            PostTransform::Softmax,
            true,
        ),
        sum(
            "sum_softmax_wide_leaves",
            three(),
            vec![0.0, 0.0, 0.0],
            PostTransform::Softmax,
            false,
        ),
        sum(
            "sum_regression",
            reg(),
            vec![1.5],
            PostTransform::None,
            false,
        ),
        sum(
            "sum_regression_zero_base",
            reg(),
            vec![0.0],
            PostTransform::None,
            false,
        ),
        sum("sum_exp", reg(), vec![-0.5], PostTransform::Exp, false),
        sum(
            "sum_logistic_regression",
            reg(),
            vec![0.25],
            PostTransform::Logistic,
            false,
        ),
        sum(
            "isolation",
            Task::AnomalyDetection { offset: -0.5 },
            vec![0.0],
            PostTransform::IsolationScore { normalizer: 42.0 },
            false,
        ),
    ]);
    let mut avg_reg = trees.clone();
    avg_reg.task = reg();
    for t in &mut avg_reg.trees {
        t.leaf_value = t.leaf_value.chunks(3).map(|c| c[0] * 7.0 - c[1]).collect();
    }
    cases.push(Case {
        family: "synthetic (IR)",
        name: "average_regression".into(),
        data: synth::rows(300, 4, 7),
        forest: avg_reg,
    });
    cases
}

/// Categorical splits under every precision and category rule, zero-as-
/// missing features, a single-leaf tree and float labels.
pub(crate) fn hand_built_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for precision in [Precision::F32, Precision::F64] {
        for rule in [CategoryRule::NonNegative, CategoryRule::TowardZero] {
            for op in [SplitOp::LessOrEqual, SplitOp::Less] {
                let name = format!("categorical_{precision:?}_{rule:?}_{op:?}").to_lowercase();
                cases.push(Case {
                    family: "hand-built IR",
                    name,
                    forest: categorical_forest(precision, rule, op),
                    data: Array2::zeros((0, 3)),
                });
            }
        }
    }
    let mut single = common_stump();
    let mut leaf = Tree::default();
    leaf.push_leaf(&[1.0]);
    single.trees.push(leaf);
    single.task = Task::Classification(Labels::Float(vec![-1.5, 1e-300]));
    cases.push(Case {
        family: "hand-built IR",
        name: "stump_and_single_leaf_float_labels".into(),
        forest: single,
        data: Array2::zeros((0, 1)),
    });
    cases
}

pub(crate) fn common_stump() -> Forest {
    Forest {
        n_features: 1,
        feature_names: Some(vec!["only feature".into()]),
        input: InputRules::default(),
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int(vec![10, 20])),
        aggregation: Aggregation::Vote,
        trees: vec![{
            let mut t = Tree::default();
            t.push_split(0, 0.1, (1, 2), true);
            t.push_leaf(&[0.0]);
            t.push_leaf(&[1.0]);
            t
        }],
        source: Default::default(),
    }
}

/// Three features: 0 categorical (NaN true at the root), 1 numeric with
/// zero-as-missing, 2 categorical with a huge category. Summed binary
/// logistic, as LightGBM builds them.
pub(crate) fn categorical_forest(precision: Precision, rule: CategoryRule, op: SplitOp) -> Forest {
    let mut trees = Vec::new();
    for k in 0..3u32 {
        let mut categories = CategorySplits::default();
        categories.push(0, [0, 1, 2, 5 + k, 7 + k]);
        categories.push(2, [3, 16_777_217, forest2onnx::ir::MAX_CATEGORY]);
        // 0: cat f0 -> 1 (num f1) | 2 (cat f2); 1 -> 3 | 4; 2 -> 5 | 6
        let mut tree = Tree::from_node_arrays(
            vec![0, 1, 2, 0, 0, 0, 0],
            vec![0.0, 0.0 + f64::from(k) * 0.3, 0.0, 0.0, 0.0, 0.0, 0.0],
            &[1, 3, 5, LEAF, LEAF, LEAF, LEAF],
            &[2, 4, 6, LEAF, LEAF, LEAF, LEAF],
            vec![k != 1, k == 2, k == 0, false, false, false, false],
            &[0.0, 0.0, 0.0, -1.25, 0.5, 2.0, -0.75 + f64::from(k)],
            1,
        )
        .unwrap();
        tree.categories = categories;
        trees.push(tree);
    }
    let f = Forest {
        n_features: 3,
        feature_names: None,
        input: InputRules {
            precision,
            categories: rule,
            zero_as_missing: vec![1],
        },
        split_op: op,
        task: Task::Classification(Labels::Int(vec![0, 1])),
        aggregation: Aggregation::Sum {
            base_values: vec![0.125],
            post_transform: PostTransform::Logistic,
            tree_targets: vec![],
        },
        trees,
        source: Default::default(),
    };
    f.check().unwrap();
    f
}
