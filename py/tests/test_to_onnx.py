"""to_onnx: for every supported estimator, the ONNX model run in
onnxruntime equals the estimator (tolerances of docs/ARCHITECTURE.md)."""

import numpy as np
import pytest
from conftest import fitted, run_onnx, task_of

import forest2onnx


def expected_outputs(est, X, task):
    if task == "classifier":
        return {"label": est.predict(X), "probabilities": est.predict_proba(X)}
    if task == "regressor":
        return {"variable": est.predict(X).reshape(len(X), -1)}
    return {
        "label": est.predict(X),
        "scores": np.column_stack([est.score_samples(X), est.decision_function(X)]),
    }


def check(got, want, double):
    for name, w in want.items():
        g = got[name]
        if name == "label":
            np.testing.assert_array_equal(g, w)
        elif double:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        elif name == "probabilities":
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["float", "double"])
def test_onnxruntime_equals_estimator(case, precision):
    est, X = fitted(case)
    onnx = forest2onnx.to_onnx(est, precision=precision)
    assert isinstance(onnx, bytes)
    got = run_onnx(onnx, X)
    check(got, expected_outputs(est, X, task_of(case)), precision == "double")


@pytest.mark.parametrize(
    "name", ["RandomForestClassifier", "HistGradientBoostingRegressor", "IsolationForest"]
)
def test_ml_opset_5(name):
    est, X = fitted(name)
    got = run_onnx(forest2onnx.to_onnx(est, ml_opset=5), X)
    check(got, expected_outputs(est, X, task_of(name)), double=False)


def test_zipmap_output():
    est, X = fitted("RandomForestClassifier")
    got = run_onnx(forest2onnx.to_onnx(est, zipmap=True), X[:5])
    maps = got["output_probability"]
    proba = est.predict_proba(X[:5])
    for row, p in zip(maps, proba):
        assert sorted(row) == list(est.classes_)
        np.testing.assert_allclose([row[c] for c in est.classes_], p, atol=1e-6)


def test_unvalidated_export_is_the_same_model():
    import onnx

    est, X = fitted("GradientBoostingClassifier")
    a = onnx.load_from_string(forest2onnx.to_onnx(est, validate=False))
    b = onnx.load_from_string(forest2onnx.to_onnx(est))
    assert a.graph == b.graph  # (the metadata differ: creation time)


def test_string_labels():
    est, X = fitted("RandomForestClassifier")
    y = np.array(["cat", "dog", "eel"], dtype=object)[est.predict(X)]
    from sklearn.ensemble import RandomForestClassifier

    rf = RandomForestClassifier(n_estimators=10, random_state=1).fit(X, y)
    got = run_onnx(forest2onnx.to_onnx(rf), X)
    np.testing.assert_array_equal(got["label"], rf.predict(X))
    np.testing.assert_allclose(got["probabilities"], rf.predict_proba(X), atol=1e-6)


def test_nan_inputs():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor

    est, X = fitted("RandomForestClassifier")
    rng = np.random.default_rng(0)
    Xn = X.copy()
    Xn[rng.random(X.shape) < 0.2] = np.nan
    y = est.predict(X)
    for model in (
        HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(Xn, y),
        RandomForestRegressor(n_estimators=10, random_state=0).fit(Xn, X[:, 0]),
    ):
        task = "classifier" if hasattr(model, "classes_") else "regressor"
        got = run_onnx(forest2onnx.to_onnx(model), Xn)
        check(got, expected_outputs(model, Xn, task), double=False)
        assert forest2onnx.validate(model, forest2onnx.to_onnx(model), Xn).passed


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    from sklearn.ensemble import GradientBoostingRegressor

    _, X = fitted("RandomForestRegressor")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    gb = GradientBoostingRegressor(n_estimators=10, random_state=0).fit(df, X[:, 1] * 2)
    got = run_onnx(forest2onnx.to_onnx(gb), X)
    np.testing.assert_allclose(got["variable"][:, 0], gb.predict(df), rtol=1e-5, atol=1e-6)
    assert forest2onnx.validate(gb, forest2onnx.to_onnx(gb), df).passed


def test_validate_reports():
    est, X = fitted("ExtraTreesClassifier")
    onnx = forest2onnx.to_onnx(est)
    report = forest2onnx.validate(est, onnx, X)
    assert report.passed and bool(report)
    assert report.mismatches == 0
    assert report.data_rows == len(X) and report.adversarial_rows > 0
    assert report.max_abs_diff <= 1e-6
    assert "mismatches: 0" in str(report)
    other, _ = fitted("RandomForestClassifier")
    # The same data, another model: rows disagree.
    bad = forest2onnx.validate(est, forest2onnx.to_onnx(other), X)
    assert not bad.passed and bad.mismatches > 0
    # Another task entirely: incompatible, a failed report.
    reg, _ = fitted("RandomForestRegressor")
    worse = forest2onnx.validate(est, forest2onnx.to_onnx(reg))
    assert not worse.passed and worse.incompatible


def test_help_explains_the_options():
    doc = forest2onnx.to_onnx.__doc__
    for word in ("precision", "ml_opset", "zipmap", "validate", "double"):
        assert word in doc


def at_and_around_thresholds(est, X):
    """Rows of X with every feature set to each split threshold of `est`'s
    trees, one float64 step either side, and the float32 neighbours'
    midpoints: where float32 rounding would route otherwise."""
    import onnx

    model = onnx.load_from_string(forest2onnx.to_onnx(est, precision="double", ml_opset=3))
    values = set()
    for node in model.graph.node:
        for a in node.attribute:
            if a.name == "nodes_values_as_tensor":
                values.update(onnx.numpy_helper.to_array(a.t).tolist())
    rows = []
    for t in sorted(values):
        f = np.float32(t)
        around = [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)]
        lo, hi = (np.nextafter(f, np.float32(-np.inf)), f) if f > t else (f, np.nextafter(f, np.float32(np.inf)))
        around.append((float(lo) + float(hi)) / 2)
        for v in around:
            row = X[len(rows) % len(X)].copy()
            row[:] = v
            rows.append(row)
    return np.array(rows)


@pytest.mark.parametrize("name", ["HistGradientBoostingClassifier", "RandomForestClassifier"])
def test_auto_precision_is_exact_on_float64_rows(name):
    est, X = fitted(name)
    onnx = forest2onnx.to_onnx(est)
    import onnxruntime as ort

    sess = ort.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    # HistGradientBoosting compares float64: auto writes a double model;
    # forests round to float32 first: a float model is exact.
    want = "tensor(double)" if name.startswith("Hist") else "tensor(float)"
    assert sess.get_inputs()[0].type == want
    rows = at_and_around_thresholds(est, X)
    got = run_onnx(onnx, rows)
    np.testing.assert_array_equal(got["label"], est.predict(rows))
