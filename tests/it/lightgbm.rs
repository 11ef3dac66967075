//! LightGBM text models from LightGBM 3.3 and 4.x (committed fixtures made by
//! `python/fixtures/make_booster_fixtures.py`) converted without LightGBM and
//! compared with LightGBM's own predictions: every row must reach the leaf
//! LightGBM reached in every tree, raw scores and predictions must agree to
//! 1e-12 relative (LightGBM sums in f64, as the IR does).

use crate::booster_support;

use booster_support::{check_all, compare, fixtures, leaf_values, Expected, Tallies};
use forest2onnx::import::lightgbm;
use forest2onnx::ir::{Aggregation, Forest, PostTransform};
use ndarray::{s, Array2};

const REL: f64 = 1e-12;
const ABS: f64 = 1e-13;

/// Fewest committed fixture cases expected (all versions together).
const MIN_FIXTURE_CASES: usize = 45;

/// The factor the importer multiplied into the leaves: the `sigmoid:` of
/// a logistic classifier, divided by the iterations in random-forest mode.
fn leaf_scale(forest: &Forest) -> f64 {
    let d = &forest.source.details;
    let mut scale = d.get("sigmoid").map_or(1.0, |s| s.parse::<f64>().unwrap());
    if d.contains_key("average_output") {
        scale /= d["boosting_rounds"].parse::<f64>().unwrap();
    }
    scale
}

fn check_case(exp: &Expected, tally: &mut Tallies) -> Result<(), String> {
    let file = &exp.files()[0];
    let forest = lightgbm::read_file(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let scale = leaf_scale(&forest);
    let expected_leaves = exp
        .leaf_values
        .mapv(|v| if scale == 1.0 { v } else { v * scale });
    compare(
        "leaf values",
        &leaf_values(&forest, &exp.rows),
        &expected_leaves,
        0.0,
        0.0,
    )?;
    let p = forest.predict(exp.rows.view());
    let raw = p.raw.clone().ok_or("no raw scores")?;
    // LightGBM's raw_score is the plain sum: undo the factor in the leaves.
    let raw = raw.mapv(|v| v / scale);
    let margin = compare("raw score", &raw, &exp.margin, REL * 10.0, ABS)?;
    let binary = matches!(
        &forest.aggregation,
        Aggregation::Sum { base_values, post_transform: PostTransform::Logistic, .. }
            if base_values.len() == 1
    ) && forest.class_labels().is_some();
    let ours: Array2<f64> = if binary {
        p.values.slice(s![.., 1..2]).to_owned()
    } else {
        p.values.clone()
    };
    let predict = compare("predict", &ours, &exp.predict, REL, ABS)?;
    let mismatches = if forest.class_labels().is_some() {
        p.classes
            .iter()
            .zip(exp.predict.rows())
            .filter(|(&c, row)| {
                let best = if row.len() == 1 {
                    usize::from(row[0] > 0.5)
                } else {
                    row.iter()
                        .enumerate()
                        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b })
                };
                c != best
            })
            .count()
    } else {
        0
    };
    if mismatches > 0 {
        return Err(format!("{mismatches} labels differ"));
    }
    let key = format!(
        "{:<6} {:<24}",
        exp.meta["version"].as_str().unwrap(),
        exp.case()
    );
    let t = tally.entry(key).or_default();
    t.models += 1;
    t.rows += exp.rows.nrows();
    t.margin.merge(margin);
    t.predict.merge(predict);
    Ok(())
}

#[test]
fn fixtures_reach_lightgbms_leaves_and_predictions() {
    check_all(&fixtures("lightgbm"), MIN_FIXTURE_CASES, check_case);
}

/// Trains a grid of bigger models with the pinned library and compares.
#[cfg(feature = "python")]
#[test]
fn a_grid_trained_now_matches_the_library() {
    let dir = booster_support::train_grid("lightgbm", "lightgbm");
    check_all(dir.path(), 20, check_case);
}

#[test]
fn linear_trees_are_refused() {
    for v in ["3.3.5", "4.7.0"] {
        let path = fixtures("lightgbm").join(v).join("linear_tree.txt");
        let err = lightgbm::read_file(&path).unwrap_err().to_string();
        assert!(err.contains("linear trees"), "{v}: {err}");
    }
}

#[test]
fn inspect_facts_are_in_the_details() {
    let f = lightgbm::read_file(&fixtures("lightgbm/4.7.0/categorical_multiclass.txt")).unwrap();
    let d = &f.source.details;
    assert_eq!(d["objective"], "multiclass num_class:3");
    assert_eq!(d["trees_per_round"], "3");
    assert_eq!(d["boosting_rounds"], "6");
    assert_eq!(d["categorical_features"], "Column_4");
    let f = lightgbm::read_file(&fixtures("lightgbm/4.7.0/binary_zero_as_missing.txt")).unwrap();
    assert!(!f.input.zero_as_missing.is_empty());
    let f = lightgbm::read_file(&fixtures("lightgbm/3.3.5/random_forest.txt")).unwrap();
    assert!(f.source.details["average_output"].starts_with("yes"));
}

