//! The streamed bytes against the prost reference for every kind of model,
//! and the exporter's refusals.

use prost::Message;

use super::*;
use crate::ir::{
    Aggregation, CategoryRule, CategorySplits, InputRules, Labels, PostTransform,
    Precision as InputPrecision, Source, SplitOp, Task, LEAF_BIT,
};
use crate::synth::{self, SynthSpec};

fn fixed(ml_opset: i64, precision: Precision) -> ExportOptions {
    ExportOptions {
        ml_opset: Some(ml_opset),
        precision,
        created: Some("2025-01-02T03:04:05.123456789Z".into()),
        ..Default::default()
    }
}

/// Every combination of opset and precision ONNX allows.
pub(crate) fn all_options() -> Vec<ExportOptions> {
    vec![
        fixed(1, Precision::Float),
        fixed(3, Precision::Float),
        fixed(3, Precision::Double),
        fixed(5, Precision::Float),
        fixed(5, Precision::Double),
    ]
}

/// Every streaming entry point against the prost reference.
fn assert_streams_like_reference(forest: &Forest, options: &ExportOptions) {
    let what = format!("opset {:?} {:?}", options.ml_opset, options.precision);
    let reference = to_model(forest, options)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
        .encode_to_vec();
    let streamed = to_bytes(forest, options).unwrap();
    assert!(
        streamed == reference,
        "{what}: to_bytes differs from to_model"
    );
    assert_eq!(
        encoded_len(forest, options).unwrap(),
        reference.len() as u64
    );
    let mut written = Vec::new();
    let n = write_to(forest, options, &mut written).unwrap();
    assert_eq!(n, reference.len() as u64);
    assert!(
        written == reference,
        "{what}: write_to differs from to_model"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    to_file(forest, options, &path).unwrap();
    assert!(std::fs::read(&path).unwrap() == reference);
}

/// `forest` with its leaves holding `width` values derived from the
/// original ones, for regressors and summed forests.
fn with_leaf_width(
    mut forest: Forest,
    width: usize,
    aggregation: Aggregation,
    task: Task,
) -> Forest {
    let old = forest.leaf_width();
    for (t, tree) in forest.trees.iter_mut().enumerate() {
        let mut value = Vec::with_capacity(tree.n_leaves() * width);
        for i in 0..tree.n_nodes() {
            let Some(leaf) = tree.leaf_index(i) else {
                continue;
            };
            for k in 0..width {
                // Some exact zeros (left out of opset 1/3 entries), some
                // negative, many digits.
                let base = tree.leaf_value[leaf * old + k % old];
                value.push(if (i + k + t) % 5 == 0 {
                    0.0
                } else {
                    (base - 0.37) * (1.0 + k as f64) / 3.0
                });
            }
        }
        tree.leaf_value = value;
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

/// Categorical splits on features 1 and 3 of every other tree: sets with
/// runs, singletons, huge and empty sets.
fn with_categories(mut forest: Forest, rule: CategoryRule) -> Forest {
    forest.input.categories = rule;
    let big = 1u32 << 24;
    let sets: [Vec<u32>; 5] = [
        vec![0, 1, 2, 5, 9],
        vec![3],
        vec![],
        vec![big - 1, big, big + 1, big + 3],
        (0..40).map(|c| c * 2).collect(),
    ];
    for (t, tree) in forest
        .trees
        .iter_mut()
        .enumerate()
        .filter(|(t, _)| t % 2 == 0)
    {
        let mut splits = CategorySplits::default();
        let mut k = t;
        for i in 0..tree.n_nodes() {
            if !tree.is_leaf(i) && i % 3 == 0 {
                tree.feature[i] = [1, 3][k % 2];
                splits.push(i as u32, sets[k % sets.len()].iter().copied());
                k += 1;
            }
        }
        tree.categories = splits;
    }
    forest
}

/// Forests covering every layout and column of the exporter.
pub(crate) fn corpus() -> Vec<(&'static str, Forest)> {
    let small = SynthSpec::small();
    let base = synth::forest(&small);
    let mut out = vec![
        ("average", base.clone()),
        (
            "vote_strings_missing_lt",
            synth::forest(&SynthSpec {
                string_labels: true,
                missing_true_fraction: 0.3,
                split_op: SplitOp::Less,
                ..small.clone().vote()
            }),
        ),
        (
            "binary_average",
            synth::forest(&SynthSpec {
                n_classes: 2,
                mixed_leaf_fraction: 0.5,
                ..small.clone()
            }),
        ),
        (
            "binary_vote",
            synth::forest(&SynthSpec {
                n_classes: 2,
                ..small.clone().vote()
            }),
        ),
    ];
    let mut float_labels = base.clone();
    float_labels.task = Task::Classification(Labels::Float(vec![0.5, -2.0, f64::NAN]));
    out.push(("float_labels", float_labels));
    let mut one_class = synth::forest(&SynthSpec {
        n_classes: 1,
        ..small.clone().vote()
    });
    one_class
        .trees
        .iter_mut()
        .for_each(|t| t.leaf_value.fill(0.0));
    out.push(("one_class_vote", one_class));
    let reg = |width| Task::Regression { n_targets: width };
    out.push((
        "regression_average",
        with_leaf_width(base.clone(), 1, Aggregation::Average, reg(1)),
    ));
    out.push((
        "regression_multi_target",
        with_leaf_width(base.clone(), 3, Aggregation::Average, reg(3)),
    ));
    out.push((
        "regression_sum_exp",
        with_leaf_width(
            base.clone(),
            1,
            sum(vec![0.25], PostTransform::Exp, vec![]),
            reg(1),
        ),
    ));
    out.push((
        "regression_sum_two_targets_logistic",
        with_leaf_width(
            base.clone(),
            2,
            sum(vec![0.0, -1.5], PostTransform::Logistic, vec![]),
            reg(2),
        ),
    ));
    let classes = |k: i64| Task::Classification(Labels::Int((0..k).collect()));
    out.push((
        "boosted_binary_logistic",
        with_leaf_width(
            base.clone(),
            1,
            sum(vec![-0.3], PostTransform::Logistic, vec![]),
            classes(2),
        ),
    ));
    out.push((
        "boosted_binary_raw",
        with_leaf_width(
            base.clone(),
            1,
            sum(vec![0.0], PostTransform::None, vec![]),
            classes(2),
        ),
    ));
    let n_trees = base.trees.len();
    out.push((
        "boosted_softmax_tree_targets",
        with_leaf_width(
            base.clone(),
            1,
            sum(
                vec![0.1, 0.2, 0.3],
                PostTransform::Softmax,
                (0..n_trees as u32).map(|t| t % 3).collect(),
            ),
            classes(3),
        ),
    ));
    out.push((
        "boosted_softmax_vector_leaves",
        with_leaf_width(
            base.clone(),
            3,
            sum(vec![0.1, 0.2, 0.3], PostTransform::Softmax, vec![]),
            classes(3),
        ),
    ));
    for normalizer in [0.0, 412.5] {
        out.push((
            "anomaly",
            with_leaf_width(
                base.clone(),
                1,
                sum(
                    vec![0.0],
                    PostTransform::IsolationScore { normalizer },
                    vec![],
                ),
                Task::AnomalyDetection { offset: -0.5 },
            ),
        ));
    }
    let mut zero_missing = base.clone();
    zero_missing.input = InputRules {
        precision: InputPrecision::F32,
        categories: CategoryRule::NonNegative,
        zero_as_missing: vec![0, 2],
    };
    out.push(("zero_as_missing_f32_input", zero_missing));
    out.push((
        "categorical_non_negative",
        with_categories(base.clone(), CategoryRule::NonNegative),
    ));
    out.push((
        "categorical_boosted_toward_zero",
        with_categories(
            with_leaf_width(
                base.clone(),
                1,
                sum(vec![0.5], PostTransform::Logistic, vec![]),
                classes(2),
            ),
            CategoryRule::TowardZero,
        ),
    ));
    // Every split categorical: single categories and empty sets are written
    // without BRANCH_EQ at opsets 1/3 (`trees::only_categorical_splits`).
    let mut only_categorical = base.clone();
    only_categorical.input.categories = CategoryRule::NonNegative;
    let sets: [&[u32]; 4] = [&[4], &[], &[0, 2, 7], &[1, 2, 3]];
    for tree in &mut only_categorical.trees {
        let mut splits = CategorySplits::default();
        for i in 0..tree.n_nodes() {
            if !tree.is_leaf(i) {
                tree.feature[i] = 1 + 2 * (i as u32 % 2);
                splits.push(i as u32, sets[i % 4].iter().copied());
            }
        }
        tree.categories = splits;
    }
    out.push(("categorical_only", only_categorical));
    out.push((
        "categorical_integral",
        with_categories(base.clone(), CategoryRule::Integral),
    ));
    // One-leaf trees.
    let mut stumps = base.clone();
    for tree in stumps.trees.iter_mut().step_by(3) {
        let value = tree.leaf_value[tree.leaf_value.len() - 3..].to_vec();
        *tree = crate::ir::Tree::default();
        tree.push_leaf(&value);
    }
    out.push(("one_leaf_trees", stumps));
    out
}

#[test]
fn streamed_bytes_equal_the_reference_encoding_for_every_layout() {
    for (name, forest) in corpus() {
        forest.check().unwrap_or_else(|e| panic!("{name}: {e}"));
        for options in all_options() {
            eprintln!(
                "{name}: opset {:?} {:?}",
                options.ml_opset, options.precision
            );
            assert_streams_like_reference(&forest, &options);
        }
    }
}

#[test]
fn streamed_bytes_equal_the_reference_encoding_of_large_shapes() {
    let small = SynthSpec::small();
    let cases = vec![
        // Multi-byte varints everywhere: > 127 trees, > 16 383 nodes
        // per tree, > 127 classes and features; > 1 MiB of output so the
        // writer flushes mid-column.
        SynthSpec {
            n_trees: 150,
            nodes_per_tree: 41,
            n_classes: 130,
            n_features: 300,
            mixed_leaf_fraction: 0.2,
            ..small.clone()
        },
        SynthSpec {
            n_trees: 3,
            nodes_per_tree: 40_001,
            jitter: 0.0,
            ..SynthSpec::large()
        },
    ];
    for spec in cases {
        let forest = synth::forest(&spec);
        // Opset 3 float writes what opset 1 does.
        for options in all_options()
            .into_iter()
            .filter(|o| o.ml_opset != Some(3) || o.precision == Precision::Double)
        {
            assert_streams_like_reference(&forest, &options);
        }
    }
    // Feature names, doc string, graph name, ZipMap, labels out of order.
    let mut forest = synth::forest(&SynthSpec::small());
    forest.feature_names = Some((0..4).map(|i| format!("feature é {i}")).collect());
    forest.task = Task::Classification(Labels::Int(vec![-7, 300, 2]));
    for options in all_options() {
        let options = ExportOptions {
            doc_string: "a doc string".into(),
            graph_name: "g".repeat(300),
            zipmap: true,
            ..options
        };
        assert_streams_like_reference(&forest, &options);
    }
}

#[test]
fn the_fast_sizing_pass_agrees_with_the_element_definition() {
    for (name, forest) in corpus() {
        for options in all_options() {
            let plan = plan::Plan::new(&forest, &options).unwrap();
            let columns = plan.columns();
            for block in &plan.blocks {
                if let Some((lens, _)) = fast::block_lens(&plan, block) {
                    for &c in &columns {
                        let mut len = 0;
                        plan.elems(c, block, &mut |e: columns::Elem| len += e.len());
                        assert_eq!(lens.of(c), len, "{name}: {c:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn all_zero_weights_keep_one_explicit_zero() {
    // Two classes, every leaf 50/50: no weight is written but one zero.
    let mut forest = synth::forest(&SynthSpec {
        n_classes: 2,
        ..SynthSpec::small()
    });
    for tree in &mut forest.trees {
        for v in tree.leaf_value.chunks_exact_mut(2) {
            v.copy_from_slice(&[0.5, 0.5]);
        }
    }
    for options in all_options() {
        assert_streams_like_reference(&forest, &options);
    }
    let model = to_model(&forest, &fixed(1, Precision::Float)).unwrap();
    let node = model
        .graph
        .unwrap()
        .node
        .into_iter()
        .find(|n| n.op_type == "TreeEnsembleClassifier")
        .unwrap();
    let weights = node.attribute.iter().find(|a| a.name == "class_weights");
    assert_eq!(weights.unwrap().floats, vec![0.0]);
}

#[test]
fn what_cannot_be_written_is_refused_by_name() {
    let forest = synth::forest(&SynthSpec::small());
    let refused = |options: ExportOptions, forest: &Forest, words: &[&str]| {
        let err = to_bytes(forest, &options).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ExportError::Unsupported(_)), "{message}");
        for w in words {
            assert!(message.contains(w), "{message:?} lacks {w:?}");
        }
    };
    refused(
        fixed(1, Precision::Double),
        &forest,
        &["double", "opset 3 or 5"],
    );
    refused(
        fixed(2, Precision::Float),
        &forest,
        &["opset 2", "1, 3 and 5"],
    );
    refused(fixed(4, Precision::Double), &forest, &["opset 4"]);
    let zipmap = ExportOptions {
        zipmap: true,
        ..fixed(1, Precision::Float)
    };
    let regressor = with_leaf_width(
        forest.clone(),
        1,
        Aggregation::Average,
        Task::Regression { n_targets: 1 },
    );
    refused(zipmap.clone(), &regressor, &["ZipMap", "classifier"]);
    let mut float_labels = forest.clone();
    float_labels.task = Task::Classification(Labels::Float(vec![1.0, 2.0, 3.0]));
    refused(zipmap, &float_labels, &["ZipMap", "float"]);
}

#[test]
fn invalid_forests_are_refused_with_the_forest_error() {
    let options = fixed(1, Precision::Float);
    let all_entry_points = |forest: &Forest| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("never.onnx");
        let results = [
            to_bytes(forest, &options).map(drop),
            encoded_len(forest, &options).map(drop),
            write_to(forest, &options, std::io::sink()).map(drop),
            to_file(forest, &options, &path).map(drop),
            to_model(forest, &options).map(drop),
        ];
        assert!(!path.exists(), "a failed export left a file");
        results
    };
    // Arrays of inconsistent lengths: never sized.
    let mut short = synth::forest(&SynthSpec::small());
    short.trees[3].threshold.pop();
    // Consistent lengths, a cycle: checked while sizing.
    let mut cycle = synth::forest(&SynthSpec::small());
    let (root_child, _) = cycle.trees[2].children(0).unwrap();
    cycle.trees[2].set_children(root_child as usize, (0, 0));
    // Invalid and unsupported: the forest's error comes first.
    let mut unsupported = synth::forest(&SynthSpec::small());
    unsupported.trees[0].feature[0] = 99;
    // Out-of-range children and categories: never read while sizing.
    let mut wild = with_categories(
        synth::forest(&SynthSpec::small()),
        CategoryRule::NonNegative,
    );
    let (_, no) = wild.trees[0].children(0).unwrap();
    wild.trees[0].set_children(0, (1 << 30, no));
    wild.trees[0].categories.offsets.push(99);
    for forest in [short, cycle, unsupported, wild] {
        for result in all_entry_points(&forest) {
            assert!(matches!(result, Err(ExportError::Forest(_))), "{result:?}");
        }
    }
    let mut unsupported = synth::forest(&SynthSpec::small());
    unsupported.trees[0].feature[0] = 99;
    assert!(matches!(
        to_bytes(&unsupported, &fixed(1, Precision::Double)),
        Err(ExportError::Forest(_))
    ));
}

#[test]
fn write_errors_are_reported() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let forest = synth::forest(&SynthSpec::small());
    let err = write_to(&forest, &fixed(1, Precision::Float), Broken).unwrap_err();
    assert!(matches!(err, ExportError::Io(_)));
    assert!(err.to_string().contains("disk on fire"), "{err}");
}

/// One tree: a chain of `n` nodes where every split's true child is a
/// leaf, the next node (so no true child is stored). Only the false-child
/// array is written: the other arrays are zeroed allocations, which the OS
/// maps lazily, so even a forest whose ONNX model exceeds 2 GiB costs 4
/// bytes of memory per node.
fn caterpillar(n: usize) -> Forest {
    assert!(n % 2 == 1);
    let mut false_child_or_leaf = vec![0; n];
    for i in (0..n - 1).step_by(2) {
        false_child_or_leaf[i] = i as u32 + 2;
        false_child_or_leaf[i + 1] = LEAF_BIT | (i as u32 / 2);
    }
    false_child_or_leaf[n - 1] = LEAF_BIT | (n as u32 / 2);
    Forest {
        input: Default::default(),
        n_features: 1,
        feature_names: None,
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(Labels::Int(vec![0, 1, 2])),
        aggregation: Aggregation::Vote,
        trees: vec![crate::ir::Tree {
            categories: Default::default(),
            feature: vec![0; n],
            threshold: vec![0.0; n],
            explicit_true_child: Vec::new(),
            false_child_or_leaf,
            missing_true: vec![false; n],
            leaf_value: vec![0.0; n.div_ceil(2)],
        }],
        source: Source::default(),
    }
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn sizes_of_caterpillars_are_exact() {
    for n in [1, 3, 2_001, 300_001] {
        for options in all_options() {
            assert_streams_like_reference(&caterpillar(n), &options);
        }
    }
}

#[test]
fn a_model_over_2_gib_is_refused_before_encoding() {
    // ~29 bytes per node (4-byte node ids): 80 M nodes make ~2.3 GB.
    let forest = caterpillar(80_000_001);
    let before = peak_rss();
    let start = std::time::Instant::now();
    let err = to_bytes(&forest, &fixed(1, Precision::Float)).unwrap_err();
    let elapsed = start.elapsed();
    let message = err.to_string();
    let ExportError::TooLarge { estimated, limit } = err else {
        panic!("expected TooLarge, got {message}");
    };
    assert_eq!(limit, MAX_ONNX_BYTES);
    assert!(
        estimated > limit && estimated < 2_600_000_000,
        "{estimated}"
    );
    assert!(message.contains("2 GiB") && message.contains(&estimated.to_string()));
    // Encoding would take well over a few seconds and 2 GB of memory:
    // only the sizing pass ran.
    assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
    if let (Some(before), Some(after)) = (before, peak_rss()) {
        assert!(
            after.saturating_sub(before) < 400 << 20,
            "peak memory grew by {} MB",
            (after - before) >> 20
        );
    }
    assert!(matches!(
        write_to(&forest, &fixed(1, Precision::Float), std::io::sink()),
        Err(ExportError::TooLarge { .. })
    ));
}

#[test]
fn zipmap_output_is_a_typed_sequence_of_maps_after_the_others() {
    let mut forest = synth::forest(&SynthSpec::small());
    forest.task = Task::Classification(Labels::Str(vec!["a".into(), "b".into(), "c".into()]));
    for options in all_options() {
        let options = ExportOptions {
            zipmap: true,
            ..options
        };
        let bytes = to_bytes(&forest, &options).unwrap();
        let graph = ModelProto::decode(&*bytes).unwrap().graph.unwrap();
        let names: Vec<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, [LABEL, PROBABILITIES, ZIPMAP_OUTPUT]);
        assert_eq!(graph.node.last().unwrap().op_type, "ZipMap");
        let signature = crate::onnx_proto::ModelSignature::decode(&*bytes).unwrap();
        let out = &signature.graph.unwrap().output[2];
        assert_eq!(
            out.r#type.as_ref().unwrap().describe(),
            "seq(map(string, tensor(float)))"
        );
    }
}

#[test]
fn graphs_name_their_outputs_by_task() {
    let outputs = |forest: &Forest, options: &ExportOptions| -> Vec<(String, String)> {
        let model = to_model(forest, options).unwrap();
        model
            .graph
            .unwrap()
            .output
            .iter()
            .map(|o| (o.name.clone(), o.r#type.as_ref().unwrap().describe()))
            .collect()
    };
    let by_name: std::collections::BTreeMap<&str, Forest> = corpus().into_iter().collect();
    let f = fixed(1, Precision::Float);
    let d = fixed(5, Precision::Double);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        outputs(&by_name["average"], &f),
        pairs(&[
            ("label", "tensor(int64)[N]"),
            ("probabilities", "tensor(float)[N, 3]")
        ])
    );
    assert_eq!(
        outputs(&by_name["float_labels"], &d),
        pairs(&[
            ("label", "tensor(double)[N]"),
            ("probabilities", "tensor(double)[N, 3]")
        ])
    );
    assert_eq!(
        outputs(&by_name["regression_sum_exp"], &d),
        pairs(&[
            ("variable", "tensor(double)[N, 1]"),
            ("raw_score", "tensor(double)[N, 1]")
        ])
    );
    assert_eq!(
        outputs(&by_name["anomaly"], &f),
        pairs(&[
            ("label", "tensor(int64)[N]"),
            ("scores", "tensor(float)[N, 2]"),
            ("raw_score", "tensor(float)[N, 1]")
        ])
    );
    assert_eq!(
        outputs(
            &by_name["boosted_binary_logistic"],
            &fixed(3, Precision::Double)
        ),
        pairs(&[
            ("label", "tensor(int64)[N]"),
            ("probabilities", "tensor(double)[N, 2]"),
            ("raw_score", "tensor(double)[N, 1]")
        ])
    );
}
