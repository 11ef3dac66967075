//! Categorical features of histogram gradient boosting, in the three forms
//! scikit-learn has given them (each checked against the releases' own
//! predictions on seen, unseen, negative, fractional and huge values):
//!
//! * **before 1.2**: the tree reads the raw value `x` as the category
//!   `(uint8) x` (truncated toward zero, so `-0.5` reads as category 0);
//! * **1.2 and 1.3**: negative values are treated as missing, others read
//!   as before;
//! * **from 1.4**: a fitted `OrdinalEncoder` (inside `_preprocessor`, a
//!   `ColumnTransformer` that also moves the categorical columns first)
//!   turns each category value into its code and every other value into
//!   NaN; the trees split on codes.
//!
//! In every form a node sends the categories of its left bitset left, the
//! other known categories right, and unknown categories where missing
//! values go. The IR's categorical split has a true set, and sends
//! everything else (unknown, negative, NaN) to its false side, so each
//! split is oriented to make the missing side the false side: the true set
//! is the left categories when missing values go right, else the known
//! categories that are not left.
//!
//! Outside scikit-learn's documented input domain its results are
//! artefacts of a C cast to `uint8` (values ≥ 256 wrap around, infinities
//! read as 0); the IR routes those values as unknown categories instead.
//! From 1.4, a fractional value such as `2.5` is an unknown category to
//! scikit-learn but reads as category 2 in the IR, whose category rules
//! truncate: that difference is reported, not hidden.

use super::super::error::SklearnError;
use super::super::estimator::{as_f64, Context, Estimator};
use super::super::pickle::Value;
use super::{in_bitset, BITSET_WORDS};
use crate::ir::{CategoryRule, MAX_CATEGORY};

/// How the model's inputs reach its trees.
pub(super) struct Categories {
    /// Per column the trees see (`feature_idx`): the model input column.
    original: Vec<u32>,
    /// Per tree column: `Some` for categorical features.
    columns: Vec<Option<Column>>,
    /// Whether negative values read as category 0 down to -1 (before 1.2).
    toward_zero: bool,
}

/// One categorical feature as the trees see it.
struct Column {
    /// Known category codes (bitset over 0..256).
    known: [u32; BITSET_WORDS],
    /// The input value of each code, when an encoder maps values to codes
    /// (1.4 and later); codes are the values themselves otherwise.
    values: Option<Vec<u32>>,
}

/// A categorical split in IR form.
pub(super) struct Split {
    /// Input values (ascending) that take the IR's true branch.
    pub(super) categories: Vec<u32>,
    /// Whether the true branch is scikit-learn's left child.
    pub(super) true_is_left: bool,
}

