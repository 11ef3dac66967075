//! Spark ML tree models, read from the folder `model.write().save(path)`
//! writes, without Spark or a JVM.
//!
//! ```no_run
//! let forest = forest2onnx::import::spark::read_folder("rf_model".as_ref())?;
//! # Ok::<(), forest2onnx::import::spark::SparkError>(())
//! ```
//!
//! A model folder holds `metadata/part-00000` (one JSON line: the class,
//! `sparkVersion`, `paramMap`, `numFeatures`, `numClasses`, `numTrees`),
//! the nodes as Parquet under `data/` (`treeID` plus a `nodeData` struct for
//! ensembles) and, for ensembles, the tree weights under `treesMetadata/`
//! (read by position: Spark 3 names the columns `treeID, metadata,
//! weights`, Spark 4 `_1, _2, _3`). [`folder::pack`] reads the folder into
//! one buffer, so format detection and the importer work on bytes as for
//! every other format.
//!
//! Converted exactly as Spark's `transform` computes (Spark 3.x and 4.x):
//!
//! * `DecisionTreeClassificationModel`, `RandomForestClassificationModel`:
//!   each leaf holds its class counts divided by their sum (summed in class
//!   order, as Spark's `normalizeToProbabilitiesInPlace` and the forest's
//!   `predictRaw` do); the probabilities are their average over the trees.
//!   A decision tree's probabilities are Spark's to the bit; a forest's
//!   are Spark's `rawPrediction / sum(rawPrediction)` up to that final
//!   division (we divide by the number of trees: a few ulps apart).
//! * `GBTClassificationModel` (binary, logistic loss): Spark's margin `m`
//!   is `Σ weight × leaf` (a BLAS dot product); each leaf here holds
//!   `2 × weight × leaf`, summed in tree order, so the forest's raw score is
//!   `2m` and `p1 = 1 / (1 + e^-2m)` (Spark: `p0 = 1 / (1 + e^2m)`,
//!   `p1 = 1 - p0`, `rawPrediction = [-m, m]`).
//! * Regressors: a decision tree's leaf value; a random forest's average;
//!   a GBT's `Σ weight × leaf` in tree order (squared or absolute loss).
//! * Classes are the class indices `0.0 .. numClasses-1` (Spark's
//!   `prediction`), probabilities have `numClasses` columns (a model trained
//!   on labels 1..3 has 4, column 0 always 0).
//! * Inputs are compared in f64 (`x <= threshold` goes left; NaN goes
//!   right). Spark models carry no feature names: columns are taken by
//!   position. Categorical splits test exact category values: `1.5`, `-1`
//!   and categories never seen in training are no category, and go to the
//!   side Spark sends them (see `tree.rs`).
//! * A `PipelineModel` converts when its stages are `VectorAssembler`s of
//!   numeric columns (their input columns become the feature names) and one
//!   tree model; any other stage is refused by name.
//!
//! Refused with a message: classifier `thresholds`, GBT classifiers with
//! another loss than logistic, other pipeline stages.

mod error;
pub mod folder;
mod pipeline;
mod table;
mod tree;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::ir::{
    Aggregation, CategoryRule, Forest, InputRules, Labels, PostTransform, Precision, Source,
    SplitOp, Task,
};
pub use error::SparkError;
use table::NodeData;

/// Most features a model may declare.
const MAX_FEATURES: u64 = 1 << 24;

/// Most classes a classifier may declare.
const MAX_CLASSES: u64 = 1 << 16;

/// Whether `bytes` are a packed Spark ML model folder ([`folder::pack`]).
pub fn sniff(bytes: &[u8]) -> bool {
    folder::sniff(bytes)
}

/// Whether `dir` is a saved Spark ML model folder.
pub fn is_model_folder(dir: &Path) -> bool {
    folder::is_model_folder(dir)
}

/// Reads and converts the saved model folder `dir`.
pub fn read_folder(dir: &Path) -> Result<Forest, SparkError> {
    from_bytes(&folder::pack(dir)?)
}

/// Converts a packed model folder ([`folder::pack`]).
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, SparkError> {
    let files = folder::unpack(bytes)?;
    let meta = Metadata::read(&files, "")?;
    if meta.class == "org.apache.spark.ml.PipelineModel" {
        pipeline::convert(&files, &meta)
    } else {
        tree_model(&files, "", &meta)
    }
}

/// A stage's `metadata/part-*` JSON.
#[derive(Debug)]
pub(crate) struct Metadata {
    /// The file it came from.
    file: String,
    /// Fully qualified class name.
    class: String,
    json: Value,
}

