//! `PipelineModel` folders: feature assembly stages and one tree model.
//!
//! The pipeline's metadata lists `stageUids`; stage `i` is saved under
//! `stages/<i>_<uid>/`. A `VectorAssembler` of numeric columns only places
//! its input columns side by side, so its input column names become the
//! forest's feature names; the tree model stage is converted as a model of
//! its own. A `VectorIndexerModel` before the tree replaces each value of a
//! categorical feature by its index (`categoryMaps`); when those values are
//! non-negative integers, the tree's category sets are rewritten from
//! indices to values, which routes every row as Spark does (values the
//! indexer never saw are no category either way; with `handleInvalid`
//! `error` Spark refuses such rows, with `keep` it gives them the index
//! `numCategories`, which no split lists). `handleInvalid` `skip` (rows
//! dropped) and non-integer values are refused. Any other stage changes
//! values in ways not reproduced here and is refused by name.

use std::collections::BTreeMap;

use parquet::record::Field;
use serde_json::Value;

use super::{is_tree_model, table, tree_model, Metadata, SparkError};
use crate::ir::{CategorySplits, Forest, MAX_CATEGORY};

const ASSEMBLER: &str = "org.apache.spark.ml.feature.VectorAssembler";
const INDEXER: &str = "org.apache.spark.ml.feature.VectorIndexerModel";

/// Per categorical feature, the value of each index (`values[i]` is the
/// raw value the indexer maps to `i`).
type CategoryValues = BTreeMap<usize, Vec<u32>>;

/// Converts a pipeline whose metadata is `meta`.
pub(super) fn convert(files: &[(&str, &[u8])], meta: &Metadata) -> Result<Forest, SparkError> {
    let uids: Vec<&str> = meta
        .param("stageUids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if uids.is_empty() {
        return Err(SparkError::file(&meta.file, "no `stageUids`"));
    }
    let mut assembled: Option<Vec<String>> = None;
    let mut indexed: Option<CategoryValues> = None;
    let mut tree: Option<(String, Forest)> = None;
    for (i, uid) in uids.iter().enumerate() {
        let prefix = format!("stages/{i}_{uid}/");
        let stage = Metadata::read(files, &prefix)?;
        if stage.class == ASSEMBLER && tree.is_none() {
            let inputs = stage
                .param("inputCols")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            assembled = Some(inputs);
        } else if stage.class == INDEXER && tree.is_none() && indexed.is_none() {
            indexed = Some(category_values(files, &prefix, &stage)?);
        } else if is_tree_model(&stage.class) && tree.is_none() {
            tree = Some((
                stage.short_class().to_string(),
                tree_model(files, &prefix, &stage)?,
            ));
        } else {
            return Err(SparkError::Unsupported {
                what: format!("pipeline stage {i} ({})", stage.short_class()),
                hint: "a PipelineModel converts when it holds VectorAssembler stages followed by \
                       one tree model; convert the tree model's own folder \
                       (stages/<i>_<uid>) and apply the other stages before it"
                    .into(),
            });
        }
    }
    let (_, mut forest) = tree.ok_or_else(|| SparkError::Unsupported {
        what: "a pipeline without a tree model stage".into(),
        hint: "nothing to convert".into(),
    })?;
    if let Some(names) = assembled {
        // Input columns that are vectors would each fill several features.
        if names.len() == forest.n_features {
            forest.feature_names = Some(names);
            forest.source.details.insert(
                "features".into(),
                "the VectorAssembler's input columns".into(),
            );
        } else {
            return Err(SparkError::Unsupported {
                what: format!(
                    "a VectorAssembler of {} columns feeding a model of {} features (some \
                     input columns are vectors)",
                    names.len(),
                    forest.n_features
                ),
                hint: "assemble numeric columns only".into(),
            });
        }
    }
    if let Some(values) = indexed {
        reindex(&mut forest, &values)?;
        forest.source.details.insert(
            "vector_indexer".into(),
            format!(
                "categorical features {:?} take their raw values (the indexer's categories)",
                values.keys().collect::<Vec<_>>()
            ),
        );
    }
    forest.source.estimator = format!("PipelineModel ({})", forest.source.estimator);
    forest.check()?;
    Ok(forest)
}

