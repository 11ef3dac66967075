//! Decoded scikit-learn estimators → [`Forest`], with scikit-learn's
//! prediction semantics:
//!
//! * a row goes left when `x <= threshold` (`SplitOp::LessOrEqual`; the
//!   tree casts `X` to float32 and compares it, widened, with the float64
//!   threshold, so float32-representable inputs give identical decisions);
//! * NaN goes left when the node's `missing_go_to_left` is set
//!   (scikit-learn ≥ 1.3). Older nodes have no such field; those versions
//!   refuse NaN in `predict`, and their tree code would send it right
//!   (`NaN <= t` is false), which is what the forest does;
//! * the forest averages the trees' class probabilities (`Aggregation::Average`)
//!   in tree order, as `predict_proba` does, and the label is the first
//!   class with the highest probability (`np.argmax`);
//! * a tree's class probabilities are its leaf values divided by their sum
//!   before scikit-learn 1.4 (leaves held weighted counts); from 1.4 leaves
//!   hold fractions and `predict_proba` returns them unchanged.

use super::allowlist::ESTIMATORS;
use super::error::SklearnError;
use super::numpy::{Kind, NdArray};
use super::pickle::{Object, Value};
use crate::ir::{
    Aggregation, Forest, InputRules, Labels, Precision, Source, SplitOp, Task, Tree, LEAF,
};

/// scikit-learn's `TREE_LEAF`: the child id of a leaf.
const TREE_LEAF: i64 = -1;

const FORESTS: &[&str] = &["RandomForestClassifier", "ExtraTreesClassifier"];

/// Attribute dicts of real estimators hold a few dozen entries; the cap
/// keeps attribute lookups cheap on hostile files.
const MAX_ATTRIBUTES: usize = 4096;

/// Converts the root object of a scikit-learn pickle into a checked forest.
/// `input_len` is the size of the decoded stream: trees may not hold more
/// array data than twice that, which real files never do (each tree's
/// arrays are distinct bytes of the stream) but a file whose trees all
/// reference one memoized array would, multiplying the memory it takes.
pub(crate) fn forest_from_value(
    root: &Value<'_>,
    input_len: usize,
) -> Result<Forest, SklearnError> {
    let obj = root
        .as_object()
        .ok_or_else(|| SklearnError::UnsupportedEstimator {
            found: match root {
                // An inert numpy random object on its own holds no model.
                Value::Inert(_) => format!("only a {}", root.kind()),
                _ => root.kind(),
            },
        })?;
    let class = &obj.class;
    if !ESTIMATORS
        .iter()
        .any(|&(m, n)| m == class.module && n == class.name)
    {
        return Err(SklearnError::UnsupportedEstimator {
            found: format!("a {class} object"),
        });
    }
    let est = Estimator::new(obj, class.name.clone())?;
    let version = est
        .state
        .get("_sklearn_version")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string();

    let n_outputs = est.usize_attr("n_outputs_")?;
    if n_outputs != 1 {
        return Err(SklearnError::MultiOutput {
            estimator: est.name.clone(),
            n_outputs,
        });
    }
    let labels = est.labels()?;
    // `n_features_` before scikit-learn 1.0 (removed from forests in 1.2).
    let n_features = match est.state.get("n_features_in_") {
        Some(_) => est.usize_attr("n_features_in_")?,
        None => est.usize_attr("n_features_")?,
    };
    let feature_names = est.feature_names()?;
    let semantics = TreeSemantics {
        n_features,
        n_classes: labels.len(),
        normalize: counts_in_leaves(&version),
        array_budget: std::cell::Cell::new(input_len.saturating_mul(2).saturating_add(1 << 20)),
    };

    let trees = if FORESTS.contains(&est.name.as_str()) {
        let members = est
            .state
            .get("estimators_")
            .and_then(Value::as_list)
            .ok_or_else(|| est.invalid("estimators_ is missing or not a list"))?;
        members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let member = m
                    .as_object()
                    .filter(|o| o.class.name.ends_with("Classifier") && o.state.is_some())
                    .ok_or_else(|| est.invalid(format!("estimators_[{i}] is a {}", m.kind())))?;
                let tree = Estimator::new(member, format!("estimators_[{i}]"))?;
                convert_tree(tree.attr("tree_")?, &semantics, &tree.name)
            })
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![convert_tree(est.attr("tree_")?, &semantics, "tree_")?]
    };

    let forest = Forest {
        n_features,
        feature_names,
        // Trees cast `X` to float32, then compare with f64 thresholds.
        input: InputRules {
            precision: Precision::F32,
            ..InputRules::default()
        },
        split_op: SplitOp::LessOrEqual,
        task: Task::Classification(labels),
        aggregation: Aggregation::Average,
        trees,
        source: Source {
            library: "scikit-learn".into(),
            version,
            estimator: est.name,
            details: Default::default(),
        },
    };
    forest.check()?;
    Ok(forest)
}

