"""Issue 31: the package's input checks as a careless caller meets them:
thread counts, infinities, object arrays, and files that are not files."""

import importlib
import os

import numpy as np
import pytest
from conftest import N_FEATURES, fitted

import forest2onnx
from forest2onnx import InputError, LoadError

# The module, not the package's `_forest` helper function of the same name.
_forest = importlib.import_module("forest2onnx._forest")


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    est, X = fitted("RandomForestClassifier")
    path = tmp_path_factory.mktemp("hostile") / "m.forest"
    forest2onnx.dump(est, str(path))
    return forest2onnx.load(str(path)), X


@pytest.mark.parametrize("bad", [0, -1, True, False, 1.5, "2"])
def test_n_threads_must_be_a_positive_int(forest, bad):
    f, X = forest
    with pytest.raises(InputError, match="n_threads must be a positive int"):
        f.predict(X, n_threads=bad)


def test_n_threads_is_capped_at_the_core_count(forest):
    f, X = forest
    cores = len(os.sched_getaffinity(0))
    assert _forest.threads(10**6) == cores
    assert _forest.threads(1) == 1
    expected = f.predict(X, n_threads=1)
    np.testing.assert_array_equal(f.predict(X, n_threads=10**6), expected)
    # The Rust side caps and refuses too, whoever calls it.
    rows = np.ascontiguousarray(X, dtype=np.float64)
    classes, _, _ = f._native.predict(rows, 10**6)
    np.testing.assert_array_equal(f._output_labels[classes], expected)
    with pytest.raises(InputError, match="not 0"):
        f._native.predict(rows, 0)


def test_infinities_take_the_path_of_the_largest_values(forest):
    f, _ = forest
    for sign in (1.0, -1.0):
        inf = np.full((1, N_FEATURES), sign * np.inf)
        huge = np.full((1, N_FEATURES), sign * np.finfo(np.float64).max)
        np.testing.assert_array_equal(f.predict_proba(inf), f.predict_proba(huge))


@pytest.mark.parametrize("bad", ["1", None, b"1", object()])
def test_object_arrays_hold_numbers_like_string_arrays(forest, bad):
    f, X = forest
    with pytest.raises(InputError, match="X must hold numbers"):
        f.predict(np.array([["1"] * N_FEATURES]))
    rows = np.array(X[:3], dtype=object)
    rows[1, 2] = bad
    with pytest.raises(InputError, match="X must hold numbers"):
        f.predict(rows)


def test_object_arrays_of_numbers_are_read(forest):
    f, X = forest
    rows = np.array(X[:5], dtype=object)
    rows[0, 0] = int(3)
    rows[1, 1] = np.float32(0.5)
    np.testing.assert_array_equal(f.predict(rows), f.predict(rows.astype(np.float64)))


def test_load_refuses_devices(tmp_path):
    link = tmp_path / "m.forest"
    os.symlink("/dev/zero", link)
    with pytest.raises(LoadError, match="not a regular file"):
        forest2onnx.load(str(link))
