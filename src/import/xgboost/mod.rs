//! XGBoost models saved with `save_model` as JSON (`.json`) or UBJSON
//! (`.ubj`, the default since XGBoost 2.1), from XGBoost 1.0 to 3.x, read
//! without XGBoost.
//!
//! ```no_run
//! let forest = forest2onnx::import::xgboost::read_file("model.ubj".as_ref())?;
//! # Ok::<(), forest2onnx::import::xgboost::XgboostError>(())
//! ```
//!
//! What is converted, exactly as XGBoost's `Booster.predict` computes it:
//! `gbtree` and `dart` boosters (DART tree weights folded into the leaves as
//! the float32 products XGBoost adds), `num_parallel_tree > 1`, one tree per
//! class or target (`tree_info`), numeric splits `x < t` on float32 inputs,
//! `default_left`, categorical splits, and the `base_score` turned into a
//! margin per objective ([`objective`]). The forest's raw scores are
//! XGBoost's margins (`output_margin=True`).
//!
//! XGBoost sums margins in float32 while [`Forest::predict`] sums in f64, so
//! the two agree to about 1e-7 relative, not bit for bit; every leaf reached
//! is the same.
//!
//! Multi-target trees with vector leaves (`multi_strategy="multi_output_tree"`)
//! become trees whose leaves hold one value per target or class.
//!
//! Refused with a message saying what to do: `gblinear`, the pre-1.0 binary
//! format, unknown objectives, and categorical splits or DART in trees with
//! vector leaves (XGBoost trains neither).

mod document;
mod error;
mod json;
pub mod objective;
mod tree;
mod ubjson;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::import::rounds::Rounds;
use crate::import::rounds::RoundsInFile;
use crate::ir::{
    Aggregation, CategoryRule, Forest, InputRules, Labels, Precision, Source, SplitOp, Task,
};
use document::{Node, Value};
pub use error::XgboostError;
use objective::{Objective, Output};

/// The two encodings of an XGBoost model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// JSON text.
    Json,
    /// Universal Binary JSON.
    Ubjson,
}

/// Largest model file read (4 GiB): far above real models, and a bound on
/// what a hostile file can make the readers allocate.
pub const MAX_FILE_BYTES: u64 = 4 << 30;

/// Whether `bytes` look like an XGBoost model saved as JSON or UBJSON: a
/// cheap check of the first bytes, for format detection.
///
/// UBJSON models start with `{L` and the eight-byte big-endian length of the
/// first key (a short one: its high bytes are zero); JSON models are objects
/// whose first few kilobytes mention `"learner"`.
pub fn sniff(bytes: &[u8]) -> bool {
    // The legacy binary format (its `binf` magic) is claimed too, so that it
    // is refused with what to do rather than as an unknown file.
    if bytes.starts_with(b"binf") {
        return true;
    }
    if bytes.len() >= 10 && bytes[0] == b'{' && bytes[1] == b'L' && bytes[2..6] == [0, 0, 0, 0] {
        return true;
    }
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start.filter(|&s| bytes[s] == b'{') else {
        return false;
    };
    let head = &bytes[start..bytes.len().min(start + 4096)];
    head.windows(9).any(|w| w == b"\"learner\"")
}

/// Reads and converts the XGBoost model file at `path`.
pub fn read_file(path: &Path) -> Result<Forest, XgboostError> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Err(XgboostError::NotAModel(format!(
            "the file has {len} bytes; the limit is {MAX_FILE_BYTES}"
        )));
    }
    from_bytes(&crate::bounded_read::read(path, MAX_FILE_BYTES)?)
}

/// Converts an XGBoost model saved as JSON or UBJSON (detected from the
/// bytes), with the rounds its saving API predicts with ([`Rounds::Default`]).
pub fn from_bytes(bytes: &[u8]) -> Result<Forest, XgboostError> {
    from_bytes_with(bytes, Rounds::Default)
}

