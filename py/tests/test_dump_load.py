"""dump/load and Forest: the loaded forest predicts exactly like the
estimator, on every input layout."""

import numpy as np
import pytest
from conftest import assert_outputs_equal, fitted, task_of, transcendental

import forest2onnx


def assert_same_predictions(forest, est, X, case):
    """Labels bit for bit; probabilities and anomaly scores bit for bit
    unless they pass through exp/pow (see conftest.MAX_ULP)."""
    task, after = task_of(case), transcendental(case)
    np.testing.assert_array_equal(forest.predict(X), est.predict(X))
    if task == "classifier":
        assert_outputs_equal(forest.predict_proba(X), est.predict_proba(X), after)
        np.testing.assert_array_equal(forest.classes_, est.classes_)
    if task == "anomaly":
        assert_outputs_equal(forest.score_samples(X), est.score_samples(X), after)
        assert_outputs_equal(forest.decision_function(X), est.decision_function(X), after)


def test_round_trip_identical(case, tmp_path):
    est, X = fitted(case)
    path = tmp_path / "model.forest"
    size = forest2onnx.dump(est, path)
    assert size == path.stat().st_size > 0
    forest = forest2onnx.load(path)
    assert forest.n_features_in_ == est.n_features_in_
    assert forest.format == "forest2onnx model"
    assert_same_predictions(forest, est, X, case)
    # A re-dumped Forest is the same file content (same forest, same provenance).
    again = tmp_path / "again.forest"
    forest2onnx.dump(forest, again)
    assert_same_predictions(forest2onnx.load(again), est, X, case)


def test_boosted_raw_scores():
    for name in ("GradientBoostingClassifier", "HistGradientBoostingClassifier-binary"):
        est, X = fitted(name)
        forest = _loaded(est)
        np.testing.assert_allclose(
            forest.decision_function(X), est.decision_function(X), rtol=1e-12, atol=1e-12
        )


def _loaded(est):
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.forest")
        forest2onnx.dump(est, p)
        return forest2onnx.load(p)


@pytest.mark.parametrize("layout", ["C", "F", "float32", "float32-F", "strided", "int", "list"])
def test_input_layouts(layout):
    est, X = fitted("RandomForestClassifier")
    forest = _loaded(est)
    rows = {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "float32": X.astype(np.float32),
        "float32-F": np.asfortranarray(X.astype(np.float32)),
        "strided": np.repeat(X, 2, axis=0)[::2],
        "int": np.round(X * 3).astype(np.int64),
        "list": X.tolist(),
    }[layout]
    np.testing.assert_array_equal(forest.predict_proba(rows), est.predict_proba(rows))
    np.testing.assert_array_equal(forest.predict(rows), est.predict(rows))


def test_threads_do_not_change_results():
    est, X = fitted("HistGradientBoostingClassifier")
    forest = _loaded(est)
    big = np.repeat(X, 20, axis=0)
    one = forest.predict_proba(big, n_threads=1)
    # Threads never change our bits; against numpy's exp, MAX_ULP applies.
    np.testing.assert_array_equal(one, forest.predict_proba(big))
    assert_outputs_equal(one, est.predict_proba(big), after_transcendental=True)


