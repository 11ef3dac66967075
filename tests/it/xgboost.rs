//! XGBoost models from several XGBoost versions (committed fixtures made by
//! `python/fixtures/make_booster_fixtures.py`, see `scripts/make-booster-fixtures.sh`)
//! converted without XGBoost and compared with XGBoost's own predictions:
//! every row must reach the leaf XGBoost reached in every tree, margins and
//! predictions must agree within float32 summation error.

use crate::booster_support;

use std::path::Path;

use booster_support::{
    check_all, classes_column, compare, fixtures, leaf_values, Expected, Tallies,
};
use forest2onnx::import::xgboost::{self, XgboostError};
use forest2onnx::ir::Forest;
use ndarray::{s, Array2};

/// XGBoost sums margins in float32, the IR in f64: the two differ by the
/// float32 rounding of each partial sum (about 6e-8 of its size per tree).
const MARGIN_REL: f64 = 1e-5;
const MARGIN_ABS: f64 = 1e-5;

/// Per library version and objective: models, rows, label mismatches and
/// the largest deviations.
/// Fewest committed fixture cases expected (all versions together).
const MIN_FIXTURE_CASES: usize = 120;

fn check_case(exp: &Expected, tally: &mut Tallies) -> Result<(), String> {
    let mut forests: Vec<(String, Forest)> = Vec::new();
    for file in exp.files() {
        let forest = xgboost::read_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        forests.push((file.display().to_string(), forest));
    }
    // The JSON and UBJSON files of one model convert to the same forest.
    if let [(_, a), (_, b)] = &forests[..] {
        let mut b = b.clone();
        b.source
            .details
            .insert("format".into(), a.source.details["format"].clone());
        if *a != b {
            return Err("the JSON and UBJSON files give different forests".into());
        }
    }
    let (file, forest) = &forests[0];
    let leaves = leaf_values(forest, &exp.rows);
    // The fixtures write XGBoost's float32 leaf values as their shortest text.
    let expected_leaves = exp.leaf_values.mapv(|v| f64::from(v as f32));
    compare("leaf values", &leaves, &expected_leaves, 0.0, 0.0)
        .map_err(|e| format!("{file}: {e}"))?;
    let p = forest.predict(exp.rows.view());
    let raw = p.raw.clone().ok_or("no raw scores")?;
    let margin = compare("margin", &raw, &exp.margin, MARGIN_REL, MARGIN_ABS)
        .map_err(|e| format!("{file}: {e}"))?;
    let objective = exp.objective();
    let (ours, mismatches): (Array2<f64>, usize) = match objective {
        // Multi-label: one probability per label column, as `predict` gives.
        "binary:logistic" if exp.predict.ncols() > 1 => (p.values.clone(), 0),
        "binary:logistic" => {
            let p1 = p.values.slice(s![.., 1..2]).to_owned();
            let mismatches = p
                .classes
                .iter()
                .zip(exp.predict.column(0))
                .filter(|(&c, &q)| c != usize::from(q > 0.5))
                .count();
            (p1, mismatches)
        }
        "multi:softmax" => {
            let ours = classes_column(&p);
            let m = ours
                .iter()
                .zip(exp.predict.iter())
                .filter(|(a, b)| a != b)
                .count();
            (ours, m)
        }
        "multi:softprob" => {
            let m = p
                .classes
                .iter()
                .zip(exp.predict.rows())
                .filter(|(&c, row)| {
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
                    c != best
                })
                .count();
            (p.values.clone(), m)
        }
        _ => (p.values.clone(), 0),
    };
    let predict = compare("predict", &ours, &exp.predict, MARGIN_REL, MARGIN_ABS)
        .map_err(|e| format!("{file}: {e}"))?;
    if mismatches > 0 {
        return Err(format!("{file}: {mismatches} labels differ"));
    }
    // Multi-target trees (vector leaves) get lines of their own.
    let vector = if forest.leaf_width() > 1 { " vec" } else { "" };
    let key = format!(
        "{:<6} {:<22}",
        exp.meta["version"].as_str().unwrap(),
        format!("{objective}{vector}")
    );
    let t = tally.entry(key).or_default();
    t.models += forests.len();
    t.rows += exp.rows.nrows() * forests.len();
    t.label_mismatches += mismatches;
    t.margin.merge(margin);
    t.predict.merge(predict);
    Ok(())
}

#[test]
fn fixtures_reach_xgboosts_leaves_and_predictions() {
    check_all(&fixtures("xgboost"), MIN_FIXTURE_CASES, check_case);
}

/// Trains a grid of bigger models with the pinned library and compares.
#[cfg(feature = "python")]
#[test]
fn a_grid_trained_now_matches_the_library() {
    let dir = booster_support::train_grid("xgboost", "xgboost");
    check_all(dir.path(), 20, check_case);
}

