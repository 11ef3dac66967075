"""forest2onnx against skl2onnx on the committed scikit-learn fixtures.

    python compare_converters.py FIXTURE_DIR FOREST2ONNX_BINARY

For every model of FIXTURE_DIR/manifest.json (written by
python/fixtures/sklearn_estimators.py: models the test suite generated itself, so
loading them with joblib is safe), this converts the first saved file
  * with skl2onnx (float32 input, ai.onnx.ml opset 3, no ZipMap), and
  * with forest2onnx (`convert --no-validate`, float; and double at opset 3),
runs each in onnxruntime (1 thread) on the fixture's rows (data rows, every
threshold and one step either side, NaN and category rows) and compares the
outputs with scikit-learn's own, stored next to the model. Float models are
fed the rows cast to float32, as scikit-learn casts them (HistGradientBoosting
compares in f64: float export can then differ on rows float32 cannot hold,
which is what the double column shows). Prints a Markdown table per
estimator: rows, label mismatches, max relative |Δ| (floor 1e-3), or the
converter's error. Rows of fractional categorical values are left out (for
every converter): scikit-learn's handling of them is outside the IR's rules.
"""

import json
import pathlib
import subprocess
import sys
import tempfile
import warnings
from collections import defaultdict

import joblib
import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from sklearn_onnx_reference import convert as skl2onnx_convert  # noqa: E402


DIVERGENT_KINDS = {"category_fractional", "category_out_of_domain"}


def run(onnx_bytes, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    s = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, {s.get_inputs()[0].name: x})))


def ours(binary, model_file, double):
    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / "m.onnx"
        cmd = [binary, "--quiet", "convert", str(model_file), "-o", str(out), "--no-validate"]
        if double:
            cmd += ["--precision", "double", "--ml-opset", "3"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.strip().splitlines()[-1])
        return out.read_bytes()


def main_values(m, results, converter):
    """(labels as class indices or None, values as scikit-learn reports them)."""
    n = m["n_rows"]
    if converter == "ours":
        if m["task"] == "anomaly":
            return None, np.asarray(results["scores"], dtype=np.float64).reshape(n, -1)
        if m["task"] == "classification":
            return None, np.asarray(results["probabilities"], dtype=np.float64)
        return None, np.asarray(results["variable"], dtype=np.float64).reshape(n, -1)
    names = list(results)
    if m["task"] == "anomaly":
        # skl2onnx: scores = decision_function only (column 1 of ours).
        return None, np.asarray(results["scores"], dtype=np.float64).reshape(n, -1)
    if m["task"] == "classification":
        return None, np.asarray(results[names[1]], dtype=np.float64)
    return None, np.asarray(results[names[0]], dtype=np.float64).reshape(n, -1)


def compare(got, want):
    """(rows off, max relative |Δ| with floor 1e-3, argmax mismatches)."""
    if got.shape != want.shape:
        return None
    d = np.abs(got - want)
    both_nan = np.isnan(got) & np.isnan(want)
    d[both_nan] = 0
    d[np.isnan(d)] = np.inf
    rel = d / np.maximum(np.abs(want), 1e-3)
    return rel.max(initial=0.0)


def main():
    warnings.filterwarnings("ignore")
    root = pathlib.Path(sys.argv[1])
    binary = sys.argv[2]
    manifest = json.loads((root / "manifest.json").read_text())
    table = defaultdict(lambda: defaultdict(lambda: {"models": 0, "rows": 0, "labels": 0, "rel": 0.0, "errors": []}))
    for m in manifest["models"]:
        name, n, f = m["name"], m["n_rows"], m["n_features"]
        X = np.fromfile(root / f"{name}.X.f64", dtype="<f8").reshape(n, f)
        want = np.fromfile(root / f"{name}.values.f64", dtype="<f8").reshape(n, m["n_outputs"])
        model_file = root / m["files"][0]
        model = joblib.load(model_file)
        # Rows of kinds where scikit-learn's categorical handling is outside
        # what the IR reproduces (fractional categories; see
        # DIVERGENT_KINDS in src/import/sklearn/tests/estimator_check.rs)
        # are left out of every converter's figures alike.
        kinds = [k for k, count in m["row_kinds"] for _ in range(count)]
        keep = np.array([k not in DIVERGENT_KINDS for k in kinds] + [True] * (n - len(kinds)))
        for conv in ["skl2onnx", "ours float", "ours double"]:
            cell = table[m["estimator"]][conv]
            try:
                if conv == "skl2onnx":
                    onx = skl2onnx_convert(model, f).SerializeToString()
                else:
                    onx = ours(binary, model_file, conv == "ours double")
                x = X if conv == "ours double" else X.astype(np.float32)
                results = run(onx, x)
                _, got = main_values(m, results, "ours" if conv != "skl2onnx" else "skl2onnx")
                w = want
                if m["task"] == "anomaly" and conv == "skl2onnx":
                    w = want[:, 1:2]
                got, w = got[keep], w[keep]
                rel = compare(got, w)
                if rel is None:
                    raise RuntimeError(f"output shape {got.shape}, scikit-learn {w.shape}")
                if m["task"] in ("classification",) or (m["task"] == "anomaly"):
                    # Labels from the outputs, as scikit-learn derives them.
                    if m["task"] == "classification":
                        lab_got, lab_want = got.argmax(1), w.argmax(1)
                    else:
                        lab_got, lab_want = got[:, -1] >= 0, w[:, -1] >= 0
                    cell["labels"] += int((lab_got != lab_want).sum())
                cell["models"] += 1
                cell["rows"] += int(keep.sum())
                cell["rel"] = max(cell["rel"], float(rel))
            except Exception as e:  # a converter's refusal is a result too
                cell["errors"].append(f"{name}: {type(e).__name__}: {str(e)[:120]}")
    print(f"fixtures: {root} (scikit-learn {manifest['sklearn']})")
    print("| estimator | converter | models | rows | label mismatches | max rel |Δ| | refused/failed |")
    print("|---|---|---|---|---|---|---|")
    for est in sorted(table):
        for conv in ["skl2onnx", "ours float", "ours double"]:
            c = table[est][conv]
            print(f"| {est} | {conv} | {c['models']} | {c['rows']} | {c['labels']} | {c['rel']:.2e} | {len(c['errors'])} |")
    for est in sorted(table):
        for conv in ["skl2onnx", "ours float", "ours double"]:
            for e in table[est][conv]["errors"]:
                print(f"  {est} / {conv}: {e}")


if __name__ == "__main__":
    main()
