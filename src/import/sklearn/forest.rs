//! Decision trees and forests (`RandomForest*`, `ExtraTrees*`,
//! `DecisionTree*`, `ExtraTree*`, classifiers and regressors), with
//! scikit-learn's prediction semantics:
//!
//! * a row goes left when `x <= threshold`, after `X` is cast to float32
//!   (`Precision::F32`; the threshold stays float64);
//! * NaN goes left when the node's `missing_go_to_left` is set
//!   (scikit-learn ≥ 1.3). Older nodes have no such field; those versions
//!   refuse NaN in `predict`, and their tree code would send it right
//!   (`NaN <= t` is false), which is what the forest does;
//! * a forest averages its trees' outputs in tree order
//!   (`Aggregation::Average`, the sum divided by the number of trees, as
//!   `predict`/`predict_proba` do with `n_jobs=1`); a classifier's label is
//!   the first class with the highest probability (`np.argmax`);
//! * a classifier tree's class probabilities are its leaf values divided by
//!   their sum before scikit-learn 1.4 (leaves held weighted counts); from
//!   1.4 leaves hold fractions and `predict_proba` returns them unchanged;
//! * a regressor tree predicts its leaf values, one per output
//!   (`n_outputs_ > 1`: multi-output regression).
//!
//! Multi-output classifiers are refused.

use super::error::SklearnError;
use super::estimator::{Context, Estimator};
use super::pickle::Value;
use super::tree::{read_tree, RawTree, TreeShape};
use crate::ir::{Aggregation, Forest, InputRules, Precision, SplitOp, Task, Tree};

const ENSEMBLES: &[&str] = &[
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
];

/// Converts a tree or forest, classifier or regressor.
pub(crate) fn convert(est: &Estimator<'_, '_>, ctx: &Context) -> Result<Forest, SklearnError> {
    let classifier = est.name.ends_with("Classifier");
    let n_features = est.n_features()?;
    let n_outputs = est.usize_attr("n_outputs_")?;
    if n_outputs == 0 {
        return Err(est.invalid("n_outputs_ is 0"));
    }
    let (task, n_classes) = if classifier {
        if n_outputs != 1 {
            return Err(SklearnError::MultiOutput {
                estimator: est.name.clone(),
                n_outputs,
            });
        }
        let labels = est.labels()?;
        let k = labels.len();
        (Task::Classification(labels), vec![k])
    } else {
        (
            Task::Regression {
                n_targets: n_outputs,
            },
            vec![1; n_outputs],
        )
    };
    let feature_names = est.feature_names(n_features)?;
    let shape = TreeShape {
        n_features,
        n_outputs,
        n_classes: &n_classes,
    };
    let normalize = classifier && counts_in_leaves(ctx);
    let convert_one = |member: &Estimator<'_, '_>| -> Result<Tree, SklearnError> {
        let raw = read_tree(member.attr("tree_")?, &shape, &member.name, &ctx.budget)?;
        Ok(ir_tree(&raw, normalize, true, |v| v))
    };
    let trees = if ENSEMBLES.contains(&est.name.as_str()) {
        members(est, "estimators_")?
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let member = member_tree(est, m, i, &est.name)?;
                member.check_member_counts(
                    n_features,
                    n_outputs,
                    classifier.then_some(n_classes[0]),
                )?;
                convert_one(&member)
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![convert_one(est)?]
    };
    Ok(Forest {
        n_features,
        feature_names,
        // Trees cast `X` to float32, then compare with f64 thresholds.
        input: InputRules {
            precision: Precision::F32,
            ..InputRules::default()
        },
        split_op: SplitOp::LessOrEqual,
        task,
        aggregation: Aggregation::Average,
        trees,
        source: ctx.source(&est.name),
    })
}

/// `estimators_` as a list (forests, isolation forests).
pub(crate) fn members<'v, 'a>(
    est: &Estimator<'v, 'a>,
    key: &str,
) -> Result<&'v [Value<'a>], SklearnError> {
    let list = est
        .attr(key)?
        .as_list()
        .ok_or_else(|| est.invalid(format!("{key} is not a list")))?;
    if list.is_empty() {
        return Err(est.invalid(format!("{key} is empty")));
    }
    Ok(list)
}