impl Categories {
    /// Reads the categorical set-up of an estimator with `n_features` inputs.
    pub(super) fn read(
        est: &Estimator<'_, '_>,
        ctx: &Context,
        n_features: usize,
    ) -> Result<Categories, SklearnError> {
        let mask = match est.opt("is_categorical_") {
            None => vec![false; n_features],
            Some(v) => bool_mask(est, v, "is_categorical_")?,
        };
        if mask.len() != n_features {
            return Err(est.invalid(format!(
                "is_categorical_ has {} entries for {n_features} features",
                mask.len()
            )));
        }
        let binner = est.member(est.attr("_bin_mapper")?, "_bin_mapper", &["_BinMapper"])?;
        let preprocessor = est.opt("_preprocessor");
        let n_cat = mask.iter().filter(|&&c| c).count();
        // The columns the trees see: categorical ones first when an encoder
        // (1.4+) rearranged them.
        let original: Vec<u32> = match preprocessor {
            Some(_) => (0..n_features as u32)
                .filter(|&j| mask[j as usize])
                .chain((0..n_features as u32).filter(|&j| !mask[j as usize]))
                .collect(),
            None => (0..n_features as u32).collect(),
        };
        let tree_mask: Vec<bool> = original.iter().map(|&j| mask[j as usize]).collect();
        if let Some(v) = est.opt("_is_categorical_remapped") {
            if bool_mask(est, v, "_is_categorical_remapped")? != tree_mask {
                return Err(est.invalid(
                    "_is_categorical_remapped does not put the categorical features first",
                ));
            }
        }
        if n_cat > 0 {
            let b = bool_mask(&binner, binner.attr("is_categorical_")?, "is_categorical_")?;
            if b != tree_mask {
                return Err(binner.invalid(format!(
                    "is_categorical_ is {b:?}; the estimator's categorical features are {tree_mask:?}"
                )));
            }
        }
        let encoded = match preprocessor {
            Some(p) if n_cat > 0 => Some(encoder_categories(est, p, &mask)?),
            Some(_) => return Err(est.invalid("has a _preprocessor but no categorical feature")),
            None => None,
        };
        let thresholds = binner
            .attr("bin_thresholds_")?
            .as_list()
            .filter(|l| l.len() == n_features)
            .ok_or_else(|| {
                binner.invalid(format!(
                    "bin_thresholds_ is not a list of {n_features} arrays"
                ))
            })?;
        let mut columns = Vec::with_capacity(n_features);
        let mut next_encoded = 0;
        for (j, &categorical) in tree_mask.iter().enumerate() {
            if !categorical {
                columns.push(None);
                continue;
            }
            let known_values = thresholds[j]
                .as_array()
                .and_then(|a| a.to_f64().ok())
                .ok_or_else(|| {
                    binner.invalid(format!("bin_thresholds_[{j}] is not a numeric array"))
                })?;
            let mut known = [0u32; BITSET_WORDS];
            for &v in &known_values {
                let c = category(v).filter(|&c| c < 256).ok_or_else(|| {
                    binner.invalid(format!(
                        "bin_thresholds_[{j}] lists the category {v}, not an integer in 0..256"
                    ))
                })?;
                known[c as usize / 32] |= 1 << (c % 32);
            }
            let values = match &encoded {
                Some(enc) => {
                    let v = enc[next_encoded].clone();
                    next_encoded += 1;
                    if known_values.len() != v.len()
                        || known_values.iter().enumerate().any(|(i, &k)| k != i as f64)
                    {
                        return Err(binner.invalid(format!(
                            "bin_thresholds_[{j}] does not list the codes 0..{} of the encoder",
                            v.len()
                        )));
                    }
                    Some(v)
                }
                None => None,
            };
            columns.push(Some(Column { known, values }));
        }
        Ok(Categories {
            original,
            columns,
            toward_zero: ctx.before(1, 2) && encoded.is_none(),
        })
    }

    /// Whether any feature is categorical.
    pub(super) fn any(&self) -> bool {
        self.columns.iter().any(Option::is_some)
    }

    /// The IR's rule for reading categories.
    pub(super) fn rule(&self) -> CategoryRule {
        if self.toward_zero {
            CategoryRule::TowardZero
        } else {
            CategoryRule::NonNegative
        }
    }

    /// The input column of tree column `feature_idx`.
    pub(super) fn original(&self, feature_idx: i64) -> Option<u32> {
        usize::try_from(feature_idx)
            .ok()
            .and_then(|j| self.original.get(j).copied())
    }

    /// Whether tree column `feature_idx` (in range) is categorical.
    pub(super) fn is_categorical(&self, feature_idx: i64) -> bool {
        usize::try_from(feature_idx)
            .ok()
            .and_then(|j| self.columns.get(j))
            .is_some_and(Option::is_some)
    }

    /// The split of a categorical node on tree column `feature_idx`
    /// (in range) with left bitset `left`.
    pub(super) fn split(
        &self,
        feature_idx: i64,
        left: &[u32],
        missing_left: bool,
    ) -> Result<Split, String> {
        let column = usize::try_from(feature_idx)
            .ok()
            .and_then(|j| self.columns.get(j))
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                format!(
                    "a categorical split on feature_idx {feature_idx}, which is not categorical"
                )
            })?;
        // Unknown categories go where missing values go, so when those go
        // left the true (right) side is the known categories not on the left.
        let codes: Vec<usize> = (0..256)
            .filter(|&c| {
                let is_left = in_bitset(left, c);
                if missing_left {
                    !is_left && in_bitset(&column.known, c)
                } else {
                    is_left
                }
            })
            .collect();
        let mut categories: Vec<u32> = match &column.values {
            None => codes.iter().map(|&c| c as u32).collect(),
            // Encoded inputs only ever hold known codes: left bits beyond
            // them can never be reached.
            Some(values) => codes
                .iter()
                .filter_map(|&c| values.get(c).copied())
                .collect(),
        };
        categories.sort_unstable();
        Ok(Split {
            categories,
            true_is_left: !missing_left,
        })
    }

    /// The categorical features, for `inspect`.
    pub(super) fn describe(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .zip(&self.original)
            .filter(|(c, _)| c.is_some())
            .map(|(_, j)| j.to_string())
            .collect();
        cols.join(",")
    }
}

