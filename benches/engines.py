#!/usr/bin/env python3
"""Every CPU tree engine on the four models of issue 28, side by side in one
run, at 1 and 2 threads, plus batch-1 latency (issue 28 §1), and the Python
package against the libraries' own Python predict (§3).

    .venv/bin/python benches/engines.py                       # all four models
    .venv/bin/python benches/engines.py --only lgbm xgb --rounds 1

Models (trained once by the libraries themselves on compare.py's data,
100 000 × 20, 3 classes, and cached in target/bench-engines/, not committed):

* `lgbm`: LightGBM multiclass, 200 rounds × 3 classes = 600 trees of 31 leaves;
* `xgb`: XGBoost `multi:softprob`, 1 000 rounds of depth 6 (3 000 trees);
* `rf12`: scikit-learn RandomForestClassifier, 100 trees, max_depth 12;
* `rf500`: the same, 500 full-depth trees (predicted on at most 10 000 rows).

Engines: forest2onnx's IR predict with each traversal kernel (`auto` is
what `predict` picks), our ONNX export in tract and in onnxruntime, the
library's own predict, treelite GTIL, lleaves (LightGBM), and with
`--python` the Python package. tl2cgen is left out: its gcc build of these
models does not finish in bounded time here (BENCHMARKS.md, issue 17).

Each engine runs in a fresh process per round; rounds go through all the
engines in turn (interleaved), and a figure is the best over rounds of the
best of `--repeat` runs, so that other processes on a shared machine bias
all engines alike. Every engine's outputs are checked against the
library's: the IR kernels must agree with each other bit for bit, everything
within 1e-6 (1e-5 for XGBoost, which computes in float32).
"""

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import compare  # noqa: E402
import runtimes  # noqa: E402

TOLERANCE = 1e-6
KERNELS = ("auto", "walk", "bitvector")

MODELS = {
    "lgbm": {"name": "lgbm-200r-l31 (600 trees × 31 leaves)", "suffix": ".txt", "reference": "lightgbm",
             "train": {"kind": "train_lightgbm", "rounds": 200, "leaves": 31},
             "engines": ["lightgbm", "lleaves", "gtil", "ort"], "python": ["forest2onnx_py", "lightgbm"]},
    # XGBoost sums margins and takes the softmax in float32: its
    # probabilities differ from a float64 evaluation by about 1e-6.
    "xgb": {"name": "xgb-1000r-d6 (3 000 trees, depth 6)", "suffix": ".json", "reference": "xgboost",
            "tolerance": 1e-5,
            "train": {"kind": "train_xgboost", "rounds": 1000, "depth": 6},
            "engines": ["xgboost", "gtil", "ort"], "python": ["forest2onnx_py", "xgboost"]},
    "rf12": {"name": "rf-100t-d12 (scikit-learn, 100 trees, max_depth 12)", "suffix": ".pkl",
             "reference": "sklearn", "train": {"kind": "train_shallow", "trees": 100, "depth": 12},
             "engines": ["sklearn", "gtil", "ort"], "python": ["forest2onnx_py", "joblib_sklearn"]},
    "rf500": {"name": "rf-500t-full (scikit-learn, 500 full-depth trees)", "suffix": ".pkl",
              "reference": "sklearn", "train": {"kind": "train_shallow", "trees": 500, "depth": None},
              "engines": ["sklearn", "gtil", "ort"], "python": ["forest2onnx_py", "joblib_sklearn"],
              "rows_limit": 10_000},
}

LABELS = {**runtimes.LABELS, "xgboost": "XGBoost Booster.inplace_predict",
          "tract": "forest2onnx ONNX in tract (our operator)",
          "tract5": "forest2onnx ONNX opset 5 in tract (our operator)",
          "forest2onnx_py": "Python: forest2onnx.load(p).predict_proba",
          "joblib_sklearn": "Python: joblib.load(p).predict_proba",
          **{f"ir-{k}": f"forest2onnx IR predict, kernel {k}" for k in KERNELS}}


