//! `GradientBoostingClassifier` and `GradientBoostingRegressor`, with
//! scikit-learn's prediction semantics (`_raw_predict`, `predict_stages`):
//!
//! * the raw score starts at the init estimator's prediction turned into a
//!   score (the base values: `init='zero'` gives zeros, a `DummyRegressor`
//!   its constant, a `DummyClassifier` its class probabilities clipped to
//!   `[eps, 1 - eps]` through the loss's link), then every stage adds
//!   `learning_rate * leaf value` of its tree for each score, stage by stage.
//!   The product is what the trees' leaves hold here, computed as
//!   scikit-learn computes it, and the IR adds it to the base values in the
//!   same order: the raw scores are bit for bit scikit-learn's;
//! * trees read `X` as float32 and send NaN right (`predict_stages` has no
//!   missing-value branch; `predict` refuses NaN anyway);
//! * outputs: a regressor predicts the raw score (every loss, including
//!   `huber` and `quantile`, has the identity link); a binary classifier's
//!   probability is `expit(score)` (`log_loss`) or `expit(2 * score)`
//!   (`exponential`: the factor 2 is folded into the leaves and base value,
//!   exactly, so the forest's raw score is twice scikit-learn's
//!   `decision_function`, recorded as [`RAW_SCORE_SCALE`] in the source
//!   details); a multi-class
//!   classifier's is the softmax of its per-class scores.
//!
//! Losses come from `sklearn.ensemble._gb_losses` before scikit-learn 1.4
//! (which clip with float32's epsilon and use `log(p / (1 - p))` and
//! `log(p)`) and from `sklearn._loss` from 1.4 (float64's epsilon, `logit`
//! and the symmetric multinomial logit `log(p / gmean(p))`). Any init
//! estimator other than a dummy, and a dummy that predicts at random
//! (`strategy='stratified'`), is refused.

use super::error::SklearnError;
use super::estimator::{as_f64, Context, Estimator};
use super::forest::ir_tree;
use super::pickle::Value;
use super::tree::{read_tree, TreeShape};
use crate::ir::{Aggregation, Forest, InputRules, PostTransform, Precision, SplitOp, Task, Tree};

/// `Source::details` key present when the forest's raw scores are
/// scikit-learn's `decision_function` times its value (`2` for the
/// exponential loss).
pub const RAW_SCORE_SCALE: &str = "raw_score_scale";

/// What a loss object means for prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Loss {
    /// Identity link (every regression loss).
    Regression,
    /// Binary log loss: logit link.
    Binomial,
    /// Exponential loss: half-logit link.
    Exponential,
    /// Multi-class log loss.
    Multinomial,
}

/// How the base values are derived from class probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Era {
    /// `sklearn.ensemble._gb_losses` (before 1.4).
    GbLosses,
    /// `sklearn._loss` (1.4 and later).
    CommonLoss,
}

