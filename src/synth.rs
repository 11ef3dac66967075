//! Random full-depth forests, for benchmarks and performance tests only.
//!
//! Nothing in the conversion pipeline uses this module: it exists so that
//! benchmarks (`benches/`) and performance tests can
//! build forests shaped like real scikit-learn or smartcore random forests —
//! same node counts, realistic depths, thresholds that are arbitrary f64
//! midpoints — without training anything. Everything is deterministic from
//! [`SynthSpec::seed`] (a splitmix64 generator, per tree, so the result does
//! not depend on the number of threads).
//!
//! Tree shape: a tree with `L` leaves splits its leaves uniformly at random
//! between the two subtrees (the shape of a random binary search tree), so
//! the mean leaf depth is about `2 ln L` — about 18 for the 6 850-leaf trees
//! a full-depth scikit-learn forest grows on 100 k rows — and the deepest
//! leaves sit around twice as deep. Each split cuts the current box of its
//! feature in proportion to the leaves on each side, so rows drawn uniformly
//! from `[0, 1)^n_features` ([`rows`]) reach every leaf with about the same
//! probability, as training rows reach the pure leaves of a full-depth tree.
//! Nodes are numbered in preorder with the true child first, as scikit-learn
//! numbers them.
//!
//! ```
//! use forest2onnx::synth::{self, SynthSpec};
//! let forest = synth::forest(&SynthSpec::small());
//! assert!(forest.check().is_ok());
//! assert!((1_500..2_500).contains(&forest.n_nodes()));
//! ```

use ndarray::Array2;
use rayon::prelude::*;

use crate::ir::{Aggregation, Forest, Labels, Source, SplitOp, Task, Tree};

/// What kind of forest to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSpec {
    /// Number of trees.
    pub n_trees: usize,
    /// Mean number of nodes per tree (leaves included). Every tree has an odd
    /// count close to this; see [`SynthSpec::jitter`].
    pub nodes_per_tree: usize,
    /// Relative spread of the per-tree node counts (0.1 = ±10 %, uniform).
    pub jitter: f64,
    /// Number of input features.
    pub n_features: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// [`Aggregation::Vote`] (smartcore: one class index per leaf) or
    /// [`Aggregation::Average`] (scikit-learn: class probabilities per leaf).
    pub aggregation: Aggregation,
    /// Split comparison.
    pub split_op: SplitOp,
    /// Fraction of split nodes that send NaN to the true child.
    pub missing_true_fraction: f64,
    /// For [`Aggregation::Average`]: fraction of leaves holding a mixed
    /// distribution instead of a one-hot one (full-depth scikit-learn trees
    /// have pure, one-hot leaves).
    pub mixed_leaf_fraction: f64,
    /// String labels (`"class_0"`, ...) instead of integers `0..n_classes`.
    pub string_labels: bool,
    /// Seed of every random choice.
    pub seed: u64,
}

impl SynthSpec {
    /// A scikit-learn-like forest: `n_trees` full-depth trees of
    /// `nodes_per_tree` nodes on average, 3 classes, soft voting.
    pub fn sklearn(n_trees: usize, nodes_per_tree: usize, n_features: usize) -> SynthSpec {
        SynthSpec {
            n_trees,
            nodes_per_tree,
            jitter: 0.05,
            n_features,
            n_classes: 3,
            aggregation: Aggregation::Average,
            split_op: SplitOp::LessOrEqual,
            missing_true_fraction: 0.0,
            mixed_leaf_fraction: 0.0,
            string_labels: false,
            seed: 42,
        }
    }

    /// About 2 000 nodes: a 100-tree forest on iris (4 features, 3 classes).
    pub fn small() -> SynthSpec {
        SynthSpec {
            jitter: 0.4,
            ..SynthSpec::sklearn(100, 20, 4)
        }
    }

    /// About 2.73 M nodes: 200 full-depth trees on 100 k × 20 rows (the
    /// reference 200-tree scikit-learn forest).
    pub fn medium() -> SynthSpec {
        SynthSpec::sklearn(200, 13_660, 20)
    }

    /// About 6.83 M nodes: 500 full-depth trees on 100 k × 20 rows (the
    /// reference 500-tree scikit-learn forest).
    pub fn large() -> SynthSpec {
        SynthSpec::sklearn(500, 13_660, 20)
    }