def prepare(args, key, spec, data, rows_file):
    """Trains the model if needed; imports it into the IR and exports ONNX."""
    model = os.path.join(args.out, key + spec["suffix"])
    if not os.path.exists(model) or not os.path.exists(rows_file):
        print(f"== training {key}", file=sys.stderr)
        compare.py({**data, **spec["train"], "model": model, "rows_file": rows_file}, f"train {key}")
    forest, onnx = os.path.join(args.out, key + ".forest"), os.path.join(args.out, key + ".onnx")
    binary = compare.side_binary(args.out, args.no_build)
    info = compare.rust(binary, ["load", "--model", model, "--out", forest], f"load {key}")
    compare.rust(binary, ["--repeat", "1", "export", "--forest", forest, "--out", onnx], f"export {key}")
    # Opset 5's TreeEnsemble sums double leaf values itself; the default
    # opset-3 export of a double-precision booster outputs leaf numbers that
    # a table lookup and a MatMul turn into scores (exact in onnxruntime), so
    # the tract figure of that file is mostly the graph's other nodes.
    onnx5 = os.path.join(args.out, key + "-opset5.onnx")
    compare.rust(binary, ["--repeat", "1", "export", "--forest", forest, "--out", onnx5, "--ml-opset", "5"],
                 f"export {key} (opset 5)")
    limit = min(args.rows, spec.get("rows_limit", args.rows))
    rows = os.path.join(args.out, f"rows-{limit}.f32")
    x = np.fromfile(rows_file, dtype="<f4").reshape(-1, args.features)[:limit]
    x.tofile(rows)
    return {"model": model, "forest": forest, "onnx": onnx, "onnx5": onnx5, "rows": rows, "info": info,
            "binary": binary}


def run_engine(args, key, m, engine):
    """One measurement of `engine` on model `key` in a fresh process."""
    save = os.path.join(args.out, f"{key}-{engine}")
    rep = ["--repeat", str(args.repeat)]
    if engine.startswith("ir-"):
        return compare.rust(m["binary"], rep + ["predict", "--forest", m["forest"], "--rows-file", m["rows"],
                                                "--kernel", engine[3:], "--save", save + ".f64"], engine)
    if engine in ("tract", "tract5"):
        onnx = m["onnx"] if engine == "tract" else m["onnx5"]
        return compare.rust(m["binary"], rep + ["tract", "--onnx", onnx, "--features", str(args.features),
                                                "--rows-file", m["rows"], "--save", save + ".f64"], engine)
    task = {"kind": "engine", "engine": engine, "model": m["model"], "onnx": m["onnx"], "rows_file": m["rows"],
            "features": args.features, "repeat": args.repeat, "save": save + ".npy", "lib": save + ".so",
            "latency_rows": args.latency_rows}
    return compare.py(task, engine)


def outputs(args, key, engine, n):
    path = os.path.join(args.out, f"{key}-{engine}")
    if os.path.exists(path + ".f64"):
        return np.fromfile(path + ".f64", dtype="<f8").reshape(n, -1)
    return np.load(path + ".npy").reshape(n, -1)


def best(runs):
    """Per field, the best value over rounds (highest throughput, lowest
    latency); other fields from the first round."""
    out = dict(runs[0])
    for k in out:
        values = [r[k] for r in runs if isinstance(r.get(k), (int, float))]
        if k.startswith("rows_per") and values:
            out[k] = max(values)
        elif k.startswith("latency") and values:
            out[k] = min(values)
    return out


def agreement(args, key, spec, engines, n):
    ref = outputs(args, key, spec["reference"], n)
    result = {}
    for e in engines:
        v = outputs(args, key, e, n)
        same_shape = v.shape == ref.shape
        result[e] = {"max_abs_diff": float(np.abs(v - ref).max()) if same_shape else None,
                     "equal": bool(same_shape and np.array_equal(v, ref))}
        result[e]["agrees"] = same_shape and result[e]["max_abs_diff"] <= spec.get("tolerance", TOLERANCE)
    ir = [outputs(args, key, f"ir-{k}", n) for k in KERNELS]
    result["ir_kernels_bit_identical"] = all(
        a.tobytes() == ir[0].tobytes() for a in ir[1:]) and ir[0].tobytes() == outputs(args, key, "ir-auto", n).tobytes()
    return result


def k(v):
    return "—" if v is None else f"{v / 1e3:,.1f} k"