fn small_model() -> String {
    std::fs::read_to_string(fixtures("lightgbm/4.7.0/categorical.txt")).unwrap()
}

/// The model with the first line starting with `key=` of tree 0 replaced.
fn with_tree0_field(text: &str, key: &str, value: &str) -> String {
    let start = text.find("Tree=0").unwrap();
    let at = start + text[start..].find(&format!("\n{key}=")).unwrap() + 1;
    let end = at + text[at..].find('\n').unwrap();
    format!("{}{key}={value}{}", &text[..at], &text[end..])
}

fn field(text: &str, key: &str) -> Vec<String> {
    let start = text.find("Tree=0").unwrap();
    let at = start + text[start..].find(&format!("\n{key}=")).unwrap() + key.len() + 2;
    let end = at + text[at..].find('\n').unwrap();
    text[at..end].split(' ').map(str::to_string).collect()
}

#[test]
fn broken_trees_are_refused_with_the_problem_named() {
    let text = small_model();
    lightgbm::from_str(&text).expect("the unbroken model converts");
    let left = field(&text, "left_child");
    let n = left.len();
    let mut out_of_range = left.clone();
    out_of_range[0] = "99".into();
    let mut cycle = left.clone();
    // The last node's left child becomes the root: a cycle.
    cycle[n - 1] = "0".into();
    let mut same_children = left.clone();
    same_children[0] = field(&text, "right_child")[0].clone();
    let thresholds = field(&text, "threshold");
    let mut nan_text = thresholds.clone();
    nan_text[0] = "abc".into();
    let decisions = field(&text, "decision_type");
    let mut bad_decision = decisions.clone();
    bad_decision[0] = "12".into();
    let cases = [
        (
            with_tree0_field(&text, "left_child", &out_of_range.join(" ")),
            "child 99",
        ),
        (
            with_tree0_field(&text, "left_child", &cycle.join(" ")),
            "twice",
        ),
        (
            with_tree0_field(&text, "left_child", &same_children.join(" ")),
            "twice",
        ),
        (
            with_tree0_field(&text, "threshold", &nan_text.join(" ")),
            "threshold[0]",
        ),
        (
            with_tree0_field(&text, "decision_type", &bad_decision.join(" ")),
            "decision_type 12",
        ),
        (
            with_tree0_field(&text, "num_leaves", "1000000000"),
            "expected 1000000000",
        ),
        (
            with_tree0_field(&text, "split_feature", &vec!["9"; n].join(" ")),
            "split_feature 9",
        ),
        (
            with_tree0_field(&text, "cat_boundaries", "0 1 2 999999"),
            "cat_boundaries",
        ),
        (with_tree0_field(&text, "is_linear", "1"), "linear trees"),
        (
            text.replace(
                "objective=binary sigmoid:1",
                "objective=binary sigmoid:1 sqrt",
            ),
            "sqrt",
        ),
        (
            text.replace("max_feature_idx=4", "max_feature_idx=x"),
            "max_feature_idx",
        ),
        (text.replace("\nnum_class=1\n", "\n"), "num_class"),
    ];
    for (broken, needle) in cases {
        let err = lightgbm::from_str(&broken).expect_err(needle).to_string();
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
}

#[test]
fn categorical_thresholds_must_name_a_bitset() {
    let text = small_model();
    let decisions = field(&text, "decision_type");
    let k = decisions
        .iter()
        .position(|d| d.parse::<u8>().unwrap() & 1 == 1)
        .expect("tree 0 has a categorical split");
    let mut thresholds = field(&text, "threshold");
    thresholds[k] = "7".into();
    let broken = with_tree0_field(&text, "threshold", &thresholds.join(" "));
    let err = lightgbm::from_str(&broken).unwrap_err().to_string();
    assert!(err.contains("bitset 7"), "{err}");
    thresholds[k] = "0.5".into();
    let broken = with_tree0_field(&text, "threshold", &thresholds.join(" "));
    assert!(lightgbm::from_str(&broken).is_err());
}

#[test]
fn truncated_and_corrupted_files_are_errors_never_panics() {
    let text = small_model();
    let bytes = text.as_bytes();
    let row = ndarray::Array2::<f64>::zeros((1, 5));
    for len in (0..bytes.len()).step_by(3) {
        if let Ok(f) = lightgbm::from_bytes(&bytes[..len]) {
            // Cut inside the trailing sections, the trees are whole.
            f.check().unwrap();
        }
    }
    for pos in (0..bytes.len()).step_by(5) {
        for v in [b'0', b'-', b'9', b' ', b'\n', b'=', 0xff] {
            let mut b = bytes.to_vec();
            b[pos] = v;
            if let Ok(f) = lightgbm::from_bytes(&b) {
                f.check().unwrap();
                let _ = f.predict(row.view());
            }
        }
    }
    assert!(lightgbm::from_bytes(b"\xff\xfe").is_err());
    assert!(lightgbm::from_bytes(b"").is_err());
}