/// [`from_bytes`] keeping the boosting rounds `rounds` asks for.
pub fn from_bytes_with(bytes: &[u8], rounds: Rounds) -> Result<Forest, XgboostError> {
    let encoding = encoding_of(bytes)?;
    let doc = match encoding {
        Encoding::Json => json::parse(bytes)?,
        Encoding::Ubjson => ubjson::parse(bytes)?,
    };
    from_document(&doc, encoding, rounds)
}

/// Which reader `bytes` need. Both encodings start with `{`: in UBJSON the
/// next byte is the marker of the first key's length (XGBoost writes `L`),
/// in JSON a quote, a blank or `}`.
fn encoding_of(bytes: &[u8]) -> Result<Encoding, XgboostError> {
    if let [b'{', marker, ..] = bytes {
        if b"LiUIlN#$".contains(marker) {
            return Ok(Encoding::Ubjson);
        }
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(Encoding::Json),
        None => Err(XgboostError::NotAModel("the file is empty".into())),
        Some(_) => Err(XgboostError::Unsupported {
            what: if bytes.starts_with(b"binf") {
                "XGBoost's legacy binary format".into()
            } else {
                "a file that is neither JSON nor UBJSON (XGBoost's legacy binary format, \
                 or not an XGBoost model)"
                    .into()
            },
            hint: "Load the model in XGBoost and save it again with \
                   booster.save_model(\"model.json\") or \"model.ubj\""
                .into(),
        }),
    }
}

