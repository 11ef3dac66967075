"""onnxmltools' conversion of the booster fixtures, as a reference.

    python booster_onnxmltools.py FIXTURES_ROOT [OUT.json]

For every ``*.expected.json`` under ``FIXTURES_ROOT/xgboost`` and
``FIXTURES_ROOT/lightgbm``: load the model with the installed library (the
project venv's XGBoost/LightGBM, which read the older versions' files),
convert it with onnxmltools (float input, as onnxmltools writes), run it in
onnxruntime on the fixture rows, and compare with the library's own
predictions recorded in the fixture (``booster_compare``: the same
comparison and table columns as ``booster_ours.py``). Prints a table per
library, version and objective, the cases where onnxmltools differs, and
writes the figures as JSON.

Compared: ``predict`` (probabilities of the positive class for binary
models, all classes for multi-class, the value for regression) and labels
for classifiers. A conversion that raises is reported with its error.
"""

import argparse
import json
import os
import pathlib
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from booster_compare import (  # noqa: E402
    as_predict, cases, compare, first_line, library_prediction, markdown_table, summarise,
    totals)

warnings.filterwarnings("ignore")

RUNNERS = ("ort 1 thread", "ort default")


def convert(lib, model_path, n_features):
    """onnxmltools' ONNX of the model the library loads from `model_path`."""
    from onnxmltools import convert_lightgbm, convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, n_features]))]
    if lib == "xgboost":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(model_path)
        return convert_xgboost(booster, initial_types=types, target_opset=15)
    import lightgbm as lgb

    booster = lgb.Booster(model_file=model_path)
    return convert_lightgbm(booster, initial_types=types, target_opset=15)


def run(onnx_bytes, rows, threads):
    """(values, labels) of onnxmltools' graph: its last output (ZipMap maps
    turned into columns) and its `label` output when there is one."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # no shape warnings on stderr
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {"input": rows.astype(np.float32)})
    names = [o.name for o in sess.get_outputs()]
    out = outs[-1]
    if isinstance(out, list):  # ZipMap
        out = np.array([[d[k] for k in sorted(d)] for d in out])
    labels = None
    if "label" in names:
        labels = np.asarray(outs[names.index("label")]).astype(np.float64).ravel()
    return np.asarray(out, dtype=np.float64), labels


def run_case(lib, model_path, exp):
    # onnxmltools' graphs take float32: LightGBM is compared on the same
    # float32 values (XGBoost's fixture rows are float32 already).
    rows, expected = library_prediction(lib, model_path, exp, float32_inputs=True)
    objective = exp["meta"]["objective"]
    t0 = time.perf_counter()
    onx = convert(lib, model_path, rows.shape[1]).SerializeToString()
    entry = {"convert_seconds": time.perf_counter() - t0}
    for name in RUNNERS:
        try:
            values, labels = run(onx, rows, 1 if name == "ort 1 thread" else 0)
            entry[name] = compare(as_predict(values, labels, objective, expected), labels,
                                  expected, objective)
        except Exception as e:  # noqa: BLE001 - a wrong shape is a finding
            entry[name] = {"error": first_line(e)}
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("json_out", nargs="?", help="write every figure here")
    ap.add_argument("--by-objective", action="store_true",
                    help="one table line per library and objective (all versions together)")
    args = ap.parse_args()
    results = []
    for lib, version, d, exp in cases(args.root):
        model = os.path.join(d, exp["meta"]["files"][0])
        entry = {"library": lib, "version": version, "case": exp["meta"]["case"],
                 "objective": exp["meta"]["objective"], "file": exp["meta"]["files"][0]}
        try:
            entry.update(run_case(lib, model, exp))
        except Exception as e:  # noqa: BLE001 - any failure is a finding
            for name in RUNNERS:
                entry[name] = {"error": first_line(e)}
        results.append(entry)
    groups = summarise(results, RUNNERS, by_version=not args.by_objective)
    print("### onnxmltools (onnxruntime 1 thread / default threads)\n")
    print(markdown_table(groups, RUNNERS))
    print(markdown_table(totals(groups, RUNNERS), RUNNERS).split("\n", 2)[2])
    print("\nPer case, where onnxmltools differs from the library or fails:\n")
    for r in results:
        fig = r[RUNNERS[0]]
        if "error" in fig:
            print("- %s %s %s: %s" % (r["library"], r["version"], r["case"], fig["error"]))
        elif fig["rows_off"] or fig.get("label_mismatches"):
            print("- %s %s %s: %d of %d rows off, %s labels differ, max abs |Δ| %.1e" % (
                r["library"], r["version"], r["case"], fig["rows_off"], fig["rows"],
                fig.get("label_mismatches", "–"), fig["max_abs"]))
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
