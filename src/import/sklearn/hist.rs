//! `HistGradientBoostingClassifier` and `HistGradientBoostingRegressor`,
//! with scikit-learn's prediction semantics (`_raw_predict`,
//! `_predict_from_raw_data`):
//!
//! * inputs are compared in float64 (`X` is validated as float64), `x <=
//!   num_threshold` goes left, NaN follows `missing_go_to_left`;
//! * the raw scores start at `_baseline_prediction` and every iteration
//!   adds, for each score, the leaf value of its tree (leaves already hold
//!   the learning rate); the IR adds them in the same order;
//! * outputs follow the loss's link: identity (squared and absolute error,
//!   quantile), log (Poisson, gamma: `Exp`), logit (binary: `Logistic`),
//!   multinomial logit (`Softmax`);
//! * categorical splits ([`categorical`]) send the categories of the node's
//!   left bitset left, other known categories right, and unknown ones,
//!   like NaN, where missing values go.
//!
//! The predictor node records have had two layouts ([`super::layout`]);
//! losses came from `sklearn.ensemble._hist_gradient_boosting.loss` up to
//! scikit-learn 1.0 and from `sklearn._loss` since 1.1.

mod categorical;

use super::allowlist::HGB_LOSSES as OLD_LOSSES;
use super::error::SklearnError;
use super::estimator::{Context, Estimator};
use super::layout::{match_layout, PREDICTOR_NODES};
use super::numpy::{FieldReader, Kind, NdArray};
use crate::ir::{Aggregation, Forest, InputRules, PostTransform, Precision, SplitOp, Task, Tree};
use categorical::Categories;

/// Bits per row of scikit-learn's category bitsets (8 × uint32).
const BITSET_WORDS: usize = 8;

/// Converts a fitted histogram gradient boosting estimator.
pub(crate) fn convert(est: &Estimator<'_, '_>, ctx: &Context) -> Result<Forest, SklearnError> {
    let classifier = est.name == "HistGradientBoostingClassifier";
    let n_features = est.n_features()?;
    let feature_names = est.feature_names(n_features)?;
    let k = est.usize_attr("n_trees_per_iteration_")?;
    let (task, post_transform) = if classifier {
        let labels = est.labels()?;
        let want = if labels.len() == 2 { 1 } else { labels.len() };
        if labels.len() < 2 || k != want {
            return Err(est.invalid(format!(
                "n_trees_per_iteration_ is {k} for {} classes",
                labels.len()
            )));
        }
        let link = if k == 1 {
            PostTransform::Logistic
        } else {
            PostTransform::Softmax
        };
        (Task::Classification(labels), link)
    } else {
        if k != 1 {
            return Err(est.invalid(format!("n_trees_per_iteration_ is {k} for a regressor")));
        }
        (Task::Regression { n_targets: 1 }, PostTransform::None)
    };
    let (link, loss) = link_of(est)?;
    let post_transform =
        match (link, post_transform) {
            (Link::Identity, PostTransform::None) => PostTransform::None,
            (Link::Log, PostTransform::None) => PostTransform::Exp,
            (Link::Logit, PostTransform::Logistic) => PostTransform::Logistic,
            (Link::Multinomial, PostTransform::Softmax) => PostTransform::Softmax,
            (link, _) => {
                return Err(est.invalid(format!(
                "the loss {loss} ({link:?} link) does not fit a {} with {k} trees per iteration",
                if classifier { "classifier" } else { "regressor" }
            )))
            }
        };
    let (base_values, shape) = est.f64_array("_baseline_prediction")?;
    if base_values.len() != k {
        return Err(est.invalid(format!(
            "_baseline_prediction has shape {shape:?}; expected {k} values"
        )));
    }
    let categories = Categories::read(est, ctx, n_features)?;

    let iterations = est
        .attr("_predictors")?
        .as_list()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| est.invalid("_predictors is not a non-empty list"))?;
    let mut trees = Vec::with_capacity(iterations.len() * k);
    for (i, it) in iterations.iter().enumerate() {
        let predictors = it.as_list().filter(|l| l.len() == k).ok_or_else(|| {
            est.invalid(format!(
                "_predictors[{i}] is a {}; expected a list of {k} TreePredictor",
                it.kind()
            ))
        })?;
        for (j, p) in predictors.iter().enumerate() {
            let name = format!("_predictors[{i}][{j}]");
            let predictor = est.member(p, &name, &["TreePredictor"])?;
            trees.push(predictor_tree(&predictor, &categories, ctx)?);
        }
    }
    if let Some(n) = est.opt("n_iter_") {
        if n.as_int() != Some(iterations.len() as i64) {
            return Err(est.invalid(format!(
                "n_iter_ is {n:?}; _predictors has {} iterations",
                iterations.len()
            )));
        }
    }
    let mut source = ctx.source(&est.name);
    let loss = est
        .opt("loss")
        .and_then(|l| l.as_str())
        .map_or(loss, str::to_string);
    source.details.insert("loss".into(), loss);
    source
        .details
        .insert("boosting_rounds".into(), iterations.len().to_string());
    source
        .details
        .insert("trees_per_round".into(), k.to_string());
    if categories.any() {
        source
            .details
            .insert("categorical_features".into(), categories.describe());
    }
    Ok(Forest {
        n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F64,
            categories: categories.rule(),
            ..InputRules::default()
        },
        split_op: SplitOp::LessOrEqual,
        task,
        aggregation: Aggregation::Sum {
            base_values,
            post_transform,
            tree_targets: if k > 1 {
                (0..trees.len()).map(|t| (t % k) as u32).collect()
            } else {
                Vec::new()
            },
        },
        trees,
        source,
    })
}

