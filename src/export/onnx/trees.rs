//! The trees as they are written: IR trees as they are, trees with
//! categorical splits rewritten for the target opset.
//!
//! Before the ensemble, the graph reads every categorically split feature as
//! a category number into an extra column (see `graph.rs`): the category
//! `⌊x⌋` where the source library has one (truncation toward zero,
//! negatives never match under [`CategoryRule::NonNegative`]), −1 where it
//! has none, NaN for NaN. Categorical splits then test that column:
//!
//! * opset 5: a `BRANCH_MEMBER` node listing the categories;
//! * opsets 1/3: a chain of nodes sharing the true child, one per run of
//!   consecutive categories — `BRANCH_EQ c` for a single category, else
//!   `BRANCH_LT a` (below the run: no later run matches either, so false)
//!   then `BRANCH_LEQ b`. The chain's first node keeps the split's id; the
//!   others are appended after the tree's nodes. NaN follows the split's
//!   missing direction through every node of the chain.
//!
//! A split with no category left always goes false (NaN aside): it becomes
//! `BRANCH_EQ -0.5`, a value no category column holds. In float precision a
//! category float32 cannot represent can never equal a float32 input's
//! category, so it is dropped; runs keep the categories float32 can hold.
//!
//! [`CategoryRule::NonNegative`]: crate::ir::CategoryRule::NonNegative

use crate::ir::thresholds::{f32_at_or_above, f32_at_or_below};
use crate::ir::{Forest, SplitOp, Tree, LEAF, LEAF_BIT};

use super::Precision;

/// The comparison a node makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Leq,
    Lt,
    Eq,
    Member,
}

impl Mode {
    /// The mode of numeric splits comparing with `op`.
    pub fn of(op: SplitOp) -> Mode {
        match op {
            SplitOp::LessOrEqual => Mode::Leq,
            SplitOp::Less => Mode::Lt,
        }
    }

    /// `nodes_modes` string of opsets 1/3.
    pub fn name(self) -> &'static [u8] {
        match self {
            Mode::Leq => b"BRANCH_LEQ",
            Mode::Lt => b"BRANCH_LT",
            Mode::Eq => b"BRANCH_EQ",
            Mode::Member => b"BRANCH_MEMBER",
        }
    }

    /// `nodes_modes` value of opset 5.
    pub fn code(self) -> u8 {
        match self {
            Mode::Leq => 0,
            Mode::Lt => 1,
            Mode::Eq => 4,
            Mode::Member => 6,
        }
    }

    /// The float32 threshold that keeps this comparison for float32 inputs.
    pub fn f32_threshold(self, t: f64) -> f32 {
        match self {
            Mode::Leq => f32_at_or_below(t),
            Mode::Lt => f32_at_or_above(t),
            // Equality thresholds are categories float32 holds exactly, and
            // membership nodes have none.
            Mode::Eq | Mode::Member => t as f32,
        }
    }
}

/// A tree rewritten for categorical splits: the IR's lean arrays (see
/// [`Tree`]), with every true child stored, since chain nodes are appended.
#[derive(Debug, Default)]
pub(super) struct Rewritten<'f> {
    feature: Vec<u32>,
    threshold: Vec<f64>,
    true_child: Vec<u32>,
    false_child_or_leaf: Vec<u32>,
    missing_true: Vec<bool>,
    /// The tree's, unchanged: no leaf is added.
    leaf_value: &'f [f64],
    modes: Vec<Mode>,
    /// Membership nodes (ascending) and their categories (opset 5).
    members: Vec<(u32, Vec<f64>)>,
}

/// One tree of the forest, ready to be written.
pub(super) enum Source<'f> {
    Ir(&'f Tree),
    Rewritten(Rewritten<'f>),
}

/// The arrays of a tree as they are written, laid out as [`Tree`]'s.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub feature: &'a [u32],
    pub threshold: &'a [f64],
    /// Per node, or empty when every split's true child is the next node.
    pub explicit_true_child: &'a [u32],
    /// Per node: the false child, or for a leaf [`LEAF_BIT`] plus its leaf
    /// index.
    pub false_child_or_leaf: &'a [u32],
    pub missing_true: &'a [bool],
    /// `leaf_width` values per leaf.
    pub leaf_value: &'a [f64],
    /// Per node, when not every split compares with the forest's operator.
    pub modes: Option<&'a [Mode]>,
    /// The forest's numeric split mode.
    pub split_mode: Mode,
}

