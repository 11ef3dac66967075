"""Trains scikit-learn regressors, gradient boosting, histogram gradient
boosting and isolation forests, and writes them with inputs and
scikit-learn's own outputs, for forest2onnx's importer tests.

    python sklearn_estimators.py OUT_DIR [--profile committed|grid]

``committed`` writes the small models committed under
tests/fixtures/sklearn/estimators-<version>/ (it runs on every scikit-learn
from 1.1); ``grid`` trains the larger grid that ``cargo test --features
python --test sklearn_estimators`` checks with the pinned scikit-learn.

For every model OUT_DIR gets the model saved as pickles and joblib files,
and, little-endian:

* ``<name>.X.f64``: input rows (rows x features): held-out data; rows placing
  every split feature at its threshold and one float32 and one float64 step
  either side; NaN rows (where scikit-learn accepts NaN); for categorical
  features every known category, unknown, negative, fractional and huge
  values;
* ``<name>.values.f64``: ``predict_proba`` (classifiers), ``predict``
  (regressors, rows x targets), or ``score_samples`` and
  ``decision_function`` (isolation forests, 2 columns);
* ``<name>.raw.f64``: the raw scores of boosted models (``decision_function``
  of classifiers, ``_raw_predict`` of regressors), rows x scores;
* ``<name>.label.i64``: ``predict`` as an index into ``classes_`` (isolation
  forests: 0 for -1, 1 for 1);

and ``manifest.json`` describes every model, including how many rows of each
kind it has (in file order), and the files that must be refused.
"""

import argparse
import json
import os
import pickle
import sys
import warnings

import joblib
import numpy as np
import sklearn

try:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
except ImportError:  # scikit-learn < 1.0
    from sklearn.experimental import enable_hist_gradient_boosting  # noqa: F401
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    IsolationForest,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor

SKLEARN = tuple(int(p) for p in sklearn.__version__.split(".")[:2])
HGB = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


# ----- data -------------------------------------------------------------------


def features(rng, n_rows, n_features):
    X = rng.normal(size=(n_rows, n_features))
    # Quantised columns put thresholds between repeated values.
    X[:, -1] = np.round(X[:, -1] * 2) / 2
    return X