/// A loss's link function.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    Identity,
    Log,
    Logit,
    Multinomial,
}

/// The link of `_loss` and the loss's name.
fn link_of(est: &Estimator<'_, '_>) -> Result<(Link, String), SklearnError> {
    let v = est.attr("_loss")?;
    let obj = v
        .as_object()
        .ok_or_else(|| est.invalid(format!("_loss is a {}", v.kind())))?;
    let name = obj.class.name.clone();
    let link = match (obj.class.module.as_str(), name.as_str()) {
        (
            "sklearn._loss.loss",
            "HalfSquaredError" | "AbsoluteError" | "PinballLoss" | "HuberLoss",
        ) => Link::Identity,
        ("sklearn._loss.loss", "HalfPoissonLoss" | "HalfGammaLoss" | "HalfTweedieLoss") => {
            Link::Log
        }
        ("sklearn._loss.loss", "HalfBinomialLoss") => Link::Logit,
        ("sklearn._loss.loss", "HalfMultinomialLoss") => Link::Multinomial,
        // scikit-learn 1.0 and before.
        (OLD_LOSSES, "LeastSquares" | "LeastAbsoluteDeviation") => Link::Identity,
        (OLD_LOSSES, "Poisson") => Link::Log,
        (OLD_LOSSES, "BinaryCrossEntropy") => Link::Logit,
        (OLD_LOSSES, "CategoricalCrossEntropy") => Link::Multinomial,
        _ => return Err(est.unsupported(format!("the loss {}", obj.class))),
    };
    // The common loss objects also record their link: it must agree.
    if let Some(l) = obj.state.as_ref().and_then(|s| s.get("link")) {
        let expected = match link {
            Link::Identity => "IdentityLink",
            Link::Log => "LogLink",
            Link::Logit => "LogitLink",
            Link::Multinomial => "MultinomialLogit",
        };
        match l.as_object() {
            Some(o) if o.class.name == expected => {}
            _ => {
                return Err(est.invalid(format!(
                    "_loss is a {name} whose link is a {}, not a {expected}",
                    l.kind()
                )))
            }
        }
    }
    Ok((link, name))
}

/// One `TreePredictor` → IR tree.
fn predictor_tree(
    p: &Estimator<'_, '_>,
    categories: &Categories,
    ctx: &Context,
) -> Result<Tree, SklearnError> {
    let nodes = p.array_attr("nodes")?;
    let n = match nodes.shape.as_slice() {
        [n] if *n > 0 => *n,
        s => return Err(p.invalid(format!("nodes has shape {s:?}"))),
    };
    match_layout(&nodes.dtype, PREDICTOR_NODES, "nodes").map_err(|e| p.invalid(e))?;
    let bitsets = bitset_rows(p, "raw_left_cat_bitsets")?;
    let bytes = n
        .saturating_mul(nodes.dtype.itemsize)
        .saturating_add(bitsets.len() * 4);
    match ctx.budget.get().checked_sub(bytes) {
        Some(left) => ctx.budget.set(left),
        None => {
            return Err(p.invalid(
                "predictors reference more array data than the file holds (shared arrays)",
            ))
        }
    }
    read_nodes(nodes, n, &bitsets, categories).map_err(|e| p.invalid(e))
}

