"""forest2onnx's ONNX of the booster fixtures against the libraries' own
predictions, in onnxruntime (1 thread and default threads) and in tract.

    python booster_ours.py FIXTURES_ROOT FOREST2ONNX_BINARY [--json OUT.json] [--check]
                           [--jobs N] [--no-validate] [--by-objective] [--load OUT.json]

For every ``*.expected.json`` under ``FIXTURES_ROOT/xgboost`` and
``FIXTURES_ROOT/lightgbm`` and every model file it names (XGBoost cases
have a JSON and a UBJSON file), at both precisions:

* ``float``: ``forest2onnx convert MODEL -o M.onnx`` (the default export:
  float32 inputs, ai.onnx.ml opset 1, validated in tract by the binary);
* ``double``: ``forest2onnx convert MODEL -o M.onnx --precision double
  --ml-opset 3``;

then ``onnx.checker.check_model(full_check=True)``, onnxruntime with
``intra_op_num_threads`` 1 and 0 (its default: one per core), and tract
through ``forest2onnx predict M.onnx --data ROWS.csv`` on the fixture rows,
each compared with the library (see ``booster_compare.library_prediction``:
LightGBM float models with LightGBM on the same float32 values). Prints a
Markdown table per precision with the columns of ``booster_onnxmltools.py``
and the models forest2onnx refuses, with its error.

``--check`` exits 1 unless every conversion succeeded, passed the checker
and every runtime has 0 label mismatches and 0 rows beyond 1e-5 relative /
1e-6 absolute (what ``tests/it/booster_onnx.rs`` asserts).
"""

import argparse
import csv
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from booster_compare import (  # noqa: E402
    as_predict, cases, compare, first_line, library_prediction, markdown_table,
    refused_files, summarise, totals)

RUNNERS = ("ort 1 thread", "ort default", "tract")
PRECISIONS = {
    "float": [],
    "double": ["--precision", "double", "--ml-opset", "3"],
}


class ConvertError(Exception):
    """forest2onnx refused or failed: its stderr, without the `error:` prefix."""


def convert(binary, model, out, flags):
    p = subprocess.run([binary, "--quiet", "convert", model, "-o", out] + flags,
                       capture_output=True, text=True)
    if p.returncode != 0:
        msg = " ".join(line.strip() for line in p.stderr.strip().splitlines())
        raise ConvertError("exit %d: %s" % (p.returncode, msg.removeprefix("error: ")))


def run_ort(path, rows, threads):
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # no shape warnings on stderr
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    s = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    x = rows.astype(np.float64 if inp.type == "tensor(double)" else np.float32)
    names = [o.name for o in s.get_outputs()]
    out = dict(zip(names, s.run(names, {inp.name: x})))
    values = out["probabilities"] if "probabilities" in out else out["variable"]
    return values, out.get("label")


def write_rows_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["col_%d" % j for j in range(rows.shape[1])])
        for r in rows:
            w.writerow(["" if np.isnan(v) else repr(float(v)) for v in r])


def run_tract(binary, onnx_path, rows_csv):
    p = subprocess.run([binary, "--quiet", "predict", onnx_path, "--data", rows_csv],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip().splitlines()[-1])
    table = list(csv.reader(p.stdout.splitlines()))
    header, body = table[0], table[1:]
    labelled = header[0] == "label"
    values = np.array([[float(v) for v in r[1 if labelled else 0:]] for r in body])
    labels = np.array([float(r[0]) for r in body]) if labelled else None
    return values, labels


def check_model(path):
    import onnx

    onnx.checker.check_model(onnx.load(path), full_check=True)