def table(key, spec, r):
    eng = r["engines"]
    auto = eng["ir-auto"]
    info = r["info"]
    lines = [f"#### {spec['name']}: {info['n_trees']} trees, {info['n_nodes']:,} nodes, "
             f"{auto['rows']:,} rows", "",
             "| engine | 1 thread rows/s | 1 thread rows per CPU-s | 2 threads rows/s "
             "| IR auto ÷ engine (1 t / 2 t) "
             "| batch-1 latency µs (median / p99) | setup or compile | max \\|Δ\\| vs " + spec["reference"] + " |",
             "|---|---|---|---|---|---|---|---|"]

    def two(res):
        return res.get("rows_per_s_best_2_threads", res.get("rows_per_s_best_all_threads"))

    for e, res in sorted(eng.items(), key=lambda kv: -kv[1]["rows_per_s_best_1_thread"]):
        a = r["agreement"].get(e)
        diff = "reference" if e == spec["reference"] else (
            "—" if a is None else ("equal" if a["equal"] else
                                   f"{a['max_abs_diff']:.1e}" if a["max_abs_diff"] is not None else "shape"))
        lat = "—" if "latency_1_row_us_median" not in res else (
            f"{res['latency_1_row_us_median']:.1f} / {res['latency_1_row_us_p99']:.1f}")
        setup = f"compile {res['compile_s']:.1f} s" if "compile_s" in res else (
            f"{res['setup_s']:.2f} s" if "setup_s" in res else (
                f"load {res['load_optimise_s']:.2f} s" if "load_optimise_s" in res else ""))
        ratio = f"{auto['rows_per_s_best_1_thread'] / res['rows_per_s_best_1_thread']:.2f}× / " \
                f"{two(auto) / two(res):.2f}×"
        lines.append(f"| {LABELS[e]} | {k(res['rows_per_s_best_1_thread'])} "
                     f"| {k(res.get('rows_per_cpu_s_1_thread'))} | {k(two(res))} | {ratio} "
                     f"| {lat} | {setup} | {diff} |")
    lines.append("")
    lines.append(f"IR kernels bit-identical to each other: {r['agreement']['ir_kernels_bit_identical']}; "
                 f"load average after: {r['load_after']}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--rounds", type=int, default=2, help="passes through all the engines (best of)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per engine and thread count in a process")
    ap.add_argument("--latency-rows", type=int, default=1000, help="rows predicted one at a time")
    ap.add_argument("--python", action="store_true",
                    help="also the Python package (needs `pip install ./py`, a release build)")
    ap.add_argument("--rows", type=int, default=100_000,
                    help="rows predicted (the first of compare.py's 100 000 held-out rows)")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-engines"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--report", metavar="RESULTS_JSON")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        print_tables(results)
        return
    os.makedirs(args.out, exist_ok=True)
    data = {"rows": 100_000, "predict_rows": 100_000, "features": args.features, "informative": 10,
            "classes": 3, "class_sep": 1.1}
    rows_file = os.path.join(args.out, "rows-100000.f32")
    results = {"machine": compare.machine(), "command": " ".join(sys.argv), "load_before": compare.load_average(),
               "models": {}}
    failures = []
    for key in args.only:
        spec = MODELS[key]
        m = prepare(args, key, spec, data, rows_file)
        if not args.no_build:
            args.no_build = True  # built once
        engines = [f"ir-{k}" for k in KERNELS] + ["tract", "tract5"] + spec["engines"]
        if args.python:
            engines += [e for e in spec["python"] if e not in engines]
        runs = {e: [] for e in engines}
        for rnd in range(args.rounds):
            print(f"== {key}: round {rnd + 1}", file=sys.stderr)
            for e in engines:
                runs[e].append(run_engine(args, key, m, e))
        r = {"info": m["info"], "engines": {e: best(v) for e, v in runs.items()},
             "all_runs": runs, "load_after": compare.load_average()}
        n = r["engines"]["ir-auto"]["rows"]
        r["agreement"] = agreement(args, key, spec, [e for e in engines if e != spec["reference"]], n)
        results["models"][key] = r
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        bad = [e for e, a in r["agreement"].items() if isinstance(a, dict) and not a["agrees"]]
        if bad or not r["agreement"]["ir_kernels_bit_identical"]:
            failures.append(f"{key}: disagree: {bad}, IR kernels identical: "
                            f"{r['agreement']['ir_kernels_bit_identical']}")
    print_tables(results)
    if failures:
        sys.exit("\n".join(failures))


def print_tables(results):
    print(f"Command: {results['command']}")
    print(f"Machine: {results['machine'].get('cpu')}, {results['machine']['nproc']} CPUs; "
          f"load average before: {results['load_before']}\n")
    for key, r in results["models"].items():
        print(table(key, MODELS[key], r) + "\n")


if __name__ == "__main__":
    main()