def class_target(rng, X, n_classes):
    k = max(1, X.shape[1] // 2)
    w = rng.normal(size=(k, n_classes))
    score = X[:, :k] @ w + 0.5 * rng.normal(size=(len(X), n_classes))
    return np.argmax(score, axis=1)


def regression_target(rng, X, n_targets=1):
    w = rng.normal(size=(X.shape[1], n_targets))
    y = np.sin(X) @ w + 0.1 * rng.normal(size=(len(X), n_targets))
    return y[:, 0] if n_targets == 1 else y


def with_missing(rng, X, fraction=0.15, columns=None):
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    if columns is not None:
        keep = np.ones(X.shape[1], dtype=bool)
        keep[columns] = False
        mask[:, keep] = False
    X[mask] = np.nan
    return X


def with_categories(rng, X, column, values):
    X = X.copy()
    X[:, column] = rng.choice(values, size=len(X))
    return X


# ----- adversarial rows ------------------------------------------------------


def sklearn_splits(model):
    """(feature, threshold) of every split of models built from sklearn trees."""
    if hasattr(model, "tree_"):
        members = [(model, None)]
    elif isinstance(model, IsolationForest):
        subset = model._max_features != model.n_features_in_
        members = [(e, f if subset else None) for e, f in zip(model.estimators_, model.estimators_features_)]
    else:
        members = [(e, None) for e in np.ravel(model.estimators_)]
    out = []
    for est, feats in members:
        t = est.tree_
        for node in range(t.node_count):
            if t.children_left[node] == -1:
                continue
            f = int(t.feature[node])
            out.append((int(feats[f]) if feats is not None else f, float(t.threshold[node])))
    return out


def hgb_tree_columns(model):
    """Column of the model input each tree column (feature_idx) reads."""
    pre = getattr(model, "_preprocessor", None)
    n = model.n_features_in_
    if pre is None:
        return list(range(n))
    mask = np.asarray(model.is_categorical_, dtype=bool)
    return [j for j in range(n) if mask[j]] + [j for j in range(n) if not mask[j]]


def hgb_splits(model):
    cols = hgb_tree_columns(model)
    out = []
    for it in model._predictors:
        for p in it:
            for node in p.nodes:
                if node["is_leaf"] or node["is_categorical"]:
                    continue
                out.append((cols[int(node["feature_idx"])], float(node["num_threshold"])))
    return out


def threshold_rows(splits, base, rng, max_rows):
    """Each split feature at its threshold and one float32 and one float64
    step either side (float32 neighbours of the nearest float32 too)."""
    rows = []
    for f, t in splits:
        if not np.isfinite(t):
            continue
        t32 = np.float32(t)
        values = {
            t,
            np.nextafter(t, -np.inf),
            np.nextafter(t, np.inf),
            float(t32),
            float(np.nextafter(t32, np.float32(-np.inf))),
            float(np.nextafter(t32, np.float32(np.inf))),
        }
        for x in sorted(values):
            if not np.isfinite(x):
                continue
            row = base[rng.integers(len(base))].copy()
            row[f] = x
            rows.append(row)
    rows = np.array(rows, dtype=np.float64).reshape(-1, base.shape[1])
    if len(rows) > max_rows:
        rows = rows[np.sort(rng.choice(len(rows), max_rows, replace=False))]
    return rows


def nan_rows(base, rng, n):
    rows = base[rng.integers(len(base), size=n)].copy()
    for i in range(n):
        rows[i, i % base.shape[1]] = np.nan
        if i % 3 == 0:
            rows[i, rng.integers(base.shape[1])] = np.nan
    return np.vstack([rows, np.full((1, base.shape[1]), np.nan)])


def category_rows(base, rng, column, known, era):
    """Rows putting categorical `column` at every known category and at
    unknown values, by kind: (kind, rows)."""
    known = sorted(set(float(k) for k in known))
    top = max(known)
    kinds = {
        "category_seen": known,
        "category_unseen": [top + 1, top + 7] + [k for k in range(int(top)) if k not in known][:3],
        "category_negative": [-1.0, -3.0] + ([-0.5] if era != "encoded" else [-0.5]),
        "category_fractional": [k + 0.5 for k in known[:3]],
        "category_nan": [np.nan],
    }
    if era != "encoded":
        # Outside the documented domain (categories < max_bins): scikit-learn
        # wraps these around in a C cast to uint8.
        kinds["category_out_of_domain"] = [256.0 + known[0], 300.0, 1e10, np.inf]
    out = []
    for kind, values in kinds.items():
        rows = base[rng.integers(len(base), size=len(values))].copy()
        rows[:, column] = values
        out.append((kind, rows))
    return out


# ----- writing ---------------------------------------------------------------


def save_all(model, out_dir, name, protocols, compressors):
    files = []
    for p in protocols:
        fname = f"{name}.p{p}.pkl"
        with open(os.path.join(out_dir, fname), "wb") as f:
            pickle.dump(model, f, protocol=p)
        files.append(fname)
    for c in compressors:
        fname = f"{name}.{c}.joblib"
        joblib.dump(model, os.path.join(out_dir, fname), compress={"raw": 0, "zlib3": 3}[c])
        files.append(fname)
    return files


def task_of(model):
    if isinstance(model, IsolationForest):
        return "anomaly"
    return "classification" if hasattr(model, "classes_") else "regression"


def raw_scores(model, X):
    if isinstance(model, HGB):
        raw = model._raw_predict(X)
    elif isinstance(model, GradientBoostingClassifier):
        raw = model.decision_function(X)
    elif isinstance(model, GradientBoostingRegressor):
        raw = model.predict(X)  # the raw score: every loss has the identity link
    else:
        return None
    return np.asarray(raw, dtype=np.float64).reshape(len(X), -1)


def outputs(model, X):
    task = task_of(model)
    raw = raw_scores(model, X)
    if task == "classification":
        values = model.predict_proba(X)
        index = {c: i for i, c in enumerate(model.classes_)}
        labels = np.array([index[p] for p in model.predict(X)], dtype=np.int64)
        if raw is not None:
            d = np.asarray(model.decision_function(X), dtype=np.float64).reshape(len(X), -1)
            assert np.array_equal(d, raw, equal_nan=True), "decision_function is the raw score"
    elif task == "regression":
        values = np.asarray(model.predict(X), dtype=np.float64).reshape(len(X), -1)
        labels = None
    else:
        values = np.c_[model.score_samples(X), model.decision_function(X)]
        labels = (model.predict(X) == 1).astype(np.int64)
    return np.ascontiguousarray(values, dtype=np.float64), labels, raw


def accepts(model, rows):
    """Whether scikit-learn predicts on these rows (it refuses NaN or inf
    in some models and versions)."""
    try:
        outputs(model, rows)
        return True
    except ValueError:
        return False


def n_trees_nodes(model):
    if isinstance(model, HGB):
        ps = [p for it in model._predictors for p in it]
        return len(ps), int(sum(len(p.nodes) for p in ps))
    if hasattr(model, "tree_"):
        return 1, int(model.tree_.node_count)
    ests = np.ravel(model.estimators_)
    return len(ests), int(sum(e.tree_.node_count for e in ests))


def write_model(out, name, model, parts, protocols, compressors, note=""):
    """parts: [(kind, rows)]; kinds scikit-learn refuses are dropped."""
    kept = [(k, r) for k, r in parts if len(r) and accepts(model, r)]
    X = np.ascontiguousarray(np.vstack([r for _, r in kept]), dtype=np.float64)
    values, labels, raw = outputs(model, X)
    X.astype("<f8").tofile(os.path.join(out["dir"], f"{name}.X.f64"))
    values.astype("<f8").tofile(os.path.join(out["dir"], f"{name}.values.f64"))
    if labels is not None:
        labels.astype("<i8").tofile(os.path.join(out["dir"], f"{name}.label.i64"))
    if raw is not None:
        raw.astype("<f8").tofile(os.path.join(out["dir"], f"{name}.raw.f64"))
    n_trees, n_nodes = n_trees_nodes(model)
    entry = {
        "name": name,
        "estimator": type(model).__name__,
        "task": task_of(model),
        "note": note,
        "files": save_all(model, out["dir"], name, protocols, compressors),
        "n_rows": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_outputs": int(values.shape[1]),
        "raw_width": 0 if raw is None else int(raw.shape[1]),
        "has_labels": labels is not None,
        "classes": [str(c) for c in model.classes_] if hasattr(model, "classes_") else None,
        "n_trees": n_trees,
        "n_nodes": n_nodes,
        "row_kinds": [[k, int(len(r))] for k, r in kept],
        "dropped_row_kinds": [k for k, r in parts if len(r) and not accepts(model, r)],
    }
    out["manifest"]["models"].append(entry)


def refused(out, name, model, error, contains=""):
    out["manifest"]["refused"].append(
        {"name": name, "files": save_all(model, out["dir"], name, [4], []), "error": error, "contains": contains}
    )


def fixture(out, name, model, X_fit, y_fit, X_test, rng, protocols=(4,), compressors=("zlib3",),
            nan=False, categorical=(), note="", max_threshold_rows=600, fit_kwargs=None):
    model.fit(X_fit, y_fit, **(fit_kwargs or {})) if y_fit is not None else model.fit(X_fit)
    base = np.nan_to_num(X_test, nan=0.25)
    for column in categorical:
        # Base rows hold known categories only: other values are adversarial
        # rows of their own kinds.
        known = X_fit[:, column][~np.isnan(X_fit[:, column])]
        base[np.isnan(X_test[:, column]), column] = known[0]
    splits = hgb_splits(model) if isinstance(model, HGB) else sklearn_splits(model)
    parts = [("data", X_test), ("threshold", threshold_rows(splits, base, rng, max_threshold_rows))]
    if nan:
        parts.append(("nan", nan_rows(base, rng, 30)))
    era = "encoded" if getattr(model, "_preprocessor", None) is not None else "raw"
    for column in categorical:
        known = np.unique(X_fit[:, column][~np.isnan(X_fit[:, column])])
        parts += category_rows(base, rng, column, known, era)
    write_model(out, name, model, parts, list(protocols), list(compressors), note)
    return model


# ----- profiles --------------------------------------------------------------


def supports_nan(cls):
    """NaN support in fit: trees 1.3, random forests 1.4, extra trees 1.6."""
    if cls is DecisionTreeRegressor:
        return SKLEARN >= (1, 3)
    if cls is RandomForestRegressor:
        return SKLEARN >= (1, 4)
    if cls in (ExtraTreesRegressor, ExtraTreeRegressor, IsolationForest):
        return SKLEARN >= (1, 6)
    return cls in HGB


def split(X, y, n_fit):
    return X[:n_fit], (None if y is None else y[:n_fit]), X[n_fit:]


def committed_profile(out):
    """Small models of every family; runs on scikit-learn 1.1 and later."""
    P = dict(protocols=(4,), compressors=("zlib3",), max_threshold_rows=160)

    def data(seed, n=240, f=4):
        r = np.random.default_rng(seed)
        return r, features(r, n, f)

    # Trees and forests, regressors.
    r, X = data(10)
    fixture(out, "dtr", DecisionTreeRegressor(max_depth=6, random_state=0), *split(X, regression_target(r, X), 200), r, **P)
    r, X = data(11)
    fixture(out, "xtr_multi", ExtraTreeRegressor(max_depth=6, random_state=0), *split(X, regression_target(r, X, 2), 200), r, **P)
    r, X = data(12)
    crit = "absolute_error" if SKLEARN >= (1, 0) else "mae"
    fixture(out, "rfr", RandomForestRegressor(n_estimators=4, max_depth=5, criterion=crit, random_state=0), *split(X, regression_target(r, X), 200), r, **P)
    r, X = data(13)
    fixture(out, "etr_multi", ExtraTreesRegressor(n_estimators=3, max_depth=5, random_state=0), *split(X, regression_target(r, X, 3), 200), r, **P)
    if supports_nan(DecisionTreeRegressor):
        r, X = data(14)
        X = with_missing(r, X)
        fixture(out, "dtr_nan", DecisionTreeRegressor(max_depth=5, random_state=0), *split(X, regression_target(r, np.nan_to_num(X)), 200), r, nan=True, **P)

    # Gradient boosting.
    r, X = data(20)
    fixture(out, "gbc_binary", GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0), *split(X, class_target(r, X, 2), 200), r, **P)
    r, X = data(21)
    fixture(out, "gbc_multi", GradientBoostingClassifier(n_estimators=5, max_depth=2, learning_rate=0.3, random_state=0), *split(X, class_target(r, X, 3), 200), r, **P)
    r, X = data(22)
    fixture(out, "gbc_exponential", GradientBoostingClassifier(loss="exponential", n_estimators=6, max_depth=2, random_state=0), *split(X, class_target(r, X, 2), 200), r, **P)
    for i, loss in enumerate(["squared_error", "absolute_error", "huber", "quantile"]):
        r, X = data(23 + i)
        fixture(out, f"gbr_{loss}", GradientBoostingRegressor(loss=loss, n_estimators=6, max_depth=3, subsample=0.8, random_state=0), *split(X, regression_target(r, X), 200), r, **P)
    r, X = data(27)
    fixture(out, "gbr_init_zero", GradientBoostingRegressor(init="zero", n_estimators=5, max_depth=2, random_state=0), *split(X, regression_target(r, X) + 3.0, 200), r, **P)

    # Histogram gradient boosting.
    r, X = data(30)
    X = with_missing(r, X)
    fixture(out, "hgbc_binary_nan", HistGradientBoostingClassifier(max_iter=6, max_leaf_nodes=8, random_state=0), *split(X, class_target(r, np.nan_to_num(X), 2), 200), r, nan=True, **P)
    r, X = data(31)
    fixture(out, "hgbc_multi", HistGradientBoostingClassifier(max_iter=4, max_leaf_nodes=6, random_state=0), *split(X, class_target(r, X, 3), 200), r, **P)
    r, X = data(32, f=5)
    X = with_categories(r, X, 1, [0.0, 1.0, 2.0, 3.0, 5.0])
    X = with_categories(r, X, 3, [2.0, 7.0, 11.0, 40.0])
    y = class_target(r, X, 2) ^ (X[:, 1] % 2 == 0)
    X = with_missing(r, X, 0.08)
    fixture(out, "hgbc_categorical", HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=8, categorical_features=[1, 3], random_state=0), *split(X, y, 200), r, nan=True, categorical=(1, 3), **P)
    for i, loss in enumerate(["squared_error", "absolute_error", "poisson", "gamma", "quantile"]):
        if loss == "gamma" and SKLEARN < (1, 3):
            continue
        if loss == "quantile" and SKLEARN < (1, 1):
            continue
        r, X = data(33 + i)
        X = with_missing(r, X)
        y = regression_target(r, np.nan_to_num(X))
        if loss in ("poisson", "gamma"):
            y = np.exp(y / 2)
        params = dict(quantile=0.7) if loss == "quantile" else {}
        fixture(out, f"hgbr_{loss}", HistGradientBoostingRegressor(loss=loss, max_iter=5, max_leaf_nodes=8, random_state=0, **params), *split(X, y, 200), r, nan=True, **P)
    r, X = data(40)
    X = with_categories(r, X, 0, [1.0, 4.0, 9.0])
    fixture(out, "hgbr_categorical", HistGradientBoostingRegressor(max_iter=4, max_leaf_nodes=6, categorical_features=[0], random_state=0), *split(X, regression_target(r, X) + X[:, 0], 200), r, nan=True, categorical=(0,), **P)

    # Isolation forests.
    r, X = data(50)
    fixture(out, "iforest", IsolationForest(n_estimators=5, max_samples=64, random_state=0), X[:200], None, X[200:], r, nan=SKLEARN >= (1, 6), **P)
    r, X = data(51, f=5)
    fixture(out, "iforest_subset", IsolationForest(n_estimators=4, max_samples=50, max_features=3, contamination=0.1, random_state=0), X[:200], None, X[200:], r, **P)


