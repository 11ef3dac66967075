//! LightGBM text models (the `model.txt` of `save_model`, LightGBM 3.x and
//! 4.x), read without LightGBM.
//!
//! ```no_run
//! let forest = forest2onnx::import::lightgbm::read_file("model.txt".as_ref())?;
//! # Ok::<(), forest2onnx::import::lightgbm::LightgbmError>(())
//! ```
//!
//! Converted exactly as LightGBM's `predict` computes (f64 throughout):
//! every objective whose output is the raw score or a logistic, softmax or
//! exponential of it ([`objective`]), one tree per class
//! (`num_tree_per_iteration`), random-forest mode (`average_output`: the
//! leaves are divided by the number of iterations), the `sigmoid:` factor
//! (multiplied into the leaves), missing types None/Zero/NaN, default
//! directions, categorical bitsets and single-leaf trees. Leaf values
//! already include the learning rate (`shrinkage` is informational).
//!
//! The forest's raw scores are LightGBM's `raw_score` output except where
//! the leaves were scaled: with a `sigmoid:` other than 1 they are `sigmoid`
//! times it, in random-forest mode the average rather than the sum.
//! `Source::details` says so when it applies.
//!
//! `reg_sqrt` (the signed square of the raw score) and
//! `cross_entropy_lambda` (`log1p(exp(s))`) are written after the ensemble
//! with standard operators. Refused with a message: linear trees, unknown
//! objectives and objective parameters.

mod error;
pub mod objective;
mod text;
mod tree;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::import::rounds::Rounds;
use crate::import::rounds::{RoundsChoice, RoundsInFile};
use crate::ir::{
    Aggregation, CategoryRule, Forest, InputRules, Labels, Precision, Source, SplitOp, Task,
};
use crate::text::quoted as quote;
pub use error::LightgbmError;
use objective::Objective;
use text::{Line, Sections};

/// Largest model file read (4 GiB).
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Most features a model may declare.
const MAX_FEATURES: usize = 1 << 24;

/// Whether `bytes` look like a LightGBM text model: the first line is
/// `tree` and a `version=v…` line follows.
pub fn sniff(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(256)];
    (head.starts_with(b"tree\n") || head.starts_with(b"tree\r\n"))
        && head.windows(9).any(|w| w == b"version=v")
}

/// Reads and converts the LightGBM model file at `path`.
pub fn read_file(path: &Path) -> Result<Forest, LightgbmError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Err(LightgbmError::NotAModel(format!(
            "the file has {len} bytes; the limit is {MAX_FILE_BYTES}"
        )));
    }
    from_bytes(&crate::bounded_read::read(path, MAX_FILE_BYTES)?)
}

/// Converts a LightGBM text model given as bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, LightgbmError> {
    from_bytes_with(bytes, Rounds::Default)
}

/// [`from_bytes`] keeping the boosting rounds `rounds` asks for (a text
/// model records no best iteration: the default is every round).
pub fn from_bytes_with(bytes: &[u8], rounds: Rounds) -> Result<Forest, LightgbmError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        LightgbmError::NotAModel(format!(
            "the file is not UTF-8 text (byte {})",
            e.valid_up_to()
        ))
    })?;
    from_str_with(text, rounds, None)
}

/// Converts the text of a LightGBM model (`Booster.model_to_string()`).
pub fn from_str(text: &str) -> Result<Forest, LightgbmError> {
    from_str_with(text, Rounds::Default, None)
}

/// [`from_str`] keeping the rounds `rounds` asks for; `best_iteration` is
/// the `Booster`'s (a count, 1-based, as LightGBM records it), which its
/// `predict` uses by default.
pub fn from_str_with(
    text: &str,
    rounds: Rounds,
    best_iteration: Option<usize>,
) -> Result<Forest, LightgbmError> {
    if !text.starts_with("tree\n") && !text.starts_with("tree\r\n") {
        return Err(LightgbmError::NotAModel(
            "a LightGBM model starts with the line `tree`".into(),
        ));
    }
    let sections = text::split(text)?;
    convert(&sections, rounds, best_iteration)
}

fn header<'t>(s: &Sections<'t>, key: &str) -> Result<Line<'t>, LightgbmError> {
    s.header
        .get(key)
        .copied()
        .ok_or_else(|| LightgbmError::Header {
            line: 0,
            key: key.into(),
            problem: "missing".into(),
        })
}

