"""onnxmltools' `convert_sparkml` on the committed Spark fixtures, for
comparison with forest2onnx (needs pyspark, Java and onnxmltools: it loads
each model in a live local SparkSession, as convert_sparkml requires).

    nice -n 10 .venv-spark4/bin/python python/oracles/spark_onnxmltools.py tests/fixtures/spark/4.3

Prints, per case: rows, label mismatches and max relative |Δ| of the
probabilities (classifiers) or predictions (regressors) in onnxruntime
against Spark's own predictions, or the error convert_sparkml raised.
"""

import json
import os
import sys
import traceback

import numpy as np
import onnxruntime as ort
from onnxmltools import convert_sparkml
from onnxmltools.convert.common.data_types import FloatTensorType
from pyspark.ml import PipelineModel
from pyspark.ml.classification import (
    DecisionTreeClassificationModel,
    GBTClassificationModel,
    RandomForestClassificationModel,
)
from pyspark.ml.regression import (
    DecisionTreeRegressionModel,
    GBTRegressionModel,
    RandomForestRegressionModel,
)
from pyspark.sql import SparkSession

CLASSES = {
    "DecisionTreeClassificationModel": DecisionTreeClassificationModel,
    "RandomForestClassificationModel": RandomForestClassificationModel,
    "GBTClassificationModel": GBTClassificationModel,
    "DecisionTreeRegressionModel": DecisionTreeRegressionModel,
    "RandomForestRegressionModel": RandomForestRegressionModel,
    "GBTRegressionModel": GBTRegressionModel,
    "PipelineModel": PipelineModel,
}


def max_rel(ours, spark):
    ours, spark = np.asarray(ours, float).ravel(), np.asarray(spark, float).ravel()
    d = np.abs(ours - spark)
    scale = np.maximum(np.abs(ours), np.abs(spark))
    rel = np.where(d == 0, 0.0, d / np.where(scale == 0, 1, scale))
    return float(np.nanmax(rel)) if rel.size else 0.0


def check(case, spark):
    with open(os.path.join(case, "predictions.json")) as f:
        exp = json.load(f)
    cls = CLASSES[exp["model_class"]]
    if cls is PipelineModel:
        return "pipelines: not tried (needs per-column inputs)"
    model = cls.load(os.path.join(case, "model"))
    rows = np.array([[np.nan if v is None else float(v) for v in r] for r in exp["rows"]])
    onnx_model = convert_sparkml(
        model, "spark", [("features", FloatTensorType([None, rows.shape[1]]))], spark_session=spark
    )
    sess = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"features": rows.astype(np.float32)})))
    prediction = np.array(exp["prediction"])
    label = np.asarray(outs.get("prediction", next(iter(outs.values())))).ravel().astype(float)
    if "probability" in outs and exp.get("probability"):
        mismatches = int((label != prediction).sum())
        rel = max_rel(outs["probability"], exp["probability"])
    else:
        mismatches = "-"
        rel = max_rel(label, prediction)
    return len(rows), mismatches, rel, ",".join(outs)


def main(root):
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "1g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    print(f"{'case':<34} {'rows':>5} {'label mismatches':>17} {'max rel |Δ| (float32 input)':>28}  (outputs)")
    for name in sorted(os.listdir(root)):
        try:
            result = check(os.path.join(root, name), spark)
        except Exception as e:  # noqa: BLE001 - the converter's failures are the figures
            result = f"error: {type(e).__name__}: {str(e).splitlines()[0][:90] if str(e) else ''}"
            traceback.print_exc(file=sys.stderr)
        if isinstance(result, str):
            print(f"{name:<34} {result}")
        else:
            n, bad, rel, outputs = result
            print(f"{name:<34} {n:>5} {bad!s:>17} {rel:>28.1e}  ({outputs})")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
