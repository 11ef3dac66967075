"""Benchmark model for benches/sklearn_read.rs.

    python sklearn_bench.py train OUT_DIR [--trees 500] [--jobs 2]
    python sklearn_bench.py load FILE

``train`` fits a full-depth RandomForestClassifier on synthetic data
(100 000 rows x 20 features, 3 classes), saves it as ``OUT_DIR/rf.joblib``
with ``joblib.dump(compress=3)`` and writes 1 000 test rows with
scikit-learn's predictions in the format of ``sklearn_fixtures.py``
(``manifest.json``, ``rf.X.f64``, ``rf.proba.f64``, ``rf.label.i64``).

``load`` times ``joblib.load(FILE)`` and prints the seconds; run it under
``/usr/bin/time -v`` for peak memory.
"""

import argparse
import json
import os
import sys
import time

import joblib
import numpy as np
import sklearn


def train(out_dir, n_trees, n_jobs):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    os.makedirs(out_dir, exist_ok=True)
    X, y = make_classification(
        n_samples=101_000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    X = X.astype(np.float32)
    X_train, y_train, X_test = X[:100_000], y[:100_000], X[100_000:]
    start = time.perf_counter()
    model = RandomForestClassifier(n_estimators=n_trees, n_jobs=n_jobs, random_state=0)
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - start
    model.n_jobs = None  # predict sequentially: tree order fixes the summation order
    path = os.path.join(out_dir, "rf.joblib")
    start = time.perf_counter()
    joblib.dump(model, path, compress=3)
    dump_s = time.perf_counter() - start
    rows = X_test.astype(np.float64)
    proba = model.predict_proba(rows)
    labels = np.searchsorted(model.classes_, model.predict(rows)).astype(np.int64)
    rows.astype("<f8").tofile(os.path.join(out_dir, "rf.X.f64"))
    proba.astype("<f8").tofile(os.path.join(out_dir, "rf.proba.f64"))
    labels.astype("<i8").tofile(os.path.join(out_dir, "rf.label.i64"))
    n_nodes = int(sum(e.tree_.node_count for e in model.estimators_))
    manifest = {
        "sklearn": sklearn.__version__,
        "models": [
            {
                "name": "rf",
                "estimator": "RandomForestClassifier",
                "files": ["rf.joblib"],
                "n_rows": len(rows),
                "n_features": 20,
                "n_classes": 3,
                "classes": [str(c) for c in model.classes_],
                "n_trees": n_trees,
                "n_nodes": n_nodes,
                "feature_names": None,
            }
        ],
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(
        f"trained {n_trees} trees ({n_nodes} nodes) in {fit_s:.1f} s, "
        f"dumped {os.path.getsize(path) / 1e6:.1f} MB in {dump_s:.1f} s"
    )


def load(path):
    start = time.perf_counter()
    model = joblib.load(path)
    elapsed = time.perf_counter() - start
    n_nodes = sum(e.tree_.node_count for e in model.estimators_)
    print(f"joblib.load: {elapsed:.3f} s ({len(model.estimators_)} trees, {n_nodes} nodes)")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("out_dir")
    t.add_argument("--trees", type=int, default=500)
    t.add_argument("--jobs", type=int, default=2)
    ld = sub.add_parser("load")
    ld.add_argument("file")
    args = ap.parse_args()
    if args.cmd == "train":
        train(args.out_dir, args.trees, args.jobs)
    else:
        load(args.file)


if __name__ == "__main__":
    sys.exit(main())
