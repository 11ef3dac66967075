//! A compiled ONNX `TreeEnsembleClassifier` / `TreeEnsembleRegressor`,
//! evaluated as onnxruntime does, linear in the forest size.
//!
//! Written from the ONNX operator specification; where the specification is
//! silent (two-class models with one score, base values, ties) it follows
//! onnxruntime's documented behaviour so that both runtimes agree on files
//! written by any converter. Attributes come from untrusted files: every id
//! is checked and cycles are rejected at compile time, so evaluation cannot
//! index out of bounds or loop.

/// A branch comparison of the ONNX tree-ensemble ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `x <= t`
    Leq,
    /// `x < t`
    Lt,
    /// `x >= t`
    Gte,
    /// `x > t`
    Gt,
    /// `x == t`
    Eq,
    /// `x != t`
    Neq,
    /// A leaf.
    Leaf,
}

impl Mode {
    /// Parse an ONNX `nodes_modes` entry.
    pub fn parse(s: &str) -> Result<Mode, String> {
        Ok(match s {
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            "LEAF" => Mode::Leaf,
            other => return Err(format!("unknown node mode {other:?}")),
        })
    }
}

/// Post-transform of the ONNX tree-ensemble ops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Post {
    /// No transform.
    None,
    /// Logistic sigmoid.
    Logistic,
    /// Softmax.
    Softmax,
    /// Softmax over the non-zero scores; zeros stay zero.
    SoftmaxZero,
    /// Probit (inverse normal CDF), for one score.
    Probit,
}

impl Post {
    /// Parse an ONNX `post_transform` value.
    pub fn parse(s: &str) -> Result<Post, String> {
        Ok(match s {
            "NONE" => Post::None,
            "LOGISTIC" => Post::Logistic,
            "SOFTMAX" => Post::Softmax,
            "SOFTMAX_ZERO" => Post::SoftmaxZero,
            "PROBIT" => Post::Probit,
            other => return Err(format!("unknown post_transform {other:?}")),
        })
    }
}

/// How a regressor combines tree outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum.
    Sum,
    /// Mean over trees.
    Average,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

impl Aggregate {
    /// Parse an ONNX `aggregate_function` value.
    pub fn parse(s: &str) -> Result<Aggregate, String> {
        Ok(match s {
            "SUM" => Aggregate::Sum,
            "AVERAGE" => Aggregate::Average,
            "MIN" => Aggregate::Min,
            "MAX" => Aggregate::Max,
            other => return Err(format!("unknown aggregate_function {other:?}")),
        })
    }
}

/// The raw attributes of a tree-ensemble node, as read from the file.
#[derive(Clone, Debug, Default)]
pub struct Attributes {
    /// `nodes_treeids`
    pub tree_ids: Vec<i64>,
    /// `nodes_nodeids`
    pub node_ids: Vec<i64>,
    /// `nodes_featureids`
    pub feature_ids: Vec<i64>,
    /// `nodes_modes`
    pub modes: Vec<Mode>,
    /// `nodes_values` (or `nodes_values_as_tensor`)
    pub values: Vec<f64>,
    /// `nodes_truenodeids`
    pub true_ids: Vec<i64>,
    /// `nodes_falsenodeids`
    pub false_ids: Vec<i64>,
    /// `nodes_missing_value_tracks_true` (empty = all false)
    pub missing_true: Vec<i64>,
    /// `class_treeids` / `target_treeids`
    pub leaf_tree_ids: Vec<i64>,
    /// `class_nodeids` / `target_nodeids`
    pub leaf_node_ids: Vec<i64>,
    /// `class_ids` / `target_ids`
    pub leaf_targets: Vec<i64>,
    /// `class_weights` / `target_weights`
    pub leaf_weights: Vec<f64>,
    /// `base_values` (empty = none)
    pub base_values: Vec<f64>,
    /// `post_transform`
    pub post: Option<Post>,
    /// `aggregate_function` (regressor only)
    pub aggregate: Option<Aggregate>,
    /// Number of classes (classifier) or `n_targets` (regressor).
    pub n_outputs: usize,
    /// Whether this is a classifier.
    pub classifier: bool,
}

