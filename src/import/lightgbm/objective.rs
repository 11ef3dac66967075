//! The `objective=` line of a LightGBM model and what `predict` does with
//! the raw scores for it (`ConvertOutput` of each objective in LightGBM's
//! `src/objective/`).

use super::error::LightgbmError;
use crate::ir::PostTransform;
use crate::text::quoted as quote;

/// What a LightGBM objective means for the converted forest.
#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    /// The objective's name as written (`binary`, `multiclass`, ...).
    pub name: String,
    /// Whether `predict` gives class probabilities.
    pub classifier: bool,
    /// Applied to the raw scores by `predict`.
    pub transform: PostTransform,
    /// `sigmoid:` parameter: the logistic transform is `1 / (1 + e^(-k s))`.
    pub sigmoid: f64,
    /// `num_class:` parameter, when given.
    pub num_class: Option<usize>,
}

impl Objective {
    /// The objective of a model without an `objective=` line, or trained
    /// with a custom objective: `predict` returns the raw scores.
    pub fn raw(name: &str) -> Objective {
        Objective {
            name: name.into(),
            classifier: false,
            transform: PostTransform::None,
            sigmoid: 1.0,
            num_class: None,
        }
    }

    /// Parses the value of the `objective=` line, e.g. `binary sigmoid:1`,
    /// `multiclassova num_class:3 sigmoid:1`, `regression`.
    pub fn parse(text: &str) -> Result<Objective, LightgbmError> {
        let mut tokens = text.split_ascii_whitespace();
        let name = tokens.next().unwrap_or_default();
        let (classifier, transform) = match name {
            "binary" => (true, PostTransform::Logistic),
            "multiclass" => (true, PostTransform::Softmax),
            "multiclassova" => (true, PostTransform::Logistic),
            "regression" | "regression_l1" | "huber" | "fair" | "quantile" | "mape" => {
                (false, PostTransform::None)
            }
            "poisson" | "gamma" | "tweedie" => (false, PostTransform::Exp),
            "cross_entropy" => (false, PostTransform::Logistic),
            "lambdarank" | "rank_xendcg" | "custom" => (false, PostTransform::None),
            "cross_entropy_lambda" => {
                return Err(unsupported(
                    "objective cross_entropy_lambda (its output, log(1 + e^s), is no \
                     transform ONNX tree ensembles or forest2onnx's IR have)",
                ))
            }
            "" => return Err(bad("the objective line is empty")),
            other => {
                return Err(unsupported(&format!(
                    "objective {}; supported: binary, multiclass, multiclassova, regression, \
                     regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie, \
                     cross_entropy, lambdarank, rank_xendcg, custom",
                    quote(other)
                )))
            }
        };
        let mut objective = Objective {
            transform,
            classifier,
            ..Objective::raw(name)
        };
        for token in tokens {
            match token.split_once(':') {
                Some(("sigmoid", v)) if transform == PostTransform::Logistic && classifier => {
                    objective.sigmoid = v
                        .parse::<f64>()
                        .ok()
                        .filter(|k| k.is_finite() && *k > 0.0)
                        .ok_or_else(|| bad(&format!("sigmoid:{} is not a positive number", v)))?;
                }
                Some(("num_class", v)) if name.starts_with("multiclass") => {
                    objective.num_class = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&n| n >= 2)
                            .ok_or_else(|| bad(&format!("num_class:{v} is not 2 or more")))?,
                    );
                }
                None if token == "sqrt" => {
                    return Err(unsupported(
                        "reg_sqrt (predictions are the signed square of the raw score, \
                         a transform ONNX tree ensembles do not have)",
                    ))
                }
                _ => {
                    return Err(unsupported(&format!(
                        "objective parameter {} of {name} (it may change the predictions)",
                        quote(token)
                    )))
                }
            }
        }
        if name.starts_with("multiclass") && objective.num_class.is_none() {
            return Err(bad(&format!("{name} without num_class")));
        }
        Ok(objective)
    }
}

fn bad(problem: &str) -> LightgbmError {
    LightgbmError::Header {
        line: 0,
        key: "objective".into(),
        problem: problem.into(),
    }
}

fn unsupported(what: &str) -> LightgbmError {
    LightgbmError::Unsupported {
        what: what.into(),
        hint: "Retrain with a supported objective".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_parse_with_their_parameters() {
        let b = Objective::parse("binary sigmoid:1").unwrap();
        assert!(b.classifier);
        assert_eq!((b.transform, b.sigmoid), (PostTransform::Logistic, 1.0));
        let b = Objective::parse("binary sigmoid:0.5").unwrap();
        assert_eq!(b.sigmoid, 0.5);
        let m = Objective::parse("multiclassova num_class:3 sigmoid:2").unwrap();
        assert_eq!((m.num_class, m.sigmoid), (Some(3), 2.0));
        let m = Objective::parse("multiclass num_class:4").unwrap();
        assert_eq!(m.transform, PostTransform::Softmax);
        assert_eq!(
            Objective::parse("tweedie").unwrap().transform,
            PostTransform::Exp
        );
        assert!(!Objective::parse("lambdarank").unwrap().classifier);
    }

    #[test]
    fn what_cannot_be_reproduced_is_refused() {
        for bad in [
            "regression sqrt",
            "cross_entropy_lambda",
            "binary sigmoid:-1",
            "binary sigmoid:x",
            "multiclass",
            "multiclass num_class:1",
            "regression alpha:3",
            "frobnicate",
            "",
        ] {
            assert!(Objective::parse(bad).is_err(), "{bad}");
        }
    }
}
