//! One LightGBM `Tree=` block to an IR [`Tree`].
//!
//! LightGBM's semantics (`include/LightGBM/tree.h`, identical in 3.x and 4.x):
//! internal nodes are `0..num_leaves - 1`, a negative child `c` is leaf `!c`.
//! `decision_type` bit 0 marks a categorical split, bit 1 `default_left`,
//! bits 2–3 the missing type (0 None, 1 Zero, 2 NaN).
//!
//! * Inputs: `predict` reads any `|x| <= kZeroThreshold` as 0 (`c_api.cpp`
//!   drops such values when it builds a row).
//! * Numeric splits (`NumericalDecision`): unless the missing type is NaN, a
//!   NaN input reads as 0; with missing type Zero a value with
//!   `|x| <= kZeroThreshold`, with missing type NaN a NaN, takes the default
//!   side; otherwise `x <= threshold` goes left. In the IR, missing type
//!   Zero makes the feature zero-as-missing (its zero band reads as NaN),
//!   every node's NaN side is where LightGBM sends what reads as NaN there,
//!   and a threshold inside the zero band moves to its edge so that the band
//!   goes where 0 goes.
//! * Categorical splits (`CategoricalDecision`): NaN and values whose
//!   `static_cast<int>` is negative go right; otherwise the category goes
//!   left when its bit is set in the split's bitset
//!   `cat_threshold[cat_boundaries[k]..cat_boundaries[k + 1]]`, `k` being the
//!   node's threshold. The IR's true branch is the left child.
//!
//! Node ids are renumbered breadth-first so children follow their parent;
//! child ids are checked before use, and a node or leaf reached twice, or
//! never, is an error.

use std::collections::VecDeque;

use super::text::Block;
use crate::ir::{Tree, MAX_CATEGORY, ZERO_THRESHOLD};
use crate::text::quoted as quote;

/// Missing type of a numeric split, from `decision_type` bits 2–3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// NaN reads as 0; no default side.
    None,
    /// NaN and the zero band take the default side.
    Zero,
    /// NaN takes the default side.
    NaN,
}

/// Most categories one model may list over all its splits (a bitset word
/// holds up to 32, so a hostile file could otherwise multiply its size by
/// 32 in memory).
pub const MAX_CATEGORIES: usize = 1 << 26;

/// A tree block's arrays, checked for length and range.
pub struct RawTree {
    /// Line of the `Tree=` header.
    pub line: usize,
    /// Leaf values (`num_leaves` of them).
    pub leaf_value: Vec<f64>,
    /// Per internal node: split feature.
    pub feature: Vec<u32>,
    /// Per internal node: threshold (numeric) or bitset index (categorical).
    pub threshold: Vec<f64>,
    /// Per internal node: `decision_type`.
    pub decision: Vec<u8>,
    /// Per internal node: left child (negative: leaf `!c`).
    pub left: Vec<i32>,
    /// Per internal node: right child.
    pub right: Vec<i32>,
    /// The category sets of the bitsets, `cat_boundaries`-indexed.
    pub category_sets: Vec<Vec<u32>>,
}

impl RawTree {
    /// Whether internal node `i` is a categorical split.
    pub fn is_categorical(&self, i: usize) -> bool {
        self.decision[i] & 1 != 0
    }

    /// The missing type of internal node `i`.
    pub fn missing(&self, i: usize) -> Missing {
        match (self.decision[i] >> 2) & 3 {
            0 => Missing::None,
            1 => Missing::Zero,
            _ => Missing::NaN, // 3 is refused when reading
        }
    }

    fn default_left(&self, i: usize) -> bool {
        self.decision[i] & 2 != 0
    }
}

