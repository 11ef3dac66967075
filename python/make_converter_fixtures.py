"""Generate ONNX tree models written by other converters, with onnxruntime's outputs.

Run once, by hand, in a throwaway venv that has the converters:

    python3 -m venv /tmp/conv && /tmp/conv/bin/pip install -r python/requirements.txt \
        xgboost==3.2.0 lightgbm==4.7.0 onnxmltools==1.16.0
    /tmp/conv/bin/python python/make_converter_fixtures.py tests/fixtures/converters

For each model NAME it writes NAME.onnx, NAME.input.f32 (little-endian float32,
row-major; data rows plus rows at every threshold and one float step either
side) and NAME.json with the shape, the generator versions and onnxruntime's
labels and probabilities (one intra-op thread). CI needs none of the
converter packages: tests/converter_fixtures.rs reads these files.
"""

import json
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime as ort
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier


def threshold_rows(model_proto, x):
    """Rows with each split feature at its float32 threshold and one step either side."""
    rows = []
    for node in model_proto.graph.node:
        if not node.op_type.startswith("TreeEnsemble"):
            continue
        attrs = {a.name: a for a in node.attribute}
        feats = list(attrs["nodes_featureids"].ints)
        vals = list(attrs["nodes_values"].floats)
        modes = [m.decode() for m in attrs["nodes_modes"].strings]
        seen = set()
        for f, v, m in zip(feats, vals, modes):
            if m == "LEAF" or (f, v) in seen:
                continue
            seen.add((f, v))
            t = np.float32(v)
            for value in (t, np.nextafter(t, np.float32(np.inf)), np.nextafter(t, np.float32(-np.inf))):
                row = x[len(rows) % len(x)].copy()
                row[f] = value
                rows.append(row)
    rows = np.array(rows[:3000], dtype=np.float32).reshape(-1, x.shape[1])
    return np.vstack([x, rows])


def write_case(out, name, model_bytes, x, generator):
    model_proto = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(model_proto)
    x = threshold_rows(model_proto, x.astype(np.float32))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    label, prob = session.run(None, {input_name: x})[:2]
    (out / f"{name}.onnx").write_bytes(model_bytes)
    x.astype("<f4").tofile(out / f"{name}.input.f32")
    meta = {
        "rows": int(x.shape[0]),
        "cols": int(x.shape[1]),
        "generator": generator,
        "onnxruntime": ort.__version__,
        "labels": [v.item() if hasattr(v, "item") else str(v) for v in np.asarray(label).ravel()],
        "probabilities": np.asarray(prob, dtype=np.float32).astype(np.float64).tolist(),
    }
    (out / f"{name}.json").write_text(json.dumps(meta))
    print(f"{name}: {x.shape[0]} rows, {len(model_bytes)} bytes")


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    import sklearn
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType

    x2, y2 = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=0)
    x3, y3 = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, random_state=1
    )
    x2 = x2.astype(np.float32)
    x3 = x3.astype(np.float32)
    skl = f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}"
    opts = {"zipmap": False}
    initial = [("input", FloatTensorType([None, 6]))]
    for name, model, x, y in [
        ("skl2onnx_rf_binary", RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0), x2, y2),
        ("skl2onnx_rf_multiclass", RandomForestClassifier(n_estimators=8, max_depth=6, random_state=0), x3, y3),
        ("skl2onnx_gbc_binary_logistic", GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), x2, y2),
        ("skl2onnx_gbc_multiclass_softmax", GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), x3, y3),
    ]:
        model.fit(x, y)
        onx = skl2onnx.to_onnx(model, initial_types=initial, options={id(model): opts}, target_opset={"": 15, "ai.onnx.ml": 3})
        write_case(out, name, onx.SerializeToString(), x, skl)

    import lightgbm
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType as MlFloat

    ml_initial = [("input", MlFloat([None, 6]))]
    for name, x, y in [("xgboost_binary_lt", x2, y2), ("xgboost_multiclass_lt", x3, y3)]:
        model = xgboost.XGBClassifier(n_estimators=8, max_depth=4, random_state=0)
        model.fit(x, y)
        onx = onnxmltools.convert_xgboost(model, initial_types=ml_initial, target_opset=15)
        write_case(out, name, onx.SerializeToString(), x, f"xgboost {xgboost.__version__}, onnxmltools {onnxmltools.__version__}")
    for name, x, y in [("lightgbm_binary", x2, y2), ("lightgbm_multiclass", x3, y3)]:
        model = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=8, random_state=0, verbose=-1)
        model.fit(x, y)
        onx = onnxmltools.convert_lightgbm(model, initial_types=ml_initial, zipmap=False, target_opset=15)
        write_case(out, name, onx.SerializeToString(), x, f"lightgbm {lightgbm.__version__}, onnxmltools {onnxmltools.__version__}")


if __name__ == "__main__":
    main()
