//! Shared by the native-store test suites: random forest generators and
//! the hand assembly of model files from the layout in `docs/FORMAT.md`.

use forest2onnx::ir::{
    Aggregation, Forest, Labels, PostTransform, Source, SplitOp, Task, Tree, LEAF,
};
use forest2onnx::store::{SaveOptions, StoreError};
use ndarray::Array2;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use xxhash_rust::xxh3::xxh3_64;

// ---------------------------------------------------------------------------
// Forest generators
// ---------------------------------------------------------------------------

/// The deterministic generator of every forest here (and of the committed
/// format-1.0 files: its sequence must never change).
pub use forest2onnx::rng::SplitMix as Rng;

/// The shapes of forest the IR supports.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    VoteInt,
    AverageStr,
    AverageRegression,
    SumBinaryLogit,
    SumSoftmax,
    SumRegression,
}

pub const KINDS: [Kind; 6] = [
    Kind::VoteInt,
    Kind::AverageStr,
    Kind::AverageRegression,
    Kind::SumBinaryLogit,
    Kind::SumSoftmax,
    Kind::SumRegression,
];

/// A random tree of at most `max_nodes` nodes: nodes are visited in id
/// order and split into two fresh ids, so children always follow parents.
/// Each visited node splits with probability `split_p` while room is left.
pub fn random_tree(
    rng: &mut Rng,
    max_nodes: usize,
    split_p: f64,
    n_features: usize,
    leaf: &mut dyn FnMut(&mut Rng) -> Vec<f64>,
    width: usize,
) -> Tree {
    // Per-node arrays first (a leaf may become a split), the lean tree last.
    let mut t = Tree::default();
    let (mut true_child, mut false_child, mut value) = (Vec::new(), Vec::new(), Vec::new());
    let push_leaf = |t: &mut Tree, yes: &mut Vec<u32>, no: &mut Vec<u32>, value: &mut Vec<f64>| {
        t.feature.push(0);
        t.threshold.push(0.0);
        yes.push(LEAF);
        no.push(LEAF);
        t.missing_true.push(false);
        value.extend(std::iter::repeat_n(0.0, width));
    };
    push_leaf(&mut t, &mut true_child, &mut false_child, &mut value);
    let mut i = 0;
    while i < t.n_nodes() {
        if t.n_nodes() + 2 <= max_nodes && rng.chance(split_p) {
            let n = t.n_nodes() as u32;
            t.feature[i] = rng.below(n_features) as u32;
            t.threshold[i] = match rng.below(20) {
                0 => f64::INFINITY,
                1 => -0.0,
                _ => (rng.unit() - 0.5) * 10.0,
            };
            true_child[i] = n;
            false_child[i] = n + 1;
            t.missing_true[i] = rng.chance(0.5);
            for _ in 0..2 {
                push_leaf(&mut t, &mut true_child, &mut false_child, &mut value);
            }
        } else {
            let v = leaf(rng);
            value[i * width..(i + 1) * width].copy_from_slice(&v);
        }
        i += 1;
    }
    Tree::from_node_arrays(
        t.feature,
        t.threshold,
        &true_child,
        &false_child,
        t.missing_true,
        &value,
        width,
    )
    .expect("a tree whose splits have two children")
}

/// A random valid forest of the given kind.
pub fn random_forest(rng: &mut Rng, kind: Kind, n_trees: usize, max_nodes: usize) -> Forest {
    let n_features = 1 + rng.below(6);
    let n_classes = 2 + rng.below(4);
    let (task, aggregation) = match kind {
        Kind::VoteInt => (
            Task::Classification(Labels::Int(
                (0..n_classes as i64).map(|c| c * 7 - 3).collect(),
            )),
            Aggregation::Vote,
        ),
        Kind::AverageStr => (
            Task::Classification(Labels::Str(
                (0..n_classes).map(|c| format!("class-{c} ✓")).collect(),
            )),
            Aggregation::Average,
        ),
        Kind::AverageRegression => (Task::Regression { n_targets: 2 }, Aggregation::Average),
        Kind::SumBinaryLogit => (
            Task::Classification(Labels::Int(vec![0, 1])),
            Aggregation::Sum {
                tree_targets: Default::default(),
                base_values: vec![rng.unit() - 0.5],
                post_transform: PostTransform::Logistic,
            },
        ),
        Kind::SumSoftmax => (
            Task::Classification(Labels::Str(
                (0..n_classes).map(|c| format!("c{c}")).collect(),
            )),
            Aggregation::Sum {
                tree_targets: Default::default(),
                base_values: (0..n_classes).map(|_| rng.unit()).collect(),
                post_transform: PostTransform::Softmax,
            },
        ),
        Kind::SumRegression => (
            Task::Regression { n_targets: 1 },
            Aggregation::Sum {
                tree_targets: Default::default(),
                base_values: vec![0.1],
                post_transform: PostTransform::None,
            },
        ),
    };
    let mut forest = Forest {
        input: Default::default(),
        n_features,
        feature_names: rng
            .chance(0.5)
            .then(|| (0..n_features).map(|i| format!("feature {i}")).collect()),
        split_op: if rng.chance(0.5) {
            SplitOp::LessOrEqual
        } else {
            SplitOp::Less
        },
        task,
        aggregation,
        trees: Vec::new(),
        source: Source {
            details: Default::default(),
            library: "test".into(),
            version: "1.2.3".into(),
            estimator: format!("{kind:?}"),
        },
    };
    let width = forest.leaf_width();
    let n_out = forest.n_outputs();
    let mut leaf = |rng: &mut Rng| -> Vec<f64> {
        match kind {
            Kind::VoteInt => vec![rng.below(n_out) as f64],
            _ => (0..width).map(|_| rng.unit() * 2.0 - 0.5).collect(),
        }
    };
    forest.trees = (0..n_trees)
        .map(|_| {
            let split_p = rng.unit() * 0.5 + 0.5;
            random_tree(rng, max_nodes, split_p, n_features, &mut leaf, width)
        })
        .collect();
    forest.check().expect("generator makes valid forests");
    forest
}