/// [`Attributes`] borrowed from wherever they were parsed, so that compiling
/// a multi-million-node ensemble does not copy its arrays first.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttributesRef<'a> {
    /// `nodes_treeids`
    pub tree_ids: &'a [i64],
    /// `nodes_nodeids`
    pub node_ids: &'a [i64],
    /// `nodes_featureids`
    pub feature_ids: &'a [i64],
    /// `nodes_modes`
    pub modes: &'a [Mode],
    /// `nodes_values` (or `nodes_values_as_tensor`)
    pub values: &'a [f64],
    /// `nodes_truenodeids`
    pub true_ids: &'a [i64],
    /// `nodes_falsenodeids`
    pub false_ids: &'a [i64],
    /// `nodes_missing_value_tracks_true` (empty = all false)
    pub missing_true: &'a [i64],
    /// `class_treeids` / `target_treeids`
    pub leaf_tree_ids: &'a [i64],
    /// `class_nodeids` / `target_nodeids`
    pub leaf_node_ids: &'a [i64],
    /// `class_ids` / `target_ids`
    pub leaf_targets: &'a [i64],
    /// `class_weights` / `target_weights`
    pub leaf_weights: &'a [f64],
    /// `base_values` (empty = none)
    pub base_values: &'a [f64],
    /// `post_transform`
    pub post: Option<Post>,
    /// `aggregate_function` (regressor only)
    pub aggregate: Option<Aggregate>,
    /// Number of classes (classifier) or `n_targets` (regressor).
    pub n_outputs: usize,
    /// Whether this is a classifier.
    pub classifier: bool,
}

impl Attributes {
    /// The attributes as borrowed slices.
    pub fn borrow(&self) -> AttributesRef<'_> {
        AttributesRef {
            tree_ids: &self.tree_ids,
            node_ids: &self.node_ids,
            feature_ids: &self.feature_ids,
            modes: &self.modes,
            values: &self.values,
            true_ids: &self.true_ids,
            false_ids: &self.false_ids,
            missing_true: &self.missing_true,
            leaf_tree_ids: &self.leaf_tree_ids,
            leaf_node_ids: &self.leaf_node_ids,
            leaf_targets: &self.leaf_targets,
            leaf_weights: &self.leaf_weights,
            base_values: &self.base_values,
            post: self.post,
            aggregate: self.aggregate,
            n_outputs: self.n_outputs,
            classifier: self.classifier,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Internal: true child; leaf: first weight.
    a: u32,
    /// Internal: false child; leaf: one past the last weight.
    b: u32,
    mode: Mode,
    missing_true: bool,
}

/// A validated, flattened tree ensemble.
#[derive(Clone, Debug)]
pub struct Ensemble {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    weight_target: Vec<u32>,
    weight_value: Vec<f64>,
    base_values: Vec<f64>,
    post: Post,
    aggregate: Aggregate,
    n_outputs: usize,
    /// Smallest input width the ensemble can read.
    pub n_features: usize,
    classifier: bool,
    /// onnxruntime's one-score path: two classes, one class id used.
    binary_case: bool,
    weights_all_positive: bool,
    /// The traversal loop for this ensemble's branch modes.
    kernel: Kernel,
}

/// Writes to `leaves[r]` the position of the leaf row `r` reaches from `root`.
type Kernel = fn(nodes: &[Node], root: u32, rows: &[f64], width: usize, leaves: &mut [u32]);

/// Branch modes of the specialised traversal loops ([`leaves`]).
const LEQ: u8 = 0;
const LT: u8 = 1;
const GTE: u8 = 2;
const GT: u8 = 3;
/// Any mix of modes, read per node.
const ANY: u8 = 4;

/// Per-row result of [`Ensemble::eval_row`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLabel {
    /// Index into the class labels.
    Class(usize),
    /// A regressor has no label.
    None,
}

impl Ensemble {
    /// Validate and compile attributes.
    pub fn compile(a: Attributes) -> Result<Ensemble, String> {
        Self::compile_ref(&a.borrow())
    }

