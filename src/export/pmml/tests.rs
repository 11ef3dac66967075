use super::*;
use crate::ir::tests::stump;
use crate::ir::{Aggregation, Labels, PostTransform, Task, Tree};
use crate::synth::{self, SynthSpec};

fn summary(forest: &Forest) -> PmmlSummary {
    let bytes = to_bytes(forest, &PmmlOptions::default()).expect("exports");
    summarize(&bytes).expect("reads back")
}

fn boosted(base: Vec<f64>, transform: PostTransform, task: Task, targets: Vec<u32>) -> Forest {
    let mut f = stump();
    f.task = task;
    let width = if targets.is_empty() { base.len() } else { 1 };
    let n = targets.len().max(1);
    let tree = f.trees[0].clone();
    f.trees = vec![tree; n];
    for t in &mut f.trees {
        // The leaves' values of a 3-node tree whose every node had values.
        t.leaf_value = (width..3 * width).map(|i| i as f64 * 0.25 - 0.5).collect();
    }
    f.aggregation = Aggregation::Sum {
        base_values: base,
        post_transform: transform,
        tree_targets: targets,
    };
    f
}

#[test]
fn voting_and_averaging_forests_read_back() {
    let forest = synth::forest(&SynthSpec::small());
    let s = summary(&forest);
    assert_eq!(s.version, "4.4");
    assert_eq!(s.namespace, NAMESPACE);
    assert_eq!(s.model_type, "MiningModel");
    assert_eq!(s.function, "classification");
    assert_eq!(s.segmentation_methods, ["average"]);
    assert_eq!(s.trees, forest.trees.len());
    assert_eq!(s.segments, forest.trees.len());
    assert_eq!(s.nodes, forest.n_nodes());
    assert_eq!(s.n_fields, forest.n_features + 1);
    assert_eq!(s.fields.last().unwrap().values, 3);
    assert_eq!(s.outputs.len(), 4);
    let vote = summary(&synth::forest(&SynthSpec::small().vote()));
    assert_eq!(vote.segmentation_methods, ["average"]);
}

#[test]
fn boosted_models_chain_a_regression_model() {
    let binary = boosted(
        vec![0.5],
        PostTransform::Logistic,
        Task::Classification(Labels::Str(vec!["no".into(), "yes".into()])),
        vec![],
    );
    let s = summary(&binary);
    assert_eq!(s.segmentation_methods, ["modelChain", "sum"]);
    assert_eq!(s.regression_models, 1);
    // The base value is a one-leaf tree.
    assert_eq!(s.trees, 2);
    let softmax = boosted(
        vec![0.0, 0.1, -0.2],
        PostTransform::Softmax,
        Task::Classification(Labels::Int(vec![1, 2, 3])),
        vec![0, 1, 2, 0, 1, 2],
    );
    let s = summary(&softmax);
    assert_eq!(s.trees, 6 + 2);
    let exp = boosted(
        vec![1.0],
        PostTransform::Exp,
        Task::Regression { n_targets: 1 },
        vec![],
    );
    assert_eq!(summary(&exp).regression_models, 1);
    let plain = boosted(
        vec![0.0],
        PostTransform::None,
        Task::Regression { n_targets: 1 },
        vec![],
    );
    let s = summary(&plain);
    assert_eq!((s.trees, s.regression_models), (1, 0));
}

#[test]
fn unsupported_models_are_refused_by_name() {
    let multi = boosted(
        vec![0.0, 0.0],
        PostTransform::None,
        Task::Regression { n_targets: 2 },
        vec![],
    );
    let e = to_bytes(&multi, &PmmlOptions::default()).unwrap_err();
    assert!(e.to_string().contains("2 targets"), "{e}");
    let raw_probabilities = boosted(
        vec![0.0, 0.0],
        PostTransform::None,
        Task::Classification(Labels::Int(vec![0, 1])),
        vec![],
    );
    let e = to_bytes(&raw_probabilities, &PmmlOptions::default()).unwrap_err();
    assert!(e.to_string().contains("post_transform None"), "{e}");
    let mut big = stump();
    big.task = Task::Classification(Labels::Int(vec![0, 1 << 40]));
    let e = to_bytes(&big, &PmmlOptions::default()).unwrap_err();
    assert!(e.to_string().contains("1099511627776"), "{e}");
    let mut dup = synth::forest(&SynthSpec::small());
    dup.feature_names = Some(vec!["a".into(), "b".into(), "a".into(), "c".into()]);
    let e = to_bytes(&dup, &PmmlOptions::default()).unwrap_err();
    assert!(e.to_string().contains("feature name `a`"), "{e}");
    let mut control = stump();
    control.task = Task::Classification(Labels::Str(vec!["a\u{1}".into(), "b".into()]));
    let e = to_bytes(&control, &PmmlOptions::default()).unwrap_err();
    assert!(e.to_string().contains("U+0001"), "{e}");
    let mut nan = stump();
    nan.task = Task::Classification(Labels::Float(vec![f64::NAN, 1.0]));
    assert!(to_bytes(&nan, &PmmlOptions::default()).is_err());
}

