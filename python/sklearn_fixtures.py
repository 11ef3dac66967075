"""Trains scikit-learn forests and writes them, with inputs and scikit-learn's
own predictions, for forest2onnx's importer tests (tests/sklearn.rs).

    python sklearn_fixtures.py OUT_DIR [--profile full|legacy]

For every model OUT_DIR gets:

* the model saved several ways (``<name>.p<N>.pkl`` with ``pickle.dump`` at
  protocol N, ``<name>.<compressor>.joblib`` with ``joblib.dump``);
* ``<name>.X.f64``: input rows, little-endian float64, rows x features. Every
  value is float32-representable (scikit-learn trees cast inputs to
  float32), and the rows include, for every split, the float32 value nearest
  the threshold and its float32 neighbours on both sides, plus NaN rows for
  models trained with missing values;
* ``<name>.proba.f64``: ``predict_proba``, rows x classes;
* ``<name>.label.i64``: ``predict`` as an index into ``classes_``;

and ``manifest.json`` describes every model (files, shapes, classes, or the
error a model must be refused with). The ``legacy`` profile writes a few
small models for the fixtures committed under tests/fixtures/sklearn/ and
runs on old scikit-learn/numpy releases; the ``random_state`` profile writes
tiny models holding numpy random state (a ``RandomState`` passed as
``random_state``, a ``Generator`` attribute) for the committed
``random-state-*`` fixtures.
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
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier, ExtraTreeClassifier

SKLEARN = tuple(int(p) for p in sklearn.__version__.split(".")[:2])


def float32_data(rng, n_rows, n_features, n_classes, informative=None):
    """Separable-ish float32 data: a few features drive the class."""
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    k = informative or max(1, n_features // 2)
    w = rng.normal(size=(k, n_classes))
    score = X[:, :k].astype(np.float64) @ w + 0.5 * rng.normal(size=(n_rows, n_classes))
    y = np.argmax(score, axis=1)
    # Quantise some features so thresholds land between repeated values.
    X[:, -1] = np.round(X[:, -1] * 2) / 2
    return X, y


def with_missing(rng, X, fraction=0.15):
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    X[mask] = np.nan
    return X


def trees_of(model):
    return model.estimators_ if hasattr(model, "estimators_") else [model]


def boundary_rows(model, base, rng, max_rows):
    """Rows that put each split feature at its threshold's float32
    neighbourhood: the nearest float32 and one float32 step either side."""
    rows = []
    for est in trees_of(model):
        t = est.tree_
        for node in range(t.node_count):
            if t.children_left[node] == -1:
                continue
            f = t.feature[node]
            x0 = np.float32(t.threshold[node])
            for x in (x0, np.nextafter(x0, np.float32(-np.inf)), np.nextafter(x0, np.float32(np.inf))):
                # Splits that only separate missing values have an infinite
                # threshold; scikit-learn refuses infinite inputs.
                if not np.isfinite(x):
                    continue
                row = base[rng.integers(len(base))].copy()
                row[f] = x
                rows.append(row)
    rows = np.array(rows, dtype=np.float32).reshape(-1, base.shape[1])
    if len(rows) > max_rows:
        rows = rows[rng.choice(len(rows), max_rows, replace=False)]
    return rows


def nan_rows(base, rng, n):
    rows = base[rng.integers(len(base), size=n)].copy()
    for i in range(n):
        rows[i, i % base.shape[1]] = np.nan
        if i % 3 == 0:
            rows[i, rng.integers(base.shape[1])] = np.nan
    all_nan = np.full((1, base.shape[1]), np.nan, dtype=np.float32)
    return np.vstack([rows, all_nan])


def save_all(model, out_dir, name, protocols, compressors):
    files = []
    for p in protocols:
        fname = f"{name}.p{p}.pkl"
        with open(os.path.join(out_dir, fname), "wb") as f:
            pickle.dump(model, f, protocol=p)
        files.append(fname)
    for c in compressors:
        fname = f"{name}.{c if isinstance(c, str) else c[0]}.joblib"
        if c == "raw":
            joblib.dump(model, os.path.join(out_dir, fname), compress=0)
        elif c == "zlib3":
            joblib.dump(model, os.path.join(out_dir, fname), compress=3)
        else:
            joblib.dump(model, os.path.join(out_dir, fname), compress=c)
        files.append(fname)
    return files


def write_model(out_dir, name, model, X_rows, protocols, compressors, manifest, note=""):
    X_rows = np.ascontiguousarray(X_rows, dtype=np.float32).astype(np.float64)
    proba = np.ascontiguousarray(model.predict_proba(X_rows), dtype=np.float64)
    pred = model.predict(X_rows)
    classes = list(model.classes_)
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index[p] for p in pred], dtype=np.int64)
    X_rows.astype("<f8").tofile(os.path.join(out_dir, f"{name}.X.f64"))
    proba.astype("<f8").tofile(os.path.join(out_dir, f"{name}.proba.f64"))
    labels.astype("<i8").tofile(os.path.join(out_dir, f"{name}.label.i64"))
    manifest["models"].append(
        {
            "name": name,
            "estimator": type(model).__name__,
            "note": note,
            "files": save_all(model, out_dir, name, protocols, compressors),
            "n_rows": int(X_rows.shape[0]),
            "n_features": int(X_rows.shape[1]),
            "n_classes": len(classes),
            "classes": [str(c) for c in classes],
            "n_trees": len(trees_of(model)),
            "n_nodes": int(sum(e.tree_.node_count for e in trees_of(model))),
            "feature_names": [str(n) for n in getattr(model, "feature_names_in_", [])] or None,
        }
    )


def make_rows(model, X_test, rng, nan_trained, max_boundary=1500):
    parts = [X_test, boundary_rows(model, X_test, rng, max_boundary)]
    if nan_trained:
        parts.append(nan_rows(X_test, rng, 40))
    return np.vstack(parts)


def supports_missing(cls):
    """scikit-learn added NaN support to trees in 1.3, forests in 1.4,
    extra-trees in 1.6."""
    if cls is DecisionTreeClassifier:
        return SKLEARN >= (1, 3)
    if cls is RandomForestClassifier:
        return SKLEARN >= (1, 4)
    return SKLEARN >= (1, 6)


def with_generator(cls, params, X, y):
    """A model holding a numpy Generator as ``random_state``. scikit-learn
    (1.9 at least) refuses Generators when fitting, so the model is then
    fitted with an int seed and given the Generator afterwards, as
    ``set_params`` after fitting would."""
    try:
        return cls(random_state=np.random.default_rng(0), **params).fit(X, y)
    except (TypeError, ValueError):  # InvalidParameterError is a ValueError
        model = cls(random_state=0, **params).fit(X, y)
        model.random_state = np.random.default_rng(0)
        return model


def full_profile(out_dir, manifest):
    protocols = [2, 3, 4, 5]
    compressors = ["raw", "zlib3", ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), ("lz4", 3)]
    specs = []
    for seed in (0, 1, 2):
        specs.append((f"rf_multi_s{seed}", RandomForestClassifier, dict(n_estimators=12, random_state=seed), 4, seed))
    specs += [
        ("rf_binary", RandomForestClassifier, dict(n_estimators=15, max_depth=8, random_state=3), 2, 3),
        ("et_multi", ExtraTreesClassifier, dict(n_estimators=12, random_state=4), 5, 4),
        ("et_binary_bootstrap", ExtraTreesClassifier, dict(n_estimators=8, bootstrap=True, random_state=5), 2, 5),
        ("dt_multi", DecisionTreeClassifier, dict(random_state=6), 3, 6),
        ("dt_best_first", DecisionTreeClassifier, dict(max_leaf_nodes=40, random_state=7), 3, 7),
        ("dt_pruned", DecisionTreeClassifier, dict(ccp_alpha=0.005, random_state=8), 3, 8),
        ("xt_single", ExtraTreeClassifier, dict(random_state=9), 3, 9),
        ("rf_weighted", RandomForestClassifier, dict(n_estimators=8, class_weight="balanced", random_state=10), 3, 10),
    ]
    for name, cls, params, n_classes, seed in specs:
        rng = np.random.default_rng(seed)
        X, y = float32_data(rng, 600, 7, n_classes)
        if name == "rf_binary":
            y = np.where(y == 1, 7, -3)  # negative and non-contiguous labels
        model = cls(**params)
        sw = rng.uniform(0.5, 2.0, size=450) if name == "rf_weighted" else None
        model.fit(X[:450], y[:450], sample_weight=sw)
        rows = make_rows(model, X[450:], rng, False)
        write_model(out_dir, name, model, rows, protocols, compressors, manifest)

    # Label types: strings (object and fixed-width unicode), floats, bools, uint8.
    label_kinds = {
        "rf_str_object": np.array(["cat", "dog", "émeu"], dtype=object),
        "rf_str_unicode": np.array(["setosa", "versicolor", "virginica"]),
        "dt_str_object": np.array(["no", "yes", "maybe"], dtype=object),
        "rf_float_integral": np.array([0.0, 1.0, 2.0]),
        "rf_bool": np.array([False, True, True]),
        "rf_uint8": np.array([3, 200, 255], dtype=np.uint8),
    }
    for i, (name, values) in enumerate(label_kinds.items()):
        rng = np.random.default_rng(100 + i)
        X, y = float32_data(rng, 500, 5, 3)
        cls = DecisionTreeClassifier if name.startswith("dt") else RandomForestClassifier
        params = dict(random_state=i) if cls is DecisionTreeClassifier else dict(n_estimators=6, random_state=i)
        model = cls(**params).fit(X[:380], values[y[:380]])
        if name == "rf_str_object":
            # What fitting on a DataFrame records; set directly (no pandas here).
            model.feature_names_in_ = np.array([f"feat_{j}" for j in range(5)], dtype=object)
        rows = make_rows(model, X[380:], rng, False)
        write_model(out_dir, name, model, rows, [2, 5], ["raw", "zlib3"], manifest)

    # Trained with missing values.
    for i, cls in enumerate((RandomForestClassifier, DecisionTreeClassifier, ExtraTreesClassifier)):
        if not supports_missing(cls):
            continue
        rng = np.random.default_rng(200 + i)
        X, y = float32_data(rng, 600, 6, 3)
        X = with_missing(rng, X)
        params = dict(random_state=i) if cls is DecisionTreeClassifier else dict(n_estimators=10, random_state=i)
        model = cls(**params).fit(X[:450], y[:450])
        rows = make_rows(model, np.nan_to_num(X[450:], nan=0.25), rng, True)
        rows = np.vstack([rows, X[450:]])
        name = f"{cls.__name__.lower()}_nan"
        write_model(out_dir, name, model, rows, [4, 5], ["raw", "zlib3"], manifest)

    # Holding numpy random state, which the importer keeps as inert values.
    rng = np.random.default_rng(250)
    X, y = float32_data(rng, 500, 5, 3)
    model = RandomForestClassifier(n_estimators=8, random_state=np.random.RandomState(0)).fit(X[:380], y[:380])
    rows = make_rows(model, X[380:], rng, False)
    write_model(out_dir, "rf_random_state", model, rows, protocols, compressors, manifest, "random_state=RandomState(0)")
    rng = np.random.default_rng(251)
    X, y = float32_data(rng, 500, 5, 3)
    model = DecisionTreeClassifier(random_state=np.random.RandomState(1)).fit(X[:380], y[:380])
    rows = make_rows(model, X[380:], rng, False)
    write_model(out_dir, "dt_random_state", model, rows, [2, 5], ["raw", "zlib3"], manifest, "random_state=RandomState(1)")
    rng = np.random.default_rng(252)
    X, y = float32_data(rng, 500, 5, 3)
    model = with_generator(RandomForestClassifier, dict(n_estimators=6), X[:380], y[:380])
    rows = make_rows(model, X[380:], rng, False)
    write_model(out_dir, "rf_generator", model, rows, protocols, ["raw", "zlib3", ("lz4", 3)], manifest, "random_state=default_rng(0)")

    # Must be refused: multi-output.
    rng = np.random.default_rng(300)
    X, y = float32_data(rng, 300, 4, 3)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.c_[y, (y + 1) % 3])
    manifest["refused"].append(
        {"name": "rf_multi_output", "files": save_all(model, out_dir, "rf_multi_output", [5], ["zlib3"]), "error": "MultiOutput"}
    )


def legacy_profile(out_dir, manifest):
    """Small models for committed fixtures; runs on old releases."""
    specs = [
        ("rf", RandomForestClassifier, dict(n_estimators=3, max_depth=4), np.array([0, 1, 2])),
        ("et", ExtraTreesClassifier, dict(n_estimators=3, max_depth=4), np.array(["a", "b", "c"], dtype=object)),
        ("dt", DecisionTreeClassifier, dict(max_depth=5), np.array([-1, 4, 9])),
    ]
    for i, (name, cls, params, values) in enumerate(specs):
        rng = np.random.default_rng(400 + i)
        X, y = float32_data(rng, 300, 4, 3)
        model = cls(random_state=i, **params).fit(X[:220], values[y[:220]])
        rows = make_rows(model, X[220:], rng, False, max_boundary=150)
        write_model(out_dir, name, model, rows, [2, 4], ["zlib3"], manifest)
    if supports_missing(DecisionTreeClassifier):
        rng = np.random.default_rng(450)
        X, y = float32_data(rng, 300, 4, 3)
        X = with_missing(rng, X, 0.2)
        model = DecisionTreeClassifier(max_depth=5, random_state=0).fit(X[:220], y[:220])
        rows = make_rows(model, np.nan_to_num(X[220:], nan=0.5), rng, True, max_boundary=150)
        write_model(out_dir, "dt_nan", model, rows, [5], ["raw"], manifest)


def random_state_profile(out_dir, manifest):
    """Tiny models holding numpy random state for committed fixtures; runs
    on old releases. The state's form depends on numpy's version."""
    rng = np.random.default_rng(600)
    X, y = float32_data(rng, 200, 4, 3)
    model = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=np.random.RandomState(0)).fit(X[:150], y[:150])
    rows = make_rows(model, X[150:], rng, False, max_boundary=60)
    write_model(out_dir, "rf_rs", model, rows, [2, 5], ["zlib3"], manifest, "random_state=RandomState(0)")
    rng = np.random.default_rng(601)
    X, y = float32_data(rng, 200, 4, 3)
    model = with_generator(DecisionTreeClassifier, dict(max_depth=3), X[:150], y[:150])
    rows = make_rows(model, X[150:], rng, False, max_boundary=60)
    write_model(out_dir, "dt_gen", model, rows, [4], ["raw"], manifest, "random_state=default_rng(0)")


def main():
    # Predicting on plain arrays for a model given feature names on purpose.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--profile", choices=["full", "legacy", "random_state"], default="full")
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
    profiles = {"full": full_profile, "legacy": legacy_profile, "random_state": random_state_profile}
    profiles[args.profile](args.out_dir, manifest)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