impl View<'_> {
    pub fn n_nodes(&self) -> usize {
        self.false_child_or_leaf.len()
    }

    #[inline(always)]
    pub fn is_leaf(&self, i: usize) -> bool {
        self.false_child_or_leaf[i] & LEAF_BIT != 0
    }

    pub fn n_leaves(&self) -> usize {
        self.false_child_or_leaf
            .iter()
            .filter(|&&c| c & LEAF_BIT != 0)
            .count()
    }

    /// The true child of node `i`, or [`LEAF`] for a leaf.
    #[inline(always)]
    pub fn true_child(&self, i: usize) -> u32 {
        if self.is_leaf(i) {
            LEAF
        } else {
            self.explicit_true_child
                .get(i)
                .copied()
                .unwrap_or(i as u32 + 1)
        }
    }

    /// The false child of node `i`, or [`LEAF`] for a leaf.
    #[inline(always)]
    pub fn false_child(&self, i: usize) -> u32 {
        let c = self.false_child_or_leaf[i];
        if c & LEAF_BIT != 0 {
            LEAF
        } else {
            c
        }
    }

    /// The `width` values node `i` writes: its own for a leaf; for a split,
    /// the first leaf's (whose entries a split never keeps), so that hot
    /// loops need not branch. The tree has a leaf's values (`prepare` checks).
    #[inline(always)]
    pub fn node_values(&self, i: usize, width: usize) -> &[f64] {
        let c = self.false_child_or_leaf[i];
        let k = if c & LEAF_BIT != 0 {
            (c & !LEAF_BIT) as usize
        } else {
            0
        };
        // A leaf index out of range (a forest that fails its check, which
        // is reported before anything is written) reads the first leaf's.
        let first = &self.leaf_value[..width];
        self.leaf_value
            .get(k * width..(k + 1) * width)
            .unwrap_or(first)
    }

    /// [`View::node_values`] for the nodes from `start` on, in order:
    /// leaves are numbered in node order (checked), so counting them
    /// replaces decoding each node's leaf index. A split gets the values of
    /// the next leaf (or the last), which it never keeps.
    pub fn values_from(&self, start: usize, width: usize) -> ValuesFrom<'_> {
        let next = self.false_child_or_leaf[start.min(self.n_nodes())..]
            .iter()
            .find(|&&c| c & LEAF_BIT != 0)
            .map_or(usize::MAX, |&c| (c & !LEAF_BIT) as usize);
        ValuesFrom {
            values: self.leaf_value,
            width,
            next,
            last: (self.leaf_value.len() / width.max(1)).saturating_sub(1),
        }
    }

    #[inline(always)]
    pub fn mode(&self, i: usize) -> Mode {
        self.modes.map_or(self.split_mode, |m| m[i])
    }
}

/// A cursor over the values of consecutive nodes ([`View::values_from`]).
pub struct ValuesFrom<'a> {
    values: &'a [f64],
    width: usize,
    /// Leaf index of the next leaf.
    next: usize,
    /// Leaf index of the tree's last leaf.
    last: usize,
}

impl<'a> ValuesFrom<'a> {
    /// The values of the next node, a leaf or not.
    #[inline(always)]
    pub fn next(&mut self, leaf: bool) -> &'a [f64] {
        let k = self.next.min(self.last);
        self.next = self.next.wrapping_add(usize::from(leaf));
        &self.values[k * self.width..(k + 1) * self.width]
    }
}

impl View<'_> {
    /// Levels of split nodes on the tree's longest root-to-leaf path as
    /// written (a chain that writes a categorical set counts each node).
    /// Iterative: written trees can be far deeper than the call stack.
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, splits)) = stack.pop() {
            if self.is_leaf(i) || splits >= self.n_nodes() {
                // The second case is a cycle, which checked forests never
                // have: stop rather than loop.
                deepest = deepest.max(splits);
            } else {
                stack.push((self.true_child(i) as usize, splits + 1));
                stack.push((self.false_child(i) as usize, splits + 1));
            }
        }
        deepest
    }
}

