#!/usr/bin/env python3
"""The Python package against skl2onnx and joblib, side by side, on the
RandomForestClassifier of benches/compare.py (same data and parameters).

    .venv/bin/python benches/python/side_by_side.py                  # 500 trees, 100k x 20 (the reference)
    .venv/bin/python benches/python/side_by_side.py --trees 50 --rows 20000 --predict-rows 5000   # smoke test

Needs the package built in release (`pip install ./py`). Each timing is
the median of --repeat runs in this process; the markdown table goes to
stdout, the numbers to target/bench-python/results.json.
"""

import argparse
import json
import os
import pickle
import platform
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", type=int, default=500)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--predict-rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-python"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    import joblib
    import skl2onnx
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    import forest2onnx

    # benches/compare.py's data and forest.
    x, y = make_classification(
        n_samples=args.rows + args.predict_rows, n_features=20, n_informative=10, n_redundant=2,
        n_classes=3, class_sep=1.1, random_state=0,
    )
    x = x.astype(np.float32)
    x_train, y_train, x_test = x[: args.rows], y[: args.rows], x[args.rows :]
    cache = os.path.join(args.out, f"rf-{args.rows}-{args.trees}.pkl")
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            rf = pickle.load(f)
    else:
        rf = RandomForestClassifier(n_estimators=args.trees, n_jobs=-1, random_state=0).fit(x_train, y_train)
        with open(cache, "wb") as f:
            pickle.dump(rf, f, protocol=5)
    nodes = sum(e.tree_.node_count for e in rf.estimators_)
    r = {"trees": args.trees, "nodes": int(nodes), "rows": args.rows, "predict_rows": args.predict_rows}

    x1 = np.zeros((1, 20), dtype=np.float32)
    opts = {type(rf): {"zipmap": False}}
    r["skl2onnx_s"], onx = timed(lambda: skl2onnx.to_onnx(rf, x1, options=opts).SerializeToString(), args.repeat)
    r["skl2onnx_bytes"] = len(onx)
    r["f2o_to_onnx_s"], ours = timed(lambda: forest2onnx.to_onnx(rf), args.repeat)
    r["f2o_to_onnx_novalidate_s"], _ = timed(lambda: forest2onnx.to_onnx(rf, validate=False), args.repeat)
    r["f2o_onnx_bytes"] = len(ours)

    jpath, fpath = os.path.join(args.out, "rf.joblib"), os.path.join(args.out, "rf.forest")
    r["joblib_dump_s"], _ = timed(lambda: joblib.dump(rf, jpath, compress=3), args.repeat)
    r["joblib_load_s"], _ = timed(lambda: joblib.load(jpath), args.repeat)
    r["joblib_bytes"] = os.path.getsize(jpath)
    r["f2o_dump_s"], _ = timed(lambda: forest2onnx.dump(rf, fpath, compress=3), args.repeat)
    r["f2o_load_s"], forest = timed(lambda: forest2onnx.load(fpath), args.repeat)
    r["f2o_bytes"] = os.path.getsize(fpath)

    rf.n_jobs = 1
    r["sk_proba_1_s"], want = timed(lambda: rf.predict_proba(x_test), args.repeat)
    rf.n_jobs = -1
    r["sk_proba_all_s"], _ = timed(lambda: rf.predict_proba(x_test), args.repeat)
    r["f2o_proba_1_s"], got1 = timed(lambda: forest.predict_proba(x_test, n_threads=1), args.repeat)
    r["f2o_proba_all_s"], got = timed(lambda: forest.predict_proba(x_test), args.repeat)
    r["proba_equal"] = bool(np.array_equal(got, want) and np.array_equal(got1, want))
    r["machine"] = {"cpus": os.cpu_count(), "load": os.getloadavg(), "python": platform.python_version()}
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(r, f, indent=1)

    def row(what, theirs, ours_, unit="s"):
        if unit == "s":
            print(f"| {what} | {theirs:.3f} s | {ours_:.3f} s | {theirs / ours_:.1f}x |")
        else:
            print(f"| {what} | {theirs / 1e6:.1f} MB | {ours_ / 1e6:.1f} MB | {theirs / ours_:.1f}x |")

    print(f"{args.trees} trees, {nodes:,} nodes; predictions on {args.predict_rows:,} rows; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print("| | scikit-learn / skl2onnx / joblib | forest2onnx | ratio |")
    print("| --- | --- | --- | --- |")
    row("to_onnx (skl2onnx, serialised) vs forest2onnx.to_onnx (validated)", r["skl2onnx_s"], r["f2o_to_onnx_s"])
    row("... forest2onnx.to_onnx(validate=False)", r["skl2onnx_s"], r["f2o_to_onnx_novalidate_s"])
    row("ONNX size", r["skl2onnx_bytes"], r["f2o_onnx_bytes"], unit="b")
    row("joblib.dump(compress=3) vs forest2onnx.dump", r["joblib_dump_s"], r["f2o_dump_s"])
    row("joblib.load vs forest2onnx.load", r["joblib_load_s"], r["f2o_load_s"])
    row("file size", r["joblib_bytes"], r["f2o_bytes"], unit="b")
    row("predict_proba, 1 thread", r["sk_proba_1_s"], r["f2o_proba_1_s"])
    row("predict_proba, all threads", r["sk_proba_all_s"], r["f2o_proba_all_s"])
    print(f"predict_proba equal to scikit-learn's: {r['proba_equal']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
