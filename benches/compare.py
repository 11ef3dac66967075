#!/usr/bin/env python3
"""forest2onnx against scikit-learn / skl2onnx / onnxruntime / joblib, side by side.

One run on one machine: trains scikit-learn RandomForestClassifiers (full
depth, n_jobs=-1) on synthetic data, measures the Python tool chain, imports
the *same* pickled forests into forest2onnx (falling back to a synthetic forest
of the same node count if the importer fails) and measures forest2onnx through
`benches/side.rs` (built by `cargo bench --no-run --bench side`). Every
measurement runs in its own process; peak memory is that process's own
VmHWM.

    .venv/bin/python benches/compare.py                      # reference: 500 and 200 trees, 100k x 20
    .venv/bin/python benches/compare.py --trees 50 --rows 20000 --predict-rows 5000   # smoke test
    .venv/bin/python benches/compare.py --only treelite lightgbm   # the fastest tree runtimes only

`--only treelite` / `--only lightgbm` run the sections of `runtimes.py`:
treelite's GTIL and tl2cgen's compiled code, and lleaves and LightGBM,
against the IR's predict on the same model, their outputs checked to agree.

Results go to target/bench-compare/ (results-*.json; the markdown tables go
to stdout). Trained models are cached there and reused (--retrain to train
again); --reuse-python re-measures only forest2onnx.
"""

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---------------------------------------------------------------------------
# Children: each measurement runs in a fresh interpreter.
# ---------------------------------------------------------------------------


def status(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM) in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def rss_now():
    return status("VmRSS")


