"""Conversion time of a 1,000-round, depth-8 XGBoost and LightGBM binary
classifier: forest2onnx against onnxmltools, same machine, same run.

    python booster_bench.py FOREST2ONNX_BINARY WORK_DIR [--rounds 1000] [--depth 8] [--repeat 3]

Trains (unless WORK_DIR already holds them) with the installed libraries:
XGBoost ``binary:logistic`` (hist, ``max_depth`` 8, ``min_child_weight`` 0)
saved as ``xgb.ubj`` and ``xgb.json``; LightGBM ``binary`` (``max_depth`` 8,
``num_leaves`` 255, ``min_data_in_leaf`` 2) saved as ``lgb.txt``; 20,000
rows of 40 features. Then, ``--repeat`` times each, under ``/usr/bin/time``:

* ``forest2onnx --quiet convert MODEL -o OUT.onnx`` (validated in tract,
  the default) and with ``--no-validate``;
* onnxmltools in a fresh Python process: load the booster, then
  ``convert_xgboost``/``convert_lightgbm`` + ``SerializeToString`` + write
  (timed inside the process too, the load excluded);
* the same Python process loading the booster only (the baseline its peak
  RSS includes).

Reports the best wall time (with its CPU time) and the largest peak RSS of
each, as a Markdown table, and writes the figures as JSON to
WORK_DIR/bench.json (bench-forest2onnx.json, bench-onnxmltools.json with
``--only``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

N_ROWS = 20_000
N_FEATURES = 40

ONNXMLTOOLS = r"""
import sys, time
lib, model, out, mode = sys.argv[1:5]
if lib == "xgboost":
    import xgboost as xgb
    booster = xgb.Booster(); booster.load_model(model)
else:
    import lightgbm as lgb
    booster = lgb.Booster(model_file=model)
n = booster.num_features() if lib == "xgboost" else booster.num_feature()
if mode == "load":
    print(0.0); sys.exit(0)
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
t0 = time.perf_counter()
convert = convert_xgboost if lib == "xgboost" else convert_lightgbm
onx = convert(booster, initial_types=[("input", FloatTensorType([None, n]))], target_opset=15)
data = onx.SerializeToString()
with open(out, "wb") as f:
    f.write(data)
print(time.perf_counter() - t0)
"""


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N_ROWS, N_FEATURES))
    X[rng.random(size=X.shape) < 0.05] = np.nan
    Z = np.nan_to_num(X)
    s = np.sin(2 * Z[:, 0]) + Z[:, 1] * Z[:, 2] + np.abs(Z[:, 3]) - 0.5 * Z[:, 4] ** 2
    s = s + 0.3 * Z[:, 5:15].sum(axis=1) + rng.normal(scale=1.0, size=N_ROWS)
    return X, (s > np.median(s)).astype(np.float64)


def train(work, rounds, depth):
    X, y = data()
    xgb_path, lgb_path = os.path.join(work, "xgb.ubj"), os.path.join(work, "lgb.txt")
    if not os.path.exists(xgb_path):
        import xgboost as xgb

        booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist",
                             "max_depth": depth, "min_child_weight": 0, "eta": 0.05,
                             "nthread": 1, "seed": 0},
                            xgb.DMatrix(X, label=y), num_boost_round=rounds)
        booster.save_model(xgb_path)
        booster.save_model(os.path.join(work, "xgb.json"))
    if not os.path.exists(lgb_path):
        import lightgbm as lgb

        booster = lgb.train({"objective": "binary", "max_depth": depth,
                             "num_leaves": 2 ** depth - 1, "min_data_in_leaf": 2,
                             "min_sum_hessian_in_leaf": 0, "learning_rate": 0.05,
                             "num_threads": 1, "verbose": -1, "seed": 0},
                            lgb.Dataset(X, label=y), num_boost_round=rounds)
        booster.save_model(lgb_path)
    return {"xgboost": [xgb_path, os.path.join(work, "xgb.json")], "lightgbm": [lgb_path]}


def timed(cmd):
    """(wall s, user+sys s, peak RSS MiB, stdout) of one run of `cmd`."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", t.name] + cmd,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr.strip()[-500:]))
        wall, user, system, rss_kib = t.read().split()[-4:]
    return float(wall), float(user) + float(system), int(rss_kib) / 1024, p.stdout