fn load(path: &Path) -> Result<Forest, XgboostError> {
    xgboost::read_file(path)
}

#[test]
fn versions_one_to_newest_are_all_covered() {
    let dirs: Vec<String> = std::fs::read_dir(fixtures("xgboost"))
        .unwrap()
        .filter_map(|d| {
            let p = d.ok()?.path();
            p.is_dir()
                .then(|| p.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    for v in ["1.0", "1.7", "2.0", "2.1", "3.0", "3.2"] {
        assert!(
            dirs.iter().any(|d| d.starts_with(v)),
            "no fixtures from XGBoost {v}: {dirs:?}"
        );
    }
}

#[test]
fn unsupported_models_are_refused_with_what_to_do() {
    let dir = fixtures("xgboost/refused");
    for (file, needle) in [
        ("gblinear.json", "gblinear"),
        ("legacy_binary.bin", "save_model"),
    ] {
        let err = load(&dir.join(file)).unwrap_err().to_string();
        assert!(err.contains(needle), "{file}: {err}");
    }
    // Detected by content as well: the command line says what the file is
    // and what to do, not just "not a model file".
    let Err(err) = forest2onnx::load(dir.join("legacy_binary.bin")) else {
        panic!("the legacy binary format was accepted");
    };
    let err = err.to_string();
    assert!(
        err.contains("legacy binary format") && err.contains("save_model"),
        "{err}"
    );
}

#[test]
fn inspect_facts_are_in_the_details() {
    let f = load(&fixtures("xgboost/3.2.0/multi_parallel.ubj")).unwrap();
    let d = &f.source.details;
    assert_eq!(d["objective"], "multi:softprob");
    assert_eq!(d["trees_per_round"], "6");
    assert_eq!(d["boosting_rounds"], "3");
    assert_eq!(d["num_parallel_tree"], "2");
    assert_eq!(d["format"], "UBJSON");
    assert!(d.contains_key("base_score"), "{d:?}");
    let f = load(&fixtures("xgboost/3.2.0/categorical.json")).unwrap();
    assert_eq!(f.source.details["categorical_features"], "3, 4");
    assert!(f.has_categorical_splits());
}

/// Issue 26: multi-target trees (`multi_strategy="multi_output_tree"`)
/// convert to trees whose leaves hold every output, one tree per round.
#[test]
fn vector_leaf_models_keep_one_tree_per_round() {
    let f = load(&fixtures("xgboost/3.2.0/vector_leaf_softprob.ubj")).unwrap();
    assert_eq!(f.leaf_width(), 3);
    assert_eq!(f.tree_target(0), None);
    let d = &f.source.details;
    assert_eq!(d["trees_per_round"], "1");
    assert_eq!(d["boosting_rounds"], f.trees.len().to_string());
    assert!(d["leaf_values"].starts_with("3 per leaf"), "{d:?}");
    let f = load(&fixtures("xgboost/3.2.0/vector_leaf_multilabel.json")).unwrap();
    assert_eq!(f.leaf_width(), 2);
    assert_eq!(f.task, forest2onnx::ir::Task::Regression { n_targets: 2 });
    assert!(f.source.details["multi_label"].starts_with("2 labels"));
    let path = fixtures("xgboost/3.2.0/vector_leaf_parallel.json");
    let f = load(&path).unwrap();
    assert_eq!((f.leaf_width(), f.trees.len()), (2, 6));
    assert_eq!(f.source.details["trees_per_round"], "2");
    // A round is its parallel trees, each feeding every output.
    let bytes = std::fs::read(&path).unwrap();
    let two = xgboost::from_bytes_with(&bytes, xgboost::Rounds::First(2)).unwrap();
    assert_eq!(two.trees[..], f.trees[..4]);
}

/// Vector-leaf models XGBoost cannot train, or that point outside their
/// arrays, are refused with the problem named, never read differently.
#[test]
fn broken_or_untrainable_vector_leaf_models_are_refused() {
    let text = std::fs::read_to_string(fixtures("xgboost/3.2.0/vector_leaf_reg.json")).unwrap();
    let model: serde_json::Value = serde_json::from_str(&text).unwrap();
    convert(&model).expect("the unbroken model converts");
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "categorical splits in multi-target trees",
            Box::new(|m| tree0(m)["split_type"][0] = 1.into()),
        ),
        (
            "leaf index 99",
            Box::new(|m| {
                let t = tree0(m);
                let leaf = t["left_children"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|c| c == -1)
                    .unwrap();
                t["right_children"][leaf] = 99.into();
            }),
        ),
        (
            "leaf index 0 is used twice",
            Box::new(|m| {
                let t = tree0(m);
                let lefts = t["left_children"].as_array().unwrap().clone();
                for (x, left) in lefts.iter().enumerate() {
                    if left == -1 {
                        t["right_children"][x] = 0.into();
                    }
                }
            }),
        ),
        (
            "not a multiple of size_leaf_vector",
            Box::new(|m| {
                tree0(m)["leaf_weights"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "size_leaf_vector 3; the model's first tree has 2",
            Box::new(|m| {
                m["learner"]["gradient_booster"]["model"]["trees"][1]["tree_param"]
                    ["size_leaf_vector"] = "3".into();
            }),
        ),
        (
            "2 values per leaf; the model has 3 outputs",
            Box::new(|m| {
                let params = &mut m["learner"]["learner_model_param"];
                params["num_target"] = "3".into();
                params["base_score"] = "5E-1".into();
            }),
        ),
        (
            "values per leaf; expected 0",
            Box::new(|m| tree0(m)["tree_param"]["size_leaf_vector"] = "-2".into()),
        ),
        (
            "adds to output 1",
            Box::new(|m| m["learner"]["gradient_booster"]["model"]["tree_info"][0] = 1.into()),
        ),
    ];
    for (needle, break_it) in cases {
        let mut m = model.clone();
        break_it(&mut m);
        let err = convert(&m).expect_err(needle).to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
    // XGBoost 2.x layout: no `leaf_weights`, each leaf's values are its
    // slice of `base_weights`; the same model reads the same.
    let mut old = model.clone();
    let trees = old["learner"]["gradient_booster"]["model"]["trees"]
        .as_array_mut()
        .unwrap();
    for t in trees.iter_mut() {
        let (lefts, rights) = (t["left_children"].clone(), t["right_children"].clone());
        let base = t["base_weights"].as_array().unwrap().clone();
        let leaf_weights = t["leaf_weights"].as_array().unwrap().clone();
        for (x, left) in lefts.as_array().unwrap().iter().enumerate() {
            if left == -1 {
                let i = rights[x].as_u64().unwrap() as usize;
                assert_eq!(base[2 * x..2 * x + 2], leaf_weights[2 * i..2 * i + 2]);
                t["right_children"][x] = (-1).into();
            }
        }
        t.as_object_mut().unwrap().remove("leaf_weights");
    }
    let (a, b) = (convert(&model).unwrap(), convert(&old).unwrap());
    assert_eq!(a.trees, b.trees);
    let mut short = old.clone();
    tree0(&mut short)["base_weights"]
        .as_array_mut()
        .unwrap()
        .pop();
    let err = convert(&short).unwrap_err().to_string();
    assert!(err.contains("size_leaf_vector 2"), "{err}");
    // DART with vector leaves: XGBoost refuses to train it.
    let mut dart = model.clone();
    let gbtree = dart["learner"]["gradient_booster"].clone();
    let n_trees = gbtree["model"]["trees"].as_array().unwrap().len();
    dart["learner"]["gradient_booster"] = serde_json::json!({
        "name": "dart", "gbtree": gbtree, "weight_drop": vec![1.0; n_trees]
    });
    let err = convert(&dart).unwrap_err().to_string();
    assert!(err.contains("DART with multi-target trees"), "{err}");
}

/// A small model as a JSON value, to break in a test.
fn small_model() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures("xgboost/3.2.0/categorical.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn convert(v: &serde_json::Value) -> Result<Forest, XgboostError> {
    xgboost::from_bytes(serde_json::to_string(v).unwrap().as_bytes())
}

fn tree0(v: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut v["learner"]["gradient_booster"]["model"]["trees"][0]
}

/// Breaks a model in one place.
type Breaker = Box<dyn Fn(&mut serde_json::Value)>;

#[test]
fn broken_trees_are_refused_with_the_problem_named() {
    convert(&small_model()).expect("the unbroken model converts");
    let cases: Vec<(&str, Breaker)> = vec![
        (
            "left child 99",
            Box::new(|m| tree0(m)["left_children"][0] = 99.into()),
        ),
        (
            "reached twice",
            Box::new(|m| tree0(m)["right_children"][0] = tree0(m)["left_children"][0].clone()),
        ),
        (
            "splits on feature 77",
            Box::new(|m| tree0(m)["split_indices"][0] = 77.into()),
        ),
        (
            "entries for num_nodes",
            Box::new(|m| {
                tree0(m)["split_conditions"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "num_nodes",
            Box::new(|m| tree0(m)["tree_param"]["num_nodes"] = "seven".into()),
        ),
        (
            "num_nodes is -3",
            Box::new(|m| tree0(m)["tree_param"]["num_nodes"] = "-3".into()),
        ),
        (
            "default_left 7",
            Box::new(|m| tree0(m)["default_left"][0] = 7.into()),
        ),
        (
            "split_type 9",
            Box::new(|m| tree0(m)["split_type"][0] = 9.into()),
        ),
        (
            "outputs",
            Box::new(|m| m["learner"]["learner_model_param"]["base_score"] = "[1E-1,2E-1]".into()),
        ),
        (
            "not a number",
            Box::new(|m| m["learner"]["learner_model_param"]["base_score"] = "half".into()),
        ),
        (
            "adds to output 4",
            Box::new(|m| m["learner"]["gradient_booster"]["model"]["tree_info"][0] = 4.into()),
        ),
        (
            "reg:unknown",
            Box::new(|m| m["learner"]["objective"]["name"] = "reg:unknown".into()),
        ),
        (
            "learner",
            Box::new(|m| {
                m.as_object_mut().unwrap().remove("learner");
            }),
        ),
        (
            "0 features",
            Box::new(|m| m["learner"]["learner_model_param"]["num_feature"] = "0".into()),
        ),
    ];
    for (needle, break_it) in cases {
        let mut m = small_model();
        break_it(&mut m);
        let err = convert(&m).expect_err(needle).to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
    // Categorical bookkeeping pointing outside its arrays.
    let mut m = small_model();
    let trees = m["learner"]["gradient_booster"]["model"]["trees"]
        .as_array_mut()
        .unwrap();
    let t = trees
        .iter_mut()
        .find(|t| !t["categories_nodes"].as_array().unwrap().is_empty())
        .expect("a tree with a categorical split");
    t["categories_segments"][0] = 1_000_000.into();
    let err = convert(&m).unwrap_err().to_string();
    assert!(err.contains("outside"), "{err}");
}

#[test]
fn non_finite_numbers_and_deep_nesting_are_refused() {
    let text = std::fs::read_to_string(fixtures("xgboost/3.2.0/binary_logistic.json")).unwrap();
    // A leaf value that is not a number: XGBoost writes NaN as `NaN`.
    let leaf_at = text.find("\"split_conditions\":[").unwrap() + 20;
    let end = leaf_at + text[leaf_at..].find(',').unwrap();
    let nan = format!("{}NaN{}", &text[..leaf_at], &text[end..]);
    let err = xgboost::from_bytes(nan.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("NaN"), "{err}");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(xgboost::from_bytes(deep.as_bytes()).is_err());
    let deep = format!("{{\"learner\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let err = xgboost::from_bytes(deep.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nesting"), "{err}");
}

#[test]
fn truncated_files_are_errors_never_panics() {
    for name in [
        "3.2.0/categorical.ubj",
        "3.2.0/categorical.json",
        "1.0.2/dart.json",
    ] {
        let bytes = std::fs::read(fixtures("xgboost").join(name)).unwrap();
        for len in 0..bytes.len() {
            assert!(
                xgboost::from_bytes(&bytes[..len]).is_err(),
                "{name} cut at {len} converted"
            );
        }
    }
}

#[test]
fn flipped_bytes_are_errors_or_valid_forests() {
    // Deterministic corruption of every 7th byte position in turn, with a
    // few values: whatever converts must be a checked forest that predicts.
    let bytes = std::fs::read(fixtures("xgboost/3.2.0/categorical.ubj")).unwrap();
    let row = ndarray::Array2::<f64>::zeros((1, 5));
    for pos in (0..bytes.len()).step_by(7) {
        for v in [0u8, 0x7f, 0xff, b'L', b'[', b'{'] {
            let mut b = bytes.clone();
            b[pos] = v;
            if let Ok(f) = xgboost::from_bytes(&b) {
                f.check().unwrap();
                let _ = f.predict(row.view());
            }
        }
    }
}

#[test]
fn sniffers_claim_their_own_files_only() {
    let mut seen = 0;
    for lib in ["xgboost", "lightgbm"] {
        for dir in std::fs::read_dir(fixtures(lib)).unwrap() {
            let dir = dir.unwrap().path();
            if !dir.is_dir() {
                continue; // the folder's README
            }
            for f in std::fs::read_dir(dir).unwrap() {
                let path = f.unwrap().path();
                let name = path.to_string_lossy().into_owned();
                if name.ends_with(".expected.json") || name.ends_with(".bin") {
                    continue;
                }
                let bytes = std::fs::read(&path).unwrap();
                let xgb = name.ends_with(".json") || name.ends_with(".ubj");
                assert_eq!(xgboost::sniff(&bytes), xgb, "{name}");
                assert_eq!(forest2onnx::import::lightgbm::sniff(&bytes), !xgb, "{name}");
                seen += 1;
            }
        }
    }
    assert!(seen > 200, "{seen}");
    // A smartcore model is JSON too, but no XGBoost model.
    assert!(!xgboost::sniff(br#"{"trees": [], "classes": [0, 1]}"#));
    assert!(!xgboost::sniff(b""));
}
