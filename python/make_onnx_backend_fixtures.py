"""Writes the ONNX backend node tests of the tree-ensemble operators into
tests/fixtures/onnx_backend/, in the layout of onnx/backend/test/data/node/
(model.onnx and test_data_set_0/{input,output}_N.pb).

The installed `onnx` wheel ships the test case definitions
(onnx/backend/test/case/node/ai_onnx_ml/tree_ensemble.py) but not the
generated data folder, so the cases are generated here exactly as
`onnx.backend.test.cmd_tools generate-data` does for node tests.

Usage: python python/make_onnx_backend_fixtures.py [OUT_DIR]
"""

import os
import shutil
import sys

import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases

OPS = ["TreeEnsemble", "TreeEnsembleClassifier", "TreeEnsembleRegressor"]


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests/fixtures/onnx_backend")
    written = []
    for op in OPS:
        node_cases._NodeTestCases.clear()
        node_cases._existing_names.clear()
        for case in node_cases.collect_testcases(op):
            # "_expanded" variants exist only for function ops.
            d = os.path.join(out, case.name)
            if os.path.exists(d):
                shutil.rmtree(d)
            os.makedirs(d)
            with open(os.path.join(d, "model.onnx"), "wb") as f:
                f.write(case.model.SerializeToString())
            for i, (inputs, outputs) in enumerate(case.data_sets):
                ds = os.path.join(d, f"test_data_set_{i}")
                os.makedirs(ds)
                for kind, values, infos in (
                    ("input", inputs, case.model.graph.input),
                    ("output", outputs, case.model.graph.output),
                ):
                    for j, v in enumerate(values):
                        t = numpy_helper.from_array(v, infos[j].name)
                        with open(os.path.join(ds, f"{kind}_{j}.pb"), "wb") as f:
                            f.write(t.SerializeToString())
            written.append(case.name)
    print(f"onnx {onnx.__version__}: wrote {', '.join(sorted(written))} to {out}")


if __name__ == "__main__":
    main()