def grid_profile(out):
    """The grid the Python-backed tests train with the pinned scikit-learn."""
    P = dict(protocols=(2, 5), compressors=("raw", "zlib3"))
    seed = [100]

    def data(n=500, f=5):
        seed[0] += 1
        r = np.random.default_rng(seed[0])
        return r, features(r, n, f)

    # Regressor trees and forests: every criterion, single and multi-output.
    for crit in ["squared_error", "friedman_mse", "absolute_error", "poisson"]:
        r, X = data()
        y = regression_target(r, X)
        if crit == "poisson":
            y = np.exp(y)
        fixture(out, f"rfr_{crit}", RandomForestRegressor(n_estimators=6, max_depth=6, criterion=crit, random_state=0), *split(X, y, 380), r, **P)
    r, X = data()
    fixture(out, "etr_multi4", ExtraTreesRegressor(n_estimators=5, random_state=1), *split(X, regression_target(r, X, 4), 380), r, **P)
    r, X = data()
    fixture(out, "dtr_deep", DecisionTreeRegressor(random_state=2), *split(X, regression_target(r, X), 380), r, **P)
    r, X = data()
    fixture(out, "xtr_stump", ExtraTreeRegressor(max_depth=1, random_state=3), *split(X, regression_target(r, X), 380), r, **P)
    r, X = data()
    fixture(out, "rfr_single_tree", RandomForestRegressor(n_estimators=1, random_state=4), *split(X, regression_target(r, X, 2), 380), r, **P)
    r, X = data()
    fixture(out, "rfr_constant", RandomForestRegressor(n_estimators=3, random_state=5), *split(X, np.full(len(X), 2.5), 380), r, **P)
    for cls in (DecisionTreeRegressor, RandomForestRegressor, ExtraTreesRegressor):
        r, X = data()
        X = with_missing(r, X)
        params = {} if cls is DecisionTreeRegressor else dict(n_estimators=5)
        fixture(out, f"{cls.__name__.lower()}_nan", cls(random_state=6, max_depth=8, **params), *split(X, regression_target(r, np.nan_to_num(X), 2), 380), r, nan=True, **P)

    # Gradient boosting.
    r, X = data()
    fixture(out, "gbc_binary", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), *split(X, class_target(r, X, 2), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_multi5", GradientBoostingClassifier(n_estimators=12, max_depth=3, random_state=0), *split(X, class_target(r, X, 5), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_stumps", GradientBoostingClassifier(n_estimators=40, max_depth=1, learning_rate=0.5, random_state=0), *split(X, class_target(r, X, 3), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_one_stage", GradientBoostingClassifier(n_estimators=1, random_state=0), *split(X, class_target(r, X, 2), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_exponential", GradientBoostingClassifier(loss="exponential", n_estimators=20, random_state=0), *split(X, class_target(r, X, 2), 380), r, **P)
    r, X = data()
    y = np.array([-(2**40), 2**40 + 7], dtype=np.int64)[class_target(r, X, 2)]
    fixture(out, "gbc_int64_labels", GradientBoostingClassifier(n_estimators=8, random_state=0), *split(X, y, 380), r, **P)
    for strategy in ["prior", "uniform", "most_frequent"]:
        r, X = data()
        fixture(out, f"gbc_init_{strategy}", GradientBoostingClassifier(init=DummyClassifier(strategy=strategy), n_estimators=6, random_state=0), *split(X, class_target(r, X, 3), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_init_zero", GradientBoostingClassifier(init="zero", n_estimators=6, random_state=0), *split(X, class_target(r, X, 3), 380), r, **P)
    r, X = data()
    fixture(out, "gbc_early_stopping", GradientBoostingClassifier(n_estimators=200, n_iter_no_change=3, validation_fraction=0.2, random_state=0), *split(X, class_target(r, X, 2), 380), r, **P)
    for loss in ["squared_error", "absolute_error", "huber", "quantile"]:
        r, X = data()
        fixture(out, f"gbr_{loss}", GradientBoostingRegressor(loss=loss, n_estimators=25, max_depth=3, random_state=0), *split(X, regression_target(r, X), 380), r, **P)
    for strategy, kw in [("median", {}), ("quantile", dict(quantile=0.3)), ("constant", dict(constant=-1.25))]:
        r, X = data()
        fixture(out, f"gbr_init_{strategy}", GradientBoostingRegressor(init=DummyRegressor(strategy=strategy, **kw), n_estimators=6, random_state=0), *split(X, regression_target(r, X), 380), r, **P)
    r, X = data()
    fixture(out, "gbr_constant", GradientBoostingRegressor(n_estimators=4, random_state=0), *split(X, np.full(len(X), -4.0), 380), r, **P)

    # Histogram gradient boosting.
    r, X = data()
    X = with_missing(r, X)
    fixture(out, "hgbc_binary_nan", HistGradientBoostingClassifier(max_iter=30, random_state=0), *split(X, class_target(r, np.nan_to_num(X), 2), 380), r, nan=True, **P)
    r, X = data()
    fixture(out, "hgbc_multi4", HistGradientBoostingClassifier(max_iter=15, random_state=0), *split(X, class_target(r, X, 4), 380), r, nan=True, **P)
    r, X = data()
    fixture(out, "hgbc_stumps", HistGradientBoostingClassifier(max_iter=20, max_depth=1, random_state=0), *split(X, class_target(r, X, 2), 380), r, **P)
    r, X = data()
    fixture(out, "hgbc_one_iteration", HistGradientBoostingClassifier(max_iter=1, random_state=0), *split(X, class_target(r, X, 3), 380), r, **P)
    r, X = data()
    y = np.array([3 * 2**50, -7, 2**62], dtype=np.int64)[class_target(r, X, 3)]
    fixture(out, "hgbc_int64_labels", HistGradientBoostingClassifier(max_iter=5, random_state=0), *split(X, y, 380), r, **P)
    r, X = data(f=6)
    X = with_categories(r, X, 0, np.arange(12.0))
    X = with_categories(r, X, 4, [3.0, 10.0, 17.0, 40.0, 41.0])
    X = with_missing(r, X, 0.05)
    y = class_target(r, np.nan_to_num(X), 3)
    y = np.where(np.nan_to_num(X[:, 0]) % 3 == 0, (y + 1) % 3, y)
    fixture(out, "hgbc_categorical", HistGradientBoostingClassifier(max_iter=15, categorical_features=[0, 4], random_state=0), *split(X, y, 380), r, nan=True, categorical=(0, 4), **P)
    for loss in ["squared_error", "absolute_error", "poisson", "gamma", "quantile"]:
        r, X = data()
        X = with_missing(r, X)
        y = regression_target(r, np.nan_to_num(X))
        if loss in ("poisson", "gamma"):
            y = np.exp(y / 2)
        params = dict(quantile=0.3) if loss == "quantile" else {}
        fixture(out, f"hgbr_{loss}", HistGradientBoostingRegressor(loss=loss, max_iter=20, random_state=0, **params), *split(X, y, 380), r, nan=True, **P)
    r, X = data(f=4)
    X = with_categories(r, X, 2, [0.0, 2.0, 5.0, 6.0, 8.0, 13.0])
    fixture(out, "hgbr_categorical", HistGradientBoostingRegressor(max_iter=12, categorical_features=[2], random_state=0), *split(X, regression_target(r, X) + np.sin(X[:, 2]), 380), r, nan=True, categorical=(2,), **P)
    r, X = data()
    fixture(out, "hgbr_constant", HistGradientBoostingRegressor(max_iter=3, random_state=0), *split(X, np.full(len(X), 1.5), 380), r, **P)

    # Isolation forests.
    r, X = data()
    fixture(out, "iforest_default", IsolationForest(random_state=0, n_estimators=30), X[:380], None, X[380:], r, nan=True, **P)
    r, X = data()
    fixture(out, "iforest_subset", IsolationForest(n_estimators=10, max_features=0.6, max_samples=100, contamination=0.05, random_state=0), X[:380], None, X[380:], r, **P)
    r, X = data()
    fixture(out, "iforest_bootstrap_features", IsolationForest(n_estimators=8, max_features=3, bootstrap=True, random_state=0), X[:380], None, X[380:], r, **P)
    r, X = data()
    fixture(out, "iforest_single_tree", IsolationForest(n_estimators=1, max_samples=2, random_state=0), X[:380], None, X[380:], r, **P)

    # Must be refused.
    r, X = data()
    from sklearn.linear_model import LinearRegression
    m = GradientBoostingRegressor(init=LinearRegression(), n_estimators=3).fit(X, regression_target(r, X))
    refused(out, "gbr_init_linear", m, "Pickle", "LinearRegression")
    m = GradientBoostingRegressor(init=DecisionTreeRegressor(max_depth=2), n_estimators=3).fit(X, regression_target(r, X))
    refused(out, "gbr_init_tree", m, "Unsupported", "init_")
    m = GradientBoostingClassifier(init=DummyClassifier(strategy="stratified"), n_estimators=3).fit(X, class_target(r, X, 2))
    refused(out, "gbc_init_stratified", m, "Unsupported", "stratified")
    from sklearn.ensemble import ExtraTreesClassifier
    m = ExtraTreesClassifier(n_estimators=2).fit(X, np.c_[class_target(r, X, 2), class_target(r, X, 3)])
    refused(out, "etc_multi_output", m, "MultiOutput", "")
    Xf = with_categories(r, X, 1, [0.5, 1.5, 2.5])
    m = HistGradientBoostingRegressor(max_iter=2, categorical_features=[1]).fit(Xf, regression_target(r, X))
    if getattr(m, "_preprocessor", None) is not None:
        refused(out, "hgbr_fractional_categories", m, "Unsupported", "0.5")


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--profile", choices=["committed", "grid"], default="grid")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    manifest = {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
        "python": sys.version.split()[0],
        "models": [],
        "refused": [],
    }
    out = {"dir": args.out_dir, "manifest": manifest}
    {"committed": committed_profile, "grid": grid_profile}[args.profile](out)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
