//! Decoded scikit-learn estimators → [`Forest`]: the dispatch on the
//! estimator class. Each family has its own module with scikit-learn's
//! prediction semantics: [`forest`](super::forest) (trees and forests,
//! classifiers and regressors), [`boosting`](super::boosting)
//! (`GradientBoosting*`), [`hist`](super::hist) (`HistGradientBoosting*`),
//! [`iforest`](super::iforest) (`IsolationForest`) and
//! [`wrappers`](super::wrappers) (XGBoost's and LightGBM's scikit-learn
//! estimators).

use std::cell::Cell;

use super::allowlist::ESTIMATORS;
use super::error::SklearnError;
use super::estimator::{Context, Estimator};
use super::pickle::Value;
use super::{boosting, forest, hist, iforest, wrappers};
use crate::import::rounds::Rounds;
use crate::ir::Forest;

/// Converts the root object of a scikit-learn pickle into a checked forest.
/// `input_len` is the size of the decoded stream: trees may not hold more
/// array data than twice that, which real files never do (each tree's
/// arrays are distinct bytes of the stream) but a file whose trees all
/// reference one memoized array would, multiplying the memory it takes.
#[cfg(test)]
pub(crate) fn forest_from_value(
    root: &Value<'_>,
    input_len: usize,
) -> Result<Forest, SklearnError> {
    forest_from_value_with(root, input_len, Rounds::Default)
}

/// [`forest_from_value`] keeping the boosting rounds `rounds` asks for
/// (XGBoost and LightGBM estimators only).
pub(crate) fn forest_from_value_with(
    root: &Value<'_>,
    input_len: usize,
    rounds: Rounds,
) -> Result<Forest, SklearnError> {
    let obj = root
        .as_object()
        .ok_or_else(|| SklearnError::UnsupportedEstimator {
            found: match root {
                // An inert numpy random object on its own holds no model.
                Value::Inert(_) => format!("only a {}", root.kind()),
                _ => root.kind(),
            },
        })?;
    let class = &obj.class;
    if !ESTIMATORS
        .iter()
        .any(|&(m, n)| m == class.module && n == class.name)
    {
        return Err(SklearnError::UnsupportedEstimator {
            found: format!("a {class} object"),
        });
    }
    let est = Estimator::new(obj, class.name.clone())?;
    let name = class.name.as_str();
    if wrappers::XGBOOST.contains(&name) || wrappers::LIGHTGBM.contains(&name) {
        return wrappers::convert(&est, rounds);
    }
    if rounds != Rounds::Default {
        return Err(est.unsupported(format!(
            "--rounds {rounds} (it applies to XGBoost and LightGBM models)"
        )));
    }
    let ctx = Context {
        version: est
            .state
            .get("_sklearn_version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string(),
        budget: Cell::new(input_len.saturating_mul(2).saturating_add(1 << 20)),
    };
    let forest = match class.name.as_str() {
        "RandomForestClassifier"
        | "ExtraTreesClassifier"
        | "DecisionTreeClassifier"
        | "ExtraTreeClassifier"
        | "RandomForestRegressor"
        | "ExtraTreesRegressor"
        | "DecisionTreeRegressor"
        | "ExtraTreeRegressor" => forest::convert(&est, &ctx)?,
        "GradientBoostingClassifier" | "GradientBoostingRegressor" => {
            boosting::convert(&est, &ctx)?
        }
        "HistGradientBoostingClassifier" | "HistGradientBoostingRegressor" => {
            hist::convert(&est, &ctx)?
        }
        "IsolationForest" => iforest::convert(&est, &ctx)?,
        other => {
            return Err(SklearnError::UnsupportedEstimator {
                found: format!("a {other} object, which is only read inside an ensemble"),
            })
        }
    };
    forest.check()?;
    Ok(forest)
}
