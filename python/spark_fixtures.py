"""Spark ML tree-model fixtures: saved model folders and Spark's own predictions.

Run once per Spark version, each from its own venv (pyspark and Java 17):

    nice -n 10 .venv-spark35/bin/python python/spark_fixtures.py tests/fixtures/spark/3.5
    nice -n 10 .venv-spark4/bin/python python/spark_fixtures.py tests/fixtures/spark/4.3

Each case writes `CASE/model/` (what `model.write().save(path)` writes) and
`CASE/predictions.json`: the input rows (by position; NaN as null, the
infinities as "inf"/"-inf") and
Spark's `prediction`, `probability` and `rawPrediction` for them, from
`model.transform`. The rows are data rows, rows with each split feature at
its threshold and one float step either side, NaN rows, and, for categorical
features, every category value plus unseen, negative and fractional values.
The models are small (few trees, shallow) so the fixtures stay small.
"""

import json
import math
import os
import shutil
import sys

import numpy as np
from pyspark.ml import Pipeline
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    GBTClassifier,
    RandomForestClassifier,
)
from pyspark.ml.feature import VectorAssembler, VectorIndexer
from pyspark.ml.linalg import Vectors
from pyspark.ml.regression import (
    DecisionTreeRegressor,
    GBTRegressor,
    RandomForestRegressor,
)
from pyspark.sql import SparkSession

N_ROWS = 300
N_FEATURES = 4
# Data rows kept in predictions.json (the threshold rows come on top).
N_DATA_ROWS = 120