#[test]
fn names_are_escaped_and_kept_distinct() {
    let mut f = stump();
    f.feature_names = Some(vec!["label".into()]);
    f.task = Task::Classification(Labels::Str(vec!["<a & \"b\">".into(), "target".into()]));
    let bytes = to_bytes(&f, &PmmlOptions::default()).unwrap();
    let s = summarize(&bytes).unwrap();
    assert_eq!(s.fields[0].name, "label");
    assert_eq!(s.targets, ["target"]);
    assert_eq!(s.outputs[0], "probability(<a & \"b\">)");
    assert_eq!(s.outputs[2], "label_2");
}

#[test]
fn write_errors_are_returned() {
    #[derive(Debug)]
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 < b.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let forest = synth::forest(&SynthSpec::small());
    let e = write(&forest, &PmmlOptions::default(), Full(5000)).unwrap_err();
    assert!(matches!(e, PmmlError::Io(_)), "{e}");
}

#[test]
fn deep_trees_do_not_overflow_the_stack() {
    // A 200 000-deep chain: written without recursion, read back bounded.
    let mut f = stump();
    let n = 400_001;
    let mut t = Tree::default();
    for i in 0..n {
        if i % 2 == 0 && i + 2 < n {
            t.push_split(0, i as f64, (i as u32 + 1, i as u32 + 2), false);
        } else {
            t.push_leaf(&[0.0]);
            t.threshold[i] = i as f64;
        }
    }
    f.trees[0] = t;
    f.check().unwrap();
    let bytes = to_bytes(&f, &PmmlOptions::default()).unwrap();
    let s = summarize(&bytes).unwrap();
    assert_eq!(s.nodes, n);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bad in [
        &b""[..],
        b"<PMML",
        b"<PMML></PMMX>",
        b"<foo/>",
        b"\xff\xfe",
        b"<PMML version=\"4.4\"></PMML>",
        b"<PMML><DataDictionary><DataField name='a'><Value/></DataField>",
    ] {
        assert!(
            summarize(bad).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    assert!(read::sniff(b"<?xml version=\"1.0\"?>\n<PMML xmlns=\"x\">"));
    assert!(!read::sniff(b"{\"PMML\": 1}"));
}

#[test]
fn compact_and_indented_documents_differ_only_in_whitespace() {
    let strip = |b: Vec<u8>| -> String {
        let text = String::from_utf8(b).unwrap();
        text.split('\n').map(str::trim_start).collect::<String>()
    };
    let mut forests = vec![
        synth::forest(&SynthSpec::small()),
        synth::forest(&SynthSpec::small().vote()),
        boosted(
            vec![0.5],
            PostTransform::Logistic,
            Task::Classification(Labels::Str(vec!["<no>".into(), "y'es".into()])),
            vec![],
        ),
    ];
    forests[0].feature_names = Some(["a&b", "c\"d", "e", "f"].map(String::from).to_vec());
    for f in &forests {
        let compact = to_bytes(
            f,
            &PmmlOptions {
                indent: Some(false),
                ..Default::default()
            },
        )
        .unwrap();
        let indented = to_bytes(
            f,
            &PmmlOptions {
                indent: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(compact.len() < indented.len());
        assert_eq!(strip(compact), strip(indented));
    }
}

/// Forests of every shape the writer has a path for: soft and hard votes,
/// string labels and names that need escaping, NaN routing, `lessThan`,
/// float32 reading, categorical splits, the zero band, boosted multi-class
/// (per-class trees) and binary models, summed and averaged regressors.
fn shapes() -> Vec<(&'static str, Forest)> {
    let spec = SynthSpec {
        n_trees: 24,
        nodes_per_tree: 61,
        ..SynthSpec::small()
    };
    let average = synth::forest(&spec);
    let mut vote = synth::forest(
        &SynthSpec {
            string_labels: true,
            missing_true_fraction: 0.4,
            split_op: crate::ir::SplitOp::Less,
            ..spec.clone()
        }
        .vote(),
    );
    vote.feature_names = Some(vec![
        "a<b".into(),
        "c&d".into(),
        "\"e\"".into(),
        "f'".into(),
    ]);
    let mixed = synth::forest(&SynthSpec {
        mixed_leaf_fraction: 0.5,
        missing_true_fraction: 0.3,
        ..spec.clone()
    });
    // Boosted: one tree per class, categorical splits, float32, zero band.
    let mut softmax = mixed.clone();
    softmax.task = Task::Classification(Labels::Str(vec!["x".into(), "y".into(), "z".into()]));
    softmax.input.precision = crate::ir::Precision::F32;
    softmax.input.zero_as_missing = vec![1];
    for (t, tree) in softmax.trees.iter_mut().enumerate() {
        tree.leaf_value = (0..tree.n_nodes())
            .filter(|&i| tree.is_leaf(i))
            .map(|i| (i as f64 * 0.37 + t as f64).sin())
            .collect();
        let mut categories = crate::ir::CategorySplits::default();
        for i in (0..tree.n_nodes()).filter(|&i| !tree.is_leaf(i) && i % 5 == t % 5) {
            categories.push(i as u32, [0, 2, 3 + (i % 7) as u32]);
        }
        tree.categories = categories;
    }
    let n = softmax.trees.len();
    softmax.aggregation = Aggregation::Sum {
        base_values: vec![0.5, -0.25, 0.0],
        post_transform: PostTransform::Softmax,
        tree_targets: (0..n).map(|t| (t % 3) as u32).collect(),
    };
    let mut binary = softmax.clone();
    binary.task = Task::Classification(Labels::Int(vec![-3, 7]));
    binary.aggregation = Aggregation::Sum {
        base_values: vec![0.125],
        post_transform: PostTransform::Logistic,
        tree_targets: vec![0; n],
    };
    let mut sum_regressor = binary.clone();
    sum_regressor.task = Task::Regression { n_targets: 1 };
    sum_regressor.aggregation = Aggregation::Sum {
        base_values: vec![2.5],
        post_transform: PostTransform::None,
        tree_targets: Vec::new(),
    };
    let mut average_regressor = sum_regressor.clone();
    average_regressor.aggregation = Aggregation::Average;
    let forests = vec![
        ("average", average),
        ("vote, strings, escaped names, NaN, lessThan", vote),
        ("mixed leaves, NaN", mixed),
        ("softmax, categorical, float32, zero band", softmax),
        ("binary logistic", binary),
        ("sum regressor", sum_regressor),
        ("average regressor", average_regressor),
    ];
    for (name, f) in &forests {
        f.check().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    forests
}

/// Trees are rendered in parallel chunks, written in order: the bytes must
/// not depend on the chunking or the number of threads. The reference is
/// the sequential rendering, one chunk on one thread.
#[test]
fn parallel_rendering_writes_the_sequential_bytes() {
    use segments::Chunking;
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let (one, four) = (pool(1), pool(4));
    let sequential = Chunking {
        chunk_nodes: usize::MAX,
        batch_chunks: 1,
    };
    let chunkings = [
        Chunking {
            chunk_nodes: 1,
            batch_chunks: 1,
        },
        Chunking {
            chunk_nodes: 1,
            batch_chunks: 5,
        },
        Chunking {
            chunk_nodes: 150,
            batch_chunks: 2,
        },
        Chunking::default(),
    ];
    for (name, forest) in shapes() {
        for indent in [Some(true), Some(false)] {
            let options = PmmlOptions {
                indent,
                ..PmmlOptions::default()
            };
            let reference = one
                .install(|| write_chunked(&forest, &options, Vec::new(), sequential))
                .unwrap();
            summarize(&reference).unwrap_or_else(|e| panic!("{name}: {e}"));
            for chunking in chunkings {
                let got = four
                    .install(|| write_chunked(&forest, &options, Vec::new(), chunking))
                    .unwrap();
                assert!(
                    got == reference,
                    "{name}, indent {indent:?}, {chunking:?}: the bytes differ"
                );
            }
            // Outside any pool too (the calling thread writes, rayon's
            // global pool renders).
            let got = write_chunked(&forest, &options, Vec::new(), chunkings[1]).unwrap();
            assert!(got == reference, "{name}, indent {indent:?}, global pool");
        }
    }
}
