//! What CatBoost's `predict` returns for each loss function, as the forest's
//! task and post-transform.

use std::collections::BTreeMap;

use serde_json::Value;

use super::CatboostError;
use crate::ir::{Labels, PostTransform, Task};

/// A loss function read from `model_info`.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// CatBoost's name, e.g. `Logloss`.
    pub name: String,
    /// Its parameters as written, e.g. `alpha=0.3`.
    pub params: String,
    /// The forest's task.
    pub task: Task,
    /// Raw scores to `predict`'s output.
    pub post_transform: PostTransform,
    /// The scikit-learn-style estimator CatBoost's Python package uses.
    pub estimator: &'static str,
}

/// Losses whose `predict` returns the raw score (`RawFormulaVal`).
const IDENTITY: &[&str] = &[
    "RMSE",
    "MAE",
    "Quantile",
    "Expectile",
    "MAPE",
    "Huber",
    "LogCosh",
    "Lq",
    "MultiRMSE",
    "MultiQuantile",
];

/// Ranking losses: `CatBoostRanker.predict` returns raw scores.
const RANKING: &[&str] = &[
    "YetiRank",
    "YetiRankPairwise",
    "PairLogit",
    "PairLogitPairwise",
    "QueryRMSE",
    "QuerySoftMax",
    "QueryCrossEntropy",
    "StochasticFilter",
    "StochasticRank",
    "LambdaMart",
];

/// Reads the loss of a model with `dims` scores per row.
pub(crate) fn read(
    info: &BTreeMap<String, Value>,
    dims: usize,
) -> Result<Objective, CatboostError> {
    let (name, params) = loss(info)?;
    let refuse = |hint: &str| CatboostError::Unsupported {
        what: format!("the loss function {name}"),
        hint: hint.into(),
    };
    let regression = |post_transform, estimator| Objective {
        name: name.clone(),
        params: params.clone(),
        task: Task::Regression { n_targets: dims },
        post_transform,
        estimator,
    };
    let objective =
        match name.as_str() {
            "Logloss" | "CrossEntropy" => {
                if dims != 1 {
                    return Err(CatboostError::field(
                        "ApproxDimension",
                        format!("{dims} scores for a {name} model (1 expected)"),
                    ));
                }
                classifier(
                    &name,
                    &params,
                    class_labels(info, 2)?,
                    PostTransform::Logistic,
                )
            }
            "MultiClass" => classifier(
                &name,
                &params,
                class_labels(info, dims)?,
                PostTransform::Softmax,
            ),
            // One sigmoid per class, not normalised; the label is the first
            // class with the highest score.
            "MultiClassOneVsAll" => classifier(
                &name,
                &params,
                class_labels(info, dims)?,
                PostTransform::Logistic,
            ),
            "Poisson" | "Tweedie" => regression(PostTransform::Exp, "CatBoostRegressor"),
            n if IDENTITY.contains(&n) => regression(PostTransform::None, "CatBoostRegressor"),
            n if RANKING.contains(&n) => regression(PostTransform::None, "CatBoostRanker"),
            "RMSEWithUncertainty" => {
                return Err(refuse(
                    "Its predict returns a mean and a variance computed from two raw scores \
                 (prediction_type VirtEnsembles / TotalUncertainty), which forest2onnx does not \
                 reproduce; retrain with loss_function=\"RMSE\"",
                ))
            }
            _ => return Err(refuse(
                "forest2onnx reproduces Logloss, CrossEntropy, MultiClass, MultiClassOneVsAll, \
                 RMSE, MAE, Quantile, Expectile, MAPE, Huber, LogCosh, Lq, MultiRMSE, \
                 MultiQuantile, Poisson, Tweedie and the ranking losses (raw scores)",
            )),
        };
    Ok(objective)
}

fn classifier(name: &str, params: &str, labels: Labels, post: PostTransform) -> Objective {
    Objective {
        name: name.into(),
        params: params.into(),
        task: Task::Classification(labels),
        post_transform: post,
        estimator: "CatBoostClassifier",
    }
}

/// The loss name and parameters: `params.loss_function` of a trained
/// model, or the `loss_function` JSON text of a model made by `sum_models`.
fn loss(info: &BTreeMap<String, Value>) -> Result<(String, String), CatboostError> {
    let parsed;
    let spec = match info.get("params").and_then(|p| p.get("loss_function")) {
        Some(v) => v,
        None => match info.get("loss_function") {
            Some(Value::String(s)) => {
                parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                    CatboostError::field("model_info.loss_function", format!("not JSON: {e}"))
                })?;
                &parsed
            }
            _ => {
                return Err(CatboostError::field(
                    "model_info.params.loss_function",
                    "missing: the model does not say its loss function",
                ))
            }
        },
    };
    let name = spec
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| CatboostError::field("model_info.params.loss_function.type", "missing"))?;
    let params = match spec.get("params").and_then(Value::as_object) {
        Some(p) => p
            .iter()
            .filter(|(k, _)| !k.starts_with("__"))
            .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_string)))
            .collect::<Vec<_>>()
            .join(","),
        None => String::new(),
    };
    Ok((name.to_string(), params))
}

/// The class labels of a classifier with `n` classes: `class_params`
/// (`class_names` typed by `class_label_type`), or `0..n` when the model
/// names none (CrossEntropy, or 0/1 targets).
fn class_labels(info: &BTreeMap<String, Value>, n: usize) -> Result<Labels, CatboostError> {
    let field = |problem: String| CatboostError::field("model_info.class_params", problem);
    let params = info
        .get("class_params")
        .or_else(|| info.get("multiclass_params"));
    let names = params
        .and_then(|p| p.get("class_names"))
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty());
    let Some(names) = names else {
        return Ok(Labels::Int((0..n as i64).collect()));
    };
    if names.len() != n {
        return Err(field(format!(
            "{} class names for {n} classes",
            names.len()
        )));
    }
    if let Some(map) = params
        .and_then(|p| p.get("class_to_label"))
        .and_then(Value::as_array)
    {
        let identity = map
            .iter()
            .enumerate()
            .all(|(i, v)| v.as_f64() == Some(i as f64));
        if !identity {
            return Err(CatboostError::Unsupported {
                what: format!("class_to_label {map:?} (classes renumbered)"),
                hint: "Retrain with every class present in the training data".into(),
            });
        }
    }
    let kind = params
        .and_then(|p| p.get("class_label_type"))
        .and_then(Value::as_str)
        .unwrap_or("Integer");
    let bad = |v: &Value| field(format!("class name {v} is not a {kind}"));
    Ok(match kind {
        "String" => Labels::Str(
            names
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        "Integer" => Labels::Int(
            names
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        "Float" => Labels::Float(
            names
                .iter()
                .map(|v| v.as_f64().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(field(format!("unknown class_label_type {other:?}"))),
    })
}
