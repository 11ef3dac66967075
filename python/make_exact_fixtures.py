"""Models that compare float64 inputs with float64 thresholds, and their
libraries' own predictions at and around every threshold.

    python make_exact_fixtures.py OUTDIR

Writes, for tests/it/exact_precision.rs (a plain `forest2onnx convert` must
reproduce them on float64 rows):

* ``lightgbm_binary.txt``: an ``LGBMClassifier`` (40 trees) saved as text;
* ``hgb_multiclass.pkl``: a ``HistGradientBoostingClassifier`` (3 classes)
  saved with joblib (uncompressed);
* ``NAME.expected.json`` for each: ``rows`` (float64; every split threshold
  exactly, one float64 step either side, and halfway to the float32
  neighbours on both sides: values a float32 input cannot hold, which round
  onto the threshold's other side), ``labels`` (``predict``) and
  ``probabilities`` (``predict_proba``), ``meta``.

Trained on float64 data, so thresholds are float64 values float32 cannot
hold. Uses the pinned libraries of python/requirements.txt.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from booster_cases import dump_json, encode_matrix  # noqa: E402


def float32_neighbours(t):
    """The largest float32 below `t` and the smallest above it."""
    f = np.float32(t)
    lo = f if float(f) < t else np.nextafter(f, np.float32(-np.inf))
    hi = f if float(f) > t else np.nextafter(f, np.float32(np.inf))
    return float(lo), float(hi)


def around(t):
    lo, hi = float32_neighbours(t)
    return [t, float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf)),
            (lo + t) / 2, (t + hi) / 2]


def probe_rows(X, splits):
    """One row per (feature, value) around each distinct split, built on the
    data rows in turn."""
    rows = [X[i].copy() for i in range(10)]
    for k, (f, t) in enumerate(sorted(set(splits))):
        for v in around(t):
            r = X[k % len(X)].copy()
            r[f] = v
            rows.append(r)
    return np.array(rows, dtype=np.float64)


def lightgbm_splits(booster):
    out = []

    def walk(node):
        if "split_feature" in node:
            out.append((node["split_feature"], float(node["threshold"])))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def hgb_splits(est):
    out = []
    for iteration in est._predictors:
        for predictor in iteration:
            for node in predictor.nodes:
                if not node["is_leaf"]:
                    out.append((int(node["feature_idx"]), float(node["num_threshold"])))
    return out


def write(outdir, name, est, rows, meta):
    doc = {
        "meta": meta,
        "rows": encode_matrix(rows),
        "labels": [int(v) for v in est.predict(rows)],
        "probabilities": encode_matrix(est.predict_proba(rows)),
    }
    dump_json(os.path.join(outdir, f"{name}.expected.json"), doc)


def main(outdir):
    import joblib
    import lightgbm
    import sklearn
    from sklearn.ensemble import HistGradientBoostingClassifier

    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(26)
    X = rng.normal(size=(600, 4)) * [1.0, 3.0, 1e-3, 250.0]
    s = X[:, 0] + 0.4 * X[:, 1] + 300 * X[:, 2] + 0.002 * X[:, 3]

    y = (s + rng.normal(scale=0.5, size=len(s)) > 0).astype(int)
    lgb = lightgbm.LGBMClassifier(n_estimators=40, num_leaves=8, learning_rate=0.3,
                                  random_state=1, verbose=-1, n_jobs=1).fit(X, y)
    lgb.booster_.save_model(os.path.join(outdir, "lightgbm_binary.txt"))
    rows = probe_rows(X, lightgbm_splits(lgb.booster_))
    write(outdir, "lightgbm_binary", lgb, rows,
          {"library": "lightgbm", "version": lightgbm.__version__, "trees": 40})

    y3 = np.digitize(s + rng.normal(scale=0.5, size=len(s)), [-1.0, 1.0])
    hgb = HistGradientBoostingClassifier(max_iter=15, max_leaf_nodes=8, learning_rate=0.3,
                                         early_stopping=False, random_state=1).fit(X, y3)
    joblib.dump(hgb, os.path.join(outdir, "hgb_multiclass.pkl"), compress=0)
    rows = probe_rows(X, hgb_splits(hgb))
    write(outdir, "hgb_multiclass", hgb, rows,
          {"library": "scikit-learn", "version": sklearn.__version__, "trees": 45})


if __name__ == "__main__":
    main(sys.argv[1])
