//! Regressors, gradient boosting, histogram gradient boosting and isolation
//! forests pickled by scikit-learn 1.1, 1.2, 1.3, 1.4 and 1.9 (committed
//! under tests/fixtures/sklearn/estimators-<version>/, see the README
//! there): `Forest::predict` must reproduce each release's own outputs on
//! data rows, rows at every threshold and one float32 and float64 step
//! either side, NaN rows and categorical values.

use std::path::PathBuf;

use super::{estimator_check, sklearn};

fn fixture_dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn")
        .join(format!("estimators-{version}"))
}

fn check(version: &str) -> estimator_check::Summary {
    let dir = fixture_dir(version);
    assert_eq!(estimator_check::read_manifest(&dir).sklearn, version);
    let summary = estimator_check::check_dir(&dir, |_, _, _| {});
    eprintln!("scikit-learn {version}:\n{summary}");
    let total = summary.total();
    assert!(total.models >= 22, "{version}: {summary}");
    assert_eq!(total.label_mismatches, 0, "{version}: {summary}");
    summary
}

#[test]
fn sklearn_1_1_estimators_predict_like_sklearn() {
    check("1.1.3");
}

#[test]
fn sklearn_1_2_estimators_predict_like_sklearn() {
    check("1.2.2");
}

#[test]
fn sklearn_1_3_estimators_predict_like_sklearn() {
    check("1.3.2");
}

#[test]
fn sklearn_1_4_estimators_predict_like_sklearn() {
    check("1.4.2");
}

#[test]
fn sklearn_1_9_estimators_predict_like_sklearn() {
    check("1.9.1");
}

/// Histogram boosting's categorical features: before 1.2 values in (-1, 0)
/// read as category 0, from 1.2 negative values are missing, from 1.4 an
/// encoder maps category values to codes and reorders the columns.
#[test]
fn categorical_rules_follow_the_release() {
    use crate::ir::CategoryRule;
    for (version, rule) in [
        ("1.1.3", CategoryRule::TowardZero),
        ("1.2.2", CategoryRule::NonNegative),
        ("1.4.2", CategoryRule::NonNegative),
    ] {
        let f = sklearn::read_file(fixture_dir(version).join("hgbc_categorical.p4.pkl")).unwrap();
        assert_eq!(f.input.categories, rule, "{version}");
        assert!(f.has_categorical_splits(), "{version}");
    }
}
