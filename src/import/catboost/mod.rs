//! CatBoost models, read without CatBoost: the binary `.cbm` file
//! (`model.save_model(path)`, the default) and the JSON export
//! (`save_model(path, format="json")`), from CatBoost 1.x. Both formats of
//! one model give the identical forest.
//!
//! ```no_run
//! let forest = forest2onnx::import::catboost::read_file("model.cbm".as_ref())?;
//! # Ok::<(), forest2onnx::import::catboost::CatboostError>(())
//! ```
//!
//! What is converted, exactly as CatBoost's `predict` computes it:
//! oblivious (symmetric) trees, as full binary trees of `2^depth` leaves,
//! and non-symmetric trees (Depthwise, Lossguide); float splits
//! `float32(x) > border` with `nan_mode` Min, Max and Forbidden; one-hot
//! categorical splits; `scale_and_bias` (the scale folded into the leaves,
//! the bias as base values); the losses of [`objective`], with their class
//! names. The forest's raw scores are CatBoost's `RawFormulaVal`.
//!
//! **Input.** One row of CatBoost's flat feature order: float and
//! categorical features interleaved as in training. Categorical features
//! arrive as the integer codes the model was trained with. CatBoost hashes a
//! category's decimal text and the model stores only the hashes, so each
//! one-hot split is inverted over the integers `-2^24..=2^24` (those float32
//! inputs hold exactly): every integer in that range routes as in CatBoost,
//! hash collisions included. CatBoost refuses non-integer and NaN
//! categories; here a non-integer reads as `trunc(x)`, except that
//! `-1 < x < 0` and NaN are no category.
//!
//! **Precision.** CatBoost compares `float32(x)` with float32 borders: the
//! forest declares [`Precision::F32`], so float32 ONNX graphs are exact.
//!
//! Refused with a message saying what to do: CTR features (target
//! statistics of categorical features), text and embedding features,
//! `RMSEWithUncertainty` and losses not listed in [`objective`].

mod cbm;
mod convert;
mod error;
mod hash;
mod json;
mod model;
pub mod objective;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::ir::{Aggregation, CategoryRule, Forest, InputRules, Precision, Source, SplitOp};
pub use error::CatboostError;
pub use hash::{cat_feature_hash, city_hash64, int_category_hash, MAX_INT_CATEGORY};
use model::{Model, Split, Trees};

/// Largest model file read (4 GiB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Deepest oblivious tree read (CatBoost trains at most depth 16).
pub const MAX_OBLIVIOUS_DEPTH: usize = 20;

/// Whether `bytes` look like a CatBoost model: the `CBM1` header, or a JSON
/// object whose first key is CatBoost's `features_info` (its JSON export
/// sorts the keys).
pub fn sniff(bytes: &[u8]) -> bool {
    if bytes.starts_with(cbm::MAGIC) {
        return true;
    }
    let mut it = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace());
    if it.next() != Some(b'{') {
        return false;
    }
    let key: Vec<u8> = it.take(16).collect();
    key.starts_with(b"\"features_info\"")
}

/// Reads and converts the CatBoost model file at `path`.
pub fn read_file(path: &Path) -> Result<Forest, CatboostError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Err(CatboostError::NotAModel(format!(
            "the file has {len} bytes; the limit is {MAX_FILE_BYTES}"
        )));
    }
    from_bytes(&std::fs::read(path)?)
}

/// Converts a CatBoost model saved as `.cbm` or JSON (detected from the
/// bytes).
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, CatboostError> {
    let model = if bytes.starts_with(cbm::MAGIC) {
        cbm::parse(bytes)?
    } else {
        json::parse(bytes)?
    };
    from_model(&model)
}

fn from_model(model: &Model) -> Result<Forest, CatboostError> {
    refuse_unsupported(model)?;
    let objective = objective::read(&model.info, model.dims)?;
    let n_features = feature_count(model)?;
    let mut names = vec![String::new(); n_features];
    for (flat, name) in model
        .float_features
        .iter()
        .map(|f| (f.flat, &f.name))
        .chain(model.cat_features.iter().map(|f| (f.flat, &f.name)))
    {
        names[flat as usize] = name.clone();
    }
    let feature_names = names.iter().any(|n| !n.is_empty()).then_some(names);

    let wanted = one_hot_values(model);
    let preimages = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        hash::preimages(&wanted)
    };
    let bias = match model.bias.len() {
        1 => vec![model.bias[0]; model.dims],
        n if n == model.dims => model.bias.clone(),
        n => {
            return Err(CatboostError::field(
                "scale_and_bias",
                format!("{n} biases for {} scores", model.dims),
            ))
        }
    };
    if !model.scale.is_finite() || bias.iter().any(|b| !b.is_finite()) {
        return Err(CatboostError::field("scale_and_bias", "not finite numbers"));
    }
    let mut converter = convert::Converter::new(model, &preimages, model.scale);
    let trees = (0..model.trees.len())
        .map(|t| converter.tree(t))
        .collect::<Result<Vec<_>, _>>()?;

    let forest = Forest {
        n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F32,
            categories: CategoryRule::NonNegative,
            zero_as_missing: Vec::new(),
        },
        split_op: SplitOp::LessOrEqual,
        task: objective.task.clone(),
        aggregation: Aggregation::Sum {
            base_values: bias.clone(),
            post_transform: objective.post_transform,
            tree_targets: Vec::new(),
        },
        trees,
        source: source(model, &objective, &bias, &preimages),
    };
    forest.check()?;
    Ok(forest)
}