fn header_number(s: &Sections<'_>, key: &str) -> Result<i64, LightgbmError> {
    let line = header(s, key)?;
    line.value
        .trim()
        .parse()
        .map_err(|_| LightgbmError::Header {
            line: line.number,
            key: key.into(),
            problem: format!("{} is not an integer", quote(line.value)),
        })
}

/// What the header says about the model's shape and objective.
struct Header<'t> {
    /// `version=` as written (`v4`, ...).
    version: &'t str,
    n_features: usize,
    /// Trees per boosting iteration: one per class for multi-class models.
    per_iteration: usize,
    objective: Objective,
}

/// The trees kept of the file, as read and then as converted.
struct Trees {
    raw: Vec<tree::RawTree>,
    converted: Vec<crate::ir::Tree>,
    /// Features whose zero counts as missing (`missing_type=Zero`).
    zero: Vec<bool>,
    iterations: usize,
}

fn convert(
    s: &Sections<'_>,
    rounds: Rounds,
    best_iteration: Option<usize>,
) -> Result<Forest, LightgbmError> {
    let header = read_header(s)?;
    if s.parameters
        .get("linear_tree")
        .is_some_and(|v| v.trim() == "1")
    {
        return Err(linear_trees());
    }
    let feature_names = feature_names(s, header.n_features)?;
    let (in_file, chosen) = choose_rounds(s, header.per_iteration, rounds, best_iteration)?;
    let trees = read_trees(s, &header, chosen.kept)?;

    let mut details = round_details(&in_file, &chosen, best_iteration, header.per_iteration);
    details.extend(model_details(s, &header, trees.iterations));
    details.extend(feature_details(s, &trees, feature_names.as_deref()));
    let zero_list: Vec<u32> = (0..header.n_features as u32)
        .filter(|&f| trees.zero[f as usize])
        .collect();
    let forest = Forest {
        n_features: header.n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F64,
            categories: CategoryRule::TowardZero,
            zero_as_missing: zero_list,
        },
        split_op: SplitOp::LessOrEqual,
        task: task(&header),
        aggregation: aggregation(&header, trees.converted.len()),
        trees: trees.converted,
        source: source(&header, details),
    };
    forest.check()?;
    Ok(forest)
}

/// Reads and cross-checks the header's counts and objective.
fn read_header<'t>(s: &Sections<'t>) -> Result<Header<'t>, LightgbmError> {
    let version = header(s, "version")?.value.trim();
    let n_features = n_features(s)?;
    let num_class = header_number(s, "num_class")?;
    let per_iteration = trees_per_iteration(s, num_class)?;
    let objective = objective(s)?;
    match (objective.classifier, objective.num_class) {
        // multiclass / multiclassova: one tree per class and iteration.
        (true, Some(k)) if k != per_iteration || num_class != k as i64 => {
            return Err(LightgbmError::Header {
                line: header(s, "num_class")?.number,
                key: "num_class".into(),
                problem: format!(
                    "num_class {num_class}, num_tree_per_iteration {per_iteration} and the \
                     objective's num_class:{k} disagree"
                ),
            });
        }
        (true, None) if per_iteration != 1 => {
            return Err(LightgbmError::Header {
                line: 0,
                key: "num_tree_per_iteration".into(),
                problem: format!("a binary model with {per_iteration} trees per iteration"),
            });
        }
        _ => {}
    }
    Ok(Header {
        version,
        n_features,
        per_iteration,
        objective,
    })
}

/// `max_feature_idx + 1`, within `1..=MAX_FEATURES`.
fn n_features(s: &Sections<'_>) -> Result<usize, LightgbmError> {
    let max_feature_idx = header_number(s, "max_feature_idx")?;
    usize::try_from(max_feature_idx + 1)
        .ok()
        .filter(|n| (1..=MAX_FEATURES).contains(n))
        .ok_or_else(|| LightgbmError::Header {
            line: header(s, "max_feature_idx").map_or(0, |l| l.number),
            key: "max_feature_idx".into(),
            problem: format!("{max_feature_idx} is out of range"),
        })
}

/// `num_tree_per_iteration` (older files: `num_class`), within `1..=2^20`.
fn trees_per_iteration(s: &Sections<'_>, num_class: i64) -> Result<usize, LightgbmError> {
    let per_iteration = match s.header.get("num_tree_per_iteration") {
        Some(_) => header_number(s, "num_tree_per_iteration")?,
        None => num_class,
    };
    usize::try_from(per_iteration)
        .ok()
        .filter(|&k| (1..=1 << 20).contains(&k))
        .ok_or_else(|| LightgbmError::Header {
            line: 0,
            key: "num_tree_per_iteration".into(),
            problem: format!("{per_iteration} trees per iteration"),
        })
}

