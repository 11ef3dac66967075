//! The backend-neutral forest IR.
//!
//! Every importer produces a [`Forest`]; every exporter consumes one. Trees are
//! stored as struct-of-arrays indexed by node id, so the same layout can be
//! written to disk, memory-mapped and turned into ONNX attributes without
//! reshaping. [`Forest::check`] validates every invariant: importers read
//! untrusted files, so nothing downstream may trust a forest that was not
//! checked. [`Forest::predict`] is the reference semantics every runtime is
//! compared against.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Marker stored in the child arrays of a leaf node.
pub const LEAF: u32 = u32::MAX;

/// How a split compares the feature value `x` with the node threshold `t`:
/// the row goes to the *true* child when the comparison holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// `x <= t` (smartcore, scikit-learn, LightGBM).
    LessOrEqual,
    /// `x < t` (XGBoost).
    Less,
}

/// What the forest predicts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Task {
    /// Class labels in the order of the class indices used by the leaves.
    Classification(ClassLabels),
    /// Real-valued targets.
    Regression {
        /// Number of outputs per row.
        n_targets: usize,
    },
}

/// Class labels, either integers or strings, as the source model had them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClassLabels {
    /// Integer labels, e.g. `[-1, 3, 7]`.
    Int(Vec<i64>),
    /// String labels, e.g. `["setosa", "versicolor"]`.
    Str(Vec<String>),
}

impl ClassLabels {
    /// Number of classes.
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Int(v) => v.len(),
            ClassLabels::Str(v) => v.len(),
        }
    }

    /// True when there are no classes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label of class `index` as text.
    pub fn display(&self, index: usize) -> String {
        match self {
            ClassLabels::Int(v) => v[index].to_string(),
            ClassLabels::Str(v) => v[index].clone(),
        }
    }

    fn first_duplicate(&self) -> Option<String> {
        fn dup<T: Ord + Clone + ToString>(v: &[T]) -> Option<String> {
            let mut sorted = v.to_vec();
            sorted.sort();
            sorted
                .windows(2)
                .find(|w| w[0] == w[1])
                .map(|w| w[0].to_string())
        }
        match self {
            ClassLabels::Int(v) => dup(v),
            ClassLabels::Str(v) => dup(v),
        }
    }
}

/// How the leaves reached in each tree combine into the forest's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Aggregation {
    /// Hard voting: each leaf holds one class index; the class with most
    /// votes wins, ties go to the lowest class index; probabilities are
    /// `votes / n_trees` (smartcore).
    Vote,
    /// Each leaf holds one value per output; outputs are averaged over the
    /// trees (scikit-learn forests: soft voting); the label is the first
    /// class with the highest probability.
    Average,
    /// Leaf values are summed over trees and added to `base_values`, then
    /// `post_transform` turns the scores into outputs (gradient boosting).
    Sum {
        /// One value per leaf output.
        base_values: Vec<f64>,
        /// Applied to the summed scores.
        post_transform: PostTransform,
    },
}

/// A function applied to summed scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PostTransform {
    /// Scores are the outputs.
    None,
    /// `1 / (1 + e^-s)`; with one score for two classes, `p1 = σ(s)`, `p0 = 1 - p1`.
    Logistic,
    /// Softmax over the scores.
    Softmax,
}

/// Where the forest came from, recorded in every exported file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Library that trained the model, e.g. `smartcore`.
    pub library: String,
    /// That library's version, e.g. `0.7.0`.
    pub version: String,
    /// Estimator type, e.g. `RandomForestClassifier`.
    pub estimator: String,
}

/// One decision tree as struct-of-arrays indexed by node id; node 0 is the root.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Split feature of each internal node (ignored for leaves).
    pub feature: Vec<u32>,
    /// Split threshold of each internal node (ignored for leaves).
    pub threshold: Vec<f64>,
    /// Child taken when the comparison holds, or [`LEAF`].
    pub true_child: Vec<u32>,
    /// Child taken when the comparison fails, or [`LEAF`].
    pub false_child: Vec<u32>,
    /// Whether a NaN feature value goes to the true child.
    pub missing_true: Vec<bool>,
    /// Leaf values, [`Forest::leaf_width`] per node (internal nodes hold zeros).
    pub value: Vec<f64>,
}