/// Reads the arrays of tree `index` from its block, checking every length
/// and range against `num_leaves`, `num_cat` and `n_features`.
pub fn read(
    index: usize,
    block: &Block<'_>,
    n_features: usize,
    categories_so_far: &mut usize,
) -> Result<RawTree, (usize, String)> {
    let field = |name: &str| {
        block
            .fields
            .get(name)
            .copied()
            .ok_or_else(|| (block.line, format!("the field {name} is missing")))
    };
    if block.id.parse::<usize>().ok() != Some(index) {
        return Err((
            block.line,
            format!("Tree={} where Tree={index} was expected", quote(block.id)),
        ));
    }
    if let Some(linear) = block.fields.get("is_linear") {
        if linear.value.trim() != "0" {
            return Err((
                linear.number,
                "is a linear tree (is_linear=1); linear trees are not supported".into(),
            ));
        }
    }
    let num_leaves: usize = parse_one(field("num_leaves")?, "num_leaves")?;
    if num_leaves == 0 || num_leaves > i32::MAX as usize {
        return Err((
            field("num_leaves")?.number,
            format!("num_leaves is {num_leaves}"),
        ));
    }
    let num_cat: usize = parse_one(field("num_cat")?, "num_cat")?;
    let leaf_value: Vec<f64> = parse_list(field("leaf_value")?, "leaf_value", num_leaves)?;
    let n = num_leaves - 1;
    if n == 0 {
        return Ok(RawTree {
            line: block.line,
            leaf_value,
            feature: vec![],
            threshold: vec![],
            decision: vec![],
            left: vec![],
            right: vec![],
            category_sets: vec![],
        });
    }
    let feature_line = field("split_feature")?;
    let feature: Vec<u32> = parse_list(feature_line, "split_feature", n)?;
    if let Some(f) = feature.iter().find(|&&f| f as usize >= n_features) {
        return Err((
            feature_line.number,
            format!("split_feature {f}; the model has {n_features} features"),
        ));
    }
    let decision_line = field("decision_type")?;
    let decision: Vec<u8> = parse_list(decision_line, "decision_type", n)?;
    if let Some(d) = decision.iter().find(|&&d| d > 15 || (d >> 2) & 3 == 3) {
        return Err((
            decision_line.number,
            format!("decision_type {d} has bits LightGBM does not define"),
        ));
    }
    let raw = RawTree {
        line: block.line,
        leaf_value,
        feature,
        threshold: parse_list(field("threshold")?, "threshold", n)?,
        decision,
        left: parse_list(field("left_child")?, "left_child", n)?,
        right: parse_list(field("right_child")?, "right_child", n)?,
        category_sets: if num_cat > 0 {
            read_bitsets(block, num_cat, categories_so_far)?
        } else {
            vec![]
        },
    };
    Ok(raw)
}

/// The category sets of a tree's `num_cat` bitsets.
fn read_bitsets(
    block: &Block<'_>,
    num_cat: usize,
    categories_so_far: &mut usize,
) -> Result<Vec<Vec<u32>>, (usize, String)> {
    let line = |name: &str| {
        block.fields.get(name).copied().ok_or_else(|| {
            (
                block.line,
                format!("num_cat is {num_cat} but {name} is missing"),
            )
        })
    };
    let bounds_line = line("cat_boundaries")?;
    let words_line = line("cat_threshold")?;
    if num_cat > bounds_line.value.len() {
        return Err((bounds_line.number, format!("num_cat is {num_cat}")));
    }
    let bounds: Vec<usize> = parse_list(bounds_line, "cat_boundaries", num_cat + 1)?;
    let words: Vec<u32> = parse_any(words_line, "cat_threshold")?;
    if bounds[0] != 0 || bounds.windows(2).any(|w| w[0] > w[1]) || bounds[num_cat] != words.len() {
        return Err((
            bounds_line.number,
            format!(
                "cat_boundaries must rise from 0 to the {} words of cat_threshold",
                words.len()
            ),
        ));
    }
    let mut sets = Vec::with_capacity(num_cat);
    for w in bounds.windows(2) {
        let mut set = Vec::new();
        for (k, &word) in words[w[0]..w[1]].iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                // Categories beyond i32 are unreachable: LightGBM reads
                // values through `static_cast<int>`.
                let c = (k as u64) * 32 + u64::from(b);
                if c <= u64::from(MAX_CATEGORY) {
                    set.push(c as u32);
                }
            }
        }
        *categories_so_far += set.len();
        if *categories_so_far > MAX_CATEGORIES {
            return Err((
                words_line.number,
                format!("the model lists more than {MAX_CATEGORIES} categories"),
            ));
        }
        sets.push(set);
    }
    Ok(sets)
}