    /// The same forest with smartcore's hard voting (one class per leaf).
    pub fn vote(self) -> SynthSpec {
        SynthSpec {
            aggregation: Aggregation::Vote,
            ..self
        }
    }

    /// A preset by name: `small`, `medium` or `large`.
    pub fn named(name: &str) -> Option<SynthSpec> {
        match name {
            "small" => Some(SynthSpec::small()),
            "medium" => Some(SynthSpec::medium()),
            "large" => Some(SynthSpec::large()),
            _ => None,
        }
    }
}

use crate::rng::SplitMix;

/// Generates the forest described by `spec` (checked: it always passes
/// [`Forest::check`]).
///
/// Panics if the spec has no trees, features or classes, or asks for
/// [`Aggregation::Sum`].
pub fn forest(spec: &SynthSpec) -> Forest {
    assert!(spec.n_trees > 0 && spec.n_features > 0 && spec.n_classes > 0);
    assert!(
        matches!(spec.aggregation, Aggregation::Vote | Aggregation::Average),
        "synth generates voting or averaging classifiers"
    );
    let labels = if spec.string_labels {
        Labels::Str((0..spec.n_classes).map(|k| format!("class_{k}")).collect())
    } else {
        Labels::Int((0..spec.n_classes as i64).collect())
    };
    // Trees are independent, each with its own seed: generate them in parallel.
    let trees = (0..spec.n_trees)
        .into_par_iter()
        .map(|t| tree(spec, t))
        .collect();
    Forest {
        n_features: spec.n_features,
        feature_names: None,
        input: Default::default(),
        split_op: spec.split_op,
        task: Task::Classification(labels),
        aggregation: spec.aggregation.clone(),
        trees,
        source: Source {
            library: "forest2onnx-synth".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            estimator: "RandomForestClassifier".into(),
            details: Default::default(),
        },
    }
}

/// `n_rows` rows of `n_features` values drawn uniformly from `[0, 1)`: the
/// input distribution [`forest`] splits.
pub fn rows(n_rows: usize, n_features: usize, seed: u64) -> Array2<f64> {
    let mut rng = SplitMix(seed ^ 0x5EED_F0E5_u64);
    Array2::from_shape_simple_fn((n_rows, n_features), || rng.unit())
}

/// [`rows`] as float32, the ONNX input type.
pub fn rows_f32(n_rows: usize, n_features: usize, seed: u64) -> Array2<f32> {
    rows(n_rows, n_features, seed).mapv(|v| v as f32)
}

/// Splits deeper than this are balanced, bounding the recursion whatever the
/// random draws (uniform splits stay far shallower in practice).
const MAX_RANDOM_DEPTH: usize = 200;

struct Builder<'a> {
    spec: &'a SynthSpec,
    rng: SplitMix,
    tree: Tree,
    /// The values of the leaf being written.
    values: Vec<f64>,
    /// The box of the node being built: feature `f` lies in `lo[f]..hi[f]`.
    lo: Vec<f64>,
    hi: Vec<f64>,
}

fn tree(spec: &SynthSpec, index: usize) -> Tree {
    let mut rng = SplitMix(spec.seed.wrapping_mul(0xA24B_AED4_963E_E407) ^ index as u64);
    rng.next_u64();
    let mean_leaves = (spec.nodes_per_tree.max(1) + 1) as f64 / 2.0;
    let spread = 1.0 + spec.jitter * (2.0 * rng.unit() - 1.0);
    let leaves = (mean_leaves * spread).round().max(1.0) as usize;
    let n = 2 * leaves - 1;
    let width = match spec.aggregation {
        Aggregation::Vote => 1,
        _ => spec.n_classes,
    };
    let mut b = Builder {
        spec,
        rng,
        tree: Tree::with_capacity(n, leaves * width),
        values: Vec::with_capacity(width),
        lo: vec![0.0; spec.n_features],
        hi: vec![1.0; spec.n_features],
    };
    b.node(leaves, 0);
    debug_assert_eq!(b.tree.n_nodes(), n);
    b.tree
}

