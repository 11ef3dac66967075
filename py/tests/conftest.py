"""Shared data, fitted estimators and an onnxruntime runner for the
forest2onnx Python tests."""

import numpy as np
import onnxruntime as ort
import pytest
from threadpoolctl import threadpool_limits
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

N_FEATURES = 6

# One OpenMP thread for scikit-learn's fits: HistGradientBoosting on a busy
# machine is many times slower with a thread per core.
threadpool_limits(1)


def float32_exact(X):
    """Rows every estimator reads alike, whether it casts to float32 (trees)
    or not (HistGradientBoosting): float32 values held as float64."""
    return np.asarray(X, dtype=np.float32).astype(np.float64)


def classification(n_classes, seed=0, n=300):
    X, y = make_classification(
        n_samples=n,
        n_features=N_FEATURES,
        n_informative=4,
        n_redundant=1,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return float32_exact(X), y


def regression(n_targets=1, seed=0, n=300):
    X, y = make_regression(
        n_samples=n, n_features=N_FEATURES, n_informative=4, n_targets=n_targets,
        noise=0.5, random_state=seed,
    )
    return float32_exact(X), y


# name -> (factory, task, data factory); every estimator the Rust importer
# supports, small enough that the whole suite runs in seconds.
CASES = {
    "DecisionTreeClassifier": (lambda: DecisionTreeClassifier(max_depth=8, random_state=0), "classifier", lambda: classification(3)),
    "ExtraTreeClassifier": (lambda: ExtraTreeClassifier(random_state=0), "classifier", lambda: classification(3)),
    "RandomForestClassifier": (lambda: RandomForestClassifier(n_estimators=15, random_state=0), "classifier", lambda: classification(3)),
    "RandomForestClassifier-binary": (lambda: RandomForestClassifier(n_estimators=15, random_state=0), "classifier", lambda: classification(2)),
    "ExtraTreesClassifier": (lambda: ExtraTreesClassifier(n_estimators=15, random_state=0), "classifier", lambda: classification(3)),
    "GradientBoostingClassifier-binary": (lambda: GradientBoostingClassifier(n_estimators=15, random_state=0), "classifier", lambda: classification(2)),
    "GradientBoostingClassifier": (lambda: GradientBoostingClassifier(n_estimators=10, random_state=0), "classifier", lambda: classification(3)),
    "HistGradientBoostingClassifier-binary": (lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0), "classifier", lambda: classification(2)),
    "HistGradientBoostingClassifier": (lambda: HistGradientBoostingClassifier(max_iter=10, random_state=0), "classifier", lambda: classification(3)),
    "DecisionTreeRegressor": (lambda: DecisionTreeRegressor(max_depth=8, random_state=0), "regressor", lambda: regression()),
    "ExtraTreeRegressor": (lambda: ExtraTreeRegressor(random_state=0), "regressor", lambda: regression()),
    "RandomForestRegressor": (lambda: RandomForestRegressor(n_estimators=15, random_state=0), "regressor", lambda: regression()),
    "RandomForestRegressor-2-targets": (lambda: RandomForestRegressor(n_estimators=10, random_state=0), "regressor", lambda: regression(2)),
    "ExtraTreesRegressor": (lambda: ExtraTreesRegressor(n_estimators=15, random_state=0), "regressor", lambda: regression()),
    "GradientBoostingRegressor": (lambda: GradientBoostingRegressor(n_estimators=15, random_state=0), "regressor", lambda: regression()),
    "HistGradientBoostingRegressor": (lambda: HistGradientBoostingRegressor(max_iter=15, random_state=0), "regressor", lambda: regression()),
    "IsolationForest": (lambda: IsolationForest(n_estimators=20, random_state=0), "anomaly", lambda: classification(2)),
}

_fitted = {}


def fitted(name):
    """(estimator, X) for a case, fitted once per session."""
    if name not in _fitted:
        make, task, data = CASES[name]
        X, y = data()
        est = make()
        est.fit(X) if task == "anomaly" else est.fit(X, y)
        _fitted[name] = (est, X)
    return _fitted[name]


def task_of(name):
    return CASES[name][1]


def run_onnx(onnx_bytes, X):
    """Every output of the ONNX model on X, by name (onnxruntime)."""
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    dtype = np.float64 if sess.get_inputs()[0].type == "tensor(double)" else np.float32
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: X.astype(dtype)})))


@pytest.fixture(params=sorted(CASES))
def case(request):
    return request.param


# numpy picks its exp/power kernels by CPU at run time (SIMD paths on
# AVX-512 machines), while forest2onnx calls the platform's libm. After a
# transcendental function (logistic, softmax, IsolationForest's 2**-x) the
# last bits may differ by CPU, so those outputs are held to MAX_ULP units
# in the last place, or MAX_ABS absolute for values near zero (an anomaly
# decision function is a score minus about 0.5); everything before them
# (tree sums, raw scores, averaged votes, labels) is our arithmetic end to
# end and compared bit for bit. The cross-version restore tests use the
# same bound.
MAX_ULP = 8
MAX_ABS = 5e-16


def transcendental(name):
    """Whether the estimator's probabilities or scores pass through exp/pow."""
    return "Boosting" in name or name.startswith("IsolationForest")


def assert_outputs_equal(got, want, after_transcendental):
    """Bit identity, or within MAX_ULP / MAX_ABS after a transcendental."""
    if not after_transcendental:
        np.testing.assert_array_equal(got, want)
        return
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got - want)
    ulp = np.spacing(np.maximum(np.abs(got), np.abs(want)))
    close = (diff <= MAX_ULP * ulp) | (diff <= MAX_ABS) | (got == want)
    worst = int(np.argmax(np.where(close, 0.0, diff)))
    assert close.all(), f"{(~close).sum()} values beyond {MAX_ULP} ulp; first at {worst}: {got.flat[worst]!r} vs {want.flat[worst]!r}"