def reset_peak():
    """Resets VmHWM to the current RSS, so that the peak measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def child(task):
    import numpy as np

    kind = task["kind"]
    if kind in ("train_shallow", "train_lightgbm", "train_xgboost", "engine"):
        sys.path.insert(0, HERE)
        import runtimes

        out = runtimes.child(task)
        out["vmhwm"] = status("VmHWM")
        json.dump(out, sys.stdout)
        return
    out = {}
    # Imports are not part of any timing.
    import sklearn.ensemble  # noqa: F401
    import sklearn.tree  # noqa: F401

    if kind == "train":
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier

        n = task["rows"] + task["predict_rows"]
        x, y = make_classification(
            n_samples=n,
            n_features=task["features"],
            n_informative=task["informative"],
            n_redundant=2,
            n_classes=task["classes"],
            class_sep=task["class_sep"],
            random_state=0,
        )
        x = x.astype(np.float32)
        x_train, y_train = x[: task["rows"]], y[: task["rows"]]
        x_test = x[task["rows"]:]
        x_test.astype("<f4").tofile(task["rows_file"])
        t0 = time.perf_counter()
        rf = RandomForestClassifier(
            n_estimators=max(task["trees"]), n_jobs=-1, random_state=0
        ).fit(x_train, y_train)
        out["train_s"] = time.perf_counter() - t0
        for trees, path in zip(task["trees"], task["models"]):
            model = rf
            if trees != len(rf.estimators_):
                # The first `trees` trees of the big forest: the same as
                # training a smaller forest with this seed, without the wait.
                import copy

                model = copy.copy(rf)
                model.estimators_ = rf.estimators_[:trees]
                model.n_estimators = trees
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
            out[f"nodes_{trees}"] = int(sum(e.tree_.node_count for e in model.estimators_))
            out[f"max_depth_{trees}"] = int(max(e.tree_.max_depth for e in model.estimators_))
            with open(path + ".json", "w") as f:
                json.dump({"nodes": out[f"nodes_{trees}"], "max_depth": out[f"max_depth_{trees}"]}, f)
    elif kind == "skl2onnx":
        from skl2onnx import to_onnx

        model = load_pickle(task["model"])
        out["rss_before"] = rss_now()
        reset_peak()
        x1 = np.zeros((1, model.n_features_in_), dtype=np.float32)
        t0 = time.perf_counter()
        # No ZipMap: tract has none, and onnxruntime is faster without it.
        onx = to_onnx(model, x1, options={type(model): {"zipmap": False}})
        out["to_onnx_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        data = onx.SerializeToString()
        out["serialize_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with open(task["out"], "wb") as f:
            f.write(data)
        out["write_s"] = time.perf_counter() - t0
        out["onnx_bytes"] = len(data)
        out["opsets"] = {o.domain or "ai.onnx": o.version for o in onx.opset_import}
        out["peak_after_load"] = status("VmHWM")
    elif kind == "pickle_dump":
        model = load_pickle(task["model"])
        t0 = time.perf_counter()
        with open(task["out"], "wb") as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
        out["dump_s"] = time.perf_counter() - t0
        out["bytes"] = os.path.getsize(task["out"])
    elif kind == "pickle_load":
        t0 = time.perf_counter()
        load_pickle(task["model"])
        out["load_s"] = time.perf_counter() - t0
    elif kind == "joblib_dump":
        import joblib

        model = load_pickle(task["model"])
        t0 = time.perf_counter()
        joblib.dump(model, task["out"], compress=3)
        out["dump_s"] = time.perf_counter() - t0
        out["bytes"] = os.path.getsize(task["out"])
    elif kind == "joblib_load":
        import joblib

        t0 = time.perf_counter()
        joblib.load(task["path"])
        out["load_s"] = time.perf_counter() - t0
    elif kind == "ort":
        import onnxruntime as ort

        x = np.fromfile(task["rows_file"], dtype="<f4").reshape(-1, task["features"])
        for name, threads in (("1_thread", 1), ("all_threads", 0)):
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = threads
            t0 = time.perf_counter()
            sess = ort.InferenceSession(
                task["onnx"], so, providers=["CPUExecutionProvider"]
            )
            session_s = time.perf_counter() - t0
            if name == "1_thread":
                out["session_s"] = session_s
                out["session_peak_rss"] = peak_rss_self()
            inp = sess.get_inputs()[0].name
            outputs = [o.name for o in sess.get_outputs()][:2]
            sess.run(outputs, {inp: x[:100]})
            best = None
            for _ in range(task["repeat"]):
                t0 = time.perf_counter()
                sess.run(outputs, {inp: x})
                s = time.perf_counter() - t0
                best = s if best is None else min(best, s)
            out[f"rows_per_s_{name}"] = len(x) / best
    elif kind == "sklearn_predict":
        model = load_pickle(task["model"])
        x = np.fromfile(task["rows_file"], dtype="<f4").reshape(-1, model.n_features_in_)
        for name, jobs in (("1_thread", 1), ("all_threads", -1)):
            model.n_jobs = jobs
            model.predict_proba(x[:100])
            best = None
            for _ in range(task["repeat"]):
                t0 = time.perf_counter()
                model.predict_proba(x)
                s = time.perf_counter() - t0
                best = s if best is None else min(best, s)
            out[f"rows_per_s_{name}"] = len(x) / best
    elif kind == "versions":
        import platform as pf

        out["python"] = pf.python_version()
        import importlib.metadata

        for mod in ("numpy", "sklearn", "skl2onnx", "onnxruntime", "joblib", "onnx", "treelite",
                    "tl2cgen", "lleaves", "lightgbm", "llvmlite"):
            try:
                out[mod] = importlib.metadata.version("scikit-learn" if mod == "sklearn" else mod)
            except Exception:  # noqa: BLE001 - informational only
                out[mod] = None
    else:
        raise SystemExit(f"unknown task {kind}")
    # The peak of this process image (VmHWM is reset by exec, unlike
    # ru_maxrss, which a forked child inherits from its parent).
    out["vmhwm"] = status("VmHWM")
    json.dump(out, sys.stdout)


def load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def peak_rss_self():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------
# Parent: orchestration and the table.
# ---------------------------------------------------------------------------


def run(cmd, label):
    """Runs `cmd`, returns (its JSON output, peak RSS bytes, wall seconds)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    stdout = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.stdout.close()
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label} failed: {' '.join(cmd)}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    # ru_maxrss counts the parent's image the child was forked from; the
    # child's own VmHWM does not.
    result["peak_rss"] = result.get("vmhwm") or usage.ru_maxrss * 1024
    result["wall_s"] = wall
    print(f"  {label}: {wall:.1f}s", file=sys.stderr, flush=True)
    return result


def py(task, label, repeat=1):
    """Runs a Python child `repeat` times; numeric results are medians."""
    runs = [
        run([sys.executable, os.path.abspath(__file__), "_child", json.dumps(task)], label)
        for _ in range(repeat)
    ]
    return median_dict(runs)


def rust(binary, args, label):
    return run([binary] + args, label)