impl Builder<'_> {
    /// Appends a subtree of `leaves` leaves in preorder; returns its root id.
    fn node(&mut self, leaves: usize, depth: usize) -> u32 {
        let id = self.tree.feature.len();
        if leaves == 1 {
            self.leaf();
            return id as u32;
        }
        let left = if depth < MAX_RANDOM_DEPTH {
            1 + self.rng.below(leaves - 1)
        } else {
            leaves / 2
        };
        let f = self.rng.below(self.spec.n_features);
        let (lo, hi) = (self.lo[f], self.hi[f]);
        // Cut the box in proportion to the leaves on each side, nudged by up
        // to ±10 % of the gap so thresholds are arbitrary f64 values (never
        // float32-representable by construction).
        let share = left as f64 / leaves as f64;
        let nudge = 0.1 * (self.rng.unit() - 0.5) * share.min(1.0 - share);
        let threshold = lo + (hi - lo) * (share + nudge);
        let missing_true = self.rng.unit() < self.spec.missing_true_fraction;
        // Preorder: the true child is the next node; the false child is
        // set once the true subtree is written.
        self.tree
            .push_split(f as u32, threshold, (id as u32 + 1, 0), missing_true);
        self.hi[f] = threshold;
        let t = self.node(left, depth + 1);
        self.hi[f] = hi;
        self.lo[f] = threshold;
        let e = self.node(leaves - left, depth + 1);
        self.lo[f] = lo;
        self.tree.set_children(id, (t, e));
        id as u32
    }

    fn leaf(&mut self) {
        let k = self.spec.n_classes;
        let class = self.rng.below(k);
        self.values.clear();
        match self.spec.aggregation {
            Aggregation::Vote => self.values.push(class as f64),
            _ if self.rng.unit() < self.spec.mixed_leaf_fraction => {
                // A few samples' worth of counts, normalised like scikit-learn's.
                let counts: Vec<f64> = (0..k).map(|_| self.rng.below(4) as f64).collect();
                let total: f64 = counts.iter().sum();
                if total == 0.0 {
                    self.push_one_hot(class);
                } else {
                    self.values.extend(counts.iter().map(|c| c / total));
                }
            }
            _ => self.push_one_hot(class),
        }
        self.tree.push_leaf(&self.values);
    }

    fn push_one_hot(&mut self, class: usize) {
        let k = self.spec.n_classes;
        self.values
            .extend((0..k).map(|j| if j == class { 1.0 } else { 0.0 }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_reference_node_counts() {
        let small = forest(&SynthSpec::small());
        small.check().unwrap();
        assert!(
            (1_500..2_500).contains(&small.n_nodes()),
            "{}",
            small.n_nodes()
        );
        let spec = SynthSpec {
            n_trees: 20,
            ..SynthSpec::large()
        };
        let f = forest(&spec);
        f.check().unwrap();
        let per_tree = f.n_nodes() as f64 / 20.0;
        assert!((per_tree / 13_660.0 - 1.0).abs() < 0.03, "{per_tree}");
        let depth = f.max_depth();
        assert!((20..80).contains(&depth), "{depth}");
    }

    #[test]
    fn deterministic_and_thread_independent() {
        let spec = SynthSpec {
            missing_true_fraction: 0.3,
            mixed_leaf_fraction: 0.5,
            string_labels: true,
            ..SynthSpec::small()
        };
        let a = forest(&spec);
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| forest(&spec));
        assert_eq!(a, b);
        a.check().unwrap();
        assert!(a.trees.iter().any(|t| t.missing_true.contains(&true)));
        let vote = forest(&SynthSpec::small().vote());
        vote.check().unwrap();
        assert_ne!(forest(&SynthSpec { seed: 1, ..spec }), a);
    }

    #[test]
    fn thresholds_are_not_float32_values_and_rows_reach_many_leaves() {
        let f = forest(&SynthSpec::sklearn(3, 2_001, 5));
        let t = &f.trees[0];
        let splits: Vec<f64> = (0..t.n_nodes())
            .filter(|&i| !t.is_leaf(i))
            .map(|i| t.threshold[i])
            .collect();
        assert!(splits.iter().all(|&s| f64::from(s as f32) != s));
        let x = rows(4_000, 5, 1);
        let mut reached = std::collections::HashSet::new();
        for r in x.rows() {
            let mut node = 0;
            while let Some((yes, no)) = t.children(node) {
                node = if r[t.feature[node] as usize] <= t.threshold[node] {
                    yes
                } else {
                    no
                } as usize;
            }
            reached.insert(node);
        }
        // 1 001 leaves, 4 000 rows: uniform reach leaves few unseen.
        assert!(reached.len() > 900, "{}", reached.len());
    }
}