impl<'f> Source<'f> {
    /// Tree `tree` of `forest` (checked when it has categorical splits),
    /// with categorical splits rewritten for `opset` and `precision`.
    /// `columns` are the categorical features ([`super::layout::Layout`]).
    ///
    /// `no_lone_eq` (see [`only_categorical_splits`]) writes single
    /// categories as `BRANCH_LT c`, `BRANCH_LEQ c` pairs instead of
    /// `BRANCH_EQ c`, and empty sets as `BRANCH_LT -1.5`, so that no
    /// ensemble is made of `BRANCH_EQ` nodes only.
    pub fn new(
        forest: &Forest,
        tree: &'f Tree,
        opset: i64,
        precision: Precision,
        columns: &[u32],
        no_lone_eq: bool,
    ) -> Source<'f> {
        if tree.categories.is_empty() {
            return Source::Ir(tree);
        }
        let column = |feature: u32| {
            let k = columns.binary_search(&feature).unwrap_or(0);
            (forest.n_features + k) as u32
        };
        let true_child = (0..tree.n_nodes())
            .map(|i| tree.children(i).map_or(LEAF, |(yes, _)| yes))
            .collect();
        let mut t = Rewritten {
            feature: tree.feature.clone(),
            threshold: tree.threshold.clone(),
            true_child,
            false_child_or_leaf: tree.false_child_or_leaf.clone(),
            missing_true: tree.missing_true.clone(),
            leaf_value: &tree.leaf_value,
            modes: vec![Mode::of(forest.split_op); tree.n_nodes()],
            members: Vec::new(),
        };
        for (node, set) in tree.categories.iter() {
            let i = node as usize;
            t.feature[i] = column(tree.feature[i]);
            let mut tests = category_tests(set, precision);
            if no_lone_eq && opset != 5 {
                for test in &mut tests {
                    if let Test::Eq(c) = *test {
                        *test = Test::Range(c, c);
                    }
                }
            }
            if tests.is_empty() {
                // Category columns hold −1 and up, or NaN: neither mode
                // ever holds for a number.
                (t.modes[i], t.threshold[i]) = if no_lone_eq && opset != 5 {
                    (Mode::Lt, -1.5)
                } else {
                    (Mode::Eq, -0.5)
                };
            } else if opset == 5 {
                t.modes[i] = Mode::Member;
                t.threshold[i] = 0.0;
                let mut members = Vec::new();
                for test in tests {
                    match test {
                        Test::Eq(c) => members.push(c),
                        // Runs hold integers; in float precision only those
                        // float32 represents (all of them below 2^24).
                        Test::Range(a, b) => {
                            let mut c = a;
                            while c <= b {
                                members.push(c);
                                c = next_category(c, precision);
                            }
                        }
                    }
                }
                t.members.push((node, members));
            } else {
                t.chain(i, &tests);
            }
        }
        Source::Rewritten(t)
    }

    pub fn view(&self, split_op: SplitOp) -> View<'_> {
        match self {
            Source::Ir(t) => View {
                feature: &t.feature,
                threshold: &t.threshold,
                explicit_true_child: &t.explicit_true_child,
                false_child_or_leaf: &t.false_child_or_leaf,
                missing_true: &t.missing_true,
                leaf_value: &t.leaf_value,
                modes: None,
                split_mode: Mode::of(split_op),
            },
            Source::Rewritten(t) => View {
                feature: &t.feature,
                threshold: &t.threshold,
                explicit_true_child: &t.true_child,
                false_child_or_leaf: &t.false_child_or_leaf,
                missing_true: &t.missing_true,
                leaf_value: t.leaf_value,
                modes: Some(&t.modes),
                split_mode: Mode::of(split_op),
            },
        }
    }

    /// Membership nodes and their categories, ascending by node.
    pub fn members(&self) -> &[(u32, Vec<f64>)] {
        match self {
            Source::Ir(_) => &[],
            Source::Rewritten(t) => &t.members,
        }
    }
}

