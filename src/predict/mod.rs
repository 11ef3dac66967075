//! The reference evaluation of a [`Forest`]: [`Forest::predict`] reproduces
//! the source library's predictions, and every runtime is compared with it.
//!
//! Rows are read as the source library reads them ([`InputRules`]), routed
//! through every tree by the traversal kernels of [`traverse`] (shared with
//! forest2onnx's tract operator), and the leaf values combined as the
//! forest's [`Aggregation`] says.

pub mod bitvector;
pub mod traverse;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::ir::{
    Aggregation, CategoryRule, Forest, InputRules, PostTransform, Precision, Task, ZERO_THRESHOLD,
};
use bitvector::{BitForest, BLOCK};
use traverse::{rows_per_task, Kernels, PackedTree, LANES};

/// What [`Forest::predict`] returns for a batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Per row, the index into [`Forest::output_labels`] of the predicted
    /// label: the class of a classifier, 0 (outlier) or 1 (inlier) for an
    /// anomaly detector. Empty for regressors.
    pub classes: Vec<usize>,
    /// Rows × [`Forest::n_outputs`]: class probabilities, target values, or
    /// `score_samples` and `decision_function` of an anomaly detector.
    pub values: Array2<f64>,
    /// Rows × [`Forest::score_width`]: the raw scores (summed leaf values
    /// plus base values, before the post-transform) of a summed forest; the
    /// margin or `decision_function` of boosted models. `None` for voting
    /// and averaging forests.
    pub raw: Option<Array2<f64>>,
}

/// Which traversal kernel [`Forest::predict_with`] routes rows with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernel {
    /// The fastest for the forest and batch: the bit-vector kernel for
    /// trees it can evaluate when the batch fills a few blocks (64 rows),
    /// the walk for the others.
    #[default]
    Auto,
    /// Every tree walked node by node ([`traverse`]).
    Walk,
    /// The bit-vector kernel ([`bitvector`]) for every tree it can evaluate
    /// (at most 64 leaves, no categorical split), whatever the batch; the
    /// walk for the others.
    BitVector,
}

/// Input with the wrong number of columns.
#[derive(Clone, Copy, Debug, thiserror::Error, PartialEq, Eq)]
#[error("the model takes {expected} features; the input has {got}")]
pub struct ShapeError {
    /// Features the model takes.
    pub expected: usize,
    /// Columns given.
    pub got: usize,
}

impl Forest {
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
        self.predict_with(x, Kernel::Auto)
    }

    /// [`Forest::predict`] with the traversal kernel chosen by `kernel`
    /// (for benchmarks and tests: every kernel gives the same result, bit
    /// for bit).
    pub fn predict_with(&self, x: ArrayView2<'_, f64>, kernel: Kernel) -> Prediction {
        let n_rows = x.nrows();
        let n_out = self.n_outputs();
        assert!(
            x.ncols() >= self.n_features,
            "the forest reads {} features; the input has {} columns",
            self.n_features,
            x.ncols()
        );
        let width = self.score_width();
        let summed = matches!(self.aggregation, Aggregation::Sum { .. });
        let with_classes = self.output_labels().is_some();
        let mut values = Vec::with_capacity(n_rows * n_out);
        let mut classes = Vec::with_capacity(if with_classes { n_rows } else { 0 });
        let mut raw = Vec::with_capacity(if summed { n_rows * width } else { 0 });
        if n_out > 0 && width > 0 {
            // (Both are positive on checked forests.)
            let plan = Plan::new(self, n_rows, x.ncols(), kernel);
            let per_task = rows_per_task(n_rows);
            let chunk = |i: usize| {
                let first = i * per_task;
                plan.predict_chunk(x, first..(first + per_task).min(n_rows))
            };
            let n_chunks = n_rows.div_ceil(per_task);
            // One chunk (small batches, one row when serving) stays on the
            // calling thread: waking a pool thread costs more than the rows.
            let chunks: Vec<Chunk> = if n_chunks == 1 {
                vec![chunk(0)]
            } else {
                (0..n_chunks).into_par_iter().map(chunk).collect()
            };
            for chunk in chunks {
                values.extend_from_slice(&chunk.values);
                if with_classes {
                    classes.extend_from_slice(&chunk.classes);
                }
                if summed {
                    raw.extend_from_slice(&chunk.scores);
                }
            }
        } else {
            values.resize(n_rows * n_out, 0.0);
        }
        Prediction {
            classes,
            values: Array2::from_shape_vec((n_rows, n_out), values)
                .expect("one row of outputs per input row"),
            raw: summed.then(|| {
                Array2::from_shape_vec((n_rows, width), raw)
                    .expect("one row of scores per input row")
            }),
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

    /// Turns one row's raw `scores` (summed leaf values, or votes; for
    /// summed forests the base values plus the leaf values) into its outputs
    /// `out` (length [`Forest::n_outputs`]); returns the label index for
    /// classifiers and anomaly detectors.
    fn finish_row(&self, scores: &mut [f64], out: &mut [f64]) -> Option<usize> {
        let n_trees = self.trees.len() as f64;
        match &self.aggregation {
            Aggregation::Vote | Aggregation::Average => {
                out.iter_mut()
                    .zip(scores.iter())
                    .for_each(|(o, s)| *o = s / n_trees);
            }
            Aggregation::Sum { post_transform, .. } => {
                apply_post_transform(*post_transform, scores, out);
            }
        }
        match &self.task {
            // Vote ties are decided on the exact counts, which the
            // probabilities preserve; first maximum wins in every case.
            Task::Classification(_) => Some(first_argmax(out)),
            Task::AnomalyDetection { offset } => {
                out[1] = out[0] - offset;
                Some(usize::from(out[1] >= 0.0))
            }
            Task::Regression { .. } => None,
        }
    }
}

/// Everything [`Forest::predict`] prepares once per call.
struct Plan<'f> {
    forest: &'f Forest,
    kernels: Kernels,
    /// Inputs need rewriting before routing (float32 rounding,
    /// zero-as-missing).
    rewrite: bool,
    /// The trees of at most 64 leaves, for the bit-vector kernel.
    bits: BitForest,
    /// Per tree, its index in `bits`, if packed there.
    in_bits: Vec<Option<usize>>,
    /// For summed forests with one value per leaf: the value of each leaf
    /// of `bits`, by position, so that adding it reads one array.
    bit_values: Option<Vec<f64>>,
}

