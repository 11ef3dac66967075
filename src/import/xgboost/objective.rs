//! What each XGBoost objective means for a converted forest: the task, the
//! transform XGBoost's `predict` applies to the margin, and how the saved
//! `base_score` (stored in output space since XGBoost 1.0) becomes a margin.
//!
//! Sources: XGBoost's `src/objective/` (`ProbToMargin`, `PredTransform` of
//! each objective, from 1.0 to 3.2), checked against XGBoost's own
//! predictions by the fixture tests.

use super::error::XgboostError;
use crate::ir::PostTransform;

/// The kind of output an objective produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Two classes, one margin: `predict` gives P(class 1).
    Binary,
    /// `num_class` classes, one margin each: `predict` gives the softmax
    /// (`multi:softprob`) or the argmax class (`multi:softmax`).
    Multiclass,
    /// Real-valued targets (regression, ranking scores, raw margins).
    Regression,
}

/// How `base_score` becomes a margin (XGBoost's `ProbToMargin`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// The score is the margin.
    Identity,
    /// `-logf(1/p - 1)` in float32, `p` clamped to `[1e-6, 1 - 1e-6]`.
    Logit,
    /// `logf(p)` in float32.
    Log,
}

/// The semantics of one objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// What the model predicts.
    pub output: Output,
    /// Applied by `predict` to the margins.
    pub transform: PostTransform,
    /// From `base_score` to margin.
    pub link: Link,
}

impl Objective {
    /// The semantics of the objective XGBoost calls `name`.
    pub fn from_name(name: &str) -> Result<Objective, XgboostError> {
        use Link::*;
        use Output::*;
        let (output, transform, link) = match name {
            "binary:logistic" => (Binary, PostTransform::Logistic, Logit),
            // `predict` returns the margin itself (raw scores). (XGBoost 1.0
            // to 1.3 used the Logit link: see the importer.)
            "binary:logitraw" => (Regression, PostTransform::None, Identity),
            "reg:logistic" => (Regression, PostTransform::Logistic, Logit),
            "multi:softprob" | "multi:softmax" => (Multiclass, PostTransform::Softmax, Identity),
            "reg:squarederror"
            | "reg:linear"
            | "reg:squaredlogerror"
            | "reg:absoluteerror"
            | "reg:pseudohubererror"
            | "reg:quantileerror" => (Regression, PostTransform::None, Identity),
            "count:poisson" | "reg:gamma" | "reg:tweedie" | "survival:cox" | "survival:aft" => {
                (Regression, PostTransform::Exp, Log)
            }
            // Ranking: `predict` returns raw scores.
            "rank:pairwise" | "rank:ndcg" | "rank:map" => {
                (Regression, PostTransform::None, Identity)
            }
            "binary:hinge" => {
                return Err(XgboostError::Unsupported {
                    what: "objective binary:hinge (its predictions are a 0/1 step of the margin)"
                        .into(),
                    hint: "Retrain with binary:logistic, or convert a copy saved with \
                           objective binary:logitraw to get the margins"
                        .into(),
                })
            }
            other => {
                return Err(XgboostError::Unsupported {
                    what: format!("objective {}", crate::text::quoted(other)),
                    hint: "Supported: binary:logistic, binary:logitraw, reg:logistic, \
                           multi:softprob, multi:softmax, reg:squarederror, reg:linear, \
                           reg:squaredlogerror, reg:absoluteerror, reg:pseudohubererror, \
                           reg:quantileerror, count:poisson, reg:gamma, reg:tweedie, \
                           survival:cox, survival:aft, rank:pairwise, rank:ndcg, rank:map"
                        .into(),
                })
            }
        };
        Ok(Objective {
            output,
            transform,
            link,
        })
    }

    /// The margin XGBoost derives from a saved `base_score` value, in
    /// float32 exactly as XGBoost computes it.
    pub fn margin(&self, base_score: f32) -> Result<f32, String> {
        match self.link {
            Link::Identity => Ok(base_score),
            Link::Logit => {
                if !(0.0..=1.0).contains(&base_score) {
                    return Err(format!(
                        "{base_score} is not a probability; a logistic objective needs one in (0, 1)"
                    ));
                }
                // XGBoost 3.x clamps to [kRtEps, 1 - kRtEps]; earlier versions
                // refused 0 and 1 outright, so they never saved them.
                const RT_EPS: f32 = 1e-6;
                let p = base_score.clamp(RT_EPS, 1.0 - RT_EPS);
                Ok(-(1.0f32 / p - 1.0).ln())
            }
            Link::Log => {
                if base_score <= 0.0 {
                    return Err(format!(
                        "{base_score} is not positive; a log-link objective needs base_score > 0"
                    ));
                }
                Ok(base_score.ln())
            }
        }
    }
}

/// Parses a saved `base_score`: a number such as `"5E-1"`, or (XGBoost 3.1
/// and later) a vector such as `"[5E-1]"` or `"[1E-1,2E-1]"`.
pub fn parse_base_score(text: &str) -> Result<Vec<f32>, String> {
    let t = text.trim();
    let inner = match t.strip_prefix('[') {
        Some(rest) => rest
            .strip_suffix(']')
            .ok_or_else(|| format!("{} opens a vector it does not close", quote(t)))?,
        None => t,
    };
    let values: Result<Vec<f32>, String> = inner
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f32>()
                .map_err(|_| format!("{} is not a number", quote(s)))
        })
        .collect();
    let values = values?;
    if values.is_empty() {
        return Err(format!("{} holds no number", quote(t)));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("{v} is not finite"));
    }
    Ok(values)
}

fn quote(s: &str) -> String {
    crate::text::quoted(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_scores_parse_as_scalars_and_vectors() {
        assert_eq!(parse_base_score("5E-1"), Ok(vec![0.5]));
        assert_eq!(parse_base_score("0.500000"), Ok(vec![0.5]));
        assert_eq!(parse_base_score("[5E-1]"), Ok(vec![0.5]));
        assert_eq!(parse_base_score("[1E-1,2.5E0]"), Ok(vec![0.1, 2.5]));
        assert!(parse_base_score("[1E-1").is_err());
        assert!(parse_base_score("[]").is_err());
        assert!(parse_base_score("abc").is_err());
        assert!(parse_base_score("NaN").is_err());
    }

    #[test]
    fn margins_follow_xgboost_float32_arithmetic() {
        let logistic = Objective::from_name("binary:logistic").unwrap();
        assert_eq!(logistic.margin(0.5), Ok(0.0));
        let p = 0.49f32;
        assert_eq!(logistic.margin(p), Ok(-(1.0f32 / p - 1.0).ln()));
        // Clamped, as XGBoost 3 does.
        assert_eq!(logistic.margin(1.0), logistic.margin(1.0 - 1e-6));
        assert!(logistic.margin(1.5).is_err());
        let poisson = Objective::from_name("count:poisson").unwrap();
        assert_eq!(poisson.margin(2.0), Ok(2f32.ln()));
        assert!(poisson.margin(0.0).is_err());
        let raw = Objective::from_name("binary:logitraw").unwrap();
        assert_eq!(raw.margin(0.3), Ok(0.3));
    }

    #[test]
    fn unknown_objectives_are_refused_by_name() {
        let e = Objective::from_name("reg:fancy").unwrap_err().to_string();
        assert!(e.contains("reg:fancy") && e.contains("Supported"), "{e}");
        assert!(Objective::from_name("binary:hinge").is_err());
    }
}