/// Converts a fitted gradient boosting estimator.
pub(crate) fn convert(est: &Estimator<'_, '_>, ctx: &Context) -> Result<Forest, SklearnError> {
    let classifier = est.name == "GradientBoostingClassifier";
    let n_features = est.n_features()?;
    let feature_names = est.feature_names(n_features)?;
    let (loss, era) = loss_of(est)?;
    if classifier == (loss == Loss::Regression) {
        return Err(est.invalid(format!(
            "{} holds the {loss:?} loss",
            if classifier {
                "a classifier"
            } else {
                "a regressor"
            }
        )));
    }
    let (task, k) = if classifier {
        let labels = est.labels()?;
        let k = labels.len();
        if k < 2 {
            return Err(est.invalid(format!("classes_ has {k} label; a classifier needs two")));
        }
        if loss == Loss::Exponential && k != 2 {
            return Err(est.invalid(format!("the exponential loss with {k} classes")));
        }
        (Task::Classification(labels), if k == 2 { 1 } else { k })
    } else {
        (Task::Regression { n_targets: 1 }, 1)
    };
    if loss == Loss::Multinomial && k < 3 {
        return Err(est.invalid("the multinomial loss with two classes"));
    }
    for key in ["n_trees_per_iteration_", "_n_classes"] {
        if let Some(v) = est.opt(key) {
            let want = if key == "_n_classes" && classifier {
                task_classes(&task)
            } else if key == "_n_classes" {
                continue;
            } else {
                k
            };
            if v.as_int() != Some(want as i64) {
                return Err(est.invalid(format!("{key} is {v:?}; expected {want}")));
            }
        }
    }
    let learning_rate = est.f64_attr("learning_rate")?;
    if !learning_rate.is_finite() {
        return Err(est.invalid("learning_rate is not finite"));
    }
    // The exponential loss's probability is expit(2 * raw): doubling the
    // leaves and the base value (exact in binary floating point) makes the
    // forest's Logistic post-transform reproduce it bit for bit.
    let factor = if loss == Loss::Exponential { 2.0 } else { 1.0 };
    let base_values: Vec<f64> = base_values(est, loss, era, k)?
        .into_iter()
        .map(|b| factor * b)
        .collect();

    let stages = est.array_attr("estimators_")?;
    let members = stages
        .objects()
        .ok_or_else(|| est.invalid("estimators_ is not an object array"))?;
    let n_stages = match stages.shape.as_slice() {
        [n, kk] if *kk == k && *n > 0 => *n,
        s => {
            return Err(est.invalid(format!(
                "estimators_ has shape {s:?}; expected (stages, {k})"
            )))
        }
    };
    if let Some(n) = est.opt("n_estimators_") {
        if n.as_int() != Some(n_stages as i64) {
            return Err(est.invalid(format!(
                "n_estimators_ is {n:?}; estimators_ has {n_stages} stages"
            )));
        }
    }
    let shape = TreeShape {
        n_features,
        n_outputs: 1,
        n_classes: &[1],
    };
    let mut trees: Vec<Tree> = Vec::with_capacity(members.len());
    for (i, m) in members.iter().enumerate() {
        let obj = m
            .as_object()
            .filter(|o| o.class.name == "DecisionTreeRegressor")
            .ok_or_else(|| {
                est.invalid(format!(
                    "estimators_[{}, {}] is a {}, not a DecisionTreeRegressor",
                    i / k,
                    i % k,
                    m.kind()
                ))
            })?;
        let member = Estimator::new(
            obj,
            format!("{}.estimators_[{}, {}]", est.name, i / k, i % k),
        )?;
        member.check_member_counts(n_features, 1, None)?;
        let raw = read_tree(member.attr("tree_")?, &shape, &member.name, &ctx.budget)?;
        // predict_stages adds `scale * value`: that product is the leaf.
        trees.push(ir_tree(&raw, false, false, |v| {
            factor * (learning_rate * v)
        }));
    }
    let mut source = ctx.source(&est.name);
    let details = &mut source.details;
    details.insert("loss".into(), loss_name(est));
    details.insert("learning_rate".into(), learning_rate.to_string());
    details.insert("boosting_stages".into(), n_stages.to_string());
    details.insert("trees_per_stage".into(), k.to_string());
    if factor != 1.0 {
        // The exponential loss: decision_function = raw score / 2.
        details.insert(RAW_SCORE_SCALE.into(), factor.to_string());
    }
    Ok(Forest {
        n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F32,
            ..InputRules::default()
        },
        split_op: SplitOp::LessOrEqual,
        task,
        aggregation: Aggregation::Sum {
            base_values,
            post_transform: match loss {
                Loss::Regression => PostTransform::None,
                Loss::Binomial | Loss::Exponential => PostTransform::Logistic,
                Loss::Multinomial => PostTransform::Softmax,
            },
            // Stage-major, one tree per class in a stage.
            tree_targets: if k > 1 {
                (0..n_stages * k).map(|t| (t % k) as u32).collect()
            } else {
                Vec::new()
            },
        },
        trees,
        source,
    })
}

fn task_classes(task: &Task) -> usize {
    match task {
        Task::Classification(l) => l.len(),
        _ => 0,
    }
}

fn loss_name(est: &Estimator<'_, '_>) -> String {
    est.opt("loss")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}