def median_dict(runs):
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals = sorted(r[k] for r in runs)
            out[k] = vals[len(vals) // 2]
    return out


def machine():
    info = {"nproc": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    # In a child: this process stays small, so its children's peaks are theirs.
    versions = py({"kind": "versions"}, "versions")
    for k in ("vmhwm", "peak_rss", "wall_s"):
        versions.pop(k, None)
    try:
        versions["rustc"] = subprocess.check_output(["rustc", "-V"], text=True).strip()
        versions["forest2onnx_git"] = subprocess.check_output(
            ["git", "rev-parse", "--short", "HEAD"], text=True, cwd=ROOT
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    info["versions"] = versions
    return info


PYTHON_STEPS = ("skl2onnx", "pickle_dump", "pickle_load", "joblib_dump", "joblib_load",
                "sklearn_predict", "ort_skl2onnx")


def measure(args, trees, model, rows_file, binary, out_dir, previous):
    tag = f"{trees}"
    p = lambda name: os.path.join(out_dir, f"{name}-{tag}")  # noqa: E731
    r = {"trees": trees}
    print(f"== {trees} trees", file=sys.stderr)
    if all(k in previous for k in PYTHON_STEPS):
        print("  reusing the Python tool chain's results", file=sys.stderr)
        r.update({k: previous[k] for k in PYTHON_STEPS})
        r["python_reused"] = True
    else:
        measure_python(args, model, rows_file, p, r)
    measure_rust(args, trees, model, rows_file, binary, p, r)
    return r


def measure_python(args, model, rows_file, p, r):
    r["skl2onnx"] = py(
        {"kind": "skl2onnx", "model": model, "out": p("skl2onnx") + ".onnx"}, "skl2onnx"
    )
    r["pickle_dump"] = py(
        {"kind": "pickle_dump", "model": model, "out": p("model") + ".pkl"}, "pickle dump"
    )
    r["pickle_load"] = py(
        {"kind": "pickle_load", "model": p("model") + ".pkl"}, "pickle load", args.repeat
    )
    r["joblib_dump"] = py(
        {"kind": "joblib_dump", "model": model, "out": p("model") + ".joblib"}, "joblib dump"
    )
    r["joblib_load"] = py(
        {"kind": "joblib_load", "path": p("model") + ".joblib"}, "joblib load", args.repeat
    )
    r["sklearn_predict"] = py(
        {"kind": "sklearn_predict", "model": model, "rows_file": rows_file, "repeat": args.repeat},
        "scikit-learn predict_proba",
    )
    ort_task = {
        "kind": "ort",
        "features": args.features,
        "rows_file": rows_file,
        "repeat": args.repeat,
    }
    r["ort_skl2onnx"] = py({**ort_task, "onnx": p("skl2onnx") + ".onnx"}, "onnxruntime (skl2onnx file)")


def measure_rust(args, trees, model, rows_file, binary, p, r):
    ort_task = {
        "kind": "ort",
        "features": args.features,
        "rows_file": rows_file,
        "repeat": args.repeat,
    }
    # forest2onnx: the same forest, imported from the pickle.
    forest = p("forest") + ".forest"
    try:
        r["import"] = rust(binary, ["import", "--joblib", model, "--out", forest], "import")
        r["forest_source"] = "imported from the scikit-learn pickle"
    except RuntimeError:
        with open(model + ".json") as f:
            per_tree = json.load(f)["nodes"] // trees
        r["import"] = rust(
            binary,
            ["synth", "--trees", str(trees), "--nodes-per-tree", str(per_tree),
             "--features", str(args.features), "--classes", str(args.classes), "--out", forest],
            "synth (import failed)",
        )
        r["forest_source"] = "synthetic, same node count (import failed)"
    ours = p("forest2onnx") + ".onnx"
    rep = ["--repeat", str(args.repeat)]
    r["export"] = rust(binary, rep + ["export", "--forest", forest, "--out", ours], "forest2onnx export")
    r["store"] = rust(binary, rep + ["store", "--forest", forest, "--dir", p("store")], "native store")
    r["tract"] = rust(
        binary,
        rep + ["tract", "--onnx", ours, "--rows-file", rows_file, "--features", str(args.features)],
        "tract",
    )
    try:
        r["tract_skl2onnx"] = rust(
            binary,
            rep + ["tract", "--onnx", p("skl2onnx") + ".onnx", "--rows-file", rows_file,
                   "--features", str(args.features)],
            "tract (skl2onnx file)",
        )
    except RuntimeError as e:
        r["tract_skl2onnx"] = {"error": str(e)}
    r["predict"] = rust(
        binary, rep + ["predict", "--forest", forest, "--rows-file", rows_file], "IR predict"
    )
    r["ort_ours"] = py({**ort_task, "onnx": ours}, "onnxruntime (forest2onnx file)")


def fmt_s(s):
    return "—" if s is None else (f"{s:.3g} s" if s >= 0.01 else f"{s * 1e3:.3g} ms")


def fmt_b(b):
    return "—" if b is None else f"{b / 1e6:,.1f} MB"


def fmt_r(r):
    return "—" if r is None else f"{r / 1e3:,.1f} k rows/s"


def table(r):
    s2o, ex, st = r["skl2onnx"], r["export"], r["store"]
    n = ex["n_nodes"]
    skl_convert = s2o["to_onnx_s"] + s2o["serialize_s"] + s2o["write_s"]
    rows = []

    def row(what, theirs, ours, ratio, target=""):
        rows.append((what, theirs, ours, ratio, target))

    def x(a, b):
        return "—" if not a or not b else f"{a / b:,.1f}×"

    row("IR/model → ONNX file (time)", f"skl2onnx {fmt_s(skl_convert)} (to_onnx {fmt_s(s2o['to_onnx_s'])})",
        fmt_s(ex["export_s"]), x(skl_convert, ex["export_s"]) + " faster", "≥ 100× faster")
    row("… vs writing the same bytes (both with fsync)", "", f"{fmt_s(ex['write_same_bytes_s'])} (write + fsync)",
        x(ex["export_s"], ex["write_same_bytes_s"]), "≤ 2×")
    row("… vs writing the same bytes (page cache, no fsync)", "",
        f"{fmt_s(ex['write_to_file_nosync_s'])} vs {fmt_s(ex['write_same_bytes_nosync_s'])} (fs::write)",
        x(ex["write_to_file_nosync_s"], ex["write_same_bytes_nosync_s"]), "≤ 2×")
    row("IR → ONNX bytes in memory", "", fmt_s(ex["to_bytes_s"]), "", "")
    # Peaks from the end of loading the model to the end of the conversion
    # (model in memory + conversion).
    theirs, ours = s2o["peak_after_load"], ex["peak_rss_export"]
    row("Peak memory of the conversion (model loaded + conversion)", fmt_b(theirs), fmt_b(ours),
        x(theirs, ours) + " less", "")
    row("… ours / our ONNX size", "", f"{fmt_b(ours)} / {fmt_b(ex['onnx_bytes'])}",
        x(ours, ex["onnx_bytes"]), "≤ 2×")
    row("… conversion's own memory (peak − IR loaded)", "", fmt_b(ours - ex["rss_before_export"]), "", "")
    row("… the IR in memory (RSS after loading it)", "", fmt_b(ex["rss_before_export"]), "", "")
    row("ONNX size", fmt_b(s2o["onnx_bytes"]), fmt_b(ex["onnx_bytes"]),
        x(ex["onnx_bytes"], s2o["onnx_bytes"]), "")
    row("ONNX bytes per node", f"{s2o['onnx_bytes'] / n:.1f}", f"{ex['bytes_per_node']:.1f}",
        f"{ex['bytes_per_node'] / (s2o['onnx_bytes'] / n):.2f}×", "≤ 0.7×")
    row("pickle dump / load / size", f"{fmt_s(r['pickle_dump']['dump_s'])} / {fmt_s(r['pickle_load']['load_s'])} / {fmt_b(r['pickle_dump']['bytes'])}",
        f"native level 0: {fmt_s(st['save_level0_s'])} / {fmt_s(st['load_level0_s'])} / {fmt_b(st['file_level0_bytes'])}",
        x(r["pickle_load"]["load_s"], st["load_level0_s"]) + " faster load", "")
    row("mmap open (level 0)", "", fmt_s(st["mmap_open_s"]),
        x(r["pickle_load"]["load_s"], st["mmap_open_s"]) + " faster than pickle load", "")
    row("joblib compress=3: dump", fmt_s(r["joblib_dump"]["dump_s"]),
        f"native level 3: {fmt_s(st['save_level3_s'])}", x(r["joblib_dump"]["dump_s"], st["save_level3_s"]) + " faster", "")
    row("joblib compress=3: load", fmt_s(r["joblib_load"]["load_s"]), fmt_s(st["load_level3_s"]),
        x(r["joblib_load"]["load_s"], st["load_level3_s"]) + " faster", "≥ 10× faster")
    row("joblib compress=3: file size", fmt_b(r["joblib_dump"]["bytes"]), fmt_b(st["file_level3_bytes"]),
        x(st["file_level3_bytes"], r["joblib_dump"]["bytes"]), "≤ 1×")
    ort, ortours, tr = r["ort_skl2onnx"], r["ort_ours"], r["tract"]
    row("onnxruntime session vs tract load+optimise (our file)", fmt_s(ortours["session_s"]),
        fmt_s(tr["load_optimise_s"]), x(ortours["session_s"], tr["load_optimise_s"]) + " faster", "≥ 1×")
    row("… onnxruntime session on skl2onnx's file", fmt_s(ort["session_s"]), "", "", "")
    row("1-thread inference: onnxruntime vs tract (our file)", fmt_r(ortours["rows_per_s_1_thread"]),
        fmt_r(tr["rows_per_s_1_thread"]), x(tr["rows_per_s_1_thread"], ortours["rows_per_s_1_thread"]), "≥ 1×")
    row("… onnxruntime 1 thread on skl2onnx's file", fmt_r(ort["rows_per_s_1_thread"]), "", "", "")
    row("all-thread inference: onnxruntime vs tract (our file)", fmt_r(ortours["rows_per_s_all_threads"]),
        fmt_r(tr["rows_per_s_all_threads"]), x(tr["rows_per_s_all_threads"], ortours["rows_per_s_all_threads"]), "")
    ts = r.get("tract_skl2onnx", {})
    if "load_optimise_s" in ts:
        row("tract on skl2onnx's file: load / 1-thread rows/s", "",
            f"{fmt_s(ts['load_optimise_s'])} / {fmt_r(ts['rows_per_s_1_thread'])}", "", "")
    sk, pr = r["sklearn_predict"], r["predict"]
    row("predict_proba 1 thread: scikit-learn vs IR predict", fmt_r(sk["rows_per_s_1_thread"]),
        fmt_r(pr["rows_per_s_1_thread"]), x(pr["rows_per_s_1_thread"], sk["rows_per_s_1_thread"]), "≥ 2×")
    row("predict_proba all threads: scikit-learn vs IR predict", fmt_r(sk["rows_per_s_all_threads"]),
        fmt_r(pr["rows_per_s_all_threads"]), x(pr["rows_per_s_all_threads"], sk["rows_per_s_all_threads"]), "")
    lines = [
        f"### {r['trees']} trees, {n:,} nodes ({r['forest_source']})",
        "",
        "| measurement | Python tool chain | forest2onnx | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(lines)


def side_binary(out, no_build):
    """The path of the `side` bench binary (built unless `no_build`); cargo
    names it with a hash, so the path of the last build is kept in `out`."""
    remembered = os.path.join(out, "side-binary.txt")
    if no_build:
        with open(remembered) as f:
            return f.read().strip()
    proc = subprocess.run(
        ["cargo", "bench", "--no-run", "--bench", "side", "--message-format=json-render-diagnostics"],
        cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "side" \
                and msg.get("executable"):
            with open(remembered, "w") as f:
                f.write(msg["executable"])
            return msg["executable"]
    sys.exit("cargo built no `side` bench binary")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "_child":
        child(json.loads(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trees", type=int, nargs="+", default=[500, 200],
                    help="forest sizes; smaller ones are the first trees of the largest")
    ap.add_argument("--rows", type=int, default=100_000, help="training rows")
    ap.add_argument("--predict-rows", type=int, default=100_000, help="rows for the prediction timings")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--informative", type=int, default=10)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--class-sep", type=float, default=1.1,
                    help="make_classification's class_sep; 1.1 grows ~13.7k nodes per tree on 100k rows")
    ap.add_argument("--reuse-python", action="store_true",
                    help="reuse the Python tool chain's results of the last run (same configuration)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per quick timing (median)")
    # Under target/ (git-ignored): the models and ONNX files weigh gigabytes.
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench-compare"))
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--no-build", action="store_true",
                    help="use the side binary of the last build instead of building it")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                    help="sections to run: the full-depth forests against the Python tool chain "
                         "(forests), treelite GTIL and tl2cgen (treelite), lleaves and LightGBM "
                         "(lightgbm); default: all")
    ap.add_argument("--tl-trees", type=int, default=100, help="trees of the treelite section's forest")
    ap.add_argument("--tl-depth", type=int, default=8,
                    help="max_depth of the treelite section's forest (tl2cgen's gcc build grows "
                         "with the node count: 100 trees of depth 12 did not build in 9.5 min)")
    ap.add_argument("--tl-parallel-comp", type=int, default=8,
                    help="tl2cgen's parallel_comp: C files the trees are split into")
    ap.add_argument("--lgbm-rounds", type=int, default=200, help="LightGBM boosting rounds")
    ap.add_argument("--lgbm-leaves", type=int, default=31, help="LightGBM num_leaves")
    ap.add_argument("--engine-repeat", type=int, default=5,
                    help="runs per engine in the treelite and lightgbm sections (best of)")
    ap.add_argument("--report", metavar="RESULTS_JSON",
                    help="print the tables of an earlier run's results file and exit")
    args = ap.parse_args()
    if args.report:
        report(args.report)
        return
    os.makedirs(args.out, exist_ok=True)

    cached = []

    def get_binary():
        if not cached:
            cached.append(side_binary(args.out, args.no_build))
        return cached[0]

    if "forests" in args.only:
        get_binary()

    trees = sorted(set(args.trees), reverse=True)
    stem = f"rf-{args.rows}x{args.features}-c{args.classes}-i{args.informative}-s{args.class_sep}"
    models = [os.path.join(args.out, f"{stem}-{t}.pkl") for t in trees]
    rows_file = os.path.join(args.out, f"{stem}-test{args.predict_rows}.f32")
    if "forests" in args.only and (
            args.retrain or not all(os.path.exists(m) for m in models + [rows_file])):
        train = py({"kind": "train", "rows": args.rows, "predict_rows": args.predict_rows,
                    "features": args.features, "informative": args.informative,
                    "classes": args.classes, "class_sep": args.class_sep,
                    "trees": trees, "models": models,
                    "rows_file": rows_file}, "train")
        print(f"  trained in {train['train_s']:.0f}s: "
              + ", ".join(f"{t} trees {train[f'nodes_{t}']:,} nodes" for t in trees), file=sys.stderr)
    info = machine()
    results_path = os.path.join(args.out, f"results-{stem}.json")
    previous = {}
    if args.reuse_python and os.path.exists(results_path):
        with open(results_path) as f:
            previous = {r["trees"]: r for r in json.load(f)["runs"]}
    results = {"machine": info, "args": vars(args), "command": " ".join(sys.argv), "runs": [],
               "runtimes": [], "load_before": load_average()}
    if "forests" in args.only:
        for t, model in zip(trees, models):
            r = measure(args, t, model, rows_file, get_binary(), args.out, previous.get(t, {}))
            results["runs"].append(r)
            with open(results_path, "w") as f:
                json.dump(results, f, indent=1)
    else:
        # The other sections alone: their own file, the forests' results stay.
        results_path = os.path.join(args.out, f"results-{stem}-runtimes.json")
    sys.path.insert(0, HERE)
    import runtimes

    data = {"rows": args.rows, "predict_rows": args.predict_rows, "features": args.features,
            "informative": args.informative, "classes": args.classes, "class_sep": args.class_sep}
    steps = [runtimes.measure(args, py, rust, get_binary, {"stem": stem, "data": data}, rows_file, s)
             for s in SECTIONS[1:] if s in args.only]
    for step in steps:
        next(step)
    for step in steps:
        r = next(step)
        r["load_after"] = load_average()
        results["runtimes"].append(r)
        with open(results_path, "w") as f:
            json.dump(results, f, indent=1)
    print(f"Machine: {info.get('cpu')}, {info['nproc']} CPUs, {info.get('mem_total_gib')} GiB; "
          f"versions: {json.dumps(info['versions'])}")
    print(f"Command: {' '.join(sys.argv)}")
    print(f"Load average (1, 5, 15 min) before: {results['load_before']}\n")
    for r in results["runs"]:
        print(table(r) + "\n")
    failures = []
    for r in results["runtimes"]:
        print(runtimes.table(r))
        print(f"\nLoad average after this section: {r['load_after']}\n")
        failures += [f for f in [runtimes.check(r)] if f]
    if failures:
        sys.exit("\n".join(failures))


SECTIONS = ("forests", "treelite", "lightgbm")


def report(path):
    sys.path.insert(0, HERE)
    import runtimes

    with open(path) as f:
        results = json.load(f)
    print(f"Command: {results['command']}")
    print(f"Load average (1, 5, 15 min) before: {results.get('load_before')}\n")
    for r in results["runs"]:
        print(table(r) + "\n")
    for r in results.get("runtimes", []):
        print(runtimes.table(r))
        print(f"\nLoad average after this section: {r.get('load_after')}\n")


def load_average():
    return [round(v, 2) for v in os.getloadavg()]


if __name__ == "__main__":
    main()