impl Metadata {
    /// The metadata of the stage whose files start with `prefix`.
    fn read(files: &[(&str, &[u8])], prefix: &str) -> Result<Metadata, SparkError> {
        let (file, bytes) = files
            .iter()
            .find(|(name, bytes)| {
                name.strip_prefix(prefix)
                    .and_then(|n| n.strip_prefix("metadata/part-"))
                    .is_some_and(|_| !bytes.is_empty())
            })
            .ok_or_else(|| SparkError::NotAModel(format!("no `{prefix}metadata/part-*` file")))?;
        // One JSON document on the first line.
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let json: Value = serde_json::from_slice(line)
            .map_err(|e| SparkError::file(file, format!("not JSON: {e}")))?;
        let class = json
            .get("class")
            .and_then(Value::as_str)
            .ok_or_else(|| SparkError::file(file, "no `class`"))?
            .to_string();
        Ok(Metadata {
            file: file.to_string(),
            class,
            json,
        })
    }

    /// The class without its package, e.g. `RandomForestClassificationModel`.
    fn short_class(&self) -> &str {
        self.class.rsplit('.').next().unwrap_or(&self.class)
    }

    fn spark_version(&self) -> String {
        self.json
            .get("sparkVersion")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string()
    }

    /// A positive integer field at most `max`.
    fn count(&self, key: &str, max: u64) -> Result<usize, SparkError> {
        self.json
            .get(key)
            .and_then(Value::as_u64)
            .filter(|n| (1..=max).contains(n))
            .map(|n| n as usize)
            .ok_or_else(|| {
                SparkError::file(
                    &self.file,
                    format!("`{key}` is missing or not in 1..={max}"),
                )
            })
    }

    /// A parameter the user set (`paramMap`), else its default.
    fn param(&self, key: &str) -> Option<&Value> {
        ["paramMap", "defaultParamMap"]
            .iter()
            .find_map(|m| self.json.get(m).and_then(|m| m.get(key)))
    }

    /// Whether the user set the parameter `key`.
    fn is_set(&self, key: &str) -> bool {
        self.json.get("paramMap").and_then(|m| m.get(key)).is_some()
    }
}

/// The six tree model classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    GbtClassifier,
    GbtRegressor,
}

impl Kind {
    fn of(class: &str) -> Option<Kind> {
        Some(match class {
            "org.apache.spark.ml.classification.DecisionTreeClassificationModel" => {
                Kind::DecisionTreeClassifier
            }
            "org.apache.spark.ml.regression.DecisionTreeRegressionModel" => {
                Kind::DecisionTreeRegressor
            }
            "org.apache.spark.ml.classification.RandomForestClassificationModel" => {
                Kind::RandomForestClassifier
            }
            "org.apache.spark.ml.regression.RandomForestRegressionModel" => {
                Kind::RandomForestRegressor
            }
            "org.apache.spark.ml.classification.GBTClassificationModel" => Kind::GbtClassifier,
            "org.apache.spark.ml.regression.GBTRegressionModel" => Kind::GbtRegressor,
            _ => return None,
        })
    }

    fn is_classifier(self) -> bool {
        matches!(
            self,
            Kind::DecisionTreeClassifier | Kind::RandomForestClassifier | Kind::GbtClassifier
        )
    }

    fn is_ensemble(self) -> bool {
        !matches!(
            self,
            Kind::DecisionTreeClassifier | Kind::DecisionTreeRegressor
        )
    }
}

/// Whether `class` is one of the tree model classes converted.
pub(crate) fn is_tree_model(class: &str) -> bool {
    Kind::of(class).is_some()
}