/// A non-negative integral value as a category.
fn category(v: f64) -> Option<u32> {
    (v >= 0.0 && v.fract() == 0.0 && v <= f64::from(MAX_CATEGORY)).then_some(v as u32)
}

fn bool_mask(est: &Estimator<'_, '_>, v: &Value<'_>, key: &str) -> Result<Vec<bool>, SklearnError> {
    let a = v
        .as_array()
        .filter(|a| a.shape.len() == 1)
        .ok_or_else(|| est.invalid(format!("{key} is a {}, not a 1-D array", v.kind())))?;
    let ints = a.to_i64().map_err(|e| est.invalid(format!("{key}: {e}")))?;
    Ok(ints.into_iter().map(|i| i != 0).collect())
}

/// The input value of every code of every encoded feature (1.4+): the
/// `categories_` of the `OrdinalEncoder` in `_preprocessor`, checked to be
/// the encoder histogram boosting makes (unknown and missing values become
/// NaN) over exactly the categorical columns.
fn encoder_categories(
    est: &Estimator<'_, '_>,
    preprocessor: &Value<'_>,
    mask: &[bool],
) -> Result<Vec<Vec<u32>>, SklearnError> {
    let ct = est.member(preprocessor, "_preprocessor", &["ColumnTransformer"])?;
    let transformers = ct
        .attr("transformers_")?
        .as_list()
        .ok_or_else(|| ct.invalid("transformers_ is not a list"))?;
    let (encoder, columns) = transformers
        .iter()
        .filter_map(Value::as_tuple)
        .find(|t| t.first().and_then(Value::as_str) == Some("encoder"))
        .and_then(|t| Some((t.get(1)?, t.get(2)?)))
        .ok_or_else(|| ct.invalid("transformers_ has no 'encoder' entry"))?;
    let enc = ct.member(encoder, "encoder", &["OrdinalEncoder"])?;
    if bool_mask(&ct, columns, "encoder columns")? != mask {
        return Err(ct.invalid("the encoder's columns are not the categorical features"));
    }
    let nan = |key: &str| enc.opt(key).and_then(as_f64).is_some_and(f64::is_nan);
    if enc.opt("handle_unknown").and_then(Value::as_str) != Some("use_encoded_value")
        || !nan("unknown_value")
        || !nan("encoded_missing_value")
    {
        return Err(
            enc.unsupported("an encoder that does not map unknown and missing values to NaN")
        );
    }
    if enc
        .opt("_infrequent_enabled")
        .and_then(Value::as_int)
        .unwrap_or(0)
        != 0
    {
        return Err(enc.unsupported("infrequent categories"));
    }
    let lists = enc
        .attr("categories_")?
        .as_list()
        .filter(|l| l.len() == mask.iter().filter(|&&c| c).count())
        .ok_or_else(|| enc.invalid("categories_ is not one array per categorical feature"))?;
    let original: Vec<usize> = (0..mask.len()).filter(|&j| mask[j]).collect();
    lists
        .iter()
        .zip(original)
        .map(|(a, j)| {
            let values = a.as_array().and_then(|a| a.to_f64().ok()).ok_or_else(|| {
                enc.unsupported(format!(
                    "the categories of feature {j}, which are not numbers"
                ))
            })?;
            // A trailing NaN is the missing-value category: it maps to NaN.
            let values = match values.split_last() {
                Some((last, rest)) if last.is_nan() => rest,
                _ => &values[..],
            };
            if values.len() > 256 {
                return Err(enc.invalid(format!("feature {j} has {} categories", values.len())));
            }
            values
                .iter()
                .map(|&v| {
                    category(v).ok_or_else(|| {
                        enc.unsupported(format!(
                            "the category {v} of feature {j}: forest2onnx represents categories \
                             as integers in 0..={MAX_CATEGORY}"
                        ))
                    })
                })
                .collect()
        })
        .collect()
}