/// Whether leaves of this scikit-learn version hold counts that
/// `predict_proba` normalises (before 1.4) rather than fractions.
fn counts_in_leaves(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) < (1, 4),
        // Unknown versions: normalising fractions is harmless, not
        // normalising counts is wrong.
        _ => true,
    }
}

/// An estimator's state dict, with typed attribute access.
struct Estimator<'v, 'a> {
    name: String,
    state: &'v Value<'a>,
}

impl<'v, 'a> Estimator<'v, 'a> {
    fn new(obj: &'v Object<'a>, name: String) -> Result<Self, SklearnError> {
        match &obj.state {
            Some(Value::Dict(d)) if d.len() > MAX_ATTRIBUTES => Err(SklearnError::Invalid {
                estimator: name,
                problem: format!("has {} attributes", d.len()),
            }),
            Some(state @ Value::Dict(_)) => Ok(Estimator { name, state }),
            _ => Err(SklearnError::Invalid {
                estimator: name,
                problem: "has no attribute dict (is it fitted?)".into(),
            }),
        }
    }

    fn invalid(&self, problem: impl Into<String>) -> SklearnError {
        SklearnError::Invalid {
            estimator: self.name.clone(),
            problem: problem.into(),
        }
    }

    fn attr(&self, key: &str) -> Result<&'v Value<'a>, SklearnError> {
        self.state
            .get(key)
            .ok_or_else(|| self.invalid(format!("has no attribute {key} (is it fitted?)")))
    }

    fn usize_attr(&self, key: &str) -> Result<usize, SklearnError> {
        let v = self.attr(key)?;
        v.as_int()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| self.invalid(format!("{key} is a {}, not a count", v.kind())))
    }

    fn labels(&self) -> Result<Labels, SklearnError> {
        let v = self.attr("classes_")?;
        let a = match v {
            Value::Array(a) => a,
            // Multi-output classifiers keep one array per output.
            Value::List(l) => {
                return Err(SklearnError::MultiOutput {
                    estimator: self.name.clone(),
                    n_outputs: l.len(),
                })
            }
            other => return Err(self.invalid(format!("classes_ is a {}", other.kind()))),
        };
        if a.shape.len() != 1 {
            return Err(self.invalid(format!("classes_ has shape {:?}", a.shape)));
        }
        class_labels(a).map_err(|p| self.invalid(format!("classes_: {p}")))
    }

    fn feature_names(&self) -> Result<Option<Vec<String>>, SklearnError> {
        match self.state.get("feature_names_in_") {
            None | Some(Value::None) => Ok(None),
            Some(Value::Array(a)) => a
                .to_strings()
                .map(Some)
                .map_err(|p| self.invalid(format!("feature_names_in_: {p}"))),
            Some(other) => Err(self.invalid(format!("feature_names_in_ is a {}", other.kind()))),
        }
    }
}

