//! CatBoost's JSON export (`save_model(path, format="json")`) read into a
//! [`Model`].

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::model::{CatFeature, FloatFeature, Model, NanTreatment, Node, Split, Trees};
use super::CatboostError;

/// Deepest non-symmetric tree read (CatBoost trains at most depth 16; a
/// Lossguide chain of 64 leaves is 63 deep).
const MAX_DEPTH: usize = 64;

type Result<T> = std::result::Result<T, CatboostError>;

/// Reads the JSON export.
pub(crate) fn parse(bytes: &[u8]) -> Result<Model> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| CatboostError::Json(e.to_string()))?;
    let root = doc
        .as_object()
        .ok_or_else(|| CatboostError::NotAModel("the JSON is not an object".into()))?;
    let features = object(root.get("features_info"), "features_info")?;
    let float_features = match features.get("float_features") {
        Some(v) => array(Some(v), "features_info.float_features")?
            .iter()
            .enumerate()
            .map(|(i, f)| float_feature(f, i))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let cats = match features.get("categorical_features") {
        Some(v) => array(Some(v), "features_info.categorical_features")?.as_slice(),
        None => &[],
    };
    let cat_features = cats
        .iter()
        .enumerate()
        .map(|(i, f)| cat_feature(f, i))
        .collect::<Result<Vec<_>>>()?;
    let ctr_features = match features.get("ctrs") {
        Some(v) => array(Some(v), "features_info.ctrs")?.len(),
        None => 0,
    };
    let other_features = features
        .keys()
        .filter(|k| {
            !matches!(
                k.as_str(),
                "float_features" | "categorical_features" | "ctrs" | "cat_features_hash"
            )
        })
        .cloned()
        .collect();

    let (trees, dims) = if let Some(t) = root.get("oblivious_trees") {
        oblivious(array(Some(t), "oblivious_trees")?)?
    } else if let Some(t) = root.get("trees") {
        non_symmetric(array(Some(t), "trees")?)?
    } else {
        return Err(CatboostError::NotAModel(
            "neither `oblivious_trees` nor `trees` at the top level".into(),
        ));
    };
    let (scale, bias) = match root.get("scale_and_bias") {
        Some(v) => scale_and_bias(v)?,
        None => (1.0, vec![0.0; dims]),
    };
    let info = match root.get("model_info") {
        Some(v) => object(Some(v), "model_info")?
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => BTreeMap::new(),
    };
    Ok(Model {
        float_features,
        cat_features,
        ctr_features,
        other_features,
        dims,
        trees,
        scale,
        bias,
        info,
    })
}

fn object<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(CatboostError::field(field, "not an object")),
        None => Err(CatboostError::field(field, "missing")),
    }
}

fn array<'a>(v: Option<&'a Value>, field: &str) -> Result<&'a Vec<Value>> {
    match v {
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(CatboostError::field(field, "not an array")),
        None => Err(CatboostError::field(field, "missing")),
    }
}

fn number(v: Option<&Value>, field: &str) -> Result<f64> {
    match v {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| CatboostError::field(field, "not a number")),
        Some(_) => Err(CatboostError::field(field, "not a number")),
        None => Err(CatboostError::field(field, "missing")),
    }
}

fn integer(v: Option<&Value>, field: &str) -> Result<i64> {
    v.and_then(Value::as_i64)
        .ok_or_else(|| CatboostError::field(field, "missing or not an integer"))
}

fn index(v: Option<&Value>, field: &str) -> Result<usize> {
    let n = integer(v, field)?;
    usize::try_from(n).map_err(|_| CatboostError::field(field, format!("negative index {n}")))
}

