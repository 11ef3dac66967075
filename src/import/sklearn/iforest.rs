//! `IsolationForest`, with scikit-learn's scoring (`score_samples`):
//!
//! * each tree (an `ExtraTreeRegressor` reading `X` as float32, through
//!   `estimators_features_` when the trees saw a feature subset) sends a row
//!   to a leaf, which contributes `depth + c(n) - 1`: `depth` counts the
//!   nodes on the path, root and leaf included, and `c(n)` is the average
//!   path length of an unsuccessful search in a binary tree of the leaf's
//!   `n` training samples. These are the leaf values, computed as
//!   scikit-learn computes them (or read from the arrays it stores since
//!   1.3), and summed in tree order;
//! * `score_samples = -2^(-sum / (n_trees · c(max_samples)))`
//!   ([`PostTransform::IsolationScore`]), `decision_function = score_samples
//!   - offset_`, and `predict` is -1 where the decision is negative, else 1.

use super::error::SklearnError;
use super::estimator::{Context, Estimator};
use super::forest::{member_tree, members};
use super::pickle::Value;
use super::tree::{read_tree, RawTree, TreeShape};
use crate::ir::{Aggregation, Forest, InputRules, PostTransform, Precision, SplitOp, Task, Tree};

/// The Euler–Mascheroni constant, `np.euler_gamma`.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// scikit-learn's `_average_path_length` of one leaf size.
pub(crate) fn average_path_length(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n == 2.0 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
    }
}

/// Converts a fitted isolation forest.
pub(crate) fn convert(est: &Estimator<'_, '_>, ctx: &Context) -> Result<Forest, SklearnError> {
    let n_features = est.n_features()?;
    let feature_names = est.feature_names(n_features)?;
    let offset = est.f64_attr("offset_")?;
    if !offset.is_finite() {
        return Err(est.invalid("offset_ is not finite"));
    }
    let max_samples = match est.opt("_max_samples") {
        Some(_) => est.usize_attr("_max_samples")?,
        None => est.usize_attr("max_samples_")?,
    };
    let max_features = match est.opt("_max_features") {
        Some(_) => est.usize_attr("_max_features")?,
        None => n_features,
    };
    // score_samples indexes X with estimators_features_ only when the
    // trees were grown on fewer features than the model takes.
    let subsample = max_features != n_features;
    let list = members(est, "estimators_")?;
    let features = if subsample {
        let f = est
            .attr("estimators_features_")?
            .as_list()
            .filter(|f| f.len() == list.len())
            .ok_or_else(|| est.invalid("estimators_features_ is not one array per tree"))?;
        Some(f)
    } else {
        None
    };
    let stored_depths = stored_per_tree(est, "_decision_path_lengths", list.len())?;
    let stored_lengths = stored_per_tree(est, "_average_path_length_per_tree", list.len())?;
    let tree_features = if subsample { max_features } else { n_features };
    let shape = TreeShape {
        n_features: tree_features,
        n_outputs: 1,
        n_classes: &[1],
    };
    let mut trees = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let member = member_tree(est, m, i, "Regressor")?;
        member.check_member_counts(tree_features, 1, None)?;
        let raw = read_tree(member.attr("tree_")?, &shape, &member.name, &ctx.budget)?;
        let map = match features {
            Some(f) => Some(feature_map(est, &f[i], i, max_features, n_features)?),
            None => None,
        };
        let depths = match stored_depths {
            Some(d) => Some(stored_array(
                est,
                &d[i],
                "_decision_path_lengths",
                i,
                raw.len(),
            )?),
            None => None,
        };
        let lengths = match stored_lengths {
            Some(l) => Some(stored_array(
                est,
                &l[i],
                "_average_path_length_per_tree",
                i,
                raw.len(),
            )?),
            None => None,
        };
        trees.push(isolation_tree(&raw, map.as_deref(), depths, lengths));
    }
    let normalizer = trees.len() as f64 * average_path_length(max_samples as f64);
    let mut source = ctx.source(&est.name);
    source
        .details
        .insert("max_samples".into(), max_samples.to_string());
    source.details.insert("offset".into(), offset.to_string());
    Ok(Forest {
        n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F32,
            ..InputRules::default()
        },
        split_op: SplitOp::LessOrEqual,
        task: Task::AnomalyDetection { offset },
        aggregation: Aggregation::Sum {
            base_values: vec![0.0],
            post_transform: PostTransform::IsolationScore { normalizer },
            tree_targets: Vec::new(),
        },
        trees,
        source,
    })
}