/// The loss object (`_loss`, or `loss_` before 0.22 and in 1.0–1.1) and
/// which generation of loss code it belongs to.
fn loss_of(est: &Estimator<'_, '_>) -> Result<(Loss, Era), SklearnError> {
    let v = est
        .opt("_loss")
        .or_else(|| est.opt("loss_"))
        .ok_or_else(|| est.invalid("has no _loss attribute (is it fitted?)"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| est.invalid(format!("_loss is a {}", v.kind())))?;
    let era = match obj.class.module.as_str() {
        "sklearn.ensemble._gb_losses" => Era::GbLosses,
        "sklearn._loss.loss" => Era::CommonLoss,
        _ => return Err(est.unsupported(format!("the loss {}", obj.class))),
    };
    let loss = match obj.class.name.as_str() {
        "LeastSquaresError"
        | "LeastAbsoluteError"
        | "HuberLossFunction"
        | "QuantileLossFunction"
        | "HalfSquaredError"
        | "AbsoluteError"
        | "HuberLoss"
        | "PinballLoss" => Loss::Regression,
        "BinomialDeviance" | "HalfBinomialLoss" => Loss::Binomial,
        "MultinomialDeviance" | "HalfMultinomialLoss" => Loss::Multinomial,
        "ExponentialLoss" => Loss::Exponential,
        _ => return Err(est.unsupported(format!("the loss {}", obj.class))),
    };
    Ok((loss, era))
}

/// The raw scores the init estimator gives every row.
fn base_values(
    est: &Estimator<'_, '_>,
    loss: Loss,
    era: Era,
    k: usize,
) -> Result<Vec<f64>, SklearnError> {
    let init = est.attr("init_")?;
    if init.as_str() == Some("zero") {
        return Ok(vec![0.0; k]);
    }
    let refuse = || {
        est.unsupported(format!(
            "init_ is a {}; only init='zero', a DummyClassifier or a DummyRegressor can be \
             reproduced",
            init.kind()
        ))
    };
    let obj = init.as_object().ok_or_else(refuse)?;
    let dummy = Estimator::new(obj, format!("{}.init_", est.name))?;
    match (obj.class.name.as_str(), loss) {
        ("DummyRegressor", Loss::Regression) => {
            let (c, shape) = dummy.f64_array("constant_")?;
            if c.len() != 1 || !c[0].is_finite() {
                return Err(dummy.invalid(format!(
                    "constant_ has shape {shape:?} or is not finite; expected one value"
                )));
            }
            // `predict(X).astype(float64)`: the constant, widened.
            Ok(c)
        }
        ("DummyClassifier", Loss::Binomial | Loss::Exponential | Loss::Multinomial) => {
            let proba = dummy_proba(&dummy, est)?;
            Ok(link(&proba, loss, era))
        }
        _ => Err(refuse()),
    }
}

/// `DummyClassifier.predict_proba` for one row.
fn dummy_proba(
    dummy: &Estimator<'_, '_>,
    est: &Estimator<'_, '_>,
) -> Result<Vec<f64>, SklearnError> {
    let strategy = dummy
        .opt("_strategy")
        .or_else(|| dummy.opt("strategy"))
        .and_then(Value::as_str)
        .ok_or_else(|| dummy.invalid("has no strategy"))?;
    if let Some(n) = dummy.opt("n_outputs_") {
        if n.as_int() != Some(1) {
            return Err(dummy.unsupported("a multi-output init estimator"));
        }
    }
    let (prior, _) = dummy.f64_array("class_prior_")?;
    let k = est.labels()?.len();
    if prior.len() != k {
        return Err(dummy.invalid(format!(
            "class_prior_ has {} values; the ensemble has {k} classes",
            prior.len()
        )));
    }
    let one_hot = |at: usize| (0..k).map(|i| if i == at { 1.0 } else { 0.0 }).collect();
    Ok(match strategy {
        // `np.ones((n, 1)) * class_prior_`.
        "prior" => prior.iter().map(|p| 1.0 * p).collect(),
        "uniform" => vec![1.0 / k as f64; k],
        "most_frequent" => one_hot(first_max(&prior)),
        "constant" => {
            let constant = dummy.attr("constant")?;
            let classes = dummy.array_attr("classes_")?;
            let at = match (constant, classes.to_f64(), classes.to_strings()) {
                (Value::Str(s), _, Ok(names)) => names.iter().position(|n| n == &**s),
                (c, Ok(values), _) => as_f64(c).and_then(|c| values.iter().position(|&v| v == c)),
                _ => None,
            }
            .ok_or_else(|| dummy.invalid("constant is not one of classes_"))?;
            one_hot(at)
        }
        other => {
            return Err(dummy.unsupported(format!(
                "strategy={other:?} (its predict_proba is random or unknown)"
            )))
        }
    })
}

fn first_max(v: &[f64]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// `scipy.special.logit`, which `sklearn._loss` calls from 1.4 on: the
/// plain `log(p / (1 - p))` away from 1/2, and `log1p(s) - log1p(-s)` with
/// `s = 2 (p - 1/2)` on [0.3, 0.65], where the plain formula loses bits.
/// Both sides call the platform's libm, so the result is scipy's to the
/// bit (checked on 100,000 random probabilities against scipy 1.17).
fn scipy_logit(p: f64) -> f64 {
    if (0.3..=0.65).contains(&p) {
        let s = 2.0 * (p - 0.5);
        s.ln_1p() - (-s).ln_1p()
    } else {
        (p / (1.0 - p)).ln()
    }
}

/// Class probabilities → raw scores, as the loss's init code computes them.
fn link(proba: &[f64], loss: Loss, era: Era) -> Vec<f64> {
    let eps = match era {
        Era::GbLosses => f64::from(f32::EPSILON),
        Era::CommonLoss => f64::EPSILON,
    };
    let clip = |p: f64| p.clamp(eps, 1.0 - eps);
    match loss {
        Loss::Binomial | Loss::Exponential => {
            let p = clip(proba[1]);
            let logit = match era {
                Era::GbLosses => (p / (1.0 - p)).ln(),
                Era::CommonLoss => scipy_logit(p),
            };
            if loss == Loss::Exponential {
                vec![0.5 * logit]
            } else {
                vec![logit]
            }
        }
        Loss::Multinomial => {
            let p: Vec<f64> = proba.iter().map(|&p| clip(p)).collect();
            match era {
                Era::GbLosses => p.iter().map(|p| p.ln()).collect(),
                Era::CommonLoss => {
                    // log(p / gmean(p)), gmean = exp(mean(log p)).
                    let logs: Vec<f64> = p.iter().map(|p| p.ln()).collect();
                    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
                    let gmean = mean.exp();
                    p.iter().map(|p| (p / gmean).ln()).collect()
                }
            }
        }
        Loss::Regression => proba.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logit_is_scipys_to_the_bit() {
        // scipy.special.logit(p).hex() with scipy 1.17.1; the plain
        // log(p / (1 - p)) is one ulp off for both (the restore tests saw
        // the raw scores of binary GradientBoosting pickled by 1.4 and
        // later differ from scikit-learn's by up to 4 ulp before).
        assert_eq!(scipy_logit(0.55).to_bits(), 0x3fc9_af93_cd23_4418);
        assert_eq!(scipy_logit(0.61).to_bits(), 0x3fdc_a0c3_6ce6_521b);
        assert_ne!((0.55f64 / 0.45).ln().to_bits(), 0x3fc9_af93_cd23_4418);
        // Outside [0.3, 0.65] it is the plain formula.
        assert_eq!(scipy_logit(0.9), (0.9f64 / (1.0 - 0.9)).ln());
    }

    #[test]
    fn links_clip_and_centre() {
        let b = link(&[0.25, 0.75], Loss::Binomial, Era::CommonLoss);
        assert!((b[0] - 3f64.ln()).abs() < 1e-15);
        let e = link(&[0.25, 0.75], Loss::Exponential, Era::GbLosses);
        assert!((e[0] - 0.5 * 3f64.ln()).abs() < 1e-15);
        // Certain classes are clipped, never infinite.
        let c = link(&[0.0, 1.0], Loss::Binomial, Era::GbLosses);
        assert!(c[0].is_finite() && c[0] > 15.0);
        // The symmetric multinomial logit is centred.
        let m = link(&[0.2, 0.3, 0.5], Loss::Multinomial, Era::CommonLoss);
        assert!(m.iter().sum::<f64>().abs() < 1e-15);
        let old = link(&[0.2, 0.3, 0.5], Loss::Multinomial, Era::GbLosses);
        assert_eq!(old[2], 0.5f64.ln());
    }
}