/// Rows to predict on, with some NaNs.
pub fn random_rows(rng: &mut Rng, rows: usize, cols: usize) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| {
        if rng.chance(0.05) {
            f64::NAN
        } else {
            (rng.unit() - 0.5) * 12.0
        }
    })
}

pub fn iris() -> (Array2<f64>, Vec<i64>) {
    let d = smartcore::dataset::iris::load_dataset();
    let x = Array2::from_shape_fn((d.num_samples, d.num_features), |(r, c)| {
        f64::from(d.data[r * d.num_features + c])
    });
    (x, d.target.iter().map(|&t| i64::from(t)).collect())
}

/// A 100-tree smartcore random forest on iris, through the importer.
pub fn iris_forest() -> Forest {
    let (x, y) = iris();
    let m = DenseMatrix::new(x.nrows(), x.ncols(), x.iter().copied().collect(), false).unwrap();
    let params = RandomForestClassifierParameters::default()
        .with_n_trees(100)
        .with_seed(42);
    let model: RandomForestClassifier<f64, i64, DenseMatrix<f64>, Vec<i64>> =
        RandomForestClassifier::fit(&m, &y, params).expect("training");
    forest2onnx::import::smartcore::from_random_forest(&model).expect("import")
}

pub fn opts(level: i32) -> SaveOptions {
    SaveOptions {
        level,
        ..SaveOptions::default()
    }
}

// ---------------------------------------------------------------------------
// Hand-assembled files, following docs/FORMAT.md
// ---------------------------------------------------------------------------

pub const PREAMBLE: usize = 72;

pub fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

pub fn payload_offset(header_len: usize) -> usize {
    (PREAMBLE + header_len).div_ceil(64) * 64
}

/// Recomputes the identification check and both checksums of `file` after
/// its fields were edited.
pub fn reseal(file: &mut [u8]) {
    let id = xxh3_64(&file[..20]) as u32;
    file[20..24].copy_from_slice(&id.to_le_bytes());
    let off = payload_offset(u64_at(file, 32) as usize);
    let payload_hash = xxh3_64(&file[off..]);
    file[56..64].copy_from_slice(&payload_hash.to_le_bytes());
    let mut head = file[..64].to_vec();
    head.extend_from_slice(&file[PREAMBLE..off]);
    file[64..72].copy_from_slice(&xxh3_64(&head).to_le_bytes());
}

/// The pieces of a file: preamble bytes, header JSON, stored payload.
pub fn split(file: &[u8]) -> (Vec<u8>, serde_json::Value, Vec<u8>) {
    let header_len = u64_at(file, 32) as usize;
    let json = serde_json::from_slice(&file[PREAMBLE..PREAMBLE + header_len]).unwrap();
    (
        file[..PREAMBLE].to_vec(),
        json,
        file[payload_offset(header_len)..].to_vec(),
    )
}

/// Assembles a file from its pieces, fixing lengths and checksums.
pub fn assemble(
    preamble: &[u8],
    header: &serde_json::Value,
    payload: &[u8],
    raw_len: u64,
) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap();
    let mut file = preamble.to_vec();
    file[32..40].copy_from_slice(&(json.len() as u64).to_le_bytes());
    file[40..48].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    file[48..56].copy_from_slice(&raw_len.to_le_bytes());
    file.extend_from_slice(&json);
    file.resize(payload_offset(json.len()), 0);
    file.extend_from_slice(payload);
    reseal(&mut file);
    file
}

/// Byte range of section `name` in an uncompressed payload.
pub fn section(header: &serde_json::Value, name: &str) -> (usize, usize) {
    let s = header["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap();
    (
        s["offset"].as_u64().unwrap() as usize,
        s["count"].as_u64().unwrap() as usize,
    )
}

pub fn small_forest() -> Forest {
    random_forest(&mut Rng(7), Kind::VoteInt, 3, 9)
}

pub fn is_corrupt(r: &Result<Forest, StoreError>) -> bool {
    matches!(r, Err(StoreError::Corrupt { .. }))
}
