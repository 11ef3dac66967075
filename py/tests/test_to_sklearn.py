"""Forest.to_sklearn() in the installed scikit-learn: the rebuilt estimator
is of scikit-learn's own class and predicts bit for bit like the original,
from a pickle or from a native file. (Across releases:
test_restore_cross_version.py.)"""

import os
import pickle

import numpy as np
import pytest
from conftest import CASES, fitted, task_of
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.tree import DecisionTreeClassifier

import forest2onnx

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "sklearn")


def probes(est, X):
    """X plus rows at every split threshold and one float32 step either
    side, and a NaN row per feature where the estimator accepts NaN."""
    thresholds = []
    trees = getattr(est, "estimators_", [est])
    for t in np.ravel(np.asarray(trees, dtype=object)):
        tree = getattr(t, "tree_", None)
        if tree is not None:
            inner = tree.feature >= 0
            thresholds += list(zip(tree.feature[inner], tree.threshold[inner]))
    rows = [X]
    for f, th in thresholds[:200]:
        for v in (np.float32(th), np.nextafter(np.float32(th), np.float32(-np.inf)),
                  np.nextafter(np.float32(th), np.float32(np.inf))):
            r = X[:1].copy()
            r[0, f] = v
            rows.append(r)
    return np.vstack(rows)


def outputs(est, X):
    out = {"predict": est.predict(X)}
    for name in ("predict_proba", "decision_function", "score_samples"):
        if hasattr(est, name):
            out[name] = getattr(est, name)(X)
    if hasattr(est, "apply"):
        out["apply"] = est.apply(X.astype(np.float32))
    return out


def gb_binary_base(case, name):
    """The importer's base score of a binary GradientBoostingClassifier is
    up to 4 ulps from scipy's logit (reported); its raw scores carry it."""
    return case == "GradientBoostingClassifier-binary" and name in (
        "decision_function", "predict_proba")


@pytest.mark.parametrize("source", ["pickle", "native"])
def test_restored_estimator_predicts_like_the_original(case, source, tmp_path):
    est, X = fitted(case)
    path = tmp_path / "model"
    if source == "pickle":
        path.write_bytes(pickle.dumps(est, protocol=4))
    else:
        forest2onnx.dump(est, path)
    restored = forest2onnx.load(path).to_sklearn()
    assert type(restored) is type(est)
    assert restored.n_features_in_ == est.n_features_in_
    if task_of(case) == "classifier":
        np.testing.assert_array_equal(restored.classes_, est.classes_)
    rows = probes(est, X)
    want, got = outputs(est, rows), outputs(restored, rows)
    assert set(got) == set(want)
    for name in want:
        if gb_binary_base(case, name):
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-15)
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_feature_names_and_nan_routing_are_kept():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 3))
    X[rng.rand(300) < 0.2, 1] = np.nan
    y = (np.nan_to_num(X[:, 1], nan=1.0) + X[:, 0] > 0).astype(int)
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    for est in (DecisionTreeClassifier(max_depth=6, random_state=0),
                HistGradientBoostingClassifier(max_iter=10, random_state=0)):
        est.fit(df, y)
        restored = forest2onnx.Forest(forest2onnx._native.Forest.from_bytes(pickle.dumps(est))).to_sklearn()
        assert list(restored.feature_names_in_) == ["a", "b", "c"]
        rows = pd.DataFrame(np.vstack([X, np.full((1, 3), np.nan)]), columns=["a", "b", "c"])
        np.testing.assert_array_equal(restored.predict_proba(rows), est.predict_proba(rows))


def category_rows(X, column, categories):
    """Rows of X with ``column`` set to seen, unseen, negative, fractional,
    huge and NaN category values."""
    values = list(categories) + [max(categories) + 1, 40, -1, -3, -0.5, 2.5, 1e9, np.nan]
    rows = np.repeat(X[:20], len(values), axis=0)
    rows[:, column] = np.tile(values, 20)
    return rows


@pytest.mark.parametrize("classes", [2, 3, 0])
def test_categorical_histogram_boosting_predicts_like_the_original(classes):
    rng = np.random.RandomState(classes)
    X = np.c_[rng.randint(0, 6, 400), rng.normal(size=400), rng.randint(0, 12, 400)].astype(float)
    X[rng.rand(400) < 0.1, 2] = np.nan
    signal = (X[:, 0] % 3) + np.nan_to_num(X[:, 2], nan=5.0) % 4 + X[:, 1]
    if classes:
        y = np.digitize(signal, np.quantile(signal, np.linspace(0, 1, classes + 1)[1:-1]))
        est = HistGradientBoostingClassifier(max_iter=8, categorical_features=[0, 2], random_state=0)
    else:
        y = signal
        est = HistGradientBoostingRegressor(max_iter=8, categorical_features=[0, 2], random_state=0)
    est.fit(X, y)
    restored = forest2onnx.Forest(forest2onnx._native.Forest.from_bytes(pickle.dumps(est))).to_sklearn()
    assert type(restored) is type(est)
    rows = np.vstack([X, category_rows(X, 0, range(6)), category_rows(X, 2, range(12))])
    for name, want in outputs(est, rows).items():
        if name != "apply":
            np.testing.assert_array_equal(outputs(restored, rows)[name], want, err_msg=name)


def test_categorical_models_a_release_cannot_hold_are_refused():
    """A 1.1 classifier splitting on category 0 reads -0.5 as category 0;
    from 1.2 negative values are missing."""
    path = os.path.join(FIXTURES, "estimators-1.1.3", "hgbc_categorical.p4.pkl")
    with pytest.raises(forest2onnx.UnsupportedModelError, match=r"values in \(-1, 0\)"):
        forest2onnx.load(path).to_sklearn()


def test_models_of_other_libraries_are_refused():
    xgboost = pytest.importorskip("xgboost")
    X, y = fitted("RandomForestClassifier-binary")[1], np.arange(300) % 2
    booster = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    forest = forest2onnx.Forest(forest2onnx._native.Forest.from_bytes(
        bytes(booster.get_booster().save_raw(raw_format="ubj"))))
    with pytest.raises(forest2onnx.UnsupportedModelError, match="only scikit-learn models"):
        forest.to_sklearn()


def test_every_supported_estimator_has_a_case():
    assert {c.split("-")[0] for c in CASES} == set(forest2onnx.SKLEARN_SUPPORTED)
