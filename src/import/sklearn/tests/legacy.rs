//! Fixtures committed from scikit-learn 1.1, 1.2, 1.3 and 1.4 (see
//! tests/fixtures/sklearn/README.md): old module paths, nodes without
//! `missing_go_to_left`, leaves holding counts, numpy 1.x globals.

use std::path::PathBuf;

use super::{fixture_check, sklearn};

fn fixture_dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sklearn")
        .join(format!("sklearn-{version}"))
}

fn check(version: &str) -> fixture_check::Summary {
    let dir = fixture_dir(version);
    assert_eq!(fixture_check::read_manifest(&dir).sklearn, version);
    let summary = fixture_check::check_dir(&dir, |_, _, _| {});
    assert!(summary.files >= 9, "{version}: {summary:?}");
    summary
}

#[test]
fn sklearn_1_1_fixtures_predict_like_sklearn() {
    check("1.1.3");
    let f = sklearn::read_file(fixture_dir("1.1.3").join("rf.p4.pkl")).unwrap();
    assert!(f.trees.iter().all(|t| t.missing_true.iter().all(|&m| !m)));
}

#[test]
fn sklearn_1_2_fixtures_predict_like_sklearn() {
    check("1.2.2");
    // 1.2 nodes have no missing_go_to_left: NaN follows `NaN <= t` (false).
    let f = sklearn::read_file(fixture_dir("1.2.2").join("rf.p4.pkl")).unwrap();
    assert!(f.trees.iter().all(|t| t.missing_true.iter().all(|&m| !m)));
}

#[test]
fn sklearn_1_3_fixtures_predict_like_sklearn() {
    check("1.3.2");
    // Trained with NaN: some splits send missing values left.
    let f = sklearn::read_file(fixture_dir("1.3.2").join("dt_nan.p5.pkl")).unwrap();
    assert!(f.trees[0].missing_true.iter().any(|&m| m));
}

#[test]
fn sklearn_1_4_fixtures_predict_like_sklearn() {
    check("1.4.2");
}

#[test]
fn pre_1_4_leaves_are_normalised_counts() {
    let f = sklearn::read_file(fixture_dir("1.2.2").join("dt.zlib3.joblib")).unwrap();
    let t = &f.trees[0];
    for i in (0..t.n_nodes()).filter(|&i| t.is_leaf(i)) {
        let sum: f64 = t.leaf_values(i, 3).iter().sum();
        assert!((sum - 1.0).abs() < 1e-12, "leaf {i} sums to {sum}");
    }
}
