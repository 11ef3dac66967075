"""Conversion time and size of a 2,000-tree depth-8 CatBoost model:
CatBoost's own ONNX export against ``forest2onnx convert``.

    python catboost_bench.py WORKDIR PATH_TO_forest2onnx [--trees N] [--depth D]

Trains (once; kept in WORKDIR) a Logloss model on 10,000 rows of 20 float
features, then times ``save_model(format="onnx")`` and ``forest2onnx
convert`` (with and without its validation), best of three, and prints the
times and file sizes.
"""

import os
import subprocess
import sys
import time

import numpy as np
from catboost import CatBoostClassifier


def arg(name, default):
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def best(f, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    work, binary = sys.argv[1], sys.argv[2]
    trees, depth = arg("--trees", 2000), arg("--depth", 8)
    os.makedirs(work, exist_ok=True)
    cbm = os.path.join(work, f"model_{trees}x{depth}.cbm")
    if not os.path.exists(cbm):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(10000, 20))
        y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=10000) > 0).astype(int)
        t = time.perf_counter()
        CatBoostClassifier(iterations=trees, depth=depth, verbose=False, thread_count=2,
                           random_seed=0, allow_writing_files=False).fit(X, y).save_model(cbm)
        print(f"trained in {time.perf_counter() - t:.1f} s")
    model = CatBoostClassifier()
    model.load_model(cbm)
    theirs = os.path.join(work, "catboost.onnx")
    ours = os.path.join(work, "forest2onnx.onnx")
    t_load = best(lambda: CatBoostClassifier().load_model(cbm))
    t_theirs = best(lambda: model.save_model(theirs, format="onnx"))
    run = lambda *extra: subprocess.run([binary, "convert", cbm, "-o", ours, *extra],
                                        check=True, capture_output=True)
    t_ours = best(lambda: run())
    t_ours_nv = best(lambda: run("--no-validate"))
    print(f"model: {trees} trees of depth {depth}, .cbm {os.path.getsize(cbm):,} bytes")
    print(f"CatBoost load_model: {t_load:.3f} s; save_model(format='onnx'): {t_theirs:.3f} s, "
          f"{os.path.getsize(theirs):,} bytes")
    run("--no-validate")
    print(f"forest2onnx convert (validated): {t_ours:.3f} s; --no-validate: {t_ours_nv:.3f} s, "
          f"{os.path.getsize(ours):,} bytes (opset 1)")
    for opset in ("3", "5"):
        run("--no-validate", "--ml-opset", opset)
        print(f"  --ml-opset {opset}: {os.path.getsize(ours):,} bytes")


if __name__ == "__main__":
    main()
