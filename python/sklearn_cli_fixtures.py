"""Writes the scikit-learn fixtures of the command-line tests
(tests/sklearn_cli.rs, committed under tests/fixtures/sklearn/cli/):

    python sklearn_cli_fixtures.py OUT_DIR

For each model: ``<name>.pkl`` (pickle protocol 5) and ``<name>.joblib``
(zlib), ``<name>.csv`` (a header of feature names, then float64 rows written
with Python's ``repr``, so they read back exactly: held-out rows, every
split threshold and the float64 values one step either side, NaN rows where
the model accepts them) and ``<name>.expected.csv`` (scikit-learn's
``predict_proba``, ``predict`` or ``score_samples``/``decision_function``,
with the label as ``predict`` gives it).

``iris_rf7`` is the case of issue 18: a 7-tree iris random forest whose f64
rows at and next to its thresholds must be predicted as scikit-learn does,
which casts them to float32 first.
"""

import csv
import os
import pickle
import sys

import joblib
import numpy as np
import sklearn
from sklearn.datasets import load_iris
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)


def thresholds(model):
    if hasattr(model, "_predictors"):
        for it in model._predictors:
            for p in it:
                for n in p.nodes:
                    if not n["is_leaf"] and not n["is_categorical"]:
                        yield int(n["feature_idx"]), float(n["num_threshold"])
        return
    for e in np.ravel(model.estimators_):
        t = e.tree_
        for node in range(t.node_count):
            if t.children_left[node] != -1:
                yield int(t.feature[node]), float(t.threshold[node])


def rows_for(model, X_test, rng, nan):
    rows = [r for r in X_test]
    for f, t in thresholds(model):
        if not np.isfinite(t):
            continue
        for x in (np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf)):
            r = X_test[rng.integers(len(X_test))].copy()
            r[f] = x
            rows.append(r)
    if nan:
        for i in range(X_test.shape[1]):
            r = X_test[i].copy()
            r[i] = np.nan
            rows.append(r)
    return np.array(rows)


def write(out, name, model, X, names):
    with open(os.path.join(out, f"{name}.pkl"), "wb") as f:
        pickle.dump(model, f, protocol=5)
    joblib.dump(model, os.path.join(out, f"{name}.joblib"), compress=3)
    with open(os.path.join(out, f"{name}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        w.writerows([[repr(float(v)) for v in row] for row in X])
    if isinstance(model, IsolationForest):
        header = ["label", "score_samples", "decision_function"]
        values = np.c_[model.score_samples(X), model.decision_function(X)]
        labels = model.predict(X)
    elif hasattr(model, "classes_"):
        header = ["label"] + [str(c) for c in model.classes_]
        values = model.predict_proba(X)
        labels = model.predict(X)
    else:
        values = model.predict(X).reshape(len(X), -1)
        header = ["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])]
        labels = None
    with open(os.path.join(out, f"{name}.expected.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i, row in enumerate(values):
            label = [str(labels[i])] if labels is not None else []
            w.writerow(label + [repr(float(v)) for v in row])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(18)
    iris = load_iris()
    X, y = iris.data, iris.target_names[iris.target]
    names = [n.replace(" (cm)", "").replace(" ", "_") for n in iris.feature_names]
    perm = rng.permutation(len(X))
    X, y = X[perm], y[perm]
    model = RandomForestClassifier(n_estimators=7, random_state=0).fit(X[:120], y[:120])
    write(out, "iris_rf7", model, rows_for(model, X[120:], rng, nan=False), names)

    Z = rng.normal(size=(400, 4))
    cls = (Z[:, 0] + np.sin(3 * Z[:, 1]) > 0.2).astype(int)
    zn = ["a", "b", "c", "d"]
    model = GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(Z[:300], cls[:300])
    write(out, "gb_binary", model, rows_for(model, Z[300:340], rng, nan=False), zn)

    target = Z[:, 0] * 2 + Z[:, 2] ** 2
    model = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(Z[:300], np.c_[target[:300], -target[:300]])
    write(out, "rf_regressor_2targets", model, rows_for(model, Z[300:340], rng, nan=False), zn)

    Zn = Z.copy()
    Zn[rng.random(Zn.shape) < 0.1] = np.nan
    model = HistGradientBoostingRegressor(loss="poisson", max_iter=8, random_state=0).fit(Zn[:300], np.exp(target[:300] / 4))
    write(out, "hgb_poisson", model, rows_for(model, np.nan_to_num(Zn[300:340]), rng, nan=True), zn)

    model = IsolationForest(n_estimators=6, max_samples=64, random_state=0).fit(Z[:300])
    write(out, "isolation_forest", model, rows_for(model, Z[300:340], rng, nan=False), zn)

    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(
            "# scikit-learn models for the command-line tests\n\n"
            "Written by `python/sklearn_cli_fixtures.py` (see its docstring) with "
            f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, joblib {joblib.__version__}, "
            f"Python {sys.version.split()[0]}; read by `tests/sklearn_cli.rs`.\n"
        )


if __name__ == "__main__":
    main()