/// Converts a parsed model document.
fn from_document(doc: &Value, encoding: Encoding, rounds: Rounds) -> Result<Forest, XgboostError> {
    // A pickled Booster's state (`XGBoosterSerializeToBuffer`) wraps the
    // model as `{"Config": ..., "Model": {"version", "learner"}}`.
    let doc = match doc {
        Value::Object(map) if !map.contains_key("learner") => map.get("Model").unwrap_or(doc),
        _ => doc,
    };
    let root = Node::root(doc);
    let version = read_version(&root)?;
    let learner = root.at("learner").map_err(|_| {
        XgboostError::NotAModel(
            "no `learner` object at the top level (a configuration file from save_config, \
             or not an XGBoost model?)"
                .into(),
        )
    })?;
    let params = learner.at("learner_model_param")?;
    let n_features_field = params.at("num_feature")?;
    let n_features = n_features_field.int_text()?;
    let n_features = usize::try_from(n_features)
        .ok()
        .filter(|&n| n > 0 && n <= u32::MAX as usize)
        .ok_or_else(|| n_features_field.error(format!("{n_features} features")))?;
    let n_classes = match params.get("num_class")? {
        Some(f) => f.int_text()?,
        None => 0,
    };
    let n_targets = match params.get("num_target")? {
        Some(f) => f.int_text()?,
        None => 1,
    };
    let objective_name = learner.at("objective")?.at("name")?.str()?.to_string();
    let mut objective = Objective::from_name(&objective_name)?;
    if objective_name == "binary:logitraw" && version_before(&version, (1, 4)) {
        // XGBoost 1.0 to 1.3 turned binary:logitraw's base_score into a
        // margin with the logit, as for binary:logistic; 1.4 made it the
        // identity. The file is converted as the version that wrote it
        // predicts.
        objective.link = objective::Link::Logit;
    }
    // Multi-label classification: a binary objective over several label
    // columns. `predict` gives each label's probability, the sigmoid of its
    // own margin: a regressor of `num_target` outputs with a logistic each.
    let multi_label = objective.output == Output::Binary && n_targets > 1;
    if multi_label {
        objective.output = Output::Regression;
    }
    let booster = learner.at("gradient_booster")?;
    let booster_name = booster.at("name")?.str()?.to_string();
    let (gbtree, weights) = match booster_name.as_str() {
        "gbtree" => (booster, None),
        "dart" => {
            let weights = booster.at("weight_drop")?;
            let w = weights.floats()?;
            (booster.at("gbtree")?, Some((weights, w)))
        }
        "gblinear" => {
            return Err(XgboostError::Unsupported {
                what: "the gblinear booster (a linear model, not trees)".into(),
                hint: "forest2onnx converts tree ensembles: train with booster=\"gbtree\"".into(),
            })
        }
        other => {
            return Err(booster.at("name")?.error(format!(
                "unknown booster {}; expected gbtree or dart",
                crate::text::quoted(other)
            )))
        }
    };
    let model = gbtree.at("model")?;
    let width = score_width(&objective, n_classes, n_targets, &params)?;
    let base_text = params.at("base_score")?;
    let base_margins = base_margins(&objective, base_text, width)?;

    let trees_field = model.at("trees")?;
    let tree_info_field = model.at("tree_info")?;
    let tree_info = tree_info_field.ints()?;
    let n_stored = trees_field.items()?.count();
    if n_stored == 0 {
        return Err(trees_field.error("the model has no trees (was it trained?)"));
    }
    if tree_info.len() != n_stored {
        return Err(
            tree_info_field.error(format!("{} entries for {n_stored} trees", tree_info.len()))
        );
    }
    if let Some((field, w)) = &weights {
        if w.len() != n_stored {
            return Err(field.error(format!("{} weights for {n_stored} trees", w.len())));
        }
    }
    let leaf_width = match trees_field.items()?.next() {
        Some(first) => tree::leaf_width(first)?,
        None => 1,
    };
    let vector_leaves = leaf_width > 1;
    if vector_leaves {
        check_vector_leaves(leaf_width, width, &trees_field, weights.is_some())?;
    }
    // A multi-target tree feeds every output: one tree per round (and
    // parallel tree) instead of one per output.
    let per_round = num_parallel_tree(&model)? * if vector_leaves { 1 } else { width };
    let in_file = rounds_in_file(&learner, n_stored / per_round)?;
    let chosen = in_file.choose(rounds).map_err(XgboostError::Rounds)?;
    // Rounds are stored in order, `per_round` trees each; a model whose
    // tree count is no multiple keeps every tree unless asked otherwise.
    let n_trees = if chosen.kept == in_file.total && rounds != Rounds::First(chosen.kept) {
        n_stored
    } else {
        chosen.kept * per_round
    };
    let tree_info = &tree_info[..n_trees];
    let mut tree_targets = Vec::with_capacity(n_trees);
    for (t, &k) in tree_info.iter().enumerate() {
        let k = u32::try_from(k)
            .ok()
            .filter(|&k| (k as usize) < if vector_leaves { 1 } else { width })
            .ok_or_else(|| {
                tree_info_field.error(format!(
                    "tree {t} adds to output {k}; the model has {width}"
                ))
            })?;
        tree_targets.push(k);
    }
    let mut trees = Vec::with_capacity(n_trees);
    for (t, json) in trees_field.items()?.take(n_trees).enumerate() {
        let ctx = tree::TreeContext {
            n_features,
            weight: weights.as_ref().map(|(_, w)| w[t]),
            leaf_width,
        };
        trees.push(tree::convert(t, json, &ctx)?);
    }

    let feature_names = feature_names(&learner, n_features)?;
    let task = match objective.output {
        Output::Binary => Task::Classification(Labels::Int(vec![0, 1])),
        Output::Multiclass => Task::Classification(Labels::Int((0..width as i64).collect())),
        Output::Regression => Task::Regression { n_targets: width },
    };
    let mut details = details(DetailsInput {
        learner: &learner,
        model: &model,
        encoding,
        objective: &objective_name,
        base_text: base_text.str().unwrap_or_default(),
        base_margins: &base_margins,
        n_trees,
        width,
        leaf_width,
        n_features,
        feature_names: feature_names.as_deref(),
    })?;
    if multi_label {
        details.insert(
            "multi_label".into(),
            format!("{width} labels: each output is one label's probability"),
        );
    }
    details.insert(
        "rounds_converted".into(),
        format!("{}: {}", chosen.kept, chosen.reason),
    );
    let forest = Forest {
        n_features,
        feature_names,
        input: InputRules {
            precision: Precision::F32,
            categories: CategoryRule::NonNegative,
            zero_as_missing: Vec::new(),
        },
        split_op: SplitOp::Less,
        task,
        aggregation: Aggregation::Sum {
            base_values: base_margins.iter().map(|&m| f64::from(m)).collect(),
            post_transform: objective.transform,
            tree_targets: if width > 1 && !vector_leaves {
                tree_targets
            } else {
                Vec::new()
            },
        },
        trees,
        source: Source {
            library: "xgboost".into(),
            version,
            estimator: format!("Booster ({booster_name})"),
            details,
        },
    };
    forest.check()?;
    Ok(forest)
}