/// Converts the tree model whose files start with `prefix`.
pub(crate) fn tree_model(
    files: &[(&str, &[u8])],
    prefix: &str,
    meta: &Metadata,
) -> Result<Forest, SparkError> {
    let kind = Kind::of(&meta.class).ok_or_else(|| SparkError::Unsupported {
        what: format!("the model class {}", meta.class),
        hint: "forest2onnx converts Spark's DecisionTree, RandomForest and GBT classification \
               and regression models, and PipelineModels holding one"
            .into(),
    })?;
    let n_features = meta.count("numFeatures", MAX_FEATURES)?;
    let n_classes = match kind {
        Kind::GbtClassifier => 2,
        k if k.is_classifier() => meta.count("numClasses", MAX_CLASSES)?,
        _ => 0,
    };
    refuse_settings(kind, meta)?;
    let under = |dir: &str| {
        let dir = format!("{prefix}{dir}/");
        files
            .iter()
            .filter(move |(name, _)| name.starts_with(&dir) && name.ends_with(".parquet"))
            .map(|&(name, bytes)| (name, bytes))
    };
    let nodes = table::rows(under("data"), table::MAX_NODES)?
        .iter()
        .map(|(file, row)| table::node(file, row))
        .collect::<Result<Vec<NodeData>, _>>()?;
    let mut trees: BTreeMap<i64, Vec<&NodeData>> = BTreeMap::new();
    for n in &nodes {
        trees.entry(n.tree).or_default().push(n);
    }
    let n_trees = if kind.is_ensemble() {
        meta.count("numTrees", table::MAX_NODES as u64)?
    } else {
        1
    };
    if trees.len() != n_trees || trees.keys().enumerate().any(|(i, &t)| t != i as i64) {
        return Err(SparkError::NotAModel(format!(
            "the nodes under {prefix}data/ belong to trees {:?}; expected 0..{n_trees}",
            trees.keys().take(8).collect::<Vec<_>>()
        )));
    }
    let weights = if kind.is_ensemble() {
        tree_weights(under("treesMetadata"), n_trees)?
    } else {
        vec![1.0]
    };
    let leaf_width = if matches!(
        kind,
        Kind::DecisionTreeClassifier | Kind::RandomForestClassifier
    ) {
        n_classes
    } else {
        1
    };
    let built = trees
        .values()
        .zip(&weights)
        .enumerate()
        .map(|(t, (nodes, &weight))| {
            let leaf = |n: &NodeData| leaf_values(kind, n, n_classes, weight);
            tree::build(t, nodes, n_features, leaf_width, &leaf)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let forest = Forest {
        n_features,
        feature_names: None,
        input: InputRules {
            precision: Precision::F64,
            // Spark looks values up in sets of doubles: 1.5 is no category.
            categories: if built.iter().any(|t| !t.categories.is_empty()) {
                CategoryRule::Integral
            } else {
                CategoryRule::default()
            },
            zero_as_missing: Vec::new(),
        },
        split_op: SplitOp::LessOrEqual,
        task: if kind.is_classifier() {
            Task::Classification(Labels::Float((0..n_classes).map(|c| c as f64).collect()))
        } else {
            Task::Regression { n_targets: 1 }
        },
        aggregation: match kind {
            Kind::GbtClassifier => Aggregation::Sum {
                base_values: vec![0.0],
                post_transform: PostTransform::Logistic,
                tree_targets: Vec::new(),
            },
            Kind::GbtRegressor => Aggregation::Sum {
                base_values: vec![0.0],
                post_transform: PostTransform::None,
                tree_targets: Vec::new(),
            },
            _ => Aggregation::Average,
        },
        trees: built,
        source: source(kind, meta, &weights),
    };
    forest.check()?;
    Ok(forest)
}

/// Settings that change `transform`'s output in ways not reproduced.
fn refuse_settings(kind: Kind, meta: &Metadata) -> Result<(), SparkError> {
    if kind.is_classifier() && meta.is_set("thresholds") {
        return Err(SparkError::Unsupported {
            what: "the classifier parameter `thresholds` (it rescales the probabilities before \
                   the prediction is taken)"
                .into(),
            hint: "clear it (`model.clear(model.thresholds)`) and save again, or apply the \
                   thresholds to the converted model's probabilities"
                .into(),
        });
    }
    if kind == Kind::GbtClassifier {
        let loss = meta
            .param("lossType")
            .and_then(Value::as_str)
            .unwrap_or("logistic");
        if loss != "logistic" {
            return Err(SparkError::Unsupported {
                what: format!("the GBT classifier loss `{loss}`"),
                hint: "only the logistic loss is converted".into(),
            });
        }
    }
    Ok(())
}

/// The values of a leaf, as [`tree_model`] lays them out.
fn leaf_values(
    kind: Kind,
    n: &NodeData,
    n_classes: usize,
    weight: f64,
) -> Result<Vec<f64>, String> {
    match kind {
        Kind::DecisionTreeClassifier | Kind::RandomForestClassifier => {
            let stats = &n.impurity_stats;
            if stats.len() != n_classes {
                return Err(format!(
                    "{} class counts for {n_classes} classes",
                    stats.len()
                ));
            }
            if stats.iter().any(|s| !(s.is_finite() && *s >= 0.0)) {
                return Err("a class count is negative or not finite".into());
            }
            // Summed in class order and divided, as Spark does.
            let total: f64 = stats.iter().sum();
            if total == 0.0 {
                if kind == Kind::DecisionTreeClassifier {
                    return Err("a leaf without training rows (Spark cannot normalise it)".into());
                }
                // A forest skips such a tree (`if (total != 0)`).
                return Ok(vec![0.0; n_classes]);
            }
            Ok(stats.iter().map(|s| s / total).collect())
        }
        Kind::DecisionTreeRegressor | Kind::RandomForestRegressor => finite(n.prediction),
        Kind::GbtRegressor => finite(n.prediction * weight),
        // Twice the margin: the logistic of it is Spark's probability.
        Kind::GbtClassifier => finite(2.0 * (n.prediction * weight)),
    }
}

fn finite(v: f64) -> Result<Vec<f64>, String> {
    if v.is_finite() {
        Ok(vec![v])
    } else {
        Err(format!("the leaf value {v} is not finite"))
    }
}

/// The tree weights of an ensemble, by tree id (`treesMetadata`: tree id,
/// metadata JSON, weight, by position).
fn tree_weights<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    n_trees: usize,
) -> Result<Vec<f64>, SparkError> {
    let mut weights = vec![None; n_trees];
    for (file, row) in table::rows(files, n_trees)? {
        let id = table::int(table::at(&row, 0));
        let weight = table::double(table::at(&row, 2));
        match (id.and_then(|i| usize::try_from(i).ok()), weight) {
            (Some(i), Some(w)) if i < n_trees && weights[i].is_none() && w.is_finite() => {
                weights[i] = Some(w);
            }
            _ => {
                return Err(SparkError::file(
                    file,
                    format!("a tree weight row is not (tree id in 0..{n_trees}, weight)"),
                ))
            }
        }
    }
    weights
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            w.ok_or_else(|| {
                SparkError::NotAModel(format!("tree {i} has no weight in treesMetadata/"))
            })
        })
        .collect()
}

