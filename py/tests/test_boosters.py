"""XGBoost and LightGBM objects: serialised in their own raw formats and
read by the Rust importers. Skipped when the libraries are not installed
(they are optional; python/requirements.txt does not pin them)."""

import numpy as np
import pytest
from conftest import classification, regression, run_onnx

import forest2onnx


def test_xgboost_classifier_and_booster():
    xgb = pytest.importorskip("xgboost")
    X, y = classification(3)
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    got = run_onnx(forest2onnx.to_onnx(model), X)
    np.testing.assert_array_equal(got["label"], model.predict(X))
    np.testing.assert_allclose(got["probabilities"], model.predict_proba(X), atol=1e-5)
    onnx = forest2onnx.to_onnx(model.get_booster(), precision="double")
    assert forest2onnx.validate(model.get_booster(), onnx, X).passed


def test_xgboost_regressor_round_trip(tmp_path):
    xgb = pytest.importorskip("xgboost")
    X, y = regression()
    model = xgb.XGBRegressor(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    forest2onnx.dump(model, tmp_path / "x.forest")
    got = forest2onnx.load(tmp_path / "x.forest").predict(X)
    np.testing.assert_allclose(got, model.predict(X), rtol=1e-5, atol=1e-5)


def test_xgboost_vector_leaves():
    """Issue 26: multi-target trees (``multi_strategy="multi_output_tree"``)
    for multi-target regression, multi-class and multi-label
    classification, as the scikit-learn wrappers predict them."""
    xgb = pytest.importorskip("xgboost")
    vector = {"multi_strategy": "multi_output_tree", "tree_method": "hist",
              "n_estimators": 8, "max_depth": 3, "random_state": 0}
    X, Y = regression(n_targets=3)
    reg = xgb.XGBRegressor(**vector).fit(X, Y)
    got = run_onnx(forest2onnx.to_onnx(reg), X)["variable"]
    np.testing.assert_allclose(got, reg.predict(X), rtol=1e-5, atol=1e-4)
    X, y = classification(3)
    clf = xgb.XGBClassifier(**vector).fit(X, y)
    got = run_onnx(forest2onnx.to_onnx(clf), X)
    np.testing.assert_array_equal(got["label"], clf.predict(X))
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), atol=1e-6)
    labels = np.stack([y == 0, y == 2], axis=1).astype(int)
    multi_label = xgb.XGBClassifier(**vector).fit(X, labels)
    got = run_onnx(forest2onnx.to_onnx(multi_label), X)["variable"]
    np.testing.assert_allclose(got, multi_label.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(got > 0.5, multi_label.predict(X) == 1)


def test_xgboost_unfitted():
    xgb = pytest.importorskip("xgboost")
    with pytest.raises(forest2onnx.NotFittedError):
        forest2onnx.to_onnx(xgb.XGBClassifier())


def test_lightgbm_classifier_and_regressor():
    lgb = pytest.importorskip("lightgbm")
    X, y = classification(3)
    clf = lgb.LGBMClassifier(n_estimators=10, num_leaves=8, verbose=-1).fit(X, y)
    got = run_onnx(forest2onnx.to_onnx(clf), X)
    np.testing.assert_array_equal(got["label"], clf.predict(X))
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(X), atol=1e-5)
    Xr, yr = regression()
    reg = lgb.LGBMRegressor(n_estimators=10, num_leaves=8, verbose=-1).fit(Xr, yr)
    got = run_onnx(forest2onnx.to_onnx(reg.booster_, precision="double"), Xr)
    np.testing.assert_allclose(got["variable"][:, 0], reg.predict(Xr), rtol=1e-9, atol=1e-9)


def test_lightgbm_string_labels_refused():
    lgb = pytest.importorskip("lightgbm")
    X, y = classification(2)
    clf = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, np.array(["a", "b"])[y])
    with pytest.raises(forest2onnx.UnsupportedModelError, match="classes_"):
        forest2onnx.to_onnx(clf)