/// Checks that a model whose trees hold `leaf_width` values per leaf
/// (`multi_strategy="multi_output_tree"`) has that many outputs, and is
/// no DART model (XGBoost trains no DART with vector leaves).
fn check_vector_leaves(
    leaf_width: usize,
    width: usize,
    trees_field: &Node<'_>,
    dart: bool,
) -> Result<(), XgboostError> {
    if leaf_width != width {
        return Err(trees_field.error(format!(
            "the trees hold {leaf_width} values per leaf; the model has {width} outputs"
        )));
    }
    if dart {
        return Err(XgboostError::Unsupported {
            what: "DART with multi-target trees (vector leaves)".into(),
            hint: "XGBoost does not train them: use booster=\"gbtree\"".into(),
        });
    }
    Ok(())
}

/// Trees per class (or target) and round.
fn num_parallel_tree(model: &Node<'_>) -> Result<usize, XgboostError> {
    Ok(match model.get("gbtree_model_param")? {
        Some(p) => match p.get("num_parallel_tree")? {
            Some(v) => v.int_text()?.clamp(1, 1 << 20) as usize,
            None => 1,
        },
        None => 1,
    })
}

/// The rounds stored, the recorded `best_iteration` and whether the
/// scikit-learn wrapper saved the model (its `scikit_learn` attribute): the
/// wrapper predicts with `best_iteration + 1` rounds, `Booster.predict`
/// with all.
fn rounds_in_file(learner: &Node<'_>, total: usize) -> Result<RoundsInFile, XgboostError> {
    let mut in_file = RoundsInFile {
        total,
        best_iteration: None,
        predicts_with_best: false,
    };
    if let Some(attrs) = learner.get("attributes")? {
        if let Some(best) = attrs.get("best_iteration")? {
            let text = best.str()?;
            let i = text
                .trim()
                .parse::<usize>()
                .map_err(|_| best.error(format!("{} is not a round", crate::text::quoted(text))))?;
            in_file.best_iteration = Some(i);
        }
        in_file.predicts_with_best = attrs.get("scikit_learn")?.is_some();
    }
    Ok(in_file)
}

/// Whether `version` (`"major.minor.patch"`) is before `(major, minor)`;
/// an unknown version is not.
fn version_before(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(a), Some(b)) => (a, b) < (major, minor),
        _ => false,
    }
}

/// `"1.7.6"` from the top-level `version: [1, 7, 6]` (absent: `"unknown"`).
fn read_version(root: &Node<'_>) -> Result<String, XgboostError> {
    let Some(v) = root.get("version")? else {
        return Ok("unknown".into());
    };
    let parts = v.ints()?;
    if parts.len() != 3 || parts.iter().any(|&p| !(0..1_000_000).contains(&p)) {
        return Err(v.error("expected [major, minor, patch]"));
    }
    if parts[0] < 1 {
        return Err(XgboostError::Unsupported {
            what: format!("a model saved by XGBoost {}.{}", parts[0], parts[1]),
            hint: "Load it in XGBoost 1.0 or later and save it again".into(),
        });
    }
    Ok(format!("{}.{}.{}", parts[0], parts[1], parts[2]))
}

/// Number of margins per row: classes for multi-class models, targets for
/// multi-target regression, else 1.
fn score_width(
    objective: &Objective,
    n_classes: i64,
    n_targets: i64,
    params: &Node<'_>,
) -> Result<usize, XgboostError> {
    const MAX_OUTPUTS: i64 = 1 << 20;
    if !(0..=MAX_OUTPUTS).contains(&n_classes) || !(0..=MAX_OUTPUTS).contains(&n_targets) {
        return Err(params.error(format!(
            "num_class {n_classes} / num_target {n_targets} out of range"
        )));
    }
    let width = n_classes.max(n_targets).max(1) as usize;
    match objective.output {
        Output::Multiclass if n_classes < 2 => Err(params.error(format!(
            "a multi-class objective with num_class {n_classes}"
        ))),
        Output::Binary if width != 1 => Err(params.error(format!(
            "a binary objective with num_class {n_classes} and num_target {n_targets}"
        ))),
        _ => Ok(width),
    }
}