impl Tree {
    /// Number of nodes, leaves included.
    pub fn n_nodes(&self) -> usize {
        self.feature.len()
    }

    /// Whether node `i` is a leaf.
    pub fn is_leaf(&self, i: usize) -> bool {
        self.true_child[i] == LEAF
    }

    /// Number of leaves.
    pub fn n_leaves(&self) -> usize {
        self.true_child.iter().filter(|&&c| c == LEAF).count()
    }

    /// Depth of the deepest leaf (a single-leaf tree has depth 0).
    pub fn depth(&self) -> usize {
        // Children always have larger ids than their parent (checked), so one
        // forward pass sees every parent before its children.
        let mut depth = vec![0usize; self.n_nodes()];
        let mut max = 0;
        for i in 0..self.n_nodes() {
            if !self.is_leaf(i) {
                let d = depth[i] + 1;
                depth[self.true_child[i] as usize] = d;
                depth[self.false_child[i] as usize] = d;
                max = max.max(d);
            }
        }
        max
    }

    /// The leaf that `row` reaches.
    #[inline]
    pub fn leaf_for(&self, row: &[f64], comparison: Comparison) -> usize {
        let mut node = 0usize;
        while self.true_child[node] != LEAF {
            let x = row[self.feature[node] as usize];
            let t = self.threshold[node];
            let goes_true = if x.is_nan() {
                self.missing_true[node]
            } else {
                match comparison {
                    Comparison::LessOrEqual => x <= t,
                    Comparison::Less => x < t,
                }
            };
            node = if goes_true {
                self.true_child[node]
            } else {
                self.false_child[node]
            } as usize;
        }
        node
    }
}

/// A tree ensemble: the one model representation every importer and exporter shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Number of input features.
    pub n_features: usize,
    /// Feature names, when the source knew them.
    pub feature_names: Option<Vec<String>>,
    /// Split comparison used by every node.
    pub comparison: Comparison,
    /// Classification or regression.
    pub task: Task,
    /// How tree outputs combine.
    pub aggregation: Aggregation,
    /// The trees.
    pub trees: Vec<Tree>,
    /// Provenance.
    pub source: Source,
}

/// A violated [`Forest`] invariant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForestError {
    /// The forest has no trees.
    #[error("the forest has no trees")]
    NoTrees,
    /// The forest has no features.
    #[error("the forest has no input features")]
    NoFeatures,
    /// A classifier without classes, or a regressor without targets.
    #[error("the forest has no outputs (no classes or targets)")]
    NoOutputs,
    /// Two classes share a label.
    #[error("class label {0:?} appears more than once")]
    DuplicateLabel(String),
    /// Feature names do not match the feature count.
    #[error("{names} feature names for {n_features} features")]
    FeatureNames {
        /// Number of names given.
        names: usize,
        /// Number of features.
        n_features: usize,
    },
    /// Base values of the wrong length.
    #[error("{got} base values; expected {expected}")]
    BaseValues {
        /// Number given.
        got: usize,
        /// Number expected.
        expected: usize,
    },
    /// A non-finite base value.
    #[error("base value {0} is not finite")]
    BaseValueNotFinite(String),
    /// The aggregation does not fit the task.
    #[error("{0}")]
    Aggregation(String),
    /// A tree-level invariant failed.
    #[error("tree {tree}: {problem}")]
    Tree {
        /// Tree index.
        tree: usize,
        /// What is wrong.
        problem: String,
    },
}

/// A prediction from [`Forest::predict`].
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Predicted class index per row (empty for regression).
    pub labels: Vec<usize>,
    /// Class probabilities (classification) or target values (regression), rows × outputs.
    pub values: Array2<f64>,
}

impl Forest {
    /// Number of classes (classification) or targets (regression).
    pub fn n_outputs(&self) -> usize {
        match &self.task {
            Task::Classification(labels) => labels.len(),
            Task::Regression { n_targets } => *n_targets,
        }
    }

    /// Class labels, when this is a classifier.
    pub fn class_labels(&self) -> Option<&ClassLabels> {
        match &self.task {
            Task::Classification(labels) => Some(labels),
            Task::Regression { .. } => None,
        }
    }