def _seconds(out):
    """The in-process time the onnxmltools script prints last, else None
    (forest2onnx prints its own summary)."""
    try:
        return float(out.split()[-1])
    except (IndexError, ValueError):
        return None


def best(cmd, repeat):
    runs = [timed(cmd) for _ in range(repeat)]
    wall, cpu, _, out = min(runs, key=lambda r: r[0])
    return {"wall": wall, "cpu": cpu, "rss_mib": max(r[2] for r in runs),
            "inner": min((_seconds(r[3]) for r in runs), key=lambda x: x or 0.0)
            if _seconds(out) is not None else None,
            "runs": [r[:3] for r in runs]}


def model_facts(path):
    import onnx

    m = onnx.load(path)
    node = next(n for n in m.graph.node if n.op_type.startswith("TreeEnsemble"))
    ids = next(a for a in node.attribute if a.name == "nodes_nodeids")
    return {"onnx_mib": os.path.getsize(path) / 2 ** 20, "nodes": len(ids.ints)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("work")
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", choices=["forest2onnx", "onnxmltools"],
                    help="time one side only (the other side's figures of an earlier run stay "
                    "in its JSON)")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    models = train(args.work, args.rounds, args.depth)
    rows, figures = [], {"uptime_before": os.getloadavg()}
    for lib, paths in models.items():
        for path in paths if args.only != "onnxmltools" else []:
            out = os.path.join(args.work, os.path.basename(path) + ".ours.onnx")
            base = [args.binary, "--quiet", "convert", path, "-o", out]
            for label, cmd in (("forest2onnx convert", base),
                               ("forest2onnx convert --no-validate", base + ["--no-validate"])):
                r = best(cmd, args.repeat)
                r.update(model_facts(out))
                rows.append((lib, os.path.basename(path), label, r))
                print(lib, label, r, file=sys.stderr, flush=True)
        if args.only == "forest2onnx":
            continue
        path = paths[0]
        out = os.path.join(args.work, lib + ".onnxmltools.onnx")
        py = [sys.executable, "-c", ONNXMLTOOLS, lib, path, out]
        r = best(py + ["convert"], args.repeat)
        r.update(model_facts(out))
        rows.append((lib, os.path.basename(path), "onnxmltools (process)", r))
        print(lib, "onnxmltools", r, file=sys.stderr, flush=True)
        rows.append((lib, os.path.basename(path), "python + library + load only",
                     best(py + ["load"], args.repeat)))
    figures["uptime_after"] = os.getloadavg()
    figures["rows"] = rows
    print("| library | model file | converter | best wall s | its CPU s | in-process s "
          "| peak RSS MiB | ONNX MiB | tree nodes |")
    print("|---|---|---|--:|--:|--:|--:|--:|--:|")
    for lib, f, label, r in rows:
        print("| %s | %s | %s | %.2f | %.2f | %s | %.0f | %s | %s |" % (
            lib, f, label, r["wall"], r["cpu"],
            "%.2f" % r["inner"] if r.get("inner") else "", r["rss_mib"],
            "%.1f" % r["onnx_mib"] if "onnx_mib" in r else "",
            r.get("nodes", "")))
    print("\nload average before %s, after %s" % (
        " ".join("%.2f" % x for x in figures["uptime_before"]),
        " ".join("%.2f" % x for x in figures["uptime_after"])))
    with open(os.path.join(args.work, "bench%s.json" % ("-" + args.only if args.only else "")),
              "w") as fh:
        json.dump(figures, fh, indent=1)


if __name__ == "__main__":
    main()