/// The margins the saved `base_score` stands for, one per output.
fn base_margins(
    objective: &Objective,
    field: Node<'_>,
    width: usize,
) -> Result<Vec<f32>, XgboostError> {
    let values = match field.value {
        Value::Float(f) => vec![*f],
        _ => objective::parse_base_score(field.str()?).map_err(|e| field.error(e))?,
    };
    let values = match values.len() {
        // XGBoost broadcasts a scalar intercept to every output.
        1 => vec![values[0]; width],
        n if n == width => values,
        n => {
            return Err(field.error(format!("{n} values for {width} outputs")));
        }
    };
    values
        .iter()
        .map(|&v| objective.margin(v).map_err(|e| field.error(e)))
        .collect()
}

fn feature_names(
    learner: &Node<'_>,
    n_features: usize,
) -> Result<Option<Vec<String>>, XgboostError> {
    let Some(field) = learner.get("feature_names")? else {
        return Ok(None);
    };
    let names = field.strings()?;
    match names.len() {
        0 => Ok(None),
        n if n == n_features => Ok(Some(names)),
        n => Err(field.error(format!("{n} names for {n_features} features"))),
    }
}

struct DetailsInput<'a> {
    learner: &'a Node<'a>,
    model: &'a Node<'a>,
    encoding: Encoding,
    objective: &'a str,
    base_text: &'a str,
    base_margins: &'a [f32],
    n_trees: usize,
    width: usize,
    leaf_width: usize,
    n_features: usize,
    feature_names: Option<&'a [String]>,
}

/// The facts `inspect` shows: objective, base score, rounds, trees per
/// round, categorical features.
fn details(d: DetailsInput<'_>) -> Result<BTreeMap<String, String>, XgboostError> {
    let mut out = BTreeMap::new();
    out.insert(
        "format".into(),
        match d.encoding {
            Encoding::Json => "JSON",
            Encoding::Ubjson => "UBJSON",
        }
        .into(),
    );
    out.insert("objective".into(), d.objective.into());
    out.insert("base_score".into(), d.base_text.into());
    out.insert(
        "base_margin".into(),
        d.base_margins
            .iter()
            // float32 margins, in their shortest float32 text
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let parallel = num_parallel_tree(d.model)?;
    let per_round = if d.leaf_width > 1 {
        out.insert(
            "leaf_values".into(),
            format!(
                "{} per leaf (multi-target trees, multi_strategy=\"multi_output_tree\")",
                d.leaf_width
            ),
        );
        parallel
    } else {
        parallel * d.width
    };
    out.insert("num_parallel_tree".into(), parallel.to_string());
    out.insert("trees_per_round".into(), per_round.to_string());
    out.insert(
        "boosting_rounds".into(),
        (d.n_trees / per_round.max(1)).to_string(),
    );
    if let Some(attrs) = d.learner.get("attributes")? {
        if let Some(best) = attrs.get("best_iteration")? {
            out.insert("best_iteration".into(), best.str().unwrap_or("?").into());
        }
        if attrs.get("scikit_learn")?.is_some() {
            out.insert("saved_by".into(), "the scikit-learn wrapper".into());
        }
    }
    if let Some(types) = d.learner.get("feature_types")? {
        let types = types.strings()?;
        let categorical: Vec<String> = types
            .iter()
            .enumerate()
            .filter(|(_, t)| t.as_str() == "c")
            .map(|(i, _)| match d.feature_names {
                Some(names) if i < d.n_features => names[i].clone(),
                _ => i.to_string(),
            })
            .collect();
        if !categorical.is_empty() {
            out.insert("categorical_features".into(), categorical.join(", "));
        }
    }
    Ok(out)
}