/// Member `i` of an ensemble, which must be a fitted tree estimator whose
/// name ends like the ensemble's kind (`Classifier` or `Regressor`).
pub(crate) fn member_tree<'v, 'a>(
    est: &Estimator<'v, 'a>,
    m: &'v Value<'a>,
    i: usize,
    ensemble: &str,
) -> Result<Estimator<'v, 'a>, SklearnError> {
    let kind = if ensemble.ends_with("Classifier") {
        "Classifier"
    } else {
        "Regressor"
    };
    let obj = m
        .as_object()
        .filter(|o| {
            o.class.name.ends_with(kind)
                && matches!(
                    o.class.name.as_str(),
                    "DecisionTreeClassifier"
                        | "ExtraTreeClassifier"
                        | "DecisionTreeRegressor"
                        | "ExtraTreeRegressor"
                )
        })
        .ok_or_else(|| {
            est.invalid(format!(
                "estimators_[{i}] is a {}, not a decision tree {}",
                m.kind(),
                kind.to_lowercase()
            ))
        })?;
    Estimator::new(obj, format!("{}.estimators_[{i}]", est.name))
}

/// Whether leaves of this scikit-learn version hold counts that
/// `predict_proba` normalises (before 1.4) rather than fractions. Unknown
/// versions normalise: normalising fractions is harmless, not normalising
/// counts is wrong.
fn counts_in_leaves(ctx: &Context) -> bool {
    ctx.version().is_none_or(|v| v < (1, 4))
}

/// A checked tree → IR tree. Leaf values pass through `leaf` (one per
/// output, classes flattened); with `normalize`, each output's class counts
/// are divided by their sum first (a zero sum divides by one, as
/// scikit-learn does). Without `missing`, NaN takes the right branch
/// whatever `missing_go_to_left` says.
pub(crate) fn ir_tree(
    raw: &RawTree,
    normalize: bool,
    missing: bool,
    leaf: impl Fn(f64) -> f64,
) -> Tree {
    let n = raw.len();
    let width = raw.value_stride;
    let mut t = Tree::with_capacity(n, n.div_ceil(2) * width);
    let mut values = vec![0.0; width];
    for i in 0..n {
        match raw.children[i] {
            Some(children) => {
                let missing_true = match (&raw.missing_left, missing) {
                    (Some(m), true) => m[i],
                    _ => false,
                };
                t.push_split(raw.feature[i], raw.threshold[i], children, missing_true);
            }
            None => {
                values.copy_from_slice(raw.value(i));
                if normalize {
                    normalise(&mut values);
                }
                values.iter_mut().for_each(|v| *v = leaf(*v));
                t.push_leaf(&values);
            }
        }
    }
    t
}

/// Class counts → probabilities as scikit-learn's `predict_proba` computes
/// them: counts divided by their sum (a zero sum divides by one).
fn normalise(row: &mut [f64]) {
    let sum: f64 = row.iter().sum();
    let sum = if sum == 0.0 { 1.0 } else { sum };
    row.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_1_4_hold_counts() {
        let ctx = |v: &str| Context {
            version: v.into(),
            budget: Default::default(),
        };
        assert!(counts_in_leaves(&ctx("1.3.2")));
        assert!(counts_in_leaves(&ctx("0.24.2")));
        assert!(counts_in_leaves(&ctx("unknown")));
        assert!(!counts_in_leaves(&ctx("1.4.0")));
        assert!(!counts_in_leaves(&ctx("1.4.dev0")));
        assert!(!counts_in_leaves(&ctx("1.9.1")));
        assert!(!counts_in_leaves(&ctx("2.0")));
    }

    #[test]
    fn counts_normalise_and_zero_sums_stay_zero() {
        let mut out = [1.0, 3.0, 0.0];
        normalise(&mut out);
        assert_eq!(out, [0.25, 0.75, 0.0]);
        let mut zero = [0.0; 3];
        normalise(&mut zero);
        assert_eq!(zero, [0.0; 3]);
    }
}
