"""Cross-runtime conformance: run onnx.checker and onnxruntime on exported models.

Usage: python conformance.py CASE_DIR

CASE_DIR holds, per case NAME: NAME.onnx, NAME.input.f32 (little-endian float32,
row-major) and NAME.json ({"rows": R, "cols": C}). For each case this writes
NAME.ort.json with the checker verdict and onnxruntime's labels and
probabilities, once with one intra-op thread and once with the default
thread count. Labels are written as JSON ints or strings; probabilities as
the exact decimal of each float32.
"""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnx.checker
import onnxruntime as ort


def run_session(path, x, threads):
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    label_name = "label" if "label" in names else names[0]
    prob_name = "probabilities" if "probabilities" in names else names[1]
    input_name = session.get_inputs()[0].name
    label, prob = session.run([label_name, prob_name], {input_name: x})
    if isinstance(prob, list):  # ZipMap output: list of dicts
        keys = list(prob[0].keys())
        prob = np.array([[row[k] for k in keys] for row in prob], dtype=np.float32)
    labels = [v.item() if hasattr(v, "item") else str(v) for v in np.asarray(label).ravel()]
    labels = [str(v) if isinstance(v, bytes) else v for v in labels]
    return {
        "labels": labels,
        "probabilities": np.asarray(prob, dtype=np.float32).astype(np.float64).tolist(),
    }


def main():
    case_dir = pathlib.Path(sys.argv[1])
    cases = sorted(case_dir.glob("*.json"))
    cases = [c for c in cases if not c.name.endswith(".ort.json")]
    for meta_path in cases:
        name = meta_path.name[: -len(".json")]
        meta = json.loads(meta_path.read_text())
        model_path = case_dir / f"{name}.onnx"
        result = {"onnxruntime": ort.__version__, "onnx": onnx.__version__}
        try:
            onnx.checker.check_model(onnx.load(str(model_path)), full_check=True)
            result["checker"] = "ok"
        except Exception as e:  # report, do not stop: the Rust side asserts
            result["checker"] = f"failed: {e}"
        x = np.fromfile(case_dir / f"{name}.input.f32", dtype="<f4").reshape(
            meta["rows"], meta["cols"]
        )
        try:
            result["one_thread"] = run_session(model_path, x, 1)
            result["default_threads"] = run_session(model_path, x, None)
        except Exception as e:
            result["error"] = str(e)
        (case_dir / f"{name}.ort.json").write_text(json.dumps(result))
    print(f"conformance.py: {len(cases)} cases run with onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
