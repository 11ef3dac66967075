"""Spark fixtures through `forest2onnx convert` and onnxruntime, against
Spark's own predictions (tests/fixtures/spark/VERSION/CASE/predictions.json).

    python python/oracles/spark_onnx_check.py tests/fixtures/spark path/to/forest2onnx

Converts each model folder with `--precision double --ml-opset 3`, checks
the ONNX with `onnx.checker` (full check), runs it in onnxruntime (one
intra-op thread) and prints, per case, rows, label mismatches and the max
relative |Δ| of the probabilities (classifiers) or predictions
(regressors). Exits non-zero on any label mismatch or |Δ| above 1e-12
relative (1e-15 absolute near zero). No JVM needed.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

REL = 1e-12
ABS = 1e-15


def max_rel(ours, spark):
    """Largest relative difference, and whether any is past the bound
    (REL relative, or ABS absolute near zero)."""
    ours, spark = np.asarray(ours, float).ravel(), np.asarray(spark, float).ravel()
    d = np.abs(ours - spark)
    scale = np.maximum(np.abs(ours), np.abs(spark))
    rel = np.where(d == 0, 0.0, d / np.where(scale == 0, 1, scale))
    bad = bool(((d > ABS) & (rel > REL)).any() or np.isnan(d).any())
    return (float(rel.max()) if rel.size else 0.0), bad


def check(case, binary, workdir):
    with open(os.path.join(case, "predictions.json")) as f:
        exp = json.load(f)
    onnx_path = os.path.join(workdir, "m.onnx")
    subprocess.run(
        [binary, "-q", "convert", os.path.join(case, "model"), "-o", onnx_path,
         "--precision", "double", "--ml-opset", "3"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    rows = np.array([[np.nan if v is None else float(v) for v in r] for r in exp["rows"]], dtype=np.float64)
    names = [o.name for o in sess.get_outputs()]
    out = dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: rows})))
    prediction = np.array(exp["prediction"])
    if "probabilities" in out:
        mismatches = int((out["label"].astype(float) != prediction).sum())
        rel, bad = max_rel(out["probabilities"], exp["probability"])
    else:
        mismatches = 0
        rel, bad = max_rel(out["variable"][:, 0], prediction)
    return len(rows), mismatches, rel, bad


def main(root, binary):
    failed = False
    print(f"{'Spark':<7} {'case':<34} {'rows':>5} {'label mismatches':>17} {'max rel |Δ| onnxruntime':>24}")
    with tempfile.TemporaryDirectory() as workdir:
        for version in sorted(os.listdir(root)):
            for name in sorted(os.listdir(os.path.join(root, version))):
                case = os.path.join(root, version, name)
                n, mismatches, rel, bad = check(case, binary, workdir)
                failed |= mismatches > 0 or bad
                print(f"{version:<7} {name:<34} {n:>5} {mismatches:>17} {rel:>24.1e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