impl<'f> Plan<'f> {
    /// The plan for `n_rows` rows of `stride` columns.
    fn new(forest: &'f Forest, n_rows: usize, stride: usize, kernel: Kernel) -> Plan<'f> {
        // The kernels that never send NaN to a true child are only faster;
        // for a few rows the scan for such nodes would cost more than it
        // saves.
        let any_missing =
            n_rows < LANES || forest.trees.iter().any(|t| t.missing_true.contains(&true));
        let mut bits = BitForest::new(forest.split_op);
        // Packing a tree costs about what walking ten rows through it
        // costs: worth it from a few blocks of rows on.
        let use_bits = match kernel {
            Kernel::Auto => n_rows >= 4 * BLOCK,
            Kernel::Walk => false,
            Kernel::BitVector => true,
        };
        let in_bits = if use_bits {
            forest.trees.iter().map(|t| bits.push(t, stride)).collect()
        } else {
            vec![None; forest.trees.len()]
        };
        let summed = matches!(forest.aggregation, Aggregation::Sum { .. });
        let bit_values = (summed && forest.leaf_width() == 1 && !bits.is_empty()).then(|| {
            let mut values = vec![0.0; bits.n_leaves()];
            for (tree, k) in forest.trees.iter().zip(&in_bits) {
                for p in k.map_or(0..0, |k| bits.leaf_range(k)) {
                    values[p] = tree.leaf_values(bits.leaf_node(p as u32) as usize, 1)[0];
                }
            }
            values
        });
        Plan {
            bit_values,
            forest,
            kernels: Kernels::new(forest.split_op, any_missing, forest.input.categories),
            rewrite: forest.input.precision == Precision::F32
                || !forest.input.zero_as_missing.is_empty(),
            bits,
            in_bits,
        }
    }

    /// Adds the value of leaf `leaf` of tree `t` to one row's `scores`.
    #[inline(always)]
    fn add_leaf(&self, t: usize, leaf: u32, scores: &mut [f64]) {
        let forest = self.forest;
        let leaf_width = forest.leaf_width();
        let leaf = leaf as usize;
        let v = forest.trees[t].leaf_values(leaf, leaf_width);
        match (&forest.aggregation, forest.tree_target(t)) {
            (Aggregation::Vote, _) => scores[v[0] as usize] += 1.0,
            (_, Some(k)) => scores[k as usize] += v[0],
            _ => scores.iter_mut().zip(v).for_each(|(s, v)| *s += v),
        }
    }

    /// Predicts `rows` of `x`: a few rows one at a time through every tree
    /// ([`Plan::few_rows`]), more a tree at a time ([`Plan::many_rows`]).
    /// Each row adds its trees' leaf values in tree order either way, so
    /// the sums are bit-identical to a row-by-row evaluation.
    fn predict_chunk(&self, x: ArrayView2<'_, f64>, rows: std::ops::Range<usize>) -> Chunk {
        let forest = self.forest;
        let n = rows.len();
        let n_out = forest.n_outputs();
        let width = forest.score_width();
        // Rows as one contiguous row-major slice, read as the source library
        // reads them: borrowed from a standard-layout input when nothing
        // needs rewriting, copied once otherwise.
        let stride = x.ncols();
        let part = x.slice(ndarray::s![rows, ..]);
        let copied;
        let data: &[f64] = match part.as_slice() {
            Some(s) if !self.rewrite => s,
            _ => {
                let mut v: Vec<f64> = part.iter().copied().collect();
                read_inputs(&forest.input, &mut v, stride);
                copied = v;
                &copied
            }
        };
        // Summed forests start from their base values and add the trees in
        // order, as boosting libraries do (scikit-learn's `_raw_predict`,
        // XGBoost's base margin): the same additions in the same order give
        // the library's raw scores to the bit.
        let mut scores = match &forest.aggregation {
            Aggregation::Sum { base_values, .. } => base_values.repeat(n),
            _ => vec![0.0; n * width],
        };
        if n < LANES {
            self.few_rows(data, stride, &mut scores);
        } else {
            self.many_rows(data, n, stride, &mut scores);
        }
        let mut values = vec![0.0; n * n_out];
        let mut classes = Vec::with_capacity(n);
        for (scores, out) in scores
            .chunks_exact_mut(width)
            .zip(values.chunks_exact_mut(n_out))
        {
            classes.extend(forest.finish_row(scores, out));
        }
        Chunk {
            values,
            classes,
            scores,
        }
    }

    /// Adds the leaf values of every tree to the `scores` of a few rows
    /// (fewer than [`LANES`]: the serving case), one row at a time with
    /// several trees in flight, then in tree order.
    fn few_rows(&self, data: &[f64], stride: usize, scores: &mut [f64]) {
        let trees = &self.forest.trees;
        let width = self.forest.score_width();
        let mut leaves = vec![0u32; trees.len()];
        let mut packed = PackedTree::default();
        for (r, row_scores) in scores.chunks_exact_mut(width).enumerate() {
            let row = &data[r * stride..(r + 1) * stride];
            let mut t = 0;
            while t < trees.len() {
                if !trees[t].categories.is_empty() {
                    let one = &mut leaves[t..t + 1];
                    self.kernels
                        .leaves(&trees[t], &mut packed, row, stride, one);
                    t += 1;
                    continue;
                }
                let end = (t..trees.len())
                    .find(|&u| !trees[u].categories.is_empty())
                    .unwrap_or(trees.len());
                self.kernels
                    .leaves_across(&trees[t..end], row, &mut leaves[t..end]);
                t = end;
            }
            for (t, &leaf) in leaves.iter().enumerate() {
                self.add_leaf(t, leaf, row_scores);
            }
        }
    }

    /// Adds the leaf values of every tree to the `scores` of the `n` rows
    /// of `data`. Small trees go through the bit-vector kernel a block of rows
    /// at a time (each block through a run of consecutive small trees);
    /// other trees one at a time: all the rows go through one tree while its
    /// nodes are in cache, instead of each row pulling every tree through
    /// the cache.
    fn many_rows(&self, data: &[f64], n: usize, stride: usize, scores: &mut [f64]) {
        let forest = self.forest;
        let width = forest.score_width();
        let mut leaves = vec![0u32; n];
        let mut packed = PackedTree::default();
        let mut t = 0;
        while t < forest.trees.len() {
            if self.in_bits[t].is_some() {
                let end = (t..forest.trees.len())
                    .find(|&u| self.in_bits[u].is_none())
                    .unwrap_or(forest.trees.len());
                self.bit_run(t..end, data, n, stride, scores);
                t = end;
                continue;
            }
            let tree = &forest.trees[t];
            self.kernels
                .leaves(tree, &mut packed, data, stride, &mut leaves);
            for (scores, &leaf) in scores.chunks_exact_mut(width).zip(&leaves) {
                self.add_leaf(t, leaf, scores);
            }
            t += 1;
        }
    }

    /// Adds the leaf values of `trees` (all in the bit-vector kernel) to the
    /// `scores` of the `n` rows of `data`.
    fn bit_run(
        &self,
        trees: std::ops::Range<usize>,
        data: &[f64],
        n: usize,
        stride: usize,
        scores: &mut [f64],
    ) {
        let width = self.forest.score_width();
        let packed = |t: usize| self.in_bits[t].expect("a tree of the run");
        let add = |t: usize, first: usize, leaves: &[u32]| {
            let rows = scores[first * width..].chunks_exact_mut(width);
            if let Some(values) = &self.bit_values {
                let k = self.forest.tree_target(t).unwrap_or(0) as usize;
                for (row, &p) in rows.zip(leaves) {
                    row[k] += values[p as usize];
                }
            } else {
                for (row, &p) in rows.zip(leaves) {
                    self.add_leaf(t, self.bits.leaf_node(p), row);
                }
            }
        };
        self.bits.each_leaf(trees, packed, data, n, stride, add);
    }
}

/// The results of one chunk of rows.
struct Chunk {
    values: Vec<f64>,
    classes: Vec<usize>,
    /// Raw scores (with base values added, for summed forests).
    scores: Vec<f64>,
}

/// Rewrites row-major `rows` (`stride` values each) in place as the source
/// library reads them before routing: rounded to float32, and values in the
/// zero band of zero-as-missing features replaced by NaN.
pub fn read_inputs(rules: &InputRules, rows: &mut [f64], stride: usize) {
    if rules.precision == Precision::F32 {
        rows.iter_mut().for_each(|v| *v = f64::from(*v as f32));
    }
    if rules.zero_as_missing.is_empty() || stride == 0 {
        return;
    }
    for row in rows.chunks_exact_mut(stride) {
        for &f in &rules.zero_as_missing {
            if let Some(v) = row.get_mut(f as usize) {
                if v.abs() <= ZERO_THRESHOLD {
                    *v = f64::NAN;
                }
            }
        }
    }
}

/// The category a categorical split reads from the non-NaN value `x`, or
/// `None` when `x` is no category (negative, infinite, beyond
/// [`crate::ir::MAX_CATEGORY`], or fractional under
/// [`CategoryRule::Integral`]).
#[inline]
pub fn category_of(x: f64, rule: CategoryRule) -> Option<u32> {
    let c = match rule {
        CategoryRule::NonNegative if x < 0.0 => return None,
        CategoryRule::Integral if x.fract() != 0.0 => return None,
        _ => x.trunc(),
    };
    // -0.0 (from -0.5 under TowardZero) is category 0.
    (c >= 0.0 && c <= f64::from(crate::ir::MAX_CATEGORY)).then_some(c as u32)
}

/// Applies `transform` to the raw `scores`, writing the outputs to `out`.
fn apply_post_transform(transform: PostTransform, scores: &[f64], out: &mut [f64]) {
    let sigmoid = |s: f64| 1.0 / (1.0 + (-s).exp());
    match transform {
        PostTransform::None if scores.len() == 1 && out.len() == 2 => {
            out[1] = scores[0];
            out[0] = -scores[0];
        }
        PostTransform::None => out.copy_from_slice(scores),
        PostTransform::Logistic if scores.len() == 1 && out.len() == 2 => {
            out[1] = sigmoid(scores[0]);
            out[0] = 1.0 - out[1];
        }
        PostTransform::Logistic => out
            .iter_mut()
            .zip(scores)
            .for_each(|(o, s)| *o = sigmoid(*s)),
        PostTransform::Exp => out.iter_mut().zip(scores).for_each(|(o, s)| *o = s.exp()),
        PostTransform::SignedSquare => out
            .iter_mut()
            .zip(scores)
            .for_each(|(o, s)| *o = s * s.abs()),
        PostTransform::Softplus => out
            .iter_mut()
            .zip(scores)
            .for_each(|(o, s)| *o = s.exp().ln_1p()),
        PostTransform::Step => out
            .iter_mut()
            .zip(scores)
            .for_each(|(o, s)| *o = if *s > 0.0 { 1.0 } else { 0.0 }),
        PostTransform::Softmax => {
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for (o, s) in out.iter_mut().zip(scores) {
                *o = (s - max).exp();
                sum += *o;
            }
            out.iter_mut().for_each(|o| *o /= sum);
        }
        PostTransform::IsolationScore { normalizer } => {
            let ratio = if normalizer == 0.0 {
                1.0
            } else {
                scores[0] / normalizer
            };
            out[0] = -(2f64.powf(-ratio));
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
mod tests;