    /// Validate and compile borrowed attributes.
    ///
    /// Files list nodes tree by tree in id order, with ids `0..n` (skl2onnx,
    /// forest2onnx, onnxmltools): then nothing is sorted and every child
    /// lookup is an addition. Other layouts are sorted first and looked up
    /// by binary search. Either way memory stays a few bytes per node beyond
    /// the compiled ensemble, and time linear or `n log n`.
    pub fn compile_ref(a: &AttributesRef<'_>) -> Result<Ensemble, String> {
        let n = a.node_ids.len();
        for (name, len) in [
            ("nodes_treeids", a.tree_ids.len()),
            ("nodes_featureids", a.feature_ids.len()),
            ("nodes_modes", a.modes.len()),
            ("nodes_values", a.values.len()),
            ("nodes_truenodeids", a.true_ids.len()),
            ("nodes_falsenodeids", a.false_ids.len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries; nodes_nodeids has {n}"));
            }
        }
        if !a.missing_true.is_empty() && a.missing_true.len() != n {
            return Err("nodes_missing_value_tracks_true has the wrong length".into());
        }
        let nw = a.leaf_node_ids.len();
        if a.leaf_tree_ids.len() != nw || a.leaf_targets.len() != nw || a.leaf_weights.len() != nw {
            return Err("leaf tree ids, node ids, targets and weights differ in length".into());
        }
        if n == 0 {
            return Err("the ensemble has no nodes".into());
        }
        if n >= u32::MAX as usize || nw >= u32::MAX as usize {
            return Err("the ensemble has too many nodes".into());
        }
        if a.n_outputs == 0 {
            return Err("the ensemble has no classes or targets".into());
        }
        if !a.base_values.is_empty()
            && a.base_values.len() != a.n_outputs
            && !(a.classifier && a.n_outputs == 2 && a.base_values.len() == 1)
        {
            return Err(format!(
                "{} base values for {} outputs",
                a.base_values.len(),
                a.n_outputs
            ));
        }

        // Positions: the nodes sorted by (tree, node) key.
        let key = |i: usize| (a.tree_ids[i], a.node_ids[i]);
        let order: Vec<u32> = if (1..n).all(|i| key(i - 1) < key(i)) {
            (0..n as u32).collect()
        } else {
            let mut order: Vec<u32> = (0..n as u32).collect();
            order.sort_unstable_by_key(|&i| key(i as usize));
            if let Some(w) = order
                .windows(2)
                .find(|w| key(w[0] as usize) == key(w[1] as usize))
            {
                let key = key(w[0] as usize);
                return Err(format!("node {key:?} (tree, node) is defined twice"));
            }
            order
        };
        let node_id = |pos: usize| a.node_ids[order[pos] as usize];
        let trees = tree_spans(&order, a.tree_ids, a.node_ids);

        let mut nodes = Vec::with_capacity(n);
        let mut max_feature = 0usize;
        let mut is_child = vec![false; n];
        // Children after their parent everywhere rule out cycles and
        // unreachable nodes without a search.
        let mut forward = true;
        for span in &trees {
            for (pos, &i) in (span.start..).zip(&order[span.start..span.end]) {
                let i = i as usize;
                let mode = a.modes[i];
                let missing_true = a.missing_true.get(i).is_some_and(|&m| m != 0);
                if mode == Mode::Leaf {
                    nodes.push(Node {
                        threshold: 0.0,
                        feature: 0,
                        a: 0,
                        b: 0,
                        mode,
                        missing_true,
                    });
                    continue;
                }
                let child = |id: i64| -> Result<u32, String> {
                    span.find(id, node_id).ok_or_else(|| {
                        format!(
                            "node ({}, {}) points to missing child {id}",
                            span.tree, a.node_ids[i]
                        )
                    })
                };
                let (t, f) = (child(a.true_ids[i])?, child(a.false_ids[i])?);
                is_child[t as usize] = true;
                is_child[f as usize] = true;
                forward &= t as usize > pos && f as usize > pos;
                let feature = a.feature_ids[i];
                if !(0..u32::MAX as i64).contains(&feature) {
                    return Err(format!("feature id {feature} is out of range"));
                }
                max_feature = max_feature.max(feature as usize + 1);
                nodes.push(Node {
                    threshold: a.values[i],
                    feature: feature as u32,
                    a: t,
                    b: f,
                    mode,
                    missing_true,
                });
            }
        }

        // Leaf weights in (tree, node) order, a stable sort keeping the file
        // order of each leaf's weights; each leaf then owns a range.
        let weight_key = |w: usize| (a.leaf_tree_ids[w], a.leaf_node_ids[w]);
        let weights: Vec<u32> = if (1..nw).all(|w| weight_key(w - 1) <= weight_key(w)) {
            (0..nw as u32).collect()
        } else {
            let mut weights: Vec<u32> = (0..nw as u32).collect();
            weights.sort_by_key(|&w| weight_key(w as usize));
            weights
        };
        let mut weight_target = Vec::with_capacity(nw);
        let mut weight_value = Vec::with_capacity(nw);
        let mut span = 0;
        let mut last = None;
        for &w in &weights {
            let w = w as usize;
            let (tree, id) = weight_key(w);
            if trees[span].tree != tree {
                span = trees
                    .partition_point(|s| s.tree < tree)
                    .min(trees.len() - 1);
            }
            let pos = (trees[span].tree == tree)
                .then(|| trees[span].find(id, node_id))
                .flatten()
                .ok_or_else(|| format!("a leaf weight refers to missing node {:?}", (tree, id)))?
                as usize;
            let target = a.leaf_targets[w];
            if target < 0 || target as usize >= a.n_outputs {
                return Err(format!(
                    "leaf weight for output {target}; there are {}",
                    a.n_outputs
                ));
            }
            if !a.leaf_weights[w].is_finite() {
                return Err(format!("leaf weight {} is not finite", a.leaf_weights[w]));
            }
            let node = &mut nodes[pos];
            if node.mode != Mode::Leaf {
                return Err(format!(
                    "node ({tree}, {id}) is a branch but has leaf weights"
                ));
            }
            let idx = weight_target.len() as u32;
            if last != Some(pos) {
                node.a = idx;
                last = Some(pos);
            }
            node.b = idx + 1;
            weight_target.push(target as u32);
            weight_value.push(a.leaf_weights[w]);
        }

        // One root per tree: the node no other node points to.
        let mut roots = Vec::new();
        for span in &trees {
            let mut tree_roots = (span.start..span.end).filter(|&pos| !is_child[pos]);
            if let Some(root) = tree_roots.next() {
                if tree_roots.next().is_some() {
                    return Err(format!("tree {} has more than one root", span.tree));
                }
                roots.push(root as u32);
            }
        }
        if !forward {
            check_acyclic(&nodes, &roots)?;
        }

        let mut used_targets: Vec<u32> = weight_target.clone();
        used_targets.sort_unstable();
        used_targets.dedup();
        Ok(Ensemble {
            binary_case: a.classifier && a.n_outputs == 2 && used_targets.len() == 1,
            weights_all_positive: weight_value.iter().all(|&w| w >= 0.0),
            kernel: choose_kernel(&nodes),
            nodes,
            roots,
            weight_target,
            weight_value,
            base_values: a.base_values.to_vec(),
            post: a.post.unwrap_or(Post::None),
            aggregate: a.aggregate.unwrap_or(Aggregate::Sum),
            n_outputs: a.n_outputs,
            n_features: max_feature,
            classifier: a.classifier,
        })
    }

    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of outputs per row (classes or targets).
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Evaluate one row (at least [`Ensemble::n_features`] wide) into `out`
    /// (length [`Ensemble::n_outputs`]).
    pub fn eval_row(&self, row: &[f64], out: &mut [f32]) -> RowLabel {
        let mut label = [0usize];
        self.eval_rows(row, row.len(), out, &mut label);
        if self.classifier {
            RowLabel::Class(label[0])
        } else {
            RowLabel::None
        }
    }