/// Whether every split of `forest` is categorical. onnxruntime 1.21 and
/// 1.22 mis-run an ensemble whose nodes are all `BRANCH_EQ`: they fuse
/// `BRANCH_EQ` chains into sets but keep the fast path for ensembles of one
/// node mode (microsoft/onnxruntime#24636, fixed in 1.23). One node of
/// another mode avoids it: see `no_lone_eq` of [`Source::new`].
pub(super) fn only_categorical_splits(forest: &Forest) -> bool {
    forest
        .trees
        .iter()
        .all(|t| (0..t.n_nodes()).all(|i| t.is_leaf(i) || t.categories.of(i as u32).is_some()))
}

/// The next category after `c` that `precision` represents.
fn next_category(c: f64, precision: Precision) -> f64 {
    match precision {
        Precision::Double => c + 1.0,
        // Integers above 2^24 are float32 only every few units (`Auto` is
        // resolved before any tree is written).
        Precision::Float | Precision::Auto => f64::from(f32_at_or_above(c + 1.0)),
    }
}

/// One test of a categorical chain, on category numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Test {
    /// The category is `c`.
    Eq(f64),
    /// The category is in `a..=b` (`a < b`, or `a == b` for a single
    /// category written without `BRANCH_EQ`).
    Range(f64, f64),
}

/// The tests matching exactly the categories of `set` (ascending) that a
/// `precision` input can hold, one per run of consecutive categories.
fn category_tests(set: &[u32], precision: Precision) -> Vec<Test> {
    let mut tests = Vec::new();
    let mut k = 0;
    while k < set.len() {
        let mut end = k;
        while end + 1 < set.len() && set[end + 1] == set[end] + 1 {
            end += 1;
        }
        let (a, b) = (f64::from(set[k]), f64::from(set[end]));
        k = end + 1;
        let (a, b) = match precision {
            Precision::Double => (a, b),
            Precision::Float | Precision::Auto => {
                (f64::from(f32_at_or_above(a)), f64::from(f32_at_or_below(b)))
            }
        };
        if a < b {
            tests.push(Test::Range(a, b));
        } else if a == b {
            tests.push(Test::Eq(a));
        }
    }
    tests
}

impl Rewritten<'_> {
    /// Replaces categorical split `i` by a chain testing `tests`.
    fn chain(&mut self, i: usize, tests: &[Test]) {
        let (yes, no, missing) = (
            self.true_child[i],
            self.false_child_or_leaf[i],
            self.missing_true[i],
        );
        let feature = self.feature[i];
        // Ids of the chain's nodes: the split's own first, then appended.
        let mut ids = Vec::new();
        let mut next_id = self.true_child.len() as u32;
        for test in tests {
            for _ in 0..[1, 2][usize::from(matches!(test, Test::Range(..)))] {
                if ids.is_empty() {
                    ids.push(i as u32);
                } else {
                    ids.push(next_id);
                    next_id += 1;
                }
            }
        }
        ids.push(no); // after the last test: the false child
        let mut at = 0;
        for test in tests {
            match *test {
                Test::Eq(c) => {
                    self.set(ids[at], feature, Mode::Eq, c, yes, ids[at + 1], missing);
                    at += 1;
                }
                Test::Range(a, b) => {
                    // Below the run: not in it, nor in any later run.
                    self.set(ids[at], feature, Mode::Lt, a, no, ids[at + 1], false);
                    self.set(
                        ids[at + 1],
                        feature,
                        Mode::Leq,
                        b,
                        yes,
                        ids[at + 2],
                        missing,
                    );
                    at += 2;
                }
            }
        }
    }

    /// Writes node `id` (appending it when it is new).
    #[allow(clippy::too_many_arguments)]
    fn set(
        &mut self,
        id: u32,
        feature: u32,
        mode: Mode,
        threshold: f64,
        yes: u32,
        no: u32,
        missing: bool,
    ) {
        let id = id as usize;
        if id == self.true_child.len() {
            self.feature.push(feature);
            self.threshold.push(threshold);
            self.true_child.push(yes);
            self.false_child_or_leaf.push(no);
            self.missing_true.push(missing);
            self.modes.push(mode);
        } else {
            self.feature[id] = feature;
            self.threshold[id] = threshold;
            self.true_child[id] = yes;
            self.false_child_or_leaf[id] = no;
            self.missing_true[id] = missing;
            self.modes[id] = mode;
        }
    }
}