fn parse_one<T: std::str::FromStr>(
    line: super::text::Line<'_>,
    name: &str,
) -> Result<T, (usize, String)> {
    line.value
        .trim()
        .parse()
        .map_err(|_| (line.number, format!("{name} is {}", quote(line.value))))
}

fn parse_any<T: std::str::FromStr>(
    line: super::text::Line<'_>,
    name: &str,
) -> Result<Vec<T>, (usize, String)> {
    line.value
        .split_ascii_whitespace()
        .enumerate()
        .map(|(i, s)| {
            s.parse()
                .map_err(|_| (line.number, format!("{name}[{i}] is {}", quote(s))))
        })
        .collect()
}

/// Parses exactly `expected` whitespace-separated values, counting them
/// before allocating.
fn parse_list<T: std::str::FromStr>(
    line: super::text::Line<'_>,
    name: &str,
    expected: usize,
) -> Result<Vec<T>, (usize, String)> {
    let count = line.value.split_ascii_whitespace().count();
    if count != expected {
        return Err((
            line.number,
            format!("{name} has {count} values; expected {expected}"),
        ));
    }
    parse_any(line, name)
}

/// How each feature's zero band is read, over the whole model.
pub fn zero_features(trees: &[RawTree], n_features: usize) -> Vec<bool> {
    let mut zero = vec![false; n_features];
    for t in trees {
        for i in 0..t.feature.len() {
            if !t.is_categorical(i) && t.missing(i) == Missing::Zero {
                zero[t.feature[i] as usize] = true;
            }
        }
    }
    zero
}