/// Class labels from `classes_`: integers stay integers (bools as 0/1,
/// integral floats as integers); text, and other floats written as text.
fn class_labels(a: &NdArray<'_>) -> Result<Labels, String> {
    match a.dtype.kind {
        Kind::Bool | Kind::Int | Kind::UInt => a.to_i64().map(Labels::Int),
        // Float labels stay floats, so they print as scikit-learn prints
        // them (`2.0`, `nan`).
        Kind::Float => a.to_f64().map(Labels::Float),
        Kind::Unicode | Kind::Bytes => a.to_strings().map(Labels::Str),
        Kind::Object => {
            let items = a.objects().ok_or("object array without objects")?;
            if items.iter().all(|v| matches!(v, Value::Str(_))) {
                a.to_strings().map(Labels::Str)
            } else if items.iter().all(|v| matches!(v, Value::Int(_))) {
                Ok(Labels::Int(
                    items.iter().filter_map(Value::as_int).collect(),
                ))
            } else {
                Err("labels mix types or are neither int nor str".into())
            }
        }
        _ => Err(format!("unsupported label dtype {}", a.dtype.describe())),
    }
}

/// What every tree of one estimator must agree on.
struct TreeSemantics {
    n_features: usize,
    n_classes: usize,
    normalize: bool,
    /// Array bytes the remaining trees may still convert.
    array_budget: std::cell::Cell<usize>,
}

/// One `sklearn.tree._tree.Tree` → IR tree.
fn convert_tree(v: &Value<'_>, sem: &TreeSemantics, owner: &str) -> Result<Tree, SklearnError> {
    let invalid = |problem: String| SklearnError::Invalid {
        estimator: owner.to_string(),
        problem,
    };
    let obj = v
        .as_object()
        .filter(|o| o.class.module == "sklearn.tree._tree" && o.class.name == "Tree")
        .ok_or_else(|| invalid(format!("tree_ is a {}", v.kind())))?;
    // Tree(n_features, n_classes, n_outputs)
    let [n_features, n_classes, n_outputs] = obj.args.as_slice() else {
        return Err(invalid(format!(
            "Tree has {} constructor arguments",
            obj.args.len()
        )));
    };
    if n_outputs.as_int() != Some(1) {
        return Err(SklearnError::MultiOutput {
            estimator: owner.to_string(),
            n_outputs: n_outputs.as_int().unwrap_or(0).max(0) as usize,
        });
    }
    if n_features.as_int() != Some(sem.n_features as i64) {
        return Err(invalid(format!(
            "tree has {:?} features; the estimator has {}",
            n_features.as_int(),
            sem.n_features
        )));
    }
    let tree_classes = n_classes
        .as_array()
        .and_then(|a| a.to_i64().ok())
        .ok_or_else(|| invalid("Tree n_classes is not an integer array".into()))?;
    if tree_classes != [sem.n_classes as i64] {
        return Err(invalid(format!(
            "tree has {tree_classes:?} classes; the estimator has {}",
            sem.n_classes
        )));
    }
    let state = obj
        .state
        .as_ref()
        .ok_or_else(|| invalid("Tree has no state".into()))?;
    let get = |key: &str| {
        state
            .get(key)
            .ok_or_else(|| invalid(format!("Tree state has no {key}")))
    };
    let node_count = get("node_count")?
        .as_int()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| invalid("Tree node_count is not a count".into()))?;
    let nodes = get("nodes")?
        .as_array()
        .ok_or_else(|| invalid("Tree nodes is not an array".into()))?;
    let values = get("values")?
        .as_array()
        .ok_or_else(|| invalid("Tree values is not an array".into()))?;
    if nodes.shape != [node_count] {
        return Err(invalid(format!(
            "nodes has shape {:?} for {node_count} nodes",
            nodes.shape
        )));
    }
    let width = match values.shape.as_slice() {
        [n, 1, w] if *n == node_count && *w >= sem.n_classes => *w,
        s => {
            return Err(invalid(format!(
                "values has shape {s:?}; expected ({node_count}, 1, {})",
                sem.n_classes
            )))
        }
    };
    let bytes = node_count
        .saturating_mul(nodes.dtype.itemsize)
        .saturating_add(values.len().saturating_mul(values.dtype.itemsize));
    match sem.array_budget.get().checked_sub(bytes) {
        Some(left) => sem.array_budget.set(left),
        None => {
            return Err(invalid(
                "trees reference more array data than the file holds (shared arrays)".into(),
            ))
        }
    }

    let field = |name: &str| nodes.field(name).map_err(&invalid);
    let left = field("left_child")?;
    let right = field("right_child")?;
    let feature = field("feature")?;
    let threshold = field("threshold")?;
    let missing_left = nodes.field("missing_go_to_left").ok();
    let leaf_values = values
        .to_f64()
        .map_err(|p| invalid(format!("values: {p}")))?;

    let n = node_count;
    let k = sem.n_classes;
    let mut t = Tree {
        feature: Vec::with_capacity(n),
        threshold: Vec::with_capacity(n),
        true_child: Vec::with_capacity(n),
        false_child: Vec::with_capacity(n),
        missing_true: Vec::with_capacity(n),
        value: vec![0.0; n * k],
        categories: Default::default(),
    };
    let child = |c: i64, i: usize| {
        u32::try_from(c)
            .ok()
            .filter(|&c| (c as usize) < n && c != LEAF)
            .ok_or_else(|| invalid(format!("node {i} has child {c}; the tree has {n} nodes")))
    };
    for i in 0..n {
        let (l, r) = (
            left.i64(i).map_err(&invalid)?,
            right.i64(i).map_err(&invalid)?,
        );
        if l == TREE_LEAF || r == TREE_LEAF {
            if l != r {
                return Err(invalid(format!("node {i} has only one child")));
            }
            t.feature.push(0);
            t.threshold.push(0.0);
            t.true_child.push(LEAF);
            t.false_child.push(LEAF);
            t.missing_true.push(false);
            let row = &leaf_values[i * width..i * width + k];
            let out = &mut t.value[i * k..(i + 1) * k];
            leaf_probabilities(row, sem.normalize, out);
            continue;
        }
        let f = feature.i64(i).map_err(&invalid)?;
        let f = u32::try_from(f)
            .ok()
            .filter(|&f| (f as usize) < sem.n_features)
            .ok_or_else(|| invalid(format!("node {i} splits on feature {f}")))?;
        t.feature.push(f);
        t.threshold.push(threshold.f64(i).map_err(&invalid)?);
        t.true_child.push(child(l, i)?);
        t.false_child.push(child(r, i)?);
        let missing = match &missing_left {
            Some(m) => m.i64(i).map_err(&invalid)? != 0,
            None => false,
        };
        t.missing_true.push(missing);
    }
    Ok(t)
}

