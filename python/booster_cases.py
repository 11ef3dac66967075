"""Train XGBoost and LightGBM models and record the libraries' own predictions.

Used by ``make_booster_fixtures.py`` (the small committed fixtures under
``tests/fixtures/xgboost`` and ``tests/fixtures/lightgbm``, made once per
library version in its own venv) and by the ``--features python`` tests
(a larger grid trained with the pinned libraries of ``requirements.txt``).

Every case writes the model file(s) and ``NAME.expected.json``:

* ``rows``: the input rows (NaN as ``null``, infinities as ``"inf"``/``"-inf"``):
  data rows, rows at every split threshold and one float step either side,
  NaN rows, zero-band rows and category values (seen, unseen, negative,
  fractional, huge);
* ``margin``: the raw scores (``output_margin`` / ``raw_score``);
* ``predict``: what ``predict`` returns;
* ``leaf_values``: per row and tree, the value of the leaf the library's own
  predictor reaches (``pred_leaf`` mapped to the leaf's value), so a test can
  check that every row reaches the same leaf;
* ``meta``: library, version, objective, parameters.

Runs on Python 3.8 and numpy 1.21 (XGBoost 1.0's venv) as well as the newest.
"""

import json
import math
import os

import numpy as np

DATA_ROWS = 20
THRESHOLD_SPLITS = 16


def _enc(v):
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def encode_matrix(a):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return [[_enc(v) for v in row] for row in a]


def short_float32(a):
    """The float32 values of `a` as the f64 values of their shortest decimal
    text: what a fixture written with that text reads back, exactly."""
    a = np.asarray(a, dtype=np.float64)
    out = np.array([float(str(np.float32(v))) if np.isfinite(v) else v for v in a.ravel()])
    return out.reshape(a.shape)


def dump_json(path, doc):
    """Writes `doc` compactly (no NaN: encode it first), one line."""
    with open(path, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def write_expected(path, meta, rows, margin, predict, leaf_values, float32=False):
    """With `float32`, outputs are written as their float32 values' shortest
    text (XGBoost computes in float32): three times smaller files."""
    out = short_float32 if float32 else (lambda a: a)
    doc = {
        "meta": meta,
        "rows": encode_matrix(rows),
        "margin": encode_matrix(out(margin)),
        "predict": encode_matrix(out(predict)),
        "leaf_values": encode_matrix(out(leaf_values)),
    }
    with open(path, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def make_data(rng, n, n_features, n_categorical=0, n_categories=6, nan_rate=0.08):
    """Features: numeric ones normal, with some exact zeros and NaNs;
    categorical ones (last columns) integer codes 0..n_categories-1."""
    X = rng.normal(size=(n, n_features))
    X[rng.random(size=X.shape) < 0.05] = 0.0
    n_num = n_features - n_categorical
    for j in range(n_num, n_features):
        X[:, j] = rng.integers(0, n_categories, size=n)
    mask = rng.random(size=X.shape) < nan_rate
    X[mask] = np.nan
    return X


def signal(X, n_categorical=0):
    """A smooth target with an effect of the categorical columns."""
    Z = np.nan_to_num(X)
    s = Z[:, 0] + 0.5 * Z[:, 1] - 0.25 * Z[:, 2] * Z[:, 0]
    for j in range(X.shape[1] - n_categorical, X.shape[1]):
        s = s + np.where(np.isin(Z[:, j], [1, 3, 4]), 1.0, -0.5)
    return s


def probe_rows(X_test, splits, float32, categorical, n_categories, zero_band):
    """Data rows, then rows at each (feature, threshold) and one step either
    side, NaN rows, category rows and (LightGBM) zero-band rows."""
    rows = [X_test[i] for i in range(min(DATA_ROWS, len(X_test)))]
    base = X_test[0].copy()
    seen = set()
    picked = []
    for f, t in splits:
        if (f, t) not in seen and math.isfinite(t):
            seen.add((f, t))
            picked.append((f, t))
    step = np.float32 if float32 else np.float64
    for k, (f, t) in enumerate(picked[:THRESHOLD_SPLITS]):
        for v in (t, np.nextafter(step(t), step(-np.inf)), np.nextafter(step(t), step(np.inf))):
            r = X_test[k % len(X_test)].copy()
            r[f] = float(v)
            rows.append(r)
    n_features = X_test.shape[1]
    for f in range(n_features):
        r = base.copy()
        r[f] = np.nan
        rows.append(r)
    rows.append(np.full(n_features, np.nan))
    for f in categorical:
        for v in list(range(n_categories)) + [n_categories, n_categories + 7, 1000,
                                              -1.0, -0.5, -0.0, 1.5, 2.99, 3e9]:
            r = base.copy()
            r[f] = v
            rows.append(r)
    if zero_band:
        z = float(np.float32(1e-35))
        for f in range(n_features - len(categorical)):
            for v in (0.0, -0.0, 1e-36, -1e-36, z, -z, 2e-35, -2e-35):
                r = base.copy()
                r[f] = v
                rows.append(r)
    return np.array(rows, dtype=np.float64)