/// Per node, the number of leaves before it: a node's position among the
/// tree's leaves or (subtracted from its id) among its splits.
pub(super) fn leaf_ranks(view: &View<'_>) -> Vec<u32> {
    let mut rank = Vec::with_capacity(view.n_nodes());
    let mut leaves = 0u32;
    for &c in view.false_child_or_leaf {
        rank.push(leaves);
        leaves += u32::from(c & LEAF_BIT != 0);
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_become_ranges_and_singletons() {
        let t = category_tests(&[1, 2, 3, 7, 9, 10], Precision::Double);
        assert_eq!(
            t,
            [Test::Range(1.0, 3.0), Test::Eq(7.0), Test::Range(9.0, 10.0)]
        );
        assert!(category_tests(&[], Precision::Float).is_empty());
    }

    /// Modes of the nodes written for `forest`'s first tree at `opset`.
    fn modes(forest: &Forest, opset: i64) -> Vec<Mode> {
        let no_lone_eq = only_categorical_splits(forest);
        let source = Source::new(
            forest,
            &forest.trees[0],
            opset,
            Precision::Float,
            &[1],
            no_lone_eq,
        );
        let view = source.view(forest.split_op);
        (0..view.n_nodes())
            .filter(|&i| !view.is_leaf(i))
            .map(|i| view.mode(i))
            .collect()
    }

    #[test]
    fn no_ensemble_is_made_of_branch_eq_only() {
        let tree = |sets: &[&[u32]]| {
            let mut t = Tree::default();
            t.push_split(1, 0.0, (1, 2), false);
            t.push_split(1, 0.0, (3, 4), false);
            for v in [1.0, 2.0, 3.0] {
                t.push_leaf(&[v]);
            }
            t.categories.push(0, sets[0].iter().copied());
            t.categories.push(1, sets[1].iter().copied());
            t
        };
        let mut forest = crate::synth::forest(&crate::synth::SynthSpec::small());
        forest.trees = vec![tree(&[&[4, 9], &[]])];
        assert!(only_categorical_splits(&forest));
        // 4 | 9 | empty: LT/LEQ pairs and LT -1.5, no BRANCH_EQ at opsets 1/3.
        assert_eq!(
            modes(&forest, 3),
            [Mode::Lt, Mode::Lt, Mode::Leq, Mode::Lt, Mode::Leq]
        );
        assert_eq!(modes(&forest, 5), [Mode::Member, Mode::Eq]);
        // A numeric split anywhere keeps BRANCH_EQ.
        let mut numeric = tree(&[&[4, 9], &[]]);
        numeric.categories = Default::default();
        numeric.categories.push(0, [4, 9]);
        forest.trees.push(numeric);
        assert!(!only_categorical_splits(&forest));
        assert_eq!(modes(&forest, 3), [Mode::Eq, Mode::Eq, Mode::Eq]);
    }

    #[test]
    fn float_drops_categories_float32_cannot_hold() {
        // 2^24 + 1 is no float32; 2^24 + 2 is.
        let big = 1u32 << 24;
        assert_eq!(
            category_tests(&[big + 1], Precision::Float),
            Vec::<Test>::new()
        );
        assert_eq!(
            category_tests(&[big + 1], Precision::Double),
            [Test::Eq(f64::from(big + 1))]
        );
        assert_eq!(
            category_tests(&[big + 1, big + 2, big + 3], Precision::Float),
            [Test::Eq(f64::from(big + 2))]
        );
        assert_eq!(
            category_tests(&[big - 1, big, big + 1], Precision::Float),
            [Test::Range(f64::from(big - 1), f64::from(big))]
        );
        assert_eq!(
            next_category(f64::from(big), Precision::Float),
            f64::from(big + 2)
        );
    }
}