    /// Number of values each node holds in [`Tree::value`].
    pub fn leaf_width(&self) -> usize {
        match &self.aggregation {
            Aggregation::Vote => 1,
            Aggregation::Average => self.n_outputs(),
            Aggregation::Sum { base_values, .. } => base_values.len(),
        }
    }

    /// Total number of nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.trees.iter().map(Tree::n_nodes).sum()
    }

    /// Total number of leaves over all trees.
    pub fn n_leaves(&self) -> usize {
        self.trees.iter().map(Tree::n_leaves).sum()
    }

    /// Depth of the deepest tree.
    pub fn max_depth(&self) -> usize {
        self.trees.iter().map(Tree::depth).max().unwrap_or(0)
    }

    /// Verify every invariant the rest of the crate relies on.
    pub fn check(&self) -> Result<(), ForestError> {
        if self.trees.is_empty() {
            return Err(ForestError::NoTrees);
        }
        if self.n_features == 0 {
            return Err(ForestError::NoFeatures);
        }
        if self.n_outputs() == 0 {
            return Err(ForestError::NoOutputs);
        }
        if let Some(labels) = self.class_labels() {
            if let Some(dup) = labels.first_duplicate() {
                return Err(ForestError::DuplicateLabel(dup));
            }
        }
        if let Some(names) = &self.feature_names {
            if names.len() != self.n_features {
                return Err(ForestError::FeatureNames {
                    names: names.len(),
                    n_features: self.n_features,
                });
            }
        }
        self.check_aggregation()?;
        for (i, tree) in self.trees.iter().enumerate() {
            self.check_tree(tree)
                .map_err(|problem| ForestError::Tree { tree: i, problem })?;
        }
        Ok(())
    }

    fn check_aggregation(&self) -> Result<(), ForestError> {
        let n_out = self.n_outputs();
        match (&self.aggregation, &self.task) {
            (Aggregation::Vote, Task::Regression { .. }) => Err(ForestError::Aggregation(
                "hard voting needs a classification task".into(),
            )),
            (
                Aggregation::Sum {
                    base_values,
                    post_transform,
                },
                task,
            ) => {
                let binary_logit =
                    matches!(task, Task::Classification(_)) && n_out == 2 && base_values.len() == 1;
                if base_values.len() != n_out && !binary_logit {
                    return Err(ForestError::BaseValues {
                        got: base_values.len(),
                        expected: n_out,
                    });
                }
                if let Some(&b) = base_values.iter().find(|b| !b.is_finite()) {
                    return Err(ForestError::BaseValueNotFinite(b.to_string()));
                }
                if matches!(task, Task::Regression { .. }) && *post_transform != PostTransform::None
                {
                    return Err(ForestError::Aggregation(
                        "a regression forest takes no post-transform".into(),
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Checks one tree; the error text names the first offending node.
    fn check_tree(&self, t: &Tree) -> Result<(), String> {
        let n = t.n_nodes();
        if n == 0 {
            return Err("has no nodes".into());
        }
        if n >= LEAF as usize {
            return Err(format!("has {n} nodes; at most {} are supported", LEAF - 1));
        }
        let width = self.leaf_width();
        for (name, len) in [
            ("threshold", t.threshold.len()),
            ("true_child", t.true_child.len()),
            ("false_child", t.false_child.len()),
            ("missing_true", t.missing_true.len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries for {n} nodes"));
            }
        }
        if t.value.len() != n * width {
            return Err(format!(
                "value has {} entries; expected {n} nodes × {width}",
                t.value.len()
            ));
        }
        // Children must come after their parent and have exactly one parent:
        // then every node is reachable from the root and there are no cycles.
        let mut has_parent = vec![false; n];
        for i in 0..n {
            let (tc, fc) = (t.true_child[i], t.false_child[i]);
            if (tc == LEAF) != (fc == LEAF) {
                return Err(format!("node {i} has one child; nodes need two or none"));
            }
            if tc == LEAF {
                self.check_leaf(t, i, width)?;
                continue;
            }
            for c in [tc, fc] {
                let c = c as usize;
                if c <= i || c >= n {
                    return Err(format!(
                        "node {i} has child {c}; children must be in {}..{n}",
                        i + 1
                    ));
                }
                if std::mem::replace(&mut has_parent[c], true) {
                    return Err(format!("node {c} has more than one parent"));
                }
            }
            if t.feature[i] as usize >= self.n_features {
                return Err(format!(
                    "node {i} splits on feature {}; the forest has {}",
                    t.feature[i], self.n_features
                ));
            }
            if t.threshold[i].is_nan() {
                return Err(format!("node {i} has a NaN threshold"));
            }
        }
        if let Some(orphan) = (1..n).find(|&i| !has_parent[i]) {
            return Err(format!("node {orphan} is not reachable from the root"));
        }
        Ok(())
    }

    fn check_leaf(&self, t: &Tree, i: usize, width: usize) -> Result<(), String> {
        let values = &t.value[i * width..(i + 1) * width];
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            return Err(format!("leaf {i} has a non-finite value {v}"));
        }
        if self.aggregation == Aggregation::Vote {
            let c = values[0];
            if c.fract() != 0.0 || c < 0.0 || c >= self.n_outputs() as f64 {
                return Err(format!(
                    "leaf {i} votes for class {c}; classes are 0..{}",
                    self.n_outputs()
                ));
            }
        }
        Ok(())
    }

    /// Reference prediction for `x` (rows × features), reproducing the source
    /// library's semantics. Call [`Forest::check`] first on untrusted forests.
    ///
    /// Rows are split into chunks predicted in parallel on rayon's current
    /// thread pool (wrap the call in a one-thread pool's `install` to stay on
    /// one thread); the result does not depend on the number of threads.
    ///
    /// Panics if `x` has fewer columns than [`Forest::n_features`]; use
    /// [`Forest::predict_checked`] for untrusted input.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Prediction {
        let n_rows = x.nrows();
        let n_out = self.n_outputs();
        assert!(
            x.ncols() >= self.n_features,
            "the forest reads {} features; the input has {} columns",
            self.n_features,
            x.ncols()
        );
        let mut values = Array2::<f64>::zeros((n_rows, n_out));
        let classifier = matches!(self.task, Task::Classification(_));
        let mut labels = vec![0usize; if classifier { n_rows } else { 0 }];
        if n_out == 0 {
            return Prediction { labels, values }; // only for unchecked forests
        }
        let out = values.as_slice_mut().expect("a fresh array is contiguous");
        let kernel = self.kernel();
        // One task per thread: the more rows go through a tree while it is
        // in cache, the better (on 6.8 M nodes, 50 k rows per task run twice
        // as fast as 4 k).
        let rows_per_task = n_rows
            .div_ceil(rayon::current_num_threads())
            .clamp(MIN_ROWS_PER_TASK, MAX_ROWS_PER_TASK);
        let chunk = |(i, out): (usize, &mut [f64]), labels: Option<&mut [usize]>| {
            let first = i * rows_per_task;
            let rows = first..(first + rows_per_task).min(n_rows);
            self.predict_chunk(kernel, x, rows, out, labels);
        };
        if classifier {
            out.par_chunks_mut(rows_per_task * n_out)
                .enumerate()
                .zip(labels.par_chunks_mut(rows_per_task))
                .for_each(|(out, labels)| chunk(out, Some(labels)));
        } else {
            out.par_chunks_mut(rows_per_task * n_out)
                .enumerate()
                .for_each(|out| chunk(out, None));
        }
        Prediction { labels, values }
    }

    /// The traversal loops specialised for this forest's comparison and for
    /// whether any node sends NaN to its true child.
    fn kernel(&self) -> Traversal {
        let missing = self.trees.iter().any(|t| t.missing_true.contains(&true));
        match (self.comparison, missing) {
            (Comparison::LessOrEqual, false) => Traversal {
                arrays: tree_leaves::<true, false>,
                packed: packed_leaves::<true, false, false>,
                packed_small: packed_leaves::<true, false, true>,
            },
            (Comparison::LessOrEqual, true) => Traversal {
                arrays: tree_leaves::<true, true>,
                packed: packed_leaves::<true, true, false>,
                packed_small: packed_leaves::<true, true, true>,
            },
            (Comparison::Less, false) => Traversal {
                arrays: tree_leaves::<false, false>,
                packed: packed_leaves::<false, false, false>,
                packed_small: packed_leaves::<false, false, true>,
            },
            (Comparison::Less, true) => Traversal {
                arrays: tree_leaves::<false, true>,
                packed: packed_leaves::<false, true, false>,
                packed_small: packed_leaves::<false, true, true>,
            },
        }
    }

    /// Predicts `rows` of `x` into `out` (rows × outputs) and `labels`.
    ///
    /// Tree by tree: all the chunk's rows go through one tree while its
    /// nodes are in cache, instead of each row pulling every tree through
    /// the cache. Each row still adds its trees' leaf values in tree order,
    /// so the sums are bit-identical to a row-by-row evaluation.
    fn predict_chunk(
        &self,
        kernel: Traversal,
        x: ArrayView2<'_, f64>,
        rows: std::ops::Range<usize>,
        out: &mut [f64],
        labels: Option<&mut [usize]>,
    ) {
        let n = rows.len();
        let n_out = self.n_outputs();
        let width = self.leaf_width();
        // Rows as one contiguous row-major slice: borrowed from a
        // standard-layout input, copied once otherwise.
        let stride = x.ncols();
        let part = x.slice(ndarray::s![rows, ..]);
        let copied;
        let data: &[f64] = match part.as_slice() {
            Some(s) => s,
            None => {
                copied = part.iter().copied().collect::<Vec<f64>>();
                &copied
            }
        };
        let score_width = width.max(n_out);
        let mut scores = vec![0.0; n * score_width];
        let mut leaves = vec![0u32; n];
        let mut packed = Vec::new();
        for tree in &self.trees {
            // Packing reads the tree once, sequentially, instead of missing
            // the cache at random while traversing: worth it when enough
            // rows go through the tree.
            if n * PACK_ROWS_PER_NODE >= tree.n_nodes() && pack(tree, stride, &mut packed) {
                let traverse = if packed.len() <= SMALL_TREE {
                    kernel.packed_small
                } else {
                    kernel.packed
                };
                traverse(&packed, data, stride, &mut leaves);
            } else {
                (kernel.arrays)(tree, data, stride, &mut leaves);
            }
            for (scores, &leaf) in scores.chunks_exact_mut(score_width).zip(&leaves) {
                let leaf = leaf as usize;
                let v = &tree.value[leaf * width..(leaf + 1) * width];
                match self.aggregation {
                    Aggregation::Vote => scores[v[0] as usize] += 1.0,
                    _ => scores.iter_mut().zip(v).for_each(|(s, v)| *s += v),
                }
            }
        }
        let mut labels = labels.into_iter().flatten();
        for (scores, out) in scores
            .chunks_exact(score_width)
            .zip(out.chunks_exact_mut(n_out))
        {
            if let (Some(label), Some(slot)) = (self.finish_row(scores, out), labels.next()) {
                *slot = label;
            }
        }
    }

    /// [`Forest::predict`] after checking the column count.
    pub fn predict_checked(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, ShapeError> {
        if x.ncols() != self.n_features {
            return Err(ShapeError {
                expected: self.n_features,
                got: x.ncols(),
            });
        }
        Ok(self.predict(x))
    }

    /// Turns one row's summed leaf values `scores` into its outputs `out`
    /// (length [`Forest::n_outputs`]); returns the class index for
    /// classifiers.
    fn finish_row(&self, scores: &[f64], out: &mut [f64]) -> Option<usize> {
        let width = self.leaf_width();
        let n_trees = self.trees.len() as f64;
        match &self.aggregation {
            Aggregation::Vote | Aggregation::Average => {
                out.iter_mut()
                    .zip(scores.iter())
                    .for_each(|(o, s)| *o = s / n_trees);
            }
            Aggregation::Sum {
                base_values,
                post_transform,
            } => {
                let raw: Vec<f64> = scores[..width]
                    .iter()
                    .zip(base_values)
                    .map(|(s, b)| s + b)
                    .collect();
                apply_post_transform(*post_transform, &raw, out);
            }
        }
        match self.task {
            // Vote ties are decided on the exact counts, which the
            // probabilities preserve; first maximum wins in every case.
            Task::Classification(_) => Some(first_argmax(out)),
            Task::Regression { .. } => None,
        }
    }
}

/// Fewest rows per parallel task of [`Forest::predict`]: smaller batches are
/// not worth a thread.
const MIN_ROWS_PER_TASK: usize = 256;

/// Most rows per parallel task of [`Forest::predict`], bounding the scratch
/// memory (about 40 bytes per row for 3 classes).
const MAX_ROWS_PER_TASK: usize = 1 << 20;

/// Rows traversed at once: independent traversals overlap their memory
/// latencies.
const LANES: usize = 8;

/// Trees of at most this many nodes (24 KiB packed) are traversed with
/// conditional moves, larger ones with branches.
const SMALL_TREE: usize = 1024;

/// A tree is packed ([`pack`]) when at least one row per this many nodes
/// goes through it (on 13.7 k-node trees packing breaks even at about 100
/// rows and doubles the speed from 500 rows on).
const PACK_ROWS_PER_NODE: usize = 64;

/// The traversal loops of one forest: on the tree's own arrays, or on its
/// packed copy.
#[derive(Clone, Copy)]
struct Traversal {
    arrays: fn(&Tree, &[f64], usize, &mut [u32]),
    packed: fn(&[PackedNode], &[f64], usize, &mut [u32]),
    /// For trees of at most [`SMALL_TREE`] nodes.
    packed_small: fn(&[PackedNode], &[f64], usize, &mut [u32]),
}

/// One node with everything a traversal step reads in one place (24 bytes:
/// one cache line or two, instead of four arrays).
#[derive(Clone, Copy, Debug, Default)]
struct PackedNode {
    threshold: f64,
    /// True child, or [`LEAF`].
    yes: u32,
    no: u32,
    feature: u32,
    missing_true: bool,
}

/// Copies `tree` into `packed`, same node ids. Returns false, leaving the
/// traversal to the arrays (which panic as documented), if a split reads a
/// feature beyond `stride` columns.
fn pack(tree: &Tree, stride: usize, packed: &mut Vec<PackedNode>) -> bool {
    packed.clear();
    packed.reserve(tree.n_nodes());
    let nodes = tree
        .true_child
        .iter()
        .zip(&tree.false_child)
        .zip(tree.feature.iter().zip(&tree.threshold))
        .zip(&tree.missing_true);
    let mut fits = true;
    for (((&yes, &no), (&feature, &threshold)), &missing_true) in nodes {
        fits &= yes == LEAF || (feature as usize) < stride;
        packed.push(PackedNode {
            threshold,
            yes,
            no,
            feature,
            missing_true,
        });
    }
    fits
}

/// [`tree_leaves`] on a packed tree whose features all fit in `stride`.
fn packed_leaves<const LEQ: bool, const MISSING: bool, const SMALL: bool>(
    nodes: &[PackedNode],
    rows: &[f64],
    stride: usize,
    leaves: &mut [u32],
) {
    let n = leaves.len();
    let mut row = [usize::MAX; LANES];
    let mut base = [0usize; LANES];
    let mut at = [0u32; LANES];
    let mut next = 0;
    for (lane_row, lane_base) in row.iter_mut().zip(&mut base).take(n) {
        *lane_row = next;
        *lane_base = next * stride;
        next += 1;
    }
    // Lanes without a first row never run; the others end idle on a leaf.
    let lanes = next;
    let mut active = lanes;
    while active > 0 {
        for lane in 0..lanes {
            let node = &nodes[at[lane] as usize];
            if node.yes == LEAF {
                let r = row[lane];
                if r == usize::MAX {
                    continue; // an idle lane
                }
                leaves[r] = at[lane];
                if next < n {
                    row[lane] = next;
                    base[lane] = next * stride;
                    at[lane] = 0;
                    next += 1;
                } else {
                    row[lane] = usize::MAX;
                    active -= 1;
                }
                continue;
            }
            let x = rows[base[lane] + node.feature as usize];
            let t = node.threshold;
            let mut goes_true = if LEQ { x <= t } else { x < t };
            if MISSING {
                goes_true |= x.is_nan() & node.missing_true;
            }
            at[lane] = if SMALL {
                // In a small tree every node is in L1: a mispredicted branch
                // costs more than waiting for the comparison.
                std::hint::select_unpredictable(goes_true, node.yes, node.no)
            } else {
                // Written so that the compiler emits a branch: measured 3×
                // faster on deep trees than the conditional move `if
                // goes_true { yes } else { no }` became here, because
                // speculation starts the lane's next node load (often a
                // cache miss) before the comparison resolves.
                let mask = u32::from(goes_true).wrapping_neg();
                node.no ^ ((node.yes ^ node.no) & mask)
            };
        }
    }
}

/// Writes to `leaves[r]` the leaf that row `r` of `rows` (row-major, `stride`
/// values per row) reaches in `tree`. `LEQ` selects `<=` (else `<`);
/// `MISSING` whether NaN may go to the true child.
///
/// Eight rows are in flight at a time; a lane that reaches a leaf takes the
/// next row, so the lanes' independent node loads overlap.
fn tree_leaves<const LEQ: bool, const MISSING: bool>(
    tree: &Tree,
    rows: &[f64],
    stride: usize,
    leaves: &mut [u32],
) {
    let n = leaves.len();
    let (true_child, false_child) = (&tree.true_child[..], &tree.false_child[..]);
    let (feature, threshold) = (&tree.feature[..], &tree.threshold[..]);
    let missing_true = &tree.missing_true[..];
    let mut row = [usize::MAX; LANES];
    let mut node = [0u32; LANES];
    let mut next = 0;
    let mut active = 0;
    for (lane_row, r) in row.iter_mut().zip(0..n) {
        *lane_row = r;
        next += 1;
        active += 1;
    }
    // Lanes without a first row never run; the others end idle on a leaf.
    let lanes = active;
    while active > 0 {
        for lane in 0..lanes {
            let at = node[lane] as usize;
            let yes = true_child[at];
            if yes == LEAF {
                let r = row[lane];
                if r == usize::MAX {
                    continue; // an idle lane
                }
                leaves[r] = at as u32;
                if next < n {
                    row[lane] = next;
                    node[lane] = 0;
                    next += 1;
                } else {
                    row[lane] = usize::MAX;
                    active -= 1;
                }
                continue;
            }
            // Both children are loaded before the comparison (measured 15 %
            // faster than loading the false child only when needed).
            let no = false_child[at];
            let f = feature[at] as usize;
            assert!(
                f < stride,
                "node {at} reads feature {f}; rows have {stride}"
            );
            let x = rows[row[lane] * stride + f];
            let t = threshold[at];
            let mut goes_true = if LEQ { x <= t } else { x < t };
            if MISSING {
                goes_true |= x.is_nan() & missing_true[at];
            }
            node[lane] = if goes_true { yes } else { no };
        }
    }
}

/// Input with the wrong number of columns.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the model takes {expected} features; the input has {got}")]
pub struct ShapeError {
    /// Features the model takes.
    pub expected: usize,
    /// Columns given.
    pub got: usize,
}

fn apply_post_transform(transform: PostTransform, raw: &[f64], out: &mut [f64]) {
    let sigmoid = |s: f64| 1.0 / (1.0 + (-s).exp());
    match transform {
        PostTransform::None if raw.len() == 1 && out.len() == 2 => {
            out[1] = raw[0];
            out[0] = -raw[0];
        }
        PostTransform::None => out.copy_from_slice(raw),
        PostTransform::Logistic if raw.len() == 1 && out.len() == 2 => {
            out[1] = sigmoid(raw[0]);
            out[0] = 1.0 - out[1];
        }
        PostTransform::Logistic => out.iter_mut().zip(raw).for_each(|(o, s)| *o = sigmoid(*s)),
        PostTransform::Softmax => {
            let max = raw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for (o, s) in out.iter_mut().zip(raw) {
                *o = (s - max).exp();
                sum += *o;
            }
            out.iter_mut().for_each(|o| *o /= sum);
        }
    }
}

/// Index of the first maximum (NaN never wins).
pub fn first_argmax(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate().skip(1) {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// x0 <= 0.5 ? class 0 : class 1, as a one-tree vote forest.
    pub(crate) fn stump() -> Forest {
        Forest {
            n_features: 1,
            feature_names: None,
            comparison: Comparison::LessOrEqual,
            task: Task::Classification(ClassLabels::Int(vec![10, 20])),
            aggregation: Aggregation::Vote,
            trees: vec![Tree {
                feature: vec![0, 0, 0],
                threshold: vec![0.5, 0.0, 0.0],
                true_child: vec![1, LEAF, LEAF],
                false_child: vec![2, LEAF, LEAF],
                missing_true: vec![false; 3],
                value: vec![0.0, 0.0, 1.0],
            }],
            source: Source::default(),
        }
    }

    #[test]
    fn stump_predicts_both_sides_and_nan_goes_false() {
        let f = stump();
        f.check().unwrap();
        let p = f.predict(array![[0.5], [0.50001], [f64::NAN], [f64::NEG_INFINITY]].view());
        assert_eq!(p.labels, vec![0, 1, 1, 0]);
        assert_eq!(p.values.row(0).to_vec(), vec![1.0, 0.0]);
    }

    #[test]
    fn check_rejects_cycles_bad_children_and_features() {
        let mut f = stump();
        f.trees[0].true_child[0] = 0;
        assert!(matches!(f.check(), Err(ForestError::Tree { .. })));
        let mut f = stump();
        f.trees[0].false_child[0] = 1;
        assert!(f
            .check()
            .unwrap_err()
            .to_string()
            .contains("more than one parent"));
        let mut f = stump();
        f.trees[0].feature[0] = 3;
        assert!(f.check().unwrap_err().to_string().contains("feature 3"));
        let mut f = stump();
        f.trees[0].value[2] = 2.0;
        assert!(f
            .check()
            .unwrap_err()
            .to_string()
            .contains("votes for class 2"));
        let mut f = stump();
        f.task = Task::Classification(ClassLabels::Int(vec![1, 1]));
        assert_eq!(f.check(), Err(ForestError::DuplicateLabel("1".into())));
        let mut f = stump();
        f.trees[0].threshold.pop();
        assert!(f.check().is_err());
    }

    #[test]
    fn vote_ties_go_to_lowest_class() {
        let mut f = stump();
        let mut flipped = f.trees[0].clone();
        flipped.value = vec![0.0, 1.0, 0.0];
        f.trees.push(flipped);
        let p = f.predict(array![[0.0], [1.0]].view());
        assert_eq!(p.labels, vec![0, 0]);
        assert_eq!(p.values.row(0).to_vec(), vec![0.5, 0.5]);
    }

    #[test]
    fn depth_counts_edges() {
        assert_eq!(stump().trees[0].depth(), 1);
    }

    /// The straightforward row-by-row evaluation `predict` must match bit
    /// for bit.
    fn row_by_row(forest: &Forest, x: ArrayView2<'_, f64>) -> Prediction {
        let n_out = forest.n_outputs();
        let width = forest.leaf_width();
        let mut values = Array2::zeros((x.nrows(), n_out));
        let mut labels = Vec::new();
        for (r, row) in x.rows().into_iter().enumerate() {
            let row = row.to_vec();
            let mut scores = vec![0.0; width.max(n_out)];
            for tree in &forest.trees {
                let leaf = tree.leaf_for(&row, forest.comparison);
                let v = &tree.value[leaf * width..(leaf + 1) * width];
                match forest.aggregation {
                    Aggregation::Vote => scores[v[0] as usize] += 1.0,
                    _ => scores.iter_mut().zip(v).for_each(|(s, v)| *s += v),
                }
            }
            let mut out = vec![0.0; n_out];
            if let Some(label) = forest.finish_row(&scores, &mut out) {
                labels.push(label);
            }
            values.row_mut(r).assign(&ndarray::Array1::from(out));
        }
        Prediction { labels, values }
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
                comparison: Comparison::Less,
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
                let expected = row_by_row(&forest, view);
                for threads in [1, 3] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let got = pool.install(|| forest.predict(view));
                    assert_eq!(got.labels, expected.labels);
                    assert!(
                        got.values
                            .iter()
                            .zip(expected.values.iter())
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "values differ ({threads} threads)"
                    );
                }
            }
        }
    }
}