def run_file(binary, lib, model, exp, tmp, extra):
    """Figures of every runtime at both precisions for one model file."""
    objective = exp["meta"]["objective"]
    entry = {}
    for precision, flags in PRECISIONS.items():
        onnx_path = os.path.join(tmp, "m_%s.onnx" % precision)
        rows_csv = os.path.join(tmp, "rows_%s.csv" % precision)
        t0 = time.perf_counter()
        try:
            convert(binary, model, onnx_path, flags + extra)
            check_model(onnx_path)
        except Exception as e:  # noqa: BLE001 - a refusal is a finding
            for name in RUNNERS:
                entry["%s %s" % (precision, name)] = {"error": first_line(e)}
            continue
        entry["%s convert seconds" % precision] = time.perf_counter() - t0
        rows, expected = library_prediction(lib, model, exp, precision == "float")
        write_rows_csv(rows_csv, rows)
        for name in RUNNERS:
            key = "%s %s" % (precision, name)
            try:
                if name == "tract":
                    values, labels = run_tract(binary, onnx_path, rows_csv)
                else:
                    values, labels = run_ort(onnx_path, rows, 1 if name == "ort 1 thread" else 0)
                got = as_predict(values, labels, objective, expected)
                entry[key] = compare(got, labels, expected, objective)
            except Exception as e:  # noqa: BLE001
                entry[key] = {"error": first_line(e)}
    return entry


def run_all(root, binary, jobs=1, extra=()):
    """(figures per model file, (library, version, file, error) per refused
    model). ``jobs`` model files at once (the work is in subprocesses and
    onnxruntime, which release the GIL)."""
    work = [(lib, version, d, exp, f) for lib, version, d, exp in cases(root)
            for f in exp["meta"]["files"]]

    def one(item):
        lib, version, d, exp, f = item
        entry = {"library": lib, "version": version, "case": exp["meta"]["case"],
                 "objective": exp["meta"]["objective"], "file": f}
        with tempfile.TemporaryDirectory() as tmp:
            entry.update(run_file(binary, lib, os.path.join(d, f), exp, tmp, list(extra)))
        return entry

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, work))
    refused = []
    with tempfile.TemporaryDirectory() as tmp:
        for lib, version, path in refused_files(root):
            try:
                convert(binary, path, os.path.join(tmp, "refused.onnx"), [])
                refused.append((lib, version, os.path.basename(path), "CONVERTED (not refused)"))
            except ConvertError as e:
                refused.append((lib, version, os.path.basename(path), str(e)))
    return results, refused


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("binary")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--by-objective", action="store_true",
                    help="one table line per library and objective (all versions together)")
    ap.add_argument("--jobs", type=int, default=1, help="model files run at once")
    ap.add_argument("--no-validate", action="store_true",
                    help="convert with --no-validate (skip the binary's own tract check)")
    ap.add_argument("--load", metavar="OUT.json",
                    help="print the tables of an earlier --json run instead of running")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 on any failure, label mismatch or row beyond tolerance")
    args = ap.parse_args()
    started = time.perf_counter()
    if args.load:
        with open(args.load) as fh:
            doc = json.load(fh)
        results, refused = doc["results"], doc["refused"]
    else:
        results, refused = run_all(args.root, args.binary, args.jobs,
                                    ["--no-validate"] if args.no_validate else [])
    problems = []
    for precision in PRECISIONS:
        runners = ["%s %s" % (precision, n) for n in RUNNERS]
        groups = summarise(results, runners, by_version=not args.by_objective)
        print("\n### forest2onnx, %s export (onnxruntime 1 thread / onnxruntime default "
              "threads / tract)\n" % precision)
        print(markdown_table(groups, runners))
        print(markdown_table(totals(groups, runners), runners).split("\n", 2)[2])
        for r in results:
            for name in runners:
                fig = r.get(name, {})
                where = "%s %s %s %s" % (r["library"], r["version"], r["file"], name)
                if "error" in fig:
                    problems.append("%s: %s" % (where, fig["error"]))
                elif fig.get("rows_off") or fig.get("label_mismatches"):
                    problems.append("%s: %d rows off, %d labels differ (max rel %.1e, abs %.1e)"
                                    % (where, fig["rows_off"], fig.get("label_mismatches", 0),
                                       fig["max_rel"], fig["max_abs"]))
    print("\n### Refused by forest2onnx\n")
    print("| library | version | file | error |\n|---|---|---|---|")
    for lib, version, name, msg in refused:
        print("| %s | %s | %s | %s |" % (lib, version, name, msg.replace("|", "\\|")))
        if msg.startswith("CONVERTED"):
            problems.append("%s %s %s was converted, not refused" % (lib, version, name))
    print("\n%d model files, %.1f s" % (len(results), time.perf_counter() - started))
    if problems:
        print("\nProblems:\n" + "\n".join(problems))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"results": results, "refused": refused}, fh, indent=1)
    if args.check and problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