def test_predicts_while_other_threads_run():
    """predict releases the GIL: Python threads make progress meanwhile."""
    import threading

    est, X = fitted("RandomForestClassifier")
    forest = _loaded(est)
    big = np.repeat(X, 40, axis=0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(forest.predict(big))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    want = est.predict(big)
    assert len(results) == 4
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_nan_rows():
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier

    _, X = fitted("RandomForestClassifier")
    rng = np.random.default_rng(1)
    Xn = X.copy()
    Xn[rng.random(X.shape) < 0.25] = np.nan
    Xn[0] = np.nan
    y = (X[:, 0] > 0).astype(int)
    for est in (
        RandomForestClassifier(n_estimators=10, random_state=0).fit(Xn, y),
        HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(Xn, X[:, 1]),
    ):
        forest = _loaded(est)
        np.testing.assert_array_equal(forest.predict(Xn), est.predict(Xn))


def test_string_labels_round_trip(tmp_path):
    from sklearn.ensemble import ExtraTreesClassifier

    est, X = fitted("RandomForestClassifier")
    y = np.array(["setosa", "versicolor", "virginica"])[est.predict(X)]
    et = ExtraTreesClassifier(n_estimators=10, random_state=0).fit(X, y)
    forest2onnx.dump(et, tmp_path / "s.forest")
    forest = forest2onnx.load(tmp_path / "s.forest")
    assert list(forest.classes_) == list(et.classes_)
    np.testing.assert_array_equal(forest.predict(X), et.predict(X))


def test_metadata_and_provenance(tmp_path):
    est, _ = fitted("RandomForestRegressor")
    path = tmp_path / "m.forest"
    forest2onnx.dump(est, path, compress=0, metadata={"owner": "team-a", "run": "42"})
    forest = forest2onnx.load(path)
    assert forest.metadata == {"owner": "team-a", "run": "42"}
    prov = forest.provenance
    assert prov["source"]["library"] == "scikit-learn"
    assert prov["source"]["estimator"] == "RandomForestRegressor"
    assert prov["training_params"]["n_estimators"] == 15
    assert prov["compression"] == "none" or "None" in str(prov["compression"])
    assert forest.source["estimator"] == "RandomForestRegressor"
    with pytest.raises(AttributeError):
        forest.classes_
    with pytest.raises(AttributeError):
        forest.predict_proba(np.zeros((1, 6)))


def test_pandas_dataframe(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import RandomForestClassifier

    est, X = fitted("RandomForestClassifier")
    names = ["age", "height", "weight", "x", "y", "z"]
    df = pd.DataFrame(X, columns=names)
    rf = RandomForestClassifier(n_estimators=10, random_state=0).fit(df, est.predict(X))
    forest2onnx.dump(rf, tmp_path / "p.forest")
    forest = forest2onnx.load(tmp_path / "p.forest")
    assert list(forest.feature_names_in_) == names
    np.testing.assert_array_equal(forest.predict_proba(df), rf.predict_proba(df))
    with pytest.raises(forest2onnx.InputError, match="feature names"):
        forest.predict(df[names[::-1]])


def test_load_other_formats(tmp_path):
    import joblib

    est, X = fitted("GradientBoostingRegressor")
    joblib.dump(est, tmp_path / "gb.joblib", compress=3)
    forest = forest2onnx.load(tmp_path / "gb.joblib")
    assert forest.format == "scikit-learn pickle"
    assert forest.provenance is None and forest.metadata == {}
    np.testing.assert_array_equal(forest.predict(X), est.predict(X))


def test_convert_files(tmp_path):
    import joblib
    from conftest import run_onnx

    est, X = fitted("RandomForestClassifier")
    joblib.dump(est, tmp_path / "rf.joblib")
    n = forest2onnx.convert(tmp_path / "rf.joblib", tmp_path / "rf.onnx", precision="double", ml_opset=3)
    assert n == (tmp_path / "rf.onnx").stat().st_size
    got = run_onnx((tmp_path / "rf.onnx").read_bytes(), X)
    np.testing.assert_array_equal(got["label"], est.predict(X))
    forest2onnx.convert(tmp_path / "rf.joblib", tmp_path / "rf.forest", compress=5)
    np.testing.assert_array_equal(forest2onnx.load(tmp_path / "rf.forest").predict(X), est.predict(X))
    with pytest.raises(forest2onnx.InputError, match="does not apply"):
        forest2onnx.convert(tmp_path / "rf.joblib", tmp_path / "x.forest", zipmap=True)
    with pytest.raises(forest2onnx.InputError, match="known extensions"):
        forest2onnx.convert(tmp_path / "rf.joblib", tmp_path / "x.txt")