/// The `objective=` line (raw scores without one), its errors located at
/// that line.
fn objective(s: &Sections<'_>) -> Result<Objective, LightgbmError> {
    let Some(line) = s.header.get("objective") else {
        return Ok(Objective::raw("none"));
    };
    Objective::parse(line.value).map_err(|e| match e {
        LightgbmError::Header { key, problem, .. } => LightgbmError::Header {
            line: line.number,
            key,
            problem,
        },
        other => other,
    })
}

/// The rounds in the file and those `rounds` keeps.
fn choose_rounds(
    s: &Sections<'_>,
    per_iteration: usize,
    rounds: Rounds,
    best_iteration: Option<usize>,
) -> Result<(RoundsInFile, RoundsChoice), LightgbmError> {
    let n_trees = s.trees.len();
    if n_trees == 0 || !n_trees.is_multiple_of(per_iteration) {
        return Err(LightgbmError::NotAModel(format!(
            "{n_trees} trees, not a positive multiple of the {per_iteration} trees per iteration"
        )));
    }
    let in_file = RoundsInFile {
        total: n_trees / per_iteration,
        best_iteration: best_iteration.and_then(|b| b.checked_sub(1)),
        predicts_with_best: true,
    };
    let chosen = in_file.choose(rounds).map_err(LightgbmError::Rounds)?;
    Ok((in_file, chosen))
}