    /// Evaluate rows (row-major, `width` values each, `width` at least
    /// [`Ensemble::n_features`]) into `out` (rows × [`Ensemble::n_outputs`])
    /// and, for classifiers, each row's class index into `labels` (one per
    /// row; ignored for regressors).
    ///
    /// Tree by tree: every row goes through one tree while its nodes are in
    /// cache, several rows at a time. Each row still accumulates its trees'
    /// weights in tree order, exactly as one row at a time would.
    pub fn eval_rows(&self, rows: &[f64], width: usize, out: &mut [f32], labels: &mut [usize]) {
        let k = self.n_outputs;
        let n = out.len() / k;
        assert!(
            width >= self.n_features && rows.len() >= n * width,
            "eval_rows: {n} rows of width {width} (at least {}) need {} values, got {}",
            self.n_features,
            n * width,
            rows.len()
        );
        let mut scores = vec![0.0f64; n * k];
        let mut has = vec![false; n * k];
        let mut one_score = vec![0.0f64; n];
        let mut leaves = vec![0u32; n];
        for &root in &self.roots {
            (self.kernel)(&self.nodes, root, rows, width, &mut leaves);
            let rows = scores
                .chunks_exact_mut(k)
                .zip(has.chunks_exact_mut(k))
                .zip(one_score.iter_mut());
            for (((scores, has), one_score), &leaf) in rows.zip(&leaves) {
                let leaf = &self.nodes[leaf as usize];
                for w in leaf.a..leaf.b {
                    let (t, v) = (
                        self.weight_target[w as usize] as usize,
                        self.weight_value[w as usize],
                    );
                    *one_score += v;
                    let s = &mut scores[t];
                    match (self.classifier, self.aggregate, has[t]) {
                        (false, Aggregate::Min, true) => *s = s.min(v),
                        (false, Aggregate::Max, true) => *s = s.max(v),
                        (false, Aggregate::Min | Aggregate::Max, false) => *s = v,
                        _ => *s += v,
                    }
                    has[t] = true;
                }
            }
        }
        let rows = scores
            .chunks_exact_mut(k)
            .zip(has.chunks_exact_mut(k))
            .zip(one_score)
            .zip(out.chunks_exact_mut(k));
        for (r, (((scores, has), one_score), out)) in rows.enumerate() {
            let label = if !self.classifier {
                self.finish_regression(scores, out)
            } else if self.binary_case {
                self.finish_binary(one_score, out)
            } else {
                self.finish_classes(scores, has, out)
            };
            if let (RowLabel::Class(c), Some(slot)) = (label, labels.get_mut(r)) {
                *slot = c;
            }
        }
    }

    fn finish_regression(&self, scores: &mut [f64], out: &mut [f32]) -> RowLabel {
        let n_trees = self.roots.len() as f64;
        for (i, s) in scores.iter_mut().enumerate() {
            if self.aggregate == Aggregate::Average {
                *s /= n_trees;
            }
            *s += self.base_values.get(i).copied().unwrap_or(0.0);
        }
        write_post(self.post, scores, out);
        RowLabel::None
    }