/// CTR, text and embedding features: named, with how to retrain.
fn refuse_unsupported(model: &Model) -> Result<(), CatboostError> {
    let ctr_split = match &model.trees {
        Trees::Oblivious(t) => t.iter().any(|(s, _)| s.contains(&Split::Ctr)),
        Trees::NonSymmetric(t) => t.iter().flatten().any(|n| {
            matches!(
                n,
                model::Node::Split {
                    split: Split::Ctr,
                    ..
                }
            )
        }),
    };
    if model.ctr_features > 0 || ctr_split {
        let names: Vec<String> = model
            .cat_features
            .iter()
            .map(|f| {
                if f.name.is_empty() {
                    format!("#{}", f.flat)
                } else {
                    f.name.clone()
                }
            })
            .collect();
        return Err(CatboostError::Unsupported {
            what: format!(
                "CTR features ({} target statistics of the categorical features {}), which \
                 need CatBoost's CTR tables",
                model.ctr_features,
                names.join(", ")
            ),
            hint: "Retrain with one_hot_max_size at least the number of categories of every \
                   categorical feature (one-hot splits are converted exactly), or without \
                   cat_features"
                .into(),
        });
    }
    if !model.other_features.is_empty() {
        return Err(CatboostError::Unsupported {
            what: model.other_features.join(", "),
            hint: "Retrain with float and categorical features only".into(),
        });
    }
    Ok(())
}

/// Columns of CatBoost's flat feature order: every flat index used once.
fn feature_count(model: &Model) -> Result<usize, CatboostError> {
    const MAX_FEATURES: u32 = 1 << 24;
    let flats: Vec<u32> = model
        .float_features
        .iter()
        .map(|f| f.flat)
        .chain(model.cat_features.iter().map(|f| f.flat))
        .collect();
    let mut seen = BTreeSet::new();
    for &f in &flats {
        if f >= MAX_FEATURES || !seen.insert(f) {
            return Err(CatboostError::field(
                "features_info",
                format!("flat feature index {f} repeated or above {MAX_FEATURES}"),
            ));
        }
    }
    Ok(flats.iter().max().map_or(1, |&m| m as usize + 1))
}

/// Every hash value a one-hot split tests.
fn one_hot_values(model: &Model) -> Vec<i32> {
    let mut out = BTreeSet::new();
    let mut add = |s: &Split| {
        if let Split::OneHot { value, .. } = s {
            out.insert(*value);
        }
    };
    match &model.trees {
        Trees::Oblivious(t) => t.iter().flat_map(|(s, _)| s).for_each(&mut add),
        Trees::NonSymmetric(t) => t.iter().flatten().for_each(|n| {
            if let model::Node::Split { split, .. } = n {
                add(split)
            }
        }),
    }
    out.into_iter().collect()
}

fn source(
    model: &Model,
    objective: &objective::Objective,
    bias: &[f64],
    preimages: &BTreeMap<i32, Vec<i64>>,
) -> Source {
    let info_text = |k: &str| model.info.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let version_info = [
        info_text("catboost_version_info"),
        info_text("model0:catboost_version_info"),
    ]
    .into_iter()
    .find(|s| !s.is_empty())
    .unwrap_or("");
    // "Branch: tags/v1.2.10" in the build information.
    let version = version_info
        .split("tags/v")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("unknown")
        .to_string();
    let mut details = BTreeMap::new();
    let loss = if objective.params.is_empty() {
        objective.name.clone()
    } else {
        format!("{}:{}", objective.name, objective.params)
    };
    details.insert("loss_function".into(), loss);
    let (layout, depth) = match &model.trees {
        Trees::Oblivious(t) => (
            "oblivious (symmetric)",
            t.iter().map(|(s, _)| s.len()).max().unwrap_or(0),
        ),
        Trees::NonSymmetric(_) => ("non-symmetric (Depthwise/Lossguide)", 0),
    };
    details.insert("tree_layout".into(), layout.into());
    if depth > 0 {
        details.insert("depth".into(), depth.to_string());
    }
    details.insert(
        "scale_and_bias".into(),
        format!(
            "scale {} (folded into the leaves), bias {bias:?}",
            model.scale
        ),
    );
    if !model.cat_features.is_empty() {
        let found: usize = preimages.values().map(Vec::len).sum();
        details.insert(
            "categorical_input".into(),
            format!(
                "integer codes as trained (CatBoost hashes their decimal text; {} one-hot \
                 values matched by {found} integers in -2^24..=2^24); a non-integer reads as \
                 trunc(x), except -1 < x < 0 and NaN: no category",
                preimages.len()
            ),
        );
    }
    details.insert("comparisons".into(), "float32(x) > float32 border".into());
    Source {
        library: "catboost".into(),
        version,
        estimator: objective.estimator.into(),
        details,
    }
}
