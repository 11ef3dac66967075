//! A compiled ONNX `TreeEnsembleClassifier` / `TreeEnsembleRegressor`,
//! evaluated as onnxruntime does, linear in the forest size.
//!
//! Written from the ONNX operator specification; where the specification is
//! silent (two-class models with one score, base values, ties) it follows
//! onnxruntime's documented behaviour so that both runtimes agree on files
//! written by any converter. Attributes come from untrusted files: every id
//! is checked and cycles are rejected at compile time, so evaluation cannot
//! index out of bounds or loop.

use std::collections::HashMap;

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
}

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

        // Position of each (tree, node) key in the sorted order.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_unstable_by_key(|&i| (a.tree_ids[i as usize], a.node_ids[i as usize]));
        let mut position = HashMap::with_capacity(n);
        for (pos, &i) in order.iter().enumerate() {
            let key = (a.tree_ids[i as usize], a.node_ids[i as usize]);
            if position.insert(key, pos as u32).is_some() {
                return Err(format!("node {key:?} (tree, node) is defined twice"));
            }
        }

        // Leaf weights sorted by their node, so each leaf owns a range.
        let mut weights: Vec<u32> = (0..nw as u32).collect();
        weights.sort_by_key(|&w| (a.leaf_tree_ids[w as usize], a.leaf_node_ids[w as usize]));
        let mut weight_target = Vec::with_capacity(nw);
        let mut weight_value = Vec::with_capacity(nw);
        let mut ranges: HashMap<u32, (u32, u32)> = HashMap::new();
        for &w in &weights {
            let w = w as usize;
            let key = (a.leaf_tree_ids[w], a.leaf_node_ids[w]);
            let Some(&pos) = position.get(&key) else {
                return Err(format!("a leaf weight refers to missing node {key:?}"));
            };
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
            let idx = weight_target.len() as u32;
            weight_target.push(target as u32);
            weight_value.push(a.leaf_weights[w]);
            ranges.entry(pos).or_insert((idx, idx)).1 = idx + 1;
        }

        let mut nodes = Vec::with_capacity(n);
        let mut max_feature = 0usize;
        let mut is_child = vec![false; n];
        for &i in &order {
            let i = i as usize;
            let tree = a.tree_ids[i];
            let mode = a.modes[i];
            let missing_true = a.missing_true.get(i).is_some_and(|&m| m != 0);
            let pos = nodes.len() as u32;
            let node = if mode == Mode::Leaf {
                let (first, end) = ranges.get(&pos).copied().unwrap_or((0, 0));
                Node {
                    threshold: 0.0,
                    feature: 0,
                    a: first,
                    b: end,
                    mode,
                    missing_true,
                }
            } else {
                if ranges.contains_key(&pos) {
                    return Err(format!(
                        "node ({tree}, {}) is a branch but has leaf weights",
                        a.node_ids[i]
                    ));
                }
                let child = |id: i64| -> Result<u32, String> {
                    position.get(&(tree, id)).copied().ok_or_else(|| {
                        format!(
                            "node ({tree}, {}) points to missing child {id}",
                            a.node_ids[i]
                        )
                    })
                };
                let (t, f) = (child(a.true_ids[i])?, child(a.false_ids[i])?);
                is_child[t as usize] = true;
                is_child[f as usize] = true;
                let feature = a.feature_ids[i];
                if !(0..u32::MAX as i64).contains(&feature) {
                    return Err(format!("feature id {feature} is out of range"));
                }
                max_feature = max_feature.max(feature as usize + 1);
                Node {
                    threshold: a.values[i],
                    feature: feature as u32,
                    a: t,
                    b: f,
                    mode,
                    missing_true,
                }
            };
            nodes.push(node);
        }

        // One root per tree: the node no other node points to.
        let mut roots = Vec::new();
        let mut last_tree = None;
        for (pos, &i) in order.iter().enumerate() {
            let tree = a.tree_ids[i as usize];
            if !is_child[pos] {
                if last_tree == Some(tree) {
                    return Err(format!("tree {tree} has more than one root"));
                }
                roots.push(pos as u32);
                last_tree = Some(tree);
            }
        }
        check_acyclic(&nodes, &roots)?;

        let mut used_targets: Vec<u32> = weight_target.clone();
        used_targets.sort_unstable();
        used_targets.dedup();
        Ok(Ensemble {
            binary_case: a.classifier && a.n_outputs == 2 && used_targets.len() == 1,
            weights_all_positive: weight_value.iter().all(|&w| w >= 0.0),
            nodes,
            roots,
            weight_target,
            weight_value,
            base_values: a.base_values,
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

    #[inline]
    fn leaf(&self, root: u32, row: &[f64]) -> &Node {
        let mut node = &self.nodes[root as usize];
        while node.mode != Mode::Leaf {
            let x = row[node.feature as usize];
            let t = node.threshold;
            let holds = match node.mode {
                Mode::Leq => x <= t,
                Mode::Lt => x < t,
                Mode::Gte => x >= t,
                Mode::Gt => x > t,
                Mode::Eq => x == t,
                Mode::Neq => x != t,
                Mode::Leaf => unreachable!(),
            } || (node.missing_true && x.is_nan());
            node = &self.nodes[if holds { node.a } else { node.b } as usize];
        }
        node
    }

    /// Evaluate one row (at least [`Ensemble::n_features`] wide) into `out`
    /// (length [`Ensemble::n_outputs`]).
    pub fn eval_row(&self, row: &[f64], out: &mut [f32]) -> RowLabel {
        let k = self.n_outputs;
        let mut scores = vec![0.0f64; k];
        let mut has = vec![false; k];
        let mut one_score = 0.0f64;
        for &root in &self.roots {
            let leaf = self.leaf(root, row);
            for w in leaf.a..leaf.b {
                let (t, v) = (
                    self.weight_target[w as usize] as usize,
                    self.weight_value[w as usize],
                );
                one_score += v;
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
        if !self.classifier {
            return self.finish_regression(&mut scores, out);
        }
        if self.binary_case {
            return self.finish_binary(one_score, out);
        }
        self.finish_classes(&mut scores, &mut has, out)
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
}
