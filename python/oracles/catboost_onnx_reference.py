"""CatBoost's own ONNX export against CatBoost's predict, and forest2onnx's.

    python catboost_onnx_reference.py FIXTURE_DIR [--ours PATH_TO_forest2onnx]
        [--no-catboost] [--check]

For every ``NAME.cbm`` with ``NAME.expected.json`` in FIXTURE_DIR (made by
``make_catboost_fixtures.py``): save it with ``save_model(format="onnx")``
(or record the refusal), run it in onnxruntime on the fixture's rows as
float32 and compare with CatBoost's own outputs; with ``--ours``, do the
same for ``forest2onnx convert NAME.cbm``. Prints a Markdown table: label
mismatches and the largest relative deviation of the outputs CatBoost's
``predict``/``predict_proba`` return. ``--no-catboost`` leaves CatBoost's
export out (no CatBoost needed: the expected outputs are the fixture's);
``--check`` exits 1 unless every model converts with 0 label mismatches
and every output within 1e-5 relative (1e-6 absolute near zero).
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime as ort

ort.set_default_logger_severity(3)

TOLERANCE = 1e-5


def load_expected(path):
    with open(path) as f:
        doc = json.load(f)

    def m(v):
        a = np.array([[np.nan if x is None else float(x) for x in r] for r in v])
        return a

    return doc, m(doc["rows"])


def target(doc):
    """What predict returns, as a matrix, and the labels (or None)."""
    if "proba" in doc:
        return np.array(doc["proba"], dtype=float), doc["predict"]
    if "exponent" in doc:
        return np.array(doc["exponent"], dtype=float), None
    return np.array(doc["predict"], dtype=float), None


def run(path, rows):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs = sess.run(None, {name: rows.astype(np.float32)})
    return {o.name: v for o, v in zip(sess.get_outputs(), outs)}


def rel(a, b):
    """Largest |a - b| / max(|b|, 0.1): relative, absolute near zero."""
    a = np.asarray(a, dtype=float).reshape(b.shape)
    d = np.abs(a - b)
    return float(np.max(d / np.maximum(np.abs(b), 0.1))) if d.size else 0.0


def compare(outs, doc):
    want, labels = target(doc)
    probs = outs.get("probabilities")
    if isinstance(probs, list):  # a ZipMap: list of {label: p}
        probs = np.array([[row[k] for k in sorted(row)] for row in probs])
    values = probs if probs is not None else outs.get("variable", outs.get("predictions"))
    if values is None:
        values = next(v for k, v in outs.items() if k not in ("label",))
    values = np.asarray(values, dtype=float)
    if values.shape != want.shape:
        values = values.reshape(len(want), -1)
        if values.shape != want.shape:
            return "shape %s vs %s" % (values.shape, want.shape), None
    mism = None
    if labels is not None and "label" in outs:
        got = [str(x.decode() if isinstance(x, bytes) else x) for x in outs["label"]]
        exp = [str(int(x)) if isinstance(x, float) else str(x) for x in labels]
        got = [g[:-2] if g.endswith(".0") else g for g in got]
        mism = sum(g != e for g, e in zip(got, exp))
    return rel(values, want), mism


def theirs(cbm, rows, doc):
    from catboost import CatBoost

    model = CatBoost()
    model.load_model(cbm)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "m.onnx")
        try:
            model.save_model(out, format="onnx")
        except Exception as e:  # CatBoost refuses
            return "refused: " + str(e).strip().splitlines()[-1][:90], None
        try:
            return compare(run(out, rows), doc)
        except Exception as e:
            return "onnxruntime: " + str(e).splitlines()[0][:90], None


def ours(binary, cbm, rows, doc):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "m.onnx")
        p = subprocess.run([binary, "convert", cbm, "-o", out], capture_output=True, text=True)
        if p.returncode != 0:
            return "refused: " + p.stderr.strip().splitlines()[-1][:90], None
        return compare(run(out, rows), doc)


def fmt(r):
    value, mism = r
    if isinstance(value, str):
        return value, "-"
    return "%.1e" % value, "-" if mism is None else str(mism)


def cases(root):
    """(version, case, directory) of every fixture under ROOT/VERSION/."""
    for version in sorted(os.listdir(root)):
        d = os.path.join(root, version)
        if os.path.isdir(d):
            for name in sorted(os.listdir(d)):
                if name.endswith(".expected.json"):
                    yield version, name[: -len(".expected.json")], d


def main():
    root = sys.argv[1]
    binary = sys.argv[sys.argv.index("--ours") + 1] if "--ours" in sys.argv else None
    with_catboost = "--no-catboost" not in sys.argv
    failures, models, rows_total = [], 0, 0
    print("| version | model | rows | CatBoost ONNX max rel | labels ≠ | forest2onnx max rel | labels ≠ |")
    print("|---|---|---|---|---|---|---|")
    for version, case, d in cases(root):
        cbm = os.path.join(d, case + ".cbm")
        doc, rows = load_expected(os.path.join(d, case + ".expected.json"))
        t = fmt(theirs(cbm, rows, doc)) if with_catboost else ("", "")
        o = ("", "")
        if binary:
            result = ours(binary, cbm, rows, doc)
            o = fmt(result)
            value, mism = result
            models += 1
            rows_total += len(rows)
            if isinstance(value, str) or value > TOLERANCE or (mism or 0) > 0:
                failures.append(f"{version} {case}: {o}")
        print(f"| {version} | {case} | {len(rows)} | {t[0]} | {t[1]} | {o[0]} | {o[1]} |")
    if binary:
        print(f"forest2onnx: {models} models, {rows_total} rows, {len(failures)} failures")
    if "--check" in sys.argv and failures:
        print("\n".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