/// A `(rows, 8)` uint32 bitset array, flattened.
fn bitset_rows(p: &Estimator<'_, '_>, key: &str) -> Result<Vec<u32>, SklearnError> {
    let a: &NdArray<'_> = p.array_attr(key)?;
    if a.shape.len() != 2 || a.shape[1] != BITSET_WORDS {
        return Err(p.invalid(format!(
            "{key} has shape {:?}; expected (splits, {BITSET_WORDS})",
            a.shape
        )));
    }
    if a.dtype.kind != Kind::UInt || a.dtype.itemsize != 4 {
        return Err(p.invalid(format!(
            "{key} has dtype {}; expected uint32",
            a.dtype.describe()
        )));
    }
    let words = a.to_i64().map_err(|e| p.invalid(format!("{key}: {e}")))?;
    Ok(words.into_iter().map(|w| w as u32).collect())
}

fn read_nodes(
    nodes: &NdArray<'_>,
    n: usize,
    bitsets: &[u32],
    categories: &Categories,
) -> Result<Tree, String> {
    let f = |name: &str| nodes.field(name);
    let (value, feature, threshold) = (f("value")?, f("feature_idx")?, f("num_threshold")?);
    let (missing, left, right) = (f("missing_go_to_left")?, f("left")?, f("right")?);
    let (is_leaf, is_categorical, bitset_idx) =
        (f("is_leaf")?, f("is_categorical")?, f("bitset_idx")?);
    let n_bitsets = bitsets.len() / BITSET_WORDS;
    let mut t = Tree::with_capacity(n, n.div_ceil(2));
    let mut parent: Vec<Option<u32>> = vec![None; n];
    for i in 0..n {
        if int(&is_leaf, i, "is_leaf")? != 0 {
            let v = value.f64(i)?;
            if !v.is_finite() {
                return Err(format!("leaf {i} has a non-finite value"));
            }
            t.push_leaf(&[v]);
            continue;
        }
        let mut children = [0u32; 2];
        for (c, (reader, name)) in children
            .iter_mut()
            .zip([(&left, "left"), (&right, "right")])
        {
            let id = int(reader, i, name)?;
            if id <= i as i64 || id >= n as i64 {
                return Err(format!(
                    "node {i} has {name} child {id}; children must be in {}..{n} (after their parent)",
                    i + 1
                ));
            }
            *c = id as u32;
            if let Some(p) = parent[id as usize].replace(i as u32) {
                return Err(format!("node {id} has two parents, nodes {p} and {i}"));
            }
        }
        let [l, r] = children;
        let fi = int(&feature, i, "feature_idx")?;
        let col = categories.original(fi).ok_or_else(|| {
            format!("node {i} splits on feature_idx {fi}, which the model does not have")
        })?;
        let missing_left = int(&missing, i, "missing_go_to_left")? != 0;
        if int(&is_categorical, i, "is_categorical")? != 0 {
            if !categories.is_categorical(fi) {
                return Err(format!(
                    "node {i} is a categorical split on feature_idx {fi}, which is not categorical"
                ));
            }
            let b = int(&bitset_idx, i, "bitset_idx")?;
            let row = usize::try_from(b)
                .ok()
                .filter(|&b| b < n_bitsets)
                .ok_or_else(|| {
                    format!("node {i} has bitset_idx {b}; the predictor has {n_bitsets} bitsets")
                })?;
            let left_set = &bitsets[row * BITSET_WORDS..(row + 1) * BITSET_WORDS];
            let split = categories
                .split(fi, left_set, missing_left)
                .map_err(|e| format!("node {i}: {e}"))?;
            // Unknown categories and NaN follow missing_go_to_left: the
            // side they take is the IR's false branch.
            let (tc, fc) = if split.true_is_left { (l, r) } else { (r, l) };
            t.categories.push(i as u32, split.categories);
            t.push_split(col, 0.0, (tc, fc), false);
        } else {
            if categories.is_categorical(fi) {
                return Err(format!(
                    "node {i} is a numeric split on categorical feature_idx {fi}"
                ));
            }
            let th = threshold.f64(i)?;
            if th.is_nan() {
                return Err(format!("node {i} has a NaN num_threshold"));
            }
            t.push_split(col, th, (l, r), missing_left);
        }
    }
    Ok(t)
}

fn int(f: &FieldReader<'_>, i: usize, name: &str) -> Result<i64, String> {
    f.i64(i).map_err(|e| format!("node {i} {name}: {e}"))
}

/// Whether bit `c` of a scikit-learn bitset row is set.
pub(crate) fn in_bitset(row: &[u32], c: usize) -> bool {
    row.get(c / 32).is_some_and(|w| (w >> (c % 32)) & 1 == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitsets_read_like_scikit_learn() {
        let row = [1032u32, 0, 0, 0, 0, 0, 0, 1 << 31];
        let set: Vec<usize> = (0..256).filter(|&c| in_bitset(&row, c)).collect();
        assert_eq!(set, [3, 10, 255]);
        assert!(!in_bitset(&row, 256));
    }
}
