//! Pickled XGBoost and LightGBM scikit-learn estimators (`XGBClassifier`,
//! `XGBRegressor`, `LGBMClassifier`, `LGBMRegressor`), as `joblib.dump` or
//! `pickle.dump` write them, read as data like every other pickle.
//!
//! The estimator keeps its booster as a model the booster importers read:
//! an XGBoost `Booster`'s state is `{"handle": bytearray}`, the raw model
//! (UBJSON, or JSON from old releases); a LightGBM `Booster`'s state holds
//! `_handle`, the model text, and `best_iteration`. The estimator adds what
//! the booster does not know: LightGBM classifiers' class labels
//! (`_classes`: strings, or integers that are not `0..n`), and that the
//! scikit-learn wrapper predicts up to the best iteration.

use super::error::SklearnError;
use super::estimator::{class_labels, Estimator};
use super::pickle::Value;
use crate::import::rounds::Rounds;
use crate::ir::{Forest, Labels, Task};

/// The estimator classes this module reads.
pub(crate) const XGBOOST: &[&str] = &["XGBClassifier", "XGBRegressor"];
/// The estimator classes this module reads.
pub(crate) const LIGHTGBM: &[&str] = &["LGBMClassifier", "LGBMRegressor"];

/// Converts a pickled XGBoost or LightGBM estimator, keeping `rounds`.
pub(crate) fn convert(est: &Estimator<'_, '_>, rounds: Rounds) -> Result<Forest, SklearnError> {
    let booster = est.member(est.attr("_Booster")?, "_Booster", &["Booster"])?;
    let classifier = est.name.ends_with("Classifier");
    let mut forest = if XGBOOST.contains(&est.name.as_str()) {
        xgboost_booster(est, &booster, rounds)?
    } else {
        lightgbm_booster(est, &booster, rounds)?
    };
    match (&mut forest.task, classifier) {
        (Task::Classification(labels), true) => {
            if let Some(classes) = lightgbm_classes(est)? {
                if classes.len() != labels.len() {
                    return Err(est.invalid(format!(
                        "_classes has {} labels; the booster predicts {} classes",
                        classes.len(),
                        labels.len()
                    )));
                }
                *labels = classes;
            }
        }
        (Task::Regression { .. }, false) => {}
        (task, _) => {
            return Err(est.invalid(format!(
                "the booster's objective makes it a {}",
                match task {
                    Task::Classification(_) => "classifier",
                    _ => "regressor",
                }
            )))
        }
    }
    forest.source.estimator = est.name.clone();
    forest.check()?;
    Ok(forest)
}

#[cfg(feature = "xgboost")]
fn xgboost_booster(
    est: &Estimator<'_, '_>,
    booster: &Estimator<'_, '_>,
    rounds: Rounds,
) -> Result<Forest, SklearnError> {
    let Value::Bytes(raw) = booster.attr("handle")? else {
        return Err(booster.invalid("handle is not the raw model bytes"));
    };
    // The wrapper predicts up to best_iteration, which the raw model keeps
    // among its attributes.
    let rounds = match rounds {
        Rounds::Default => Rounds::Best,
        other => other,
    };
    let read = |rounds| crate::import::xgboost::from_bytes_with(raw, rounds);
    let forest = match read(rounds) {
        // No early stopping: every round.
        Err(crate::import::xgboost::XgboostError::Rounds(_)) if rounds == Rounds::Best => {
            read(Rounds::All)
        }
        other => other,
    };
    forest.map_err(|e| est.invalid(format!("its booster: {e}")))
}

#[cfg(not(feature = "xgboost"))]
fn xgboost_booster(
    est: &Estimator<'_, '_>,
    _: &Estimator<'_, '_>,
    _: Rounds,
) -> Result<Forest, SklearnError> {
    Err(est.unsupported("an XGBoost model in a build without the `xgboost` feature"))
}

#[cfg(feature = "lightgbm")]
fn lightgbm_booster(
    est: &Estimator<'_, '_>,
    booster: &Estimator<'_, '_>,
    rounds: Rounds,
) -> Result<Forest, SklearnError> {
    let text = booster
        .attr("_handle")?
        .as_str()
        .ok_or_else(|| booster.invalid("_handle is not the model text"))?;
    let best = booster
        .opt("best_iteration")
        .and_then(Value::as_int)
        .and_then(|b| usize::try_from(b).ok())
        .filter(|&b| b > 0);
    crate::import::lightgbm::from_str_with(text, rounds, best)
        .map_err(|e| est.invalid(format!("its booster: {e}")))
}

#[cfg(not(feature = "lightgbm"))]
fn lightgbm_booster(
    est: &Estimator<'_, '_>,
    _: &Estimator<'_, '_>,
    _: Rounds,
) -> Result<Forest, SklearnError> {
    Err(est.unsupported("a LightGBM model in a build without the `lightgbm` feature"))
}

/// A LightGBM classifier's labels (`_classes`), which its booster predicts
/// the indices of.
fn lightgbm_classes(est: &Estimator<'_, '_>) -> Result<Option<Labels>, SklearnError> {
    match est.opt("_classes") {
        None => Ok(None),
        Some(Value::Array(a)) if a.shape.len() == 1 => class_labels(a)
            .map(Some)
            .map_err(|p| est.invalid(format!("_classes: {p}"))),
        Some(other) => Err(est.invalid(format!("_classes is a {}", other.kind()))),
    }
}