/// A VectorIndexerModel's category maps, as index → value per feature.
fn category_values(
    files: &[(&str, &[u8])],
    prefix: &str,
    meta: &Metadata,
) -> Result<CategoryValues, SparkError> {
    let invalid = meta
        .param("handleInvalid")
        .and_then(Value::as_str)
        .unwrap_or("error");
    if invalid == "skip" {
        return Err(SparkError::Unsupported {
            what: "a VectorIndexer with handleInvalid `skip` (it drops rows)".into(),
            hint: "use `error` or `keep`".into(),
        });
    }
    let dir = format!("{prefix}data/");
    let parquet = files
        .iter()
        .filter(|(n, _)| n.starts_with(&dir) && n.ends_with(".parquet"))
        .copied();
    let rows = table::rows(parquet, 1)?;
    let (file, row) = rows
        .first()
        .ok_or_else(|| SparkError::NotAModel(format!("no VectorIndexer data under {dir}")))?;
    let bad = |problem: String| SparkError::file(file, problem);
    let Some(Field::MapInternal(maps)) = table::get(row, "categoryMaps") else {
        return Err(bad("no `categoryMaps` map".into()));
    };
    let mut out = CategoryValues::new();
    for (feature, map) in maps.entries() {
        let feature = table::int(Some(feature))
            .and_then(|f| usize::try_from(f).ok())
            .ok_or_else(|| bad("a feature index is not a non-negative integer".into()))?;
        let Field::MapInternal(map) = map else {
            return Err(bad(format!(
                "feature {feature}: its category map is not a map"
            )));
        };
        let mut values = vec![None; map.len()];
        for (value, index) in map.entries() {
            let value = table::double(Some(value));
            let index = table::int(Some(index)).and_then(|i| usize::try_from(i).ok());
            let (Some(value), Some(index)) = (value, index) else {
                return Err(bad(format!(
                    "feature {feature}: a category entry is not (double, int)"
                )));
            };
            if !(value >= 0.0 && value.fract() == 0.0 && value <= f64::from(MAX_CATEGORY)) {
                return Err(SparkError::Unsupported {
                    what: format!(
                        "a VectorIndexer mapping the value {value} of feature {feature} (only \
                         non-negative integer values convert)"
                    ),
                    hint: "index such features with integer codes first".into(),
                });
            }
            match values.get_mut(index) {
                Some(slot @ None) => *slot = Some(value as u32),
                _ => {
                    return Err(bad(format!(
                        "feature {feature}: index {index} is out of range or repeated"
                    )))
                }
            }
        }
        let values: Vec<u32> = values
            .into_iter()
            .map(|v| v.expect("every index filled"))
            .collect();
        out.insert(feature, values);
    }
    Ok(out)
}

/// Rewrites the categorical splits of `forest` from the indexer's indices
/// to the raw values.
fn reindex(forest: &mut Forest, values: &CategoryValues) -> Result<(), SparkError> {
    for (t, tree) in forest.trees.iter_mut().enumerate() {
        let mut rewritten = CategorySplits::default();
        for (node, cats) in tree.categories.iter() {
            let feature = tree.feature[node as usize] as usize;
            let map = values.get(&feature).ok_or_else(|| SparkError::Node {
                tree: t,
                node: i64::from(node),
                problem: format!("a categorical split on feature {feature}, which the VectorIndexer left continuous"),
            })?;
            let mut raw = cats
                .iter()
                .map(|&c| map.get(c as usize).copied())
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| SparkError::Node {
                    tree: t,
                    node: i64::from(node),
                    problem: format!(
                        "a category beyond the VectorIndexer's {} for feature {feature}",
                        map.len()
                    ),
                })?;
            raw.sort_unstable();
            rewritten.push(node, raw);
        }
        tree.categories = rewritten;
    }
    Ok(())
}