    /// onnxruntime's one-score two-class path: `s` is the sum of all weights.
    fn finish_binary(&self, mut s: f64, out: &mut [f32]) -> RowLabel {
        match self.base_values.len() {
            2 => {
                s += self.base_values[1];
                let pair = [-s, s];
                let label = self.binary_label(s);
                write_post(self.post, &pair, out);
                return label;
            }
            1 => s += self.base_values[0],
            _ => {}
        }
        let label = self.binary_label(s);
        if self.post == Post::Probit {
            out[0] = probit(s) as f32;
            out[1] = 0.0;
        } else if self.weights_all_positive {
            out[0] = (1.0 - s) as f32;
            out[1] = s as f32;
        } else if self.post == Post::Logistic {
            out[0] = logistic(-s) as f32;
            out[1] = logistic(s) as f32;
        } else {
            out[0] = (-s) as f32;
            out[1] = s as f32;
        }
        label
    }

    fn binary_label(&self, s: f64) -> RowLabel {
        let cut = if self.weights_all_positive { 0.5 } else { 0.0 };
        RowLabel::Class(usize::from(s > cut))
    }

    fn finish_classes(&self, scores: &mut [f64], has: &mut [bool], out: &mut [f32]) -> RowLabel {
        if self.n_outputs == 2 {
            return self.finish_two_scores(scores, has, out);
        }
        for (k, &b) in self.base_values.iter().enumerate() {
            scores[k] += b;
            has[k] = true;
        }
        // First class with the highest score among those that have one.
        let mut best: Option<usize> = None;
        for k in 0..scores.len() {
            if has[k] && best.is_none_or(|b| scores[k] > scores[b]) {
                best = Some(k);
            }
        }
        write_post(self.post, scores, out);
        RowLabel::Class(best.unwrap_or(0))
    }

    /// Two classes with weights on both class ids (onnxruntime's binary
    /// handling of the general path).
    fn finish_two_scores(&self, s: &mut [f64], has: &[bool], out: &mut [f32]) -> RowLabel {
        let b = &self.base_values;
        if b.len() == 2 {
            if has[1] {
                s[1] = b[1] + s[0];
                s[0] = -s[1];
            } else {
                s[1] += b[1];
                s[0] += b[0];
            }
        } else if b.len() == 1 {
            s[0] += b[0];
        }
        let pos = if has[1] { s[1] } else { s[0] };
        let label = RowLabel::Class(usize::from(pos > 0.0));
        if has[1] || b.len() == 2 {
            write_post(self.post, s, out);
        } else if b.is_empty() {
            // One score, "mixed weights" layout.
            let one = s[0];
            if self.post == Post::Logistic {
                out[0] = logistic(-one) as f32;
                out[1] = logistic(one) as f32;
            } else {
                out[0] = (-one) as f32;
                out[1] = one as f32;
            }
        } else {
            out[0] = s[0] as f32;
            out[1] = 0.0;
        }
        label
    }
}

/// The positions `start..end` (in sorted order) of one tree's nodes.
struct TreeSpan {
    tree: i64,
    start: usize,
    end: usize,
    /// Node id at `start`.
    first: i64,
    /// Whether the ids are `first, first + 1, ...`: then a lookup is an
    /// addition, else a binary search.
    contiguous: bool,
}

impl TreeSpan {
    /// Position of node `id` of this tree; `node_id(pos)` is the id at `pos`.
    #[inline]
    fn find(&self, id: i64, node_id: impl Fn(usize) -> i64) -> Option<u32> {
        let len = (self.end - self.start) as u64;
        if self.contiguous {
            let offset = id.checked_sub(self.first)?;
            return (0..len as i64)
                .contains(&offset)
                .then(|| (self.start + offset as usize) as u32);
        }
        let (mut lo, mut hi) = (self.start, self.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match node_id(mid).cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid as u32),
            }
        }
        None
    }
}

/// Splits the sorted positions into trees.
fn tree_spans(order: &[u32], tree_ids: &[i64], node_ids: &[i64]) -> Vec<TreeSpan> {
    let mut spans = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let tree = tree_ids[order[start] as usize];
        let first = node_ids[order[start] as usize];
        let mut end = start + 1;
        let mut contiguous = true;
        while end < order.len() && tree_ids[order[end] as usize] == tree {
            let expected = first.checked_add((end - start) as i64);
            contiguous &= expected == Some(node_ids[order[end] as usize]);
            end += 1;
        }
        spans.push(TreeSpan {
            tree,
            start,
            end,
            first,
            contiguous,
        });
        start = end;
    }
    spans
}