/// Reads the trees of the first `iterations` rounds and converts them,
/// scaling the leaves by the `sigmoid:` factor and, in random-forest mode,
/// dividing them by the number of iterations.
fn read_trees(
    s: &Sections<'_>,
    header: &Header<'_>,
    iterations: usize,
) -> Result<Trees, LightgbmError> {
    let n_trees = iterations * header.per_iteration;
    let mut categories = 0;
    let raw = s.trees[..n_trees]
        .iter()
        .enumerate()
        .map(|(i, block)| {
            tree::read(i, block, header.n_features, &mut categories).map_err(|(line, problem)| {
                if problem.contains("is_linear=1") {
                    linear_trees()
                } else {
                    LightgbmError::Tree {
                        tree: i,
                        line,
                        problem,
                    }
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let zero = tree::zero_features(&raw, header.n_features);
    // Only the classifiers' logistic takes a `sigmoid:` factor (1 otherwise).
    let mut scale = header.objective.sigmoid;
    if is_average(s) {
        scale /= iterations as f64;
    }
    let converted = raw
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            tree::convert(raw, &zero, scale).map_err(|(line, problem)| LightgbmError::Tree {
                tree: i,
                line,
                problem,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Trees {
        raw,
        converted,
        zero,
        iterations,
    })
}

/// Random-forest mode: the output is the average of the iterations.
fn is_average(s: &Sections<'_>) -> bool {
    s.header.contains_key("average_output")
}

fn task(header: &Header<'_>) -> Task {
    let per_iteration = header.per_iteration;
    if header.objective.classifier {
        let n_classes = if per_iteration == 1 { 2 } else { per_iteration };
        Task::Classification(Labels::Int((0..n_classes as i64).collect()))
    } else {
        Task::Regression {
            n_targets: per_iteration,
        }
    }
}

/// A sum of `n_trees` trees, which cycle over the classes when there is
/// more than one tree per iteration; no base score (LightGBM folds it into
/// the first trees).
fn aggregation(header: &Header<'_>, n_trees: usize) -> Aggregation {
    let per_iteration = header.per_iteration;
    Aggregation::Sum {
        base_values: vec![0.0; per_iteration],
        post_transform: header.objective.transform,
        tree_targets: if per_iteration > 1 {
            (0..n_trees).map(|t| (t % per_iteration) as u32).collect()
        } else {
            Vec::new()
        },
    }
}

fn source(header: &Header<'_>, details: BTreeMap<String, String>) -> Source {
    Source {
        library: "lightgbm".into(),
        version: match header.version {
            "v4" => "4.x".into(),
            "v3" => "3.x".into(),
            "v2" => "2.x".into(),
            other => other.into(),
        },
        estimator: format!("Booster ({})", header.objective.name),
        details,
    }
}

/// `Source::details` on the rounds in the file and those converted.
fn round_details(
    in_file: &RoundsInFile,
    chosen: &RoundsChoice,
    best_iteration: Option<usize>,
    per_iteration: usize,
) -> BTreeMap<String, String> {
    let mut details = BTreeMap::new();
    details.insert("boosting_rounds".into(), in_file.total.to_string());
    details.insert(
        "rounds_converted".into(),
        format!("{}: {}", chosen.kept, chosen.reason),
    );
    if let Some(best) = best_iteration {
        details.insert("best_iteration".into(), best.to_string());
    }
    details.insert("trees_per_round".into(), per_iteration.to_string());
    details
}

/// `Source::details` on the objective, the boosting mode and how the
/// leaves were scaled.
fn model_details(
    s: &Sections<'_>,
    header: &Header<'_>,
    iterations: usize,
) -> BTreeMap<String, String> {
    let objective = &header.objective;
    let mut details = BTreeMap::new();
    details.insert("objective".into(), objective_text(s));
    details.insert("model_format".into(), header.version.into());
    details.insert(
        "base_score".into(),
        "0 (LightGBM folds it into the first trees)".into(),
    );
    if let Some(boosting) = s.parameters.get("boosting") {
        details.insert("boosting".into(), (*boosting).into());
    }
    if is_average(s) {
        details.insert(
            "average_output".into(),
            format!(
                "yes: leaves divided by the {iterations} iterations (raw scores are averages, \
                 LightGBM's raw_score the sums)"
            ),
        );
    }
    if objective.classifier && objective.transform == crate::ir::PostTransform::Logistic {
        details.insert("sigmoid".into(), crate::ir::python_float(objective.sigmoid));
        if objective.sigmoid != 1.0 {
            details.insert(
                "raw_score".into(),
                "sigmoid × LightGBM's raw_score (the factor is in the leaves)".into(),
            );
        }
    }
    details
}

/// `Source::details` naming the categorical and zero-as-missing features
/// and the pandas categories.
fn feature_details(
    s: &Sections<'_>,
    trees: &Trees,
    feature_names: Option<&[String]>,
) -> BTreeMap<String, String> {
    let n_features = trees.zero.len();
    let names = |features: &[usize]| {
        features
            .iter()
            .map(|&f| feature_names.map_or_else(|| f.to_string(), |names| names[f].clone()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut details = BTreeMap::new();
    let categorical = categorical_features(&trees.raw, n_features);
    if !categorical.is_empty() {
        details.insert("categorical_features".into(), names(&categorical));
    }
    let zero: Vec<usize> = (0..n_features).filter(|&f| trees.zero[f]).collect();
    if !zero.is_empty() {
        details.insert("zero_as_missing_features".into(), names(&zero));
    }
    if let Some(p) = s.pandas_categorical.filter(|p| p.trim() != "null") {
        details.insert(
            "pandas_categorical".into(),
            format!("{} (inputs are the category codes)", quote(p.trim())),
        );
    }
    details
}

fn linear_trees() -> LightgbmError {
    LightgbmError::Unsupported {
        what: "linear trees (linear_tree=true: each leaf holds a linear model)".into(),
        hint: "Retrain with linear_tree=false; ONNX tree ensembles hold constant leaves".into(),
    }
}

fn objective_text(s: &Sections<'_>) -> String {
    s.header.get("objective").map_or_else(
        || "none (raw scores)".into(),
        |l| l.value.trim().to_string(),
    )
}

fn feature_names(
    s: &Sections<'_>,
    n_features: usize,
) -> Result<Option<Vec<String>>, LightgbmError> {
    let Some(line) = s.header.get("feature_names") else {
        return Ok(None);
    };
    let names: Vec<String> = line.value.split(' ').map(str::to_string).collect();
    if names.len() != n_features {
        return Err(LightgbmError::Header {
            line: line.number,
            key: "feature_names".into(),
            problem: format!("{} names for {n_features} features", names.len()),
        });
    }
    Ok(Some(names))
}

/// Features split categorically somewhere in the model, ascending.
fn categorical_features(trees: &[tree::RawTree], n_features: usize) -> Vec<usize> {
    let mut cat = vec![false; n_features];
    for t in trees {
        for i in 0..t.feature.len() {
            if t.is_categorical(i) {
                cat[t.feature[i] as usize] = true;
            }
        }
    }
    (0..n_features).filter(|&f| cat[f]).collect()
}