def session():
    return (
        SparkSession.builder.master("local[2]")
        .appName("forest2onnx-fixtures")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def make_data(seed):
    """Features rounded to 2 decimals (so thresholds fall between values),
    a categorical feature 3 with values 0..4, and three targets."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(N_ROWS, N_FEATURES)), 2)
    x[:, 3] = rng.integers(0, 5, size=N_ROWS)
    score = x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] + 0.4 * (x[:, 3] % 2)
    binary = (score + 0.3 * rng.normal(size=N_ROWS) > 0).astype(float)
    three = np.digitize(score + 0.3 * rng.normal(size=N_ROWS), [-0.5, 0.5]).astype(float)
    target = score + 0.1 * rng.normal(size=N_ROWS)
    return x, {"binary": binary, "three": three, "one_to_three": three + 1, "target": target}


def vector_df(spark, x, label):
    rows = [(Vectors.dense([float(v) for v in r]), float(y)) for r, y in zip(x, label)]
    return spark.createDataFrame(rows, ["features", "label"])


def column_df(spark, x, label):
    names = [f"f{i}" for i in range(x.shape[1])]
    rows = [tuple(float(v) for v in r) + (float(y),) for r, y in zip(x, label)]
    return spark.createDataFrame(rows, names + ["label"]), names


def splits(spark, model_dir):
    """(feature, threshold or None, numCategories) of every split, read from
    the saved Parquet with Spark."""
    out = set()
    for row in spark.read.parquet(os.path.join(model_dir, "data")).collect():
        node = row["nodeData"] if "nodeData" in row.__fields__ else row
        split = node["split"]
        if node["leftChild"] < 0:
            continue
        n_cat = int(split["numCategories"])
        if n_cat < 0:
            out.add((int(split["featureIndex"]), float(split["leftCategoriesOrThreshold"][0]), n_cat))
        else:
            out.add((int(split["featureIndex"]), None, n_cat))
    return sorted(out, key=lambda s: (s[0], s[1] if s[1] is not None else -1.0))


def probe_rows(spark, x, model_dir, categorical):
    """Data rows, then rows at every threshold +-1 ulp, NaN rows, and every
    category value (seen, unseen, negative, fractional) of categorical features."""
    rows = [list(map(float, r)) for r in x[:N_DATA_ROWS]]
    base = list(map(float, x[0]))
    for k, (f, t, n_cat) in enumerate(splits(spark, model_dir)):
        row = list(map(float, x[k % len(x)]))
        if t is not None:
            for v in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)):
                r = list(row)
                r[f] = v
                rows.append(r)
    if categorical:
        for f in categorical:
            for v in [*range(6), 7.0, 1e9, -1.0, -0.0, 1.5, 0.5, -0.5, math.inf, -math.inf]:
                r = list(base)
                r[f] = float(v)
                rows.append(r)
    for f in range(len(base)):
        r = list(base)
        r[f] = math.nan
        rows.append(r)
    return rows


def predict(spark, model, rows, columns=None):
    if columns is None:
        df = spark.createDataFrame([(i, Vectors.dense(r)) for i, r in enumerate(rows)], ["id", "features"])
    else:
        df = spark.createDataFrame([(i, *r) for i, r in enumerate(rows)], ["id", *columns])
    out = model.transform(df).orderBy("id").collect()
    result = {"prediction": [float(r["prediction"]) for r in out]}
    fields = out[0].asDict() if out else {}
    for name in ("probability", "rawPrediction"):
        if name in fields:
            result[name] = [[float(v) for v in r[name].toArray()] for r in out]
    return result


def json_rows(rows):
    """Rows as strict JSON: NaN as null, the infinities as "inf"/"-inf"."""
    def cell(v):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return [[cell(v) for v in r] for r in rows]


def save_case(out, name, spark, model, x, categorical=(), columns=None, tree_stage=None):
    case = os.path.join(out, name)
    shutil.rmtree(case, ignore_errors=True)
    os.makedirs(case)
    model_dir = os.path.join(case, "model")
    model.write().save(model_dir)
    tree_dir = model_dir
    if tree_stage is not None:
        stages = sorted(os.listdir(os.path.join(model_dir, "stages")))
        tree_dir = os.path.join(model_dir, "stages", stages[tree_stage])
    rows = probe_rows(spark, x, tree_dir, list(categorical))
    if columns is not None:
        # Pipelines assemble columns, which refuse NaN by default.
        rows = [r for r in rows if not any(math.isnan(v) for v in r)]
        if categorical:
            # VectorIndexer (handleInvalid=error) refuses values it never saw.
            seen = {f: set(x[:, f].tolist()) for f in categorical}
            rows = [r for r in rows if all(r[f] in seen[f] for f in categorical)]
    result = predict(spark, model, rows, columns)
    doc = {
        "spark_version": spark.version,
        "model_class": type(model).__name__,
        "rows": json_rows(rows),
        **result,
    }
    with open(os.path.join(case, "predictions.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"), allow_nan=False)
    print(f"{name}: {len(rows)} rows", flush=True)


def main(out):
    spark = session()
    spark.sparkContext.setLogLevel("ERROR")
    x, y = make_data(7)
    continuous = x[:, :3]
    small = dict(maxDepth=4, seed=1)
    cases = [
        ("dt_classifier", DecisionTreeClassifier(**small), "three"),
        ("dt_regressor", DecisionTreeRegressor(**small), "target"),
        ("rf_classifier", RandomForestClassifier(numTrees=5, maxDepth=3, seed=1), "one_to_three"),
        ("rf_regressor", RandomForestRegressor(numTrees=5, maxDepth=3, seed=1), "target"),
        ("gbt_classifier", GBTClassifier(maxIter=6, maxDepth=3, seed=1), "binary"),
        ("gbt_regressor", GBTRegressor(maxIter=6, maxDepth=3, seed=1), "target"),
    ]
    for name, estimator, target in cases:
        model = estimator.fit(vector_df(spark, continuous, y[target]))
        save_case(out, name, spark, model, continuous)

    # Categorical splits: feature 3 indexed by VectorIndexer (values 0..4
    # keep their values as indices), then the tree model alone.
    indexer = VectorIndexer(inputCol="raw", outputCol="features", maxCategories=5)
    raw = vector_df(spark, x, y["three"]).withColumnRenamed("features", "raw")
    indexer_model = indexer.fit(raw)
    indexed = indexer_model.transform(raw)
    for name, estimator in [
        ("cat_rf_classifier", RandomForestClassifier(numTrees=4, maxDepth=4, seed=3)),
        ("cat_gbt_regressor", GBTRegressor(maxIter=4, maxDepth=3, seed=3)),
    ]:
        if isinstance(estimator, GBTRegressor):
            indexed_target = indexer_model.transform(vector_df(spark, x, y["target"]).withColumnRenamed("features", "raw"))
            model = estimator.fit(indexed_target)
        else:
            model = estimator.fit(indexed)
        save_case(out, name, spark, model, x, categorical=[3])

    # Pipelines: VectorAssembler + tree; VectorAssembler + VectorIndexer + tree.
    frame, names = column_df(spark, x, y["binary"])
    assembler = VectorAssembler(inputCols=names, outputCol="features")
    pipe = Pipeline(stages=[assembler, GBTClassifier(maxIter=4, maxDepth=3, seed=2)]).fit(frame)
    save_case(out, "pipeline_gbt_classifier", spark, pipe, x, columns=names, tree_stage=1)
    assembler = VectorAssembler(inputCols=names, outputCol="raw")
    pipe = Pipeline(
        stages=[assembler, VectorIndexer(inputCol="raw", outputCol="features", maxCategories=5),
                DecisionTreeClassifier(maxDepth=4, seed=2)]
    ).fit(frame)
    save_case(out, "pipeline_indexer_dt_classifier", spark, pipe, x, categorical=[3], columns=names, tree_stage=2)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
