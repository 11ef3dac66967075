"""Bad input: typed forest2onnx errors with the command line's messages,
never a crash."""

import pickle

import numpy as np
import pytest
from conftest import fitted

import forest2onnx
from forest2onnx import (
    Error,
    ExportError,
    InputError,
    LoadError,
    NotFittedError,
    ShapeError,
    UnsupportedModelError,
)


def test_hierarchy():
    for cls in (LoadError, UnsupportedModelError, NotFittedError, ExportError,
                forest2onnx.ValidationError, ShapeError, InputError):
        assert issubclass(cls, Error)
    assert issubclass(ShapeError, ValueError) and issubclass(NotFittedError, ValueError)


def test_unfitted_estimator():
    from sklearn.ensemble import RandomForestClassifier

    with pytest.raises(NotFittedError, match="RandomForestClassifier is not fitted"):
        forest2onnx.to_onnx(RandomForestClassifier())
    with pytest.raises(NotFittedError):
        forest2onnx.dump(RandomForestClassifier(), "never-written.forest")


def test_unsupported_estimator_lists_what_is():
    from sklearn.linear_model import LogisticRegression

    _, X = fitted("RandomForestClassifier")
    lr = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(UnsupportedModelError) as e:
        forest2onnx.to_onnx(lr)
    msg = str(e.value)
    assert msg.startswith("not supported: sklearn.linear_model._logistic.LogisticRegression")
    for name in forest2onnx.SKLEARN_SUPPORTED:
        assert name in msg
    with pytest.raises(UnsupportedModelError, match="not supported: builtins.dict"):
        forest2onnx.to_onnx({"a": 1})


def test_multi_output_classifier_refused_by_the_rust_reader():
    from sklearn.ensemble import RandomForestClassifier

    _, X = fitted("RandomForestClassifier")
    y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)
    rf = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(UnsupportedModelError, match="multi-output classifiers are not supported"):
        forest2onnx.to_onnx(rf)


def test_wrong_feature_count():
    est, X = fitted("RandomForestClassifier")
    forest = _forest(est)
    with pytest.raises(ShapeError, match="the model takes 6 features; the input has 5"):
        forest.predict(X[:, :5])
    with pytest.raises(ShapeError, match="takes 6 features"):
        forest2onnx.validate(est, forest2onnx.to_onnx(est), X[:, :4])


def test_non_numeric_and_misshapen_rows():
    est, X = fitted("RandomForestRegressor")
    forest = _forest(est)
    with pytest.raises(InputError, match="must hold numbers"):
        forest.predict(np.array([["a"] * 6]))
    with pytest.raises(InputError, match="must hold numbers"):
        forest.predict(np.array([[object()] * 6], dtype=object))
    with pytest.raises(InputError, match="2-D"):
        forest.predict(X[0])
    with pytest.raises(InputError):
        forest.predict(X, n_threads=-1)


def test_bad_options():
    est, _ = fitted("RandomForestClassifier")
    with pytest.raises(InputError, match="precision"):
        forest2onnx.to_onnx(est, precision="half")
    with pytest.raises(InputError, match="ml_opset"):
        forest2onnx.to_onnx(est, ml_opset=2)
    with pytest.raises(ExportError, match="opset"):
        forest2onnx.to_onnx(est, precision="double", ml_opset=1)
    with pytest.raises(InputError, match="compress"):
        forest2onnx.dump(est, "x.forest", compress=99)
    with pytest.raises(InputError, match="metadata"):
        forest2onnx.dump(est, "x.forest", metadata={"accuracy": 0.9})


def test_damaged_forest_file(tmp_path):
    est, X = fitted("GradientBoostingClassifier")
    path = tmp_path / "m.forest"
    forest2onnx.dump(est, path)
    data = bytearray(path.read_bytes())
    for name, damaged in {
        "flipped": data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :],
        "truncated": data[: len(data) - 7],
        "header-only": data[:16],
    }.items():
        bad = tmp_path / f"{name}.forest"
        bad.write_bytes(bytes(damaged))
        with pytest.raises(LoadError) as e:
            forest2onnx.load(bad)
        assert "forest2onnx model" in str(e.value), (name, str(e.value))


def test_not_a_model(tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(LoadError, match="the file is empty"):
        forest2onnx.load(empty)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x01\x02hello, not a model")
    with pytest.raises(LoadError, match="not a model file"):
        forest2onnx.load(junk)
    with pytest.raises(LoadError, match="cannot read"):
        forest2onnx.load(tmp_path / "missing.forest")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_hostile_pickle_is_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(_Evil(), protocol=5))
    with pytest.raises(LoadError):
        forest2onnx.load(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned").exists()


def test_onnx_is_not_a_source(tmp_path):
    est, _ = fitted("RandomForestClassifier")
    (tmp_path / "m.onnx").write_bytes(forest2onnx.to_onnx(est))
    with pytest.raises(UnsupportedModelError, match="ONNX model"):
        forest2onnx.load(tmp_path / "m.onnx")


def test_paths_are_not_models():
    with pytest.raises(InputError, match="forest2onnx.load"):
        forest2onnx.to_onnx("model.joblib")


def _forest(est):
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.forest")
        forest2onnx.dump(est, p)
        return forest2onnx.load(p)