/// The traversal loop specialised for the branch modes in use and for
/// whether any node tracks missing values.
fn choose_kernel(nodes: &[Node]) -> Kernel {
    let mut modes = nodes
        .iter()
        .filter(|n| n.mode != Mode::Leaf)
        .map(|n| n.mode);
    let first = modes.next();
    let uniform = match first {
        Some(m) if modes.all(|x| x == m) => Some(m),
        None => Some(Mode::Leq), // only leaves: never compares
        _ => None,
    };
    let missing = nodes.iter().any(|n| n.missing_true && n.mode != Mode::Leaf);
    match (uniform, missing) {
        (Some(Mode::Leq), false) => leaves::<LEQ, false>,
        (Some(Mode::Leq), true) => leaves::<LEQ, true>,
        (Some(Mode::Lt), false) => leaves::<LT, false>,
        (Some(Mode::Lt), true) => leaves::<LT, true>,
        (Some(Mode::Gte), false) => leaves::<GTE, false>,
        (Some(Mode::Gte), true) => leaves::<GTE, true>,
        (Some(Mode::Gt), false) => leaves::<GT, false>,
        (Some(Mode::Gt), true) => leaves::<GT, true>,
        _ => leaves::<ANY, true>,
    }
}

/// Rows traversed at once: independent traversals overlap their latencies.
const LANES: usize = 8;

/// The [`Kernel`] for branch mode `MODE` (or [`ANY`]); `MISSING` whether
/// NaN may go to the true child by `nodes_missing_value_tracks_true`.
///
/// Eight rows are in flight; a lane that reaches a leaf takes the next row.
fn leaves<const MODE: u8, const MISSING: bool>(
    nodes: &[Node],
    root: u32,
    rows: &[f64],
    width: usize,
    leaves: &mut [u32],
) {
    let n = leaves.len();
    let mut row = [usize::MAX; LANES];
    let mut at = [root; LANES];
    let mut next = 0;
    for lane_row in row.iter_mut().take(n) {
        *lane_row = next;
        next += 1;
    }
    // Lanes without a first row never run; the others end idle on a leaf.
    let lanes = next;
    let mut active = lanes;
    while active > 0 {
        for lane in 0..lanes {
            let node = &nodes[at[lane] as usize];
            if node.mode == Mode::Leaf {
                let r = row[lane];
                if r == usize::MAX {
                    continue; // an idle lane
                }
                leaves[r] = at[lane];
                if next < n {
                    row[lane] = next;
                    at[lane] = root;
                    next += 1;
                } else {
                    row[lane] = usize::MAX;
                    active -= 1;
                }
                continue;
            }
            let x = rows[row[lane] * width + node.feature as usize];
            let t = node.threshold;
            let holds = match MODE {
                LEQ => x <= t,
                LT => x < t,
                GTE => x >= t,
                GT => x > t,
                _ => match node.mode {
                    Mode::Leq => x <= t,
                    Mode::Lt => x < t,
                    Mode::Gte => x >= t,
                    Mode::Gt => x > t,
                    Mode::Eq => x == t,
                    Mode::Neq => x != t,
                    Mode::Leaf => unreachable!(),
                },
            };
            let holds = if MISSING {
                holds | (node.missing_true & x.is_nan())
            } else {
                holds
            };
            // This compiles to a branch, measured 3× faster than an
            // arithmetic select: speculation starts the lane's next node
            // load before the comparison resolves.
            at[lane] = if holds { node.a } else { node.b };
        }
    }
}

