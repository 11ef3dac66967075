"""Source models and the ONNX files other converters write for them, for
`forest2onnx validate MODEL OTHER.onnx` ("is my existing ONNX right?",
tests/it/audit.rs).

    python make_audit_fixtures.py OUTDIR

Uses the pinned packages of python/requirements.txt (scikit-learn,
skl2onnx, lightgbm, xgboost, onnxmltools). For each case NAME it writes the
source model, NAME.onnx and NAME.json: the generator versions and, on the
rows it lists (data rows with NaN), the labels of the library and of
onnxruntime running NAME.onnx, so the differences the test expects are the
converters' real ones.
"""

import json
import os
import sys

import numpy as np


def ort_labels(onnx_bytes, X):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(np.float32)})[0]


def record(outdir, name, onnx_bytes, X, library_labels, generator):
    with open(os.path.join(outdir, f"{name}.onnx"), "wb") as f:
        f.write(onnx_bytes)
    onnx_labels = np.asarray(ort_labels(onnx_bytes, X)).ravel()
    doc = {
        "generator": generator,
        "rows": [[None if np.isnan(v) else float(v) for v in r] for r in X],
        "library_labels": [int(v) for v in library_labels],
        "onnxruntime_labels": [int(v) for v in onnx_labels],
        "label_differences": int((onnx_labels != np.asarray(library_labels)).sum()),
    }
    with open(os.path.join(outdir, f"{name}.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(name, "label differences in onnxruntime:", doc["label_differences"])


def with_nan(X, rng, rate):
    X = X.copy()
    X[rng.random(size=X.shape) < rate] = np.nan
    return X


def skl2onnx_forest(outdir, rng):
    """skl2onnx ignores the missing_go_to_left of trees trained with NaN."""
    import joblib
    import skl2onnx
    import sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    X = with_nan(X, rng, 0.15)
    rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    joblib.dump(rf, os.path.join(outdir, "skl2onnx_rf_iris_nan.pkl"), compress=0)
    onx = skl2onnx.convert_sklearn(
        rf, initial_types=[("input", FloatTensorType([None, 4]))],
        options={id(rf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    rows = X[::3]
    record(outdir, "skl2onnx_rf_iris_nan", onx.SerializeToString(), rows, rf.predict(rows),
           f"scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}")


def onnxmltools_lightgbm(outdir, rng):
    """A LightGBM model whose NaN is read as zero (use_missing=false:
    missing type None)."""
    import lightgbm
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    X = rng.normal(size=(400, 4))
    X[rng.random(size=X.shape) < 0.2] = 0.0
    y = ((np.nan_to_num(X[:, 0]) + 0.5 * X[:, 1] > 0)).astype(int)
    booster = lightgbm.train({"objective": "binary", "num_leaves": 6, "use_missing": False,
                              "verbose": -1, "seed": 1}, lightgbm.Dataset(X, y), 8)
    booster.save_model(os.path.join(outdir, "onnxmltools_lightgbm_no_missing.txt"))
    onx = onnxmltools.convert_lightgbm(booster, initial_types=[("input", FloatTensorType([None, 4]))],
                                       zipmap=False, target_opset=15)
    rows = with_nan(X[:60], rng, 0.3)
    record(outdir, "onnxmltools_lightgbm_no_missing", onx.SerializeToString(), rows,
           (booster.predict(rows) > 0.5).astype(int),
           f"lightgbm {lightgbm.__version__}, onnxmltools {onnxmltools.__version__}")


def onnxmltools_xgboost(outdir, rng):
    """A plain XGBoost classifier: converted right."""
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    X = with_nan(rng.normal(size=(300, 4)), rng, 0.1)
    y = (np.nan_to_num(X[:, 0]) - X[:, 2] > 0).astype(int)
    clf = xgboost.XGBClassifier(n_estimators=6, max_depth=3, random_state=1).fit(X, y)
    clf.get_booster().save_model(os.path.join(outdir, "onnxmltools_xgboost.ubj"))
    onx = onnxmltools.convert_xgboost(clf, initial_types=[("input", FloatTensorType([None, 4]))],
                                      target_opset=15)
    rows = X[:60]
    record(outdir, "onnxmltools_xgboost", onx.SerializeToString(), rows, clf.predict(rows),
           f"xgboost {xgboost.__version__}, onnxmltools {onnxmltools.__version__}")


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(26)
    skl2onnx_forest(outdir, rng)
    onnxmltools_lightgbm(outdir, rng)
    onnxmltools_xgboost(outdir, rng)


if __name__ == "__main__":
    main(sys.argv[1])