fn source(kind: Kind, meta: &Metadata, weights: &[f64]) -> Source {
    let mut details = BTreeMap::new();
    details.insert(
        "input".into(),
        "features by position, compared in f64".into(),
    );
    match kind {
        Kind::GbtClassifier | Kind::GbtRegressor => {
            let shown: Vec<String> = weights
                .iter()
                .take(4)
                .map(|w| crate::ir::python_float(*w))
                .collect();
            let more = if weights.len() > 4 { ", …" } else { "" };
            details.insert("tree_weights".into(), format!("{}{more}", shown.join(", ")));
            let margin = "Σ weight × leaf, in tree order";
            if kind == Kind::GbtClassifier {
                details.insert(
                    "raw_score".into(),
                    format!("2 × Spark's margin ({margin}; rawPrediction = [-margin, margin])"),
                );
            } else {
                details.insert("raw_score".into(), format!("Spark's prediction ({margin})"));
            }
        }
        Kind::RandomForestClassifier => {
            details.insert(
                "probability".into(),
                "average of the trees' normalised class counts".into(),
            );
        }
        _ => {}
    }
    if let Some(Value::String(loss)) = meta.param("lossType") {
        details.insert("loss".into(), loss.clone());
    }
    Source {
        library: "spark".into(),
        version: meta.spark_version(),
        estimator: meta.short_class().to_string(),
        details,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packed fixture folders of the fuzz seeds.
    fn seeds() -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/spark");
        // `*.bin` are packed fixture folders; other seeds are malformed
        // inputs kept for the fuzzer (FUZZING.md's findings).
        let mut out: Vec<Vec<u8>> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .map(|p| std::fs::read(p).unwrap())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn seeds_convert_and_damaged_copies_are_refused_or_valid_never_a_panic() {
        let seeds = seeds();
        assert!(seeds.len() >= 10);
        for seed in &seeds {
            let forest = from_bytes(seed).unwrap();
            forest.check().unwrap();
            // A deterministic spread of byte flips and truncations.
            for k in 0..200usize {
                let at = folder::MAGIC.len() + (k * 7919) % (seed.len() - folder::MAGIC.len());
                let mut bad = seed.clone();
                bad[at] ^= 1 << (k % 8);
                if let Ok(f) = from_bytes(&bad) {
                    f.check().unwrap();
                    let row = ndarray::Array2::<f64>::zeros((1, f.n_features));
                    let _ = f.predict(row.view());
                }
                let _ = from_bytes(&seed[..at]);
            }
        }
    }
}