/// A leaf's class probabilities as scikit-learn's `predict_proba` computes
/// them: counts divided by their sum (a zero sum divides by one), or the
/// stored fractions unchanged from 1.4 on.
fn leaf_probabilities(row: &[f64], normalize: bool, out: &mut [f64]) {
    if !normalize {
        out.copy_from_slice(row);
        return;
    }
    let sum: f64 = row.iter().sum();
    let sum = if sum == 0.0 { 1.0 } else { sum };
    out.iter_mut().zip(row).for_each(|(o, v)| *o = v / sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_before_1_4_hold_counts() {
        assert!(counts_in_leaves("1.3.2"));
        assert!(counts_in_leaves("0.24.2"));
        assert!(counts_in_leaves("unknown"));
        assert!(!counts_in_leaves("1.4.0"));
        assert!(!counts_in_leaves("1.4.dev0"));
        assert!(!counts_in_leaves("1.9.1"));
        assert!(!counts_in_leaves("2.0"));
    }

    #[test]
    fn leaf_probabilities_normalise_counts_only() {
        let mut out = [0.0; 3];
        leaf_probabilities(&[1.0, 3.0, 0.0], true, &mut out);
        assert_eq!(out, [0.25, 0.75, 0.0]);
        leaf_probabilities(&[0.0, 0.0, 0.0], true, &mut out);
        assert_eq!(out, [0.0; 3]);
        leaf_probabilities(&[0.2, 0.8, 0.0], false, &mut out);
        assert_eq!(out, [0.2, 0.8, 0.0]);
    }
}