/// Converts a read tree to the IR; `scale` multiplies every leaf value
/// (the sigmoid factor and random-forest averaging), `zero` says which
/// features read their zero band as missing.
pub fn convert(raw: &RawTree, zero: &[bool], scale: f64) -> Result<Tree, (usize, String)> {
    let err = |problem: String| (raw.line, problem);
    let n_internal = raw.feature.len();
    let n_leaves = raw.leaf_value.len();
    let mut ir = Tree::default();
    let leaf = |v: f64| if scale == 1.0 { v } else { v * scale };
    if n_internal == 0 {
        ir.push_leaf(&[leaf(raw.leaf_value[0])]);
        return Ok(ir);
    }
    #[derive(Clone, Copy)]
    enum Ref {
        Internal(usize),
        Leaf(usize),
    }
    let mut seen_internal = vec![false; n_internal];
    let mut seen_leaf = vec![false; n_leaves];
    seen_internal[0] = true;
    let mut queue = VecDeque::from([Ref::Internal(0)]);
    let mut next_id = 1u32;
    let mut ir_id = 0u32;
    while let Some(r) = queue.pop_front() {
        let i = match r {
            Ref::Leaf(l) => {
                ir.push_leaf(&[leaf(raw.leaf_value[l])]);
                ir_id += 1;
                continue;
            }
            Ref::Internal(i) => i,
        };
        let mut child = |c: i32, side: &str| -> Result<Ref, (usize, String)> {
            if c >= 0 {
                let c = c as usize;
                if c >= n_internal {
                    return Err(err(format!(
                        "node {i} has {side} child {c}; internal nodes are 0..{n_internal}"
                    )));
                }
                if std::mem::replace(&mut seen_internal[c], true) {
                    return Err(err(format!(
                        "node {c} is reached twice (a cycle or a shared child, at node {i})"
                    )));
                }
                Ok(Ref::Internal(c))
            } else {
                let l = !c as usize;
                if l >= n_leaves {
                    return Err(err(format!(
                        "node {i} has {side} child leaf {l}; leaves are 0..{n_leaves}"
                    )));
                }
                if std::mem::replace(&mut seen_leaf[l], true) {
                    return Err(err(format!("leaf {l} is reached twice (at node {i})")));
                }
                Ok(Ref::Leaf(l))
            }
        };
        let (left, right) = (child(raw.left[i], "left")?, child(raw.right[i], "right")?);
        queue.extend([left, right]);
        let f = raw.feature[i];
        let (yes, no) = (next_id, next_id + 1);
        next_id += 2;
        if raw.is_categorical(i) {
            let k = raw.threshold[i];
            let set = (k >= 0.0 && k.fract() == 0.0)
                .then(|| raw.category_sets.get(k as usize))
                .flatten()
                .ok_or_else(|| {
                    err(format!(
                        "categorical node {i} names bitset {k}; the tree has {}",
                        raw.category_sets.len()
                    ))
                })?;
            if zero[f as usize] && set.first() == Some(&0) {
                return Err(err(format!(
                    "feature {f} is split both with missing type Zero and on category 0 \
                     (node {i}); the two readings of 0 cannot be reproduced together"
                )));
            }
            ir.categories.push(ir_id, set.iter().copied());
            // NaN goes right (the false side).
            ir.push_split(f, 0.0, (yes, no), false);
        } else {
            let t = band_threshold(raw.threshold[i]);
            let missing_true = numeric_missing_side(raw, i, zero[f as usize])
                .map_err(|p| err(format!("node {i} (feature {f}): {p}")))?;
            ir.push_split(f, t, (yes, no), missing_true);
        }
        ir_id += 1;
    }
    if let Some(i) = seen_internal.iter().position(|s| !s) {
        return Err(err(format!("node {i} is not reachable from the root")));
    }
    if let Some(l) = seen_leaf.iter().position(|s| !s) {
        return Err(err(format!("leaf {l} is not reachable from the root")));
    }
    Ok(ir)
}

/// Where the IR must send what reads as NaN at numeric node `i`: NaN itself
/// and, on zero-as-missing features, the zero band.
///
/// LightGBM's `predict` reads every input with `|x| <= kZeroThreshold` as 0
/// (`c_api.cpp` keeps only values above it when it builds a row), so at a
/// node of missing type None or NaN the zero band goes where 0 goes.
fn numeric_missing_side(raw: &RawTree, i: usize, zero_feature: bool) -> Result<bool, String> {
    let zero_goes_left = 0.0 <= raw.threshold[i];
    let default_left = raw.default_left(i);
    match (raw.missing(i), zero_feature) {
        (Missing::Zero, _) => Ok(default_left),
        // NaN reads as 0.
        (Missing::None, _) => Ok(zero_goes_left),
        (Missing::NaN, false) => Ok(default_left),
        // NaN takes the default side, the zero band goes as 0: the IR reads
        // both as NaN on this feature.
        (Missing::NaN, true) if default_left == zero_goes_left => Ok(default_left),
        (Missing::NaN, true) => Err("missing type NaN on a feature other splits treat as \
             zero-as-missing, with NaN and zero going different ways"
            .into()),
    }
}

/// The threshold that sends the zero band where LightGBM sends it, as 0
/// (see [`numeric_missing_side`]), and every other value as `t` does: a
/// threshold inside the band moves to its edge.
fn band_threshold(t: f64) -> f64 {
    if !(-ZERO_THRESHOLD..ZERO_THRESHOLD).contains(&t) {
        t
    } else if t >= 0.0 {
        ZERO_THRESHOLD
    } else {
        // The largest double below -ZERO_THRESHOLD.
        f64::from_bits((-ZERO_THRESHOLD).to_bits() + 1)
    }
}