fn flat_index(v: Option<&Value>, field: &str) -> Result<u32> {
    let n = integer(v, field)?;
    u32::try_from(n).map_err(|_| CatboostError::field(field, format!("feature index {n}")))
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

fn float_feature(f: &Value, i: usize) -> Result<FloatFeature> {
    let at = format!("features_info.float_features[{i}]");
    let f = object(Some(f), &at)?;
    let position = index(f.get("feature_index"), &format!("{at}.feature_index"))?;
    if position != i {
        return Err(CatboostError::field(
            format!("{at}.feature_index"),
            format!("{position}, expected {i}"),
        ));
    }
    let nan_field = format!("{at}.nan_value_treatment");
    let nan_name = f
        .get("nan_value_treatment")
        .and_then(Value::as_str)
        .ok_or_else(|| CatboostError::field(&nan_field, "missing"))?;
    let nan = NanTreatment::from_name(nan_name)
        .ok_or_else(|| CatboostError::field(&nan_field, format!("unknown value {nan_name:?}")))?;
    Ok(FloatFeature {
        flat: flat_index(
            f.get("flat_feature_index"),
            &format!("{at}.flat_feature_index"),
        )?,
        name: text(f.get("feature_id")),
        nan,
    })
}

fn cat_feature(f: &Value, i: usize) -> Result<CatFeature> {
    let at = format!("features_info.categorical_features[{i}]");
    let f = object(Some(f), &at)?;
    let position = index(f.get("feature_index"), &format!("{at}.feature_index"))?;
    if position != i {
        return Err(CatboostError::field(
            format!("{at}.feature_index"),
            format!("{position}, expected {i}"),
        ));
    }
    Ok(CatFeature {
        flat: flat_index(
            f.get("flat_feature_index"),
            &format!("{at}.flat_feature_index"),
        )?,
        name: text(f.get("feature_id")),
    })
}

fn split(v: &Value, at: &str) -> Result<Split> {
    let s = object(Some(v), at)?;
    let kind = s
        .get("split_type")
        .and_then(Value::as_str)
        .ok_or_else(|| CatboostError::field(format!("{at}.split_type"), "missing"))?;
    match kind {
        "FloatFeature" => {
            let border = number(s.get("border"), &format!("{at}.border"))?;
            Ok(Split::Float {
                feature: index(
                    s.get("float_feature_index"),
                    &format!("{at}.float_feature_index"),
                )?,
                border: float32(border, &format!("{at}.border"))?,
            })
        }
        "OneHotFeature" => {
            let value = integer(s.get("value"), &format!("{at}.value"))?;
            Ok(Split::OneHot {
                feature: index(
                    s.get("cat_feature_index"),
                    &format!("{at}.cat_feature_index"),
                )?,
                value: i32::try_from(value).map_err(|_| {
                    CatboostError::field(format!("{at}.value"), format!("{value} is not an i32"))
                })?,
            })
        }
        "OnlineCtr" => Ok(Split::Ctr),
        other => Err(CatboostError::field(
            format!("{at}.split_type"),
            format!("unknown split type {other:?}"),
        )),
    }
}

/// A border: CatBoost stores float32 values, written as the f64 of the float.
fn float32(v: f64, at: &str) -> Result<f32> {
    let f = v as f32;
    if f64::from(f) != v && !v.is_nan() {
        return Err(CatboostError::field(
            at,
            format!("{v} is not a float32 value"),
        ));
    }
    Ok(f)
}

fn values(v: &Value, at: &str) -> Result<Vec<f64>> {
    array(Some(v), at)?
        .iter()
        .enumerate()
        .map(|(k, x)| number(Some(x), &format!("{at}[{k}]")))
        .collect()
}

fn oblivious(trees: &[Value]) -> Result<(Trees, usize)> {
    let mut dims = None;
    let mut out = Vec::with_capacity(trees.len());
    for (t, tree) in trees.iter().enumerate() {
        let at = format!("oblivious_trees[{t}]");
        let tree = object(Some(tree), &at)?;
        let splits = array(tree.get("splits"), &format!("{at}.splits"))?
            .iter()
            .enumerate()
            .map(|(k, s)| split(s, &format!("{at}.splits[{k}]")))
            .collect::<Result<Vec<_>>>()?;
        if splits.len() > super::MAX_OBLIVIOUS_DEPTH {
            return Err(CatboostError::Tree {
                tree: t,
                problem: format!(
                    "depth {} (at most {} is read)",
                    splits.len(),
                    super::MAX_OBLIVIOUS_DEPTH
                ),
            });
        }
        let leaves = values(
            tree.get("leaf_values")
                .ok_or_else(|| CatboostError::field(format!("{at}.leaf_values"), "missing"))?,
            &format!("{at}.leaf_values"),
        )?;
        let n_leaves = 1usize << splits.len();
        if leaves.is_empty() || !leaves.len().is_multiple_of(n_leaves) {
            return Err(CatboostError::Tree {
                tree: t,
                problem: format!("{} leaf values for {n_leaves} leaves", leaves.len()),
            });
        }
        let d = leaves.len() / n_leaves;
        if *dims.get_or_insert(d) != d {
            return Err(CatboostError::Tree {
                tree: t,
                problem: format!(
                    "{d} values per leaf, other trees have {}",
                    dims.unwrap_or(d)
                ),
            });
        }
        out.push((splits, leaves));
    }
    Ok((Trees::Oblivious(out), dims.unwrap_or(1)))
}

fn non_symmetric(trees: &[Value]) -> Result<(Trees, usize)> {
    let mut dims = None;
    let mut out = Vec::with_capacity(trees.len());
    for (t, tree) in trees.iter().enumerate() {
        let mut nodes = Vec::new();
        read_node(tree, &format!("trees[{t}]"), 0, &mut nodes, &mut dims).map_err(|e| match e {
            CatboostError::Tree { problem, .. } => CatboostError::Tree { tree: t, problem },
            other => other,
        })?;
        out.push(nodes);
    }
    Ok((Trees::NonSymmetric(out), dims.unwrap_or(1)))
}

/// Appends the subtree at `v` to `nodes` (pre-order) and returns its id.
fn read_node(
    v: &Value,
    at: &str,
    depth: usize,
    nodes: &mut Vec<Node>,
    dims: &mut Option<usize>,
) -> Result<usize> {
    if depth > MAX_DEPTH {
        return Err(CatboostError::Tree {
            tree: 0,
            problem: format!("deeper than {MAX_DEPTH}"),
        });
    }
    let node = object(Some(v), at)?;
    let id = nodes.len();
    if let Some(value) = node.get("value") {
        let leaf = match value {
            Value::Array(_) => values(value, &format!("{at}.value"))?,
            _ => vec![number(Some(value), &format!("{at}.value"))?],
        };
        if leaf.is_empty() || *dims.get_or_insert(leaf.len()) != leaf.len() {
            return Err(CatboostError::Tree {
                tree: 0,
                problem: format!("{at}: a leaf of {} values", leaf.len()),
            });
        }
        nodes.push(Node::Leaf(leaf));
        return Ok(id);
    }
    let s = split(
        node.get("split")
            .ok_or_else(|| CatboostError::field(format!("{at}.split"), "missing"))?,
        &format!("{at}.split"),
    )?;
    nodes.push(Node::Leaf(Vec::new()));
    let left_v = node
        .get("left")
        .ok_or_else(|| CatboostError::field(format!("{at}.left"), "missing"))?;
    let right_v = node
        .get("right")
        .ok_or_else(|| CatboostError::field(format!("{at}.right"), "missing"))?;
    let left = read_node(left_v, &format!("{at}.left"), depth + 1, nodes, dims)?;
    let right = read_node(right_v, &format!("{at}.right"), depth + 1, nodes, dims)?;
    nodes[id] = Node::Split {
        split: s,
        left,
        right,
    };
    Ok(id)
}

fn scale_and_bias(v: &Value) -> Result<(f64, Vec<f64>)> {
    let at = "scale_and_bias";
    let a = array(Some(v), at)?;
    if a.len() != 2 {
        return Err(CatboostError::field(at, "not [scale, [bias...]]"));
    }
    let scale = number(a.first(), &format!("{at}[0]"))?;
    let bias = match &a[1] {
        Value::Array(_) => values(&a[1], &format!("{at}[1]"))?,
        other => vec![number(Some(other), &format!("{at}[1]"))?],
    };
    Ok((scale, bias))
}