/// A per-tree tuple of arrays scikit-learn ≥ 1.3 stores, if present.
fn stored_per_tree<'v, 'a>(
    est: &Estimator<'v, 'a>,
    key: &str,
    n_trees: usize,
) -> Result<Option<&'v [Value<'a>]>, SklearnError> {
    match est.opt(key) {
        None => Ok(None),
        Some(Value::Tuple(t) | Value::List(t)) if t.len() == n_trees => Ok(Some(t)),
        Some(v) => Err(est.invalid(format!(
            "{key} is a {}; expected one array per tree",
            v.kind()
        ))),
    }
}

fn stored_array(
    est: &Estimator<'_, '_>,
    v: &Value<'_>,
    key: &str,
    i: usize,
    n_nodes: usize,
) -> Result<Vec<f64>, SklearnError> {
    let a = v
        .as_array()
        .filter(|a| a.shape == [n_nodes])
        .ok_or_else(|| est.invalid(format!("{key}[{i}] is not an array of {n_nodes} values")))?;
    a.to_f64()
        .map_err(|e| est.invalid(format!("{key}[{i}]: {e}")))
}

/// Tree `i`'s feature subset: tree feature `j` reads model column `map[j]`.
fn feature_map(
    est: &Estimator<'_, '_>,
    v: &Value<'_>,
    i: usize,
    max_features: usize,
    n_features: usize,
) -> Result<Vec<u32>, SklearnError> {
    let a = v
        .as_array()
        .filter(|a| a.shape == [max_features])
        .ok_or_else(|| {
            est.invalid(format!(
                "estimators_features_[{i}] is not an array of {max_features} feature indices"
            ))
        })?;
    let idx = a
        .to_i64()
        .map_err(|e| est.invalid(format!("estimators_features_[{i}]: {e}")))?;
    idx.iter()
        .map(|&f| {
            u32::try_from(f)
                .ok()
                .filter(|&f| (f as usize) < n_features)
                .ok_or_else(|| {
                    est.invalid(format!(
                        "estimators_features_[{i}] names feature {f}; the model has {n_features}"
                    ))
                })
        })
        .collect()
}

/// The IR tree of one isolation tree: leaves hold `depth + c(n) - 1`.
fn isolation_tree(
    raw: &RawTree,
    map: Option<&[u32]>,
    stored_depths: Option<Vec<f64>>,
    stored_lengths: Option<Vec<f64>>,
) -> Tree {
    let n = raw.len();
    // Nodes on the path from the root, root and node included.
    let depths =
        stored_depths.unwrap_or_else(|| raw.depths().iter().map(|&d| f64::from(d) + 1.0).collect());
    let lengths = stored_lengths.unwrap_or_else(|| {
        raw.n_node_samples
            .iter()
            .map(|&s| average_path_length(s as f64))
            .collect()
    });
    let mut t = Tree::with_capacity(n, n.div_ceil(2));
    for i in 0..n {
        let f = raw.feature[i];
        match raw.children[i] {
            Some(children) => {
                let missing_true = raw.missing_left.as_ref().is_some_and(|m| m[i]);
                let feature = map.map_or(f, |m| m[f as usize]);
                t.push_split(feature, raw.threshold[i], children, missing_true);
            }
            None => {
                t.push_leaf(&[depths[i] + lengths[i] - 1.0]);
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_path_length_matches_scikit_learn() {
        assert_eq!(average_path_length(0.0), 0.0);
        assert_eq!(average_path_length(1.0), 0.0);
        assert_eq!(average_path_length(2.0), 1.0);
        // 2 (ln 255 + γ) − 2·255/256, as numpy computes it.
        let want = 2.0 * (255f64.ln() + EULER_GAMMA) - 2.0 * 255.0 / 256.0;
        assert_eq!(average_path_length(256.0), want);
    }
}