fn check_acyclic(nodes: &[Node], roots: &[u32]) -> Result<(), String> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let mut stack: Vec<(u32, bool)> = Vec::new();
    for &root in roots {
        stack.push((root, false));
        while let Some((i, children_done)) = stack.pop() {
            let node = &nodes[i as usize];
            if children_done {
                state[i as usize] = 2;
                continue;
            }
            match state[i as usize] {
                1 => return Err("the tree structure has a cycle".into()),
                2 => continue,
                _ => {}
            }
            state[i as usize] = 1;
            stack.push((i, true));
            if node.mode != Mode::Leaf {
                for c in [node.a, node.b] {
                    if state[c as usize] == 1 {
                        return Err("the tree structure has a cycle".into());
                    }
                    stack.push((c, false));
                }
            }
        }
    }
    if let Some(i) = state.iter().position(|&s| s == 0) {
        return Err(format!(
            "node at position {i} is not reachable from any root"
        ));
    }
    Ok(())
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Inverse of the standard normal CDF (as onnxruntime's PROBIT: √2·erfinv(2p−1)).
fn probit(p: f64) -> f64 {
    std::f64::consts::SQRT_2 * erf_inv(2.0 * p - 1.0)
}

/// Inverse error function (Giles' single-precision approximation, refined
/// by two Newton steps).
fn erf_inv(x: f64) -> f64 {
    if x <= -1.0 {
        return f64::NEG_INFINITY;
    }
    if x >= 1.0 {
        return f64::INFINITY;
    }
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let mut y = if w < 5.0 {
        let w = w - 2.5;
        let mut p = 2.810_226_36e-08;
        for c in [
            3.432_739_39e-07,
            -3.523_387_7e-06,
            -4.391_506_54e-06,
            0.000_218_580_87,
            -0.001_253_725_03,
            -0.004_177_681_64,
            0.246_640_727,
            1.501_409_41,
        ] {
            p = c + p * w;
        }
        p * x
    } else {
        let w = w.sqrt() - 3.0;
        let mut p = -0.000_200_214_257;
        for c in [
            0.000_100_950_558,
            0.001_349_343_22,
            -0.003_673_428_44,
            0.005_739_507_73,
            -0.007_622_461_3,
            0.009_438_870_47,
            1.001_674_06,
            2.832_976_82,
        ] {
            p = c + p * w;
        }
        p * x
    };
    for _ in 0..2 {
        let err = erf(y) - x;
        y -= err / (2.0 / std::f64::consts::PI.sqrt() * (-y * y).exp());
    }
    y
}

/// Error function: Maclaurin series near zero, continued fraction in the tails.
fn erf(x: f64) -> f64 {
    if x.abs() < 2.5 {
        // Maclaurin series: converges fast for |x| < 2.5.
        let mut sum = x;
        let mut term = x;
        let x2 = x * x;
        for n in 1..60 {
            term *= -x2 / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        2.0 / std::f64::consts::PI.sqrt() * sum
    } else {
        // Continued fraction for erfc.
        let ax = x.abs();
        let mut f = 0.0;
        for n in (1..60).rev() {
            f = (n as f64 / 2.0) / (ax + f);
        }
        let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f);
        x.signum() * (1.0 - erfc)
    }
}

fn write_post(post: Post, scores: &[f64], out: &mut [f32]) {
    match post {
        Post::None | Post::Probit => {
            for (o, s) in out.iter_mut().zip(scores) {
                *o = if post == Post::Probit { probit(*s) } else { *s } as f32;
            }
        }
        Post::Logistic => {
            for (o, s) in out.iter_mut().zip(scores) {
                *o = logistic(*s) as f32;
            }
        }
        Post::Softmax | Post::SoftmaxZero => {
            let zero = post == Post::SoftmaxZero;
            let kept = |s: f64| !(zero && s == 0.0);
            let max = scores
                .iter()
                .copied()
                .filter(|&s| kept(s))
                .fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            let exps: Vec<f64> = scores
                .iter()
                .map(|&s| {
                    let e = if kept(s) { (s - max).exp() } else { 0.0 };
                    sum += e;
                    e
                })
                .collect();
            for (o, e) in out.iter_mut().zip(exps) {
                *o = if sum > 0.0 { e / sum } else { 0.0 } as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_inv_inverts_erf() {
        for x in [-0.99, -0.5, -0.1, 0.0, 0.3, 0.9, 0.999] {
            assert!((erf(erf_inv(x)) - x).abs() < 1e-12, "{x}");
        }
    }

    fn stump(weights: &[(i64, f64)], n_outputs: usize) -> Ensemble {
        Ensemble::compile(Attributes {
            tree_ids: vec![0, 0, 0],
            node_ids: vec![0, 1, 2],
            feature_ids: vec![0, 0, 0],
            modes: vec![Mode::Leq, Mode::Leaf, Mode::Leaf],
            values: vec![0.5, 0.0, 0.0],
            true_ids: vec![1, 0, 0],
            false_ids: vec![2, 0, 0],
            leaf_tree_ids: vec![0; weights.len()],
            leaf_node_ids: (0..weights.len() as i64).map(|i| 1 + i % 2).collect(),
            leaf_targets: weights.iter().map(|w| w.0).collect(),
            leaf_weights: weights.iter().map(|w| w.1).collect(),
            n_outputs,
            classifier: true,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn binary_plus_minus_one_encoding() {
        let e = stump(&[(1, -1.0), (1, 1.0)], 2);
        let mut out = [0f32; 2];
        assert_eq!(e.eval_row(&[0.0], &mut out), RowLabel::Class(0));
        assert_eq!(out, [1.0, -1.0]);
        assert_eq!(e.eval_row(&[1.0], &mut out), RowLabel::Class(1));
        assert_eq!(out, [-1.0, 1.0]);
    }

    #[test]
    fn cycles_and_dangling_children_are_rejected() {
        let mut a = Attributes {
            tree_ids: vec![0, 0],
            node_ids: vec![0, 1],
            feature_ids: vec![0, 0],
            modes: vec![Mode::Leq, Mode::Leq],
            values: vec![0.5, 0.5],
            true_ids: vec![1, 0],
            false_ids: vec![1, 0],
            n_outputs: 3,
            classifier: true,
            ..Default::default()
        };
        assert!(Ensemble::compile(a.clone()).is_err());
        a.true_ids = vec![7, 0];
        assert!(Ensemble::compile(a).unwrap_err().contains("missing child"));
    }

    /// Attributes of a synthetic forest, nodes in file order.
    fn forest_attributes(spec: &crate::synth::SynthSpec) -> Attributes {
        let forest = crate::synth::forest(spec);
        let mut a = Attributes {
            n_outputs: spec.n_classes,
            classifier: true,
            ..Default::default()
        };
        for (t, tree) in forest.trees.iter().enumerate() {
            for i in 0..tree.n_nodes() {
                let leaf = tree.is_leaf(i);
                a.tree_ids.push(t as i64);
                a.node_ids.push(i as i64);
                a.feature_ids.push(i64::from(tree.feature[i]));
                a.modes.push(if leaf { Mode::Leaf } else { Mode::Leq });
                a.values.push(tree.threshold[i]);
                a.true_ids.push(if leaf {
                    0
                } else {
                    i64::from(tree.true_child[i])
                });
                a.false_ids.push(if leaf {
                    0
                } else {
                    i64::from(tree.false_child[i])
                });
                a.missing_true.push(i64::from(tree.missing_true[i]));
                if leaf {
                    for k in 0..spec.n_classes {
                        a.leaf_tree_ids.push(t as i64);
                        a.leaf_node_ids.push(i as i64);
                        a.leaf_targets.push(k as i64);
                        a.leaf_weights.push(tree.value[i * spec.n_classes + k]);
                    }
                }
            }
        }
        a
    }

    #[test]
    fn any_node_order_and_ids_compile_to_the_same_ensemble() {
        let spec = crate::synth::SynthSpec {
            missing_true_fraction: 0.2,
            mixed_leaf_fraction: 0.5,
            ..crate::synth::SynthSpec::sklearn(4, 301, 5)
        };
        let ordered = forest_attributes(&spec);
        // Shuffle nodes and weights, and make ids sparse and non-zero-based:
        // the general path (sort, binary search, cycle search).
        let mut shuffled = ordered.clone();
        let mut rng = crate::synth::SplitMix(9);
        let n = shuffled.node_ids.len();
        let perm: Vec<usize> = {
            let mut p: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                p.swap(i, rng.below(i + 1));
            }
            p
        };
        let remap = |id: i64| id * 7 + 3;
        macro_rules! permute {
            ($field:ident) => {
                shuffled.$field = perm.iter().map(|&i| ordered.$field[i]).collect();
            };
        }
        permute!(tree_ids);
        permute!(node_ids);
        permute!(feature_ids);
        permute!(modes);
        permute!(values);
        permute!(true_ids);
        permute!(false_ids);
        permute!(missing_true);
        for ids in [
            &mut shuffled.node_ids,
            &mut shuffled.true_ids,
            &mut shuffled.false_ids,
        ] {
            ids.iter_mut().for_each(|id| *id = remap(*id));
        }
        // Weights: reverse the leaves' order but keep each leaf's own order.
        let nw = ordered.leaf_node_ids.len();
        let k = spec.n_classes;
        let weights: Vec<usize> = (0..nw / k).rev().flat_map(|l| l * k..(l + 1) * k).collect();
        shuffled.leaf_tree_ids = weights.iter().map(|&w| ordered.leaf_tree_ids[w]).collect();
        shuffled.leaf_node_ids = weights
            .iter()
            .map(|&w| remap(ordered.leaf_node_ids[w]))
            .collect();
        shuffled.leaf_targets = weights.iter().map(|&w| ordered.leaf_targets[w]).collect();
        shuffled.leaf_weights = weights.iter().map(|&w| ordered.leaf_weights[w]).collect();

        let a = Ensemble::compile(ordered).unwrap();
        let b = Ensemble::compile(shuffled).unwrap();
        let x = crate::synth::rows(500, 5, 3);
        let mut rows: Vec<f64> = x.iter().copied().collect();
        rows[7] = f64::NAN;
        let (mut out_a, mut out_b) = (vec![0f32; 500 * k], vec![0f32; 500 * k]);
        let (mut labels_a, mut labels_b) = (vec![0; 500], vec![0; 500]);
        a.eval_rows(&rows, 5, &mut out_a, &mut labels_a);
        b.eval_rows(&rows, 5, &mut out_b, &mut labels_b);
        assert_eq!(out_a, out_b);
        assert_eq!(labels_a, labels_b);
        // And one row at a time agrees with the batch.
        for r in 0..500 {
            let mut out = vec![0f32; k];
            let label = a.eval_row(&rows[r * 5..(r + 1) * 5], &mut out);
            assert_eq!(label, RowLabel::Class(labels_a[r]));
            assert_eq!(out, out_a[r * k..(r + 1) * k]);
        }
    }
}
