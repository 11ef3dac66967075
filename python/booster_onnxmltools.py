"""onnxmltools' conversion of the booster fixtures, as a reference.

    python booster_onnxmltools.py FIXTURES_ROOT [OUT.json]

For every ``*.expected.json`` under ``FIXTURES_ROOT/xgboost`` and
``FIXTURES_ROOT/lightgbm``: load the model with the installed library (the
project venv's XGBoost/LightGBM, which read the older versions' files),
convert it with onnxmltools (float input, as onnxmltools writes), run it in
onnxruntime on the fixture rows, and compare with the library's own
predictions recorded in the fixture. Prints a table per library, version
and case and writes the figures as JSON.

Compared: ``predict`` (probabilities of the positive class for binary
models, all classes for multi-class, the value for regression) and labels
for classifiers. A conversion that raises is reported with its error.
"""

import json
import math
import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def load_rows(v):
    return np.array([[np.nan if x is None else float(x) if not isinstance(x, str)
                      else (math.inf if x == "inf" else -math.inf) for x in r] for r in v],
                    dtype=np.float64)


def run_case(lib, model_path, exp):
    import onnxruntime as ort
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    rows = load_rows(exp["rows"])
    expected = load_rows(exp["predict"])
    n_features = rows.shape[1]
    if lib == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(model_path)
        convert = convert_xgboost
        # The fixture rows are float32 values already: XGBoost's own
        # predictions (by the version that wrote the model) apply.
    else:
        import lightgbm as lgb

        booster = lgb.Booster(model_file=model_path)
        convert = convert_lightgbm
        # onnxmltools' graphs take float32: compare with LightGBM on the
        # same float32 values (LightGBM itself reads them as f64).
        rows = rows.astype(np.float32).astype(np.float64)
        expected = np.asarray(booster.predict(rows), dtype=np.float64).reshape(len(rows), -1)
    t0 = time.perf_counter()
    onx = convert(booster, initial_types=[("input", FloatTensorType([None, n_features]))],
                  target_opset=15)
    seconds = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onx.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"input": rows.astype(np.float32)})
    names = [o.name for o in sess.get_outputs()]
    out = outs[-1]
    if isinstance(out, list):  # ZipMap
        out = np.array([[d[k] for k in sorted(d)] for d in out])
    out = np.asarray(out, dtype=np.float64)
    objective = exp["meta"]["objective"]
    labels = None
    if "label" in names:
        labels = np.asarray(outs[names.index("label")]).astype(np.float64).ravel()
    if out.ndim == 2 and out.shape[1] == 2 and expected.shape[1] == 1:
        out = out[:, 1:]
    if objective == "multi:softmax":
        # predict gives the class; onnxmltools' label output is compared.
        out = labels.reshape(-1, 1) if labels is not None else out
    if out.size != expected.size:
        return {"error": "output shape %s, library %s" % (out.shape, expected.shape)}
    out = out.reshape(expected.shape)
    diff = np.abs(out - expected)
    finite = ~np.isnan(expected)
    max_abs = float(np.nanmax(np.where(finite, diff, 0.0)))
    rel = np.where(np.abs(expected) >= 1e-3, diff / np.maximum(np.abs(expected), 1e-300), 0.0)
    wrong = np.abs(out - expected) > np.maximum(1e-5 * np.abs(expected), 1e-6)
    result = {
        "rows": int(rows.shape[0]),
        "max_abs": max_abs,
        "max_rel": float(np.nanmax(rel)),
        "rows_off": int(np.any(wrong, axis=1).sum()),
        "convert_seconds": seconds,
    }
    classifier = objective in ("binary:logistic", "multi:softprob", "binary", "multiclass",
                               "multiclassova")
    if classifier and labels is not None:
        if expected.shape[1] == 1:
            lib_labels = (expected[:, 0] > 0.5).astype(float)
        else:
            lib_labels = np.argmax(expected, axis=1).astype(float)
        result["label_mismatches"] = int((labels != lib_labels).sum())
    return result


def main():
    root = sys.argv[1]
    out_path = sys.argv[2] if len(sys.argv) > 2 else None
    results = []
    for lib in ("xgboost", "lightgbm"):
        base = os.path.join(root, lib)
        for version in sorted(os.listdir(base)):
            d = os.path.join(base, version)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                if not f.endswith(".expected.json"):
                    continue
                with open(os.path.join(d, f)) as fh:
                    exp = json.load(fh)
                model = os.path.join(d, exp["meta"]["files"][0])
                entry = {"library": lib, "version": version, "case": exp["meta"]["case"],
                         "objective": exp["meta"]["objective"]}
                try:
                    entry.update(run_case(lib, model, exp))
                except Exception as e:  # noqa: BLE001 - any failure is a finding
                    entry["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:160])
                results.append(entry)
    print("%-9s %-7s %-26s %5s %8s %9s %9s %s" % ("library", "version", "case", "rows",
                                                   "rows off", "max abs", "labels≠", "error"))
    for r in results:
        print("%-9s %-7s %-26s %5s %8s %9s %9s %s" % (
            r["library"], r["version"], r["case"], r.get("rows", ""), r.get("rows_off", ""),
            "%.1e" % r["max_abs"] if "max_abs" in r else "",
            r.get("label_mismatches", ""), r.get("error", "")))
    if out_path:
        with open(out_path, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
