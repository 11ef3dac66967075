"""Runs the onnxruntime compatibility matrix's cases in one runtime.

Usage: python ort_matrix.py CASE_DIR RUNTIME OUT_JSON [STRIDE]

RUNTIME is "onnxruntime" (the onnxruntime of this interpreter: one
.venv-ort/<version> per release, see scripts/setup-ort-matrix.sh) or
"reference" (onnx.reference.ReferenceEvaluator, ONNX's own evaluator, from
.venv). CASE_DIR holds, per case NAME, NAME.onnx, NAME.json ({"rows",
"cols", "dtype": "f32" | "f64"}) and NAME.input.<dtype> (little-endian,
row-major). Rows 0, STRIDE, 2*STRIDE, ... are run (the reference evaluator
walks trees in Python: slow).

OUT_JSON gets {"runtime": ..., "version": ..., "cases": {NAME: {"outputs":
{output name: nested lists}} or {"error": message}}}, outputs as
shared.jsonsafe.plain writes them. One intra-op thread, so that the matrix stays
cheap on a shared machine; tests/it/conformance covers the thread pool.
"""

import json
import pathlib
import sys
import traceback

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from shared.jsonsafe import plain  # noqa: E402


def onnxruntime_runner():
    import onnxruntime as ort

    def run(path, x):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {session.get_inputs()[0].name: x})
        return dict(zip(names, values))

    return ort.__version__, run


def reference_runner():
    import onnx
    from onnx.reference import ReferenceEvaluator

    def run(path, x):
        evaluator = ReferenceEvaluator(onnx.load(str(path)))
        names = list(evaluator.output_names)
        values = evaluator.run(names, {evaluator.input_names[0]: x})
        return dict(zip(names, values))

    return onnx.__version__, run


def describe(error):
    """The error, with its cause and the line that raised it (the reference
    evaluator wraps its operators' errors in a TypeError that hides both)."""
    cause = error.__cause__ or error.__context__ or error
    frames = traceback.extract_tb(cause.__traceback__)
    where = f" at {frames[-1].name}: {frames[-1].line}" if frames else ""
    return f"{type(error).__name__}: {str(error)[:200]} (cause {type(cause).__name__}: {cause}{where})"


def main():
    case_dir, runtime, out = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    stride = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    version, run = {"onnxruntime": onnxruntime_runner, "reference": reference_runner}[runtime]()
    cases = {}
    for meta_path in sorted(case_dir.glob("*.json")):
        name = meta_path.name[: -len(".json")]
        meta = json.loads(meta_path.read_text())
        dtype = meta["dtype"]
        x = np.fromfile(
            case_dir / f"{name}.input.{dtype}", dtype={"f32": "<f4", "f64": "<f8"}[dtype]
        ).reshape(meta["rows"], meta["cols"])[::stride]
        try:
            outputs = run(case_dir / f"{name}.onnx", np.ascontiguousarray(x))
            cases[name] = {"outputs": {k: plain(v) for k, v in outputs.items()}}
        except Exception as e:  # recorded, not raised: the Rust side tallies it
            cases[name] = {"error": describe(e)}
    result = {"runtime": runtime, "version": version, "stride": stride, "cases": cases}
    pathlib.Path(out).write_text(json.dumps(result))
    errors = sum("error" in c for c in cases.values())
    print(f"ort_matrix.py: {runtime} {version}: {len(cases)} cases, {errors} errors")


if __name__ == "__main__":
    main()
