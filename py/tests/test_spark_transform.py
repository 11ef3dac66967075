"""forest2onnx.spark.transform in a local[2] SparkSession against Spark ML's
own ``model.transform``, and against scikit-learn's and LightGBM's own
predictions, on 100,000 rows each: data rows, rows at every split threshold
of the models and one float step either side, NaN and infinite values, and
every category value (seen, unseen, negative, fractional).

One SparkSession for the module (started lazily by the first test); the
module prints how long it took.
"""

import http.server
import os
import shutil
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import forest2onnx
from forest2onnx import spark as f2o_spark

N_ROWS = 100_000
N_TRAIN = 4_000
CATEGORICAL = 3  # feature 3 holds categories 0..4
NAMES = ["f0", "f1", "f2", "f3"]
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "spark", "4.3")
RTOL = 1e-12


@pytest.fixture(scope="module")
def spark(request):
    # Python workers run this interpreter (its pyarrow and forest2onnx).
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark import cloudpickle
    from pyspark.sql import SparkSession

    # The workers cannot import this test module: ship its functions by
    # value, as a notebook's are.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    start = time.perf_counter()
    session = (
        SparkSession.builder.master("local[2]")
        .appName("forest2onnx-spark-transform")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    lines = FIGURES + [f"test_spark_transform: SparkSession and tests took {time.perf_counter() - start:.1f} s"]
    # Printed past pytest's output capture, so a passing run shows them too.
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


def features(n, seed):
    """Continuous features rounded to 2 decimals and one of categories 0..4."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(n, len(NAMES))), 2)
    x[:, CATEGORICAL] = rng.integers(0, 5, size=n)
    return x


def targets(x, seed):
    rng = np.random.default_rng(seed)
    score = x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] + 0.4 * (x[:, 3] % 2)
    noisy = score + 0.3 * rng.normal(size=len(x))
    return (noisy > 0).astype(float), np.digitize(noisy, [-0.5, 0.5]).astype(float)


def edge_rows(forests, seed):
    """Rows with each split feature at its threshold and one float step
    either side, and rows with NaN, +-inf and category values that are no
    category of the training data."""
    rng = np.random.default_rng(seed)
    points = []
    for forest in forests:
        for tree in forest._native.trees():
            for f, t in zip(tree["feature"], tree["threshold"]):
                if np.isfinite(t) and f != CATEGORICAL:
                    points += [(f, t), (f, np.nextafter(t, -np.inf)), (f, np.nextafter(t, np.inf))]
    specials = [np.nan, np.inf, -np.inf, -0.0]
    points += [(f, v) for f in range(CATEGORICAL) for v in specials]
    points += [(CATEGORICAL, v) for v in [-1.0, 5.0, 7.0, 1.5, 2.0000000000000004, -0.0] + specials]
    points += [(CATEGORICAL, float(c)) for c in range(5)]
    rows = features(len(points), seed)
    for row, (f, v) in zip(rows, points):
        row[f] = v
    return rows[rng.permutation(len(rows))]


def frame(spark, x, with_vector=True):
    """A DataFrame with columns id, f0..f3 (NaN kept as NaN) and, with
    ``with_vector``, ``features`` (VectorAssembler's vectors: dense or sparse)."""
    from pyspark.ml.feature import VectorAssembler

    table = pa.table({"id": np.arange(len(x)), **{n: x[:, i] for i, n in enumerate(NAMES)}})
    df = spark.createDataFrame(table)
    if with_vector:
        df = VectorAssembler(inputCols=NAMES, outputCol="features", handleInvalid="keep").transform(df)
    return df


def collect(df, classifier=True):
    """id, prediction and (classifiers) probability and rawPrediction as
    NumPy arrays, in id order."""
    from pyspark.ml.functions import vector_to_array

    columns = ["id", "prediction"]
    if classifier:
        columns += [
            vector_to_array("probability").alias("probability"),
            vector_to_array("rawPrediction").alias("rawPrediction"),
        ]
    table = df.select(*columns).toArrow()
    order = np.argsort(table["id"].to_numpy())
    out = {}
    for name in table.column_names:
        column = table[name].combine_chunks()
        if pa.types.is_list(column.type):
            values = column.flatten().to_numpy()
            out[name] = values.reshape(len(column), -1)[order]
        else:
            out[name] = column.to_numpy()[order]
    assert np.array_equal(out["id"], np.arange(len(order))), "rows lost or duplicated"
    return out


def max_rel(a, b):
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
    return float(rel.max())


# What each comparison measured, printed at the end of the module.
FIGURES = []


def assert_same(ours, theirs, what):
    assert np.array_equal(ours["prediction"], theirs["prediction"]), (
        f"{what}: {np.sum(ours['prediction'] != theirs['prediction'])} label mismatches"
    )
    figures = []
    for key in ("probability", "rawPrediction"):
        if key in theirs:
            assert ours[key].shape == theirs[key].shape, (what, key)
            rel = max_rel(ours[key], theirs[key])
            assert rel <= RTOL, f"{what}: {key} differs by {rel:.3g} relative"
            figures.append(f"{key} {rel:.2g}")
    FIGURES.append(f"{what}: {len(ours['prediction'])} rows, labels equal, max rel |d| " + ", ".join(figures))


@pytest.fixture(scope="module")
def models(spark, tmp_path_factory):
    """Spark models trained here (saved, then converted to .forest): a
    random forest with categorical feature 3 and a GBT classifier."""
    from pyspark.ml.classification import GBTClassifier, RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler, VectorIndexer

    x = features(N_TRAIN, seed=1)
    binary, three = targets(x, seed=2)
    table = pa.table({**{n: x[:, i] for i, n in enumerate(NAMES)}, "binary": binary, "three": three})
    train = VectorAssembler(inputCols=NAMES, outputCol="raw").transform(spark.createDataFrame(table))
    # Feature 3 becomes categorical (values 0..4 are indices 0..4).
    indexer = VectorIndexer(inputCol="raw", outputCol="features", maxCategories=5).fit(train)
    train = indexer.transform(train).cache()
    rf = RandomForestClassifier(labelCol="three", numTrees=20, maxDepth=6, seed=3).fit(train)
    gbt = GBTClassifier(labelCol="binary", maxIter=10, maxDepth=4, seed=4).fit(train)
    train.unpersist()
    folder = tmp_path_factory.mktemp("spark_models")
    out = {}
    for name, model in (("rf", rf), ("gbt", gbt)):
        saved = str(folder / name)
        model.write().save(saved)
        native = str(folder / f"{name}.forest")
        forest2onnx.convert(saved, native)
        out[name] = (model, native)
    return out


@pytest.fixture(scope="module")
def rows(models):
    forests = [forest2onnx.load(path) for _, path in models.values()]
    edges = edge_rows(forests, seed=5)
    x = features(N_ROWS, seed=6)
    x[: len(edges)] = edges
    return x


@pytest.fixture(scope="module")
def scored(spark, rows):
    df = frame(spark, rows).cache()
    assert df.count() == N_ROWS
    yield df
    df.unpersist()


@pytest.mark.parametrize("name", ["rf", "gbt"])
def test_spark_models_equal_spark_transform(models, scored, name):
    model, native = models[name]
    out = f2o_spark.transform(scored, native, features_col="features")
    assert out.columns == scored.columns + ["prediction", "probability", "rawPrediction"]
    assert_same(collect(out), collect(model.transform(scored)), name)


def test_categorical_fixture_folder_scored_directly(spark, scored):
    """The saved folder itself (no .forest): a committed categorical RF."""
    from pyspark.ml.classification import RandomForestClassificationModel

    folder = os.path.join(FIXTURES, "cat_rf_classifier", "model")
    spark_model = RandomForestClassificationModel.load(folder)
    ours = collect(f2o_spark.transform(scored, folder))  # a `features` column by default
    assert_same(ours, collect(spark_model.transform(scored)), "cat_rf_classifier")


def test_pipeline_fixture_reads_its_assembler_columns(spark, rows):
    """A PipelineModel's .forest takes the assembler's input columns by
    name: no features argument needed, plain numeric columns."""
    from pyspark.ml import PipelineModel

    folder = os.path.join(FIXTURES, "pipeline_gbt_classifier", "model")
    # The pipeline's assembler refuses NaN (handleInvalid="error").
    df = frame(spark, rows[~np.isnan(rows).any(axis=1)], with_vector=False)
    ours = collect(f2o_spark.transform(df, folder))
    theirs = collect(PipelineModel.load(folder).transform(df))
    assert_same(ours, theirs, "pipeline_gbt_classifier")


def test_scikit_learn_and_lightgbm_equal_their_predict(spark, rows, tmp_path):
    """The same helper on other libraries' models: numeric columns for a
    scikit-learn forest, an array<double> column for LightGBM."""
    import lightgbm
    from pyspark.sql import functions as F
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestClassifier

    x = features(N_TRAIN, seed=7)
    binary, three = targets(x, seed=8)
    rf = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0).fit(x, three)
    lgb = lightgbm.LGBMClassifier(n_estimators=15, num_leaves=15, verbose=-1).fit(x, three)
    hgb = HistGradientBoostingRegressor(max_iter=15, random_state=0).fit(x, x[:, 0] + three)
    data = rows.copy()
    data[:2000] = edge_rows([forest2onnx.load(p) for p in _dump(tmp_path, rf=rf, lgb=lgb)], seed=9)[:2000]
    # scikit-learn refuses infinities (and values beyond float32).
    data[np.isinf(data)] = np.copysign(3e38, data[np.isinf(data)])
    df = frame(spark, data, with_vector=False)
    df = df.withColumn("arr", F.array(*NAMES))

    ours = collect(f2o_spark.transform(df, str(tmp_path / "rf.forest"), feature_cols=NAMES))
    proba = rf.predict_proba(data)
    theirs = {"prediction": index(rf, data), "probability": proba, "rawPrediction": proba * 20}
    assert_same(ours, theirs, "scikit-learn RandomForestClassifier (.forest, numeric columns)")

    lgb.booster_.save_model(str(tmp_path / "lgb.txt"))  # LightGBM's own file
    ours = collect(f2o_spark.transform(df, str(tmp_path / "lgb.txt"), features_col="arr"))
    theirs = {
        "prediction": index(lgb, data),
        "probability": lgb.predict_proba(data),
        "rawPrediction": lgb.predict(data, raw_score=True),
    }
    assert_same(ours, theirs, "LightGBM LGBMClassifier (model text file, array column)")

    forest2onnx.dump(hgb, tmp_path / "hgb.forest")
    out = f2o_spark.transform(df, str(tmp_path / "hgb.forest"), feature_cols=NAMES)
    assert out.columns == df.columns + ["prediction"]
    ours = collect(out, classifier=False)
    rel = max_rel(ours["prediction"], hgb.predict(data))
    assert rel <= RTOL, f"HistGradientBoostingRegressor differs by {rel:.3g} relative"
    FIGURES.append(f"scikit-learn HistGradientBoostingRegressor: {len(data)} rows, max rel |d| {rel:.2g}")


def index(estimator, x):
    """The class index of the estimator's predicted labels (Spark's prediction)."""
    return np.searchsorted(estimator.classes_, estimator.predict(x)).astype(np.float64)


def _dump(folder, **models):
    paths = []
    for name, model in models.items():
        path = str(folder / f"{name}.forest")
        forest2onnx.dump(model, path)
        paths.append(path)
    return paths


def test_sparse_vectors_and_url(spark, models, tmp_path):
    """Sparse and dense vectors of the same rows score alike, as arrays
    (the default) or as vectors (keep_sparse=True, which leaves the
    features column as it was); the model is read from an http:// URL by
    the workers."""
    from pyspark.ml.linalg import DenseVector, SparseVector, Vectors

    _, native = models["rf"]
    x = features(500, seed=10)
    x[::2, :3] = 0.0
    x[::3, CATEGORICAL] = 0.0
    dense = spark.createDataFrame([(i, Vectors.dense(r)) for i, r in enumerate(x)], ["id", "features"])
    sparse = spark.createDataFrame(
        [(i, Vectors.sparse(len(r), np.flatnonzero(r), r[r != 0])) for i, r in enumerate(x)], ["id", "features"]
    )
    assert any(len(v.indices) == 0 for v in sparse.toPandas()["features"])
    shutil.copy(native, tmp_path / "rf.forest")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(tmp_path)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rf.forest"
        results = {
            "dense": f2o_spark.transform(dense, native),
            "sparse as arrays": f2o_spark.transform(sparse, native),
            "sparse as vectors, from a URL": f2o_spark.transform(sparse, url, keep_sparse=True),
            "dense as vectors": f2o_spark.transform(dense, native, keep_sparse=True),
        }
        scored = {name: collect(df) for name, df in results.items()}
        kept = results["sparse as vectors, from a URL"].orderBy("id").select("features").collect()
        densified = results["sparse as arrays"].orderBy("id").select("features").collect()
    finally:
        server.shutdown()
    for name, got in scored.items():
        for key in got:
            assert np.array_equal(got[key], scored["dense"][key]), (name, key)
    assert all(isinstance(r.features, SparseVector) for r in kept)
    assert all(isinstance(r.features, DenseVector) for r in densified)
    assert np.array_equal(np.array([r.features.toArray() for r in kept]), x)
    assert np.array_equal(np.array([r.features.toArray() for r in densified]), x)


def test_bad_input_gets_clear_errors(spark, models):
    from pyspark.ml.linalg import Vectors

    _, native = models["gbt"]
    df = spark.createDataFrame([(0, Vectors.dense([1.0, 2.0]), "a")], ["id", "features", "s"])
    with pytest.raises(forest2onnx.InputError, match="not both"):
        f2o_spark.transform(df, native, features_col="features", feature_cols=NAMES)
    with pytest.raises(forest2onnx.InputError, match="must be numeric"):
        f2o_spark.transform(df, native, feature_cols=["id", "id", "id", "s"])
    with pytest.raises(forest2onnx.ShapeError, match="takes 4 features"):
        f2o_spark.transform(df, native, feature_cols=["id"])
    with pytest.raises(forest2onnx.InputError, match="already exists"):
        f2o_spark.transform(df, native, prediction_col="s")
    with pytest.raises(forest2onnx.LoadError):
        f2o_spark.transform(df, native + ".missing")
    # Vectors of the wrong size are found by the workers.
    with pytest.raises(Exception, match="the model takes 4 features"):
        f2o_spark.transform(df, native).collect()


# The ONNX route of docs/SPARK.md, as documented: onnxruntime in mapInPandas.
_SESSIONS = {}


def _onnx_session(path):
    import onnxruntime as ort

    if path not in _SESSIONS:  # once per Python worker
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # Spark runs one task per core
        _SESSIONS[path] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return _SESSIONS[path]


def onnx_transform(df, onnx_path, features_col="features"):
    from pyspark.ml.functions import array_to_vector, vector_to_array
    from pyspark.sql import types as T

    kept = [f for f in df.schema.fields if f.name != features_col]
    schema = T.StructType(
        kept
        + [
            T.StructField("prediction", T.DoubleType()),
            T.StructField("probability", T.ArrayType(T.DoubleType())),
        ]
    )

    def score(frames):
        session = _onnx_session(onnx_path)
        for pdf in frames:
            x = np.stack(pdf.pop("x").to_numpy())
            label, probability = session.run(["label", "probabilities"], {"input": x})
            pdf["prediction"] = label
            pdf["probability"] = list(probability)
            yield pdf

    arrays = df.select(*[f.name for f in kept], vector_to_array(features_col).alias("x"))
    out = arrays.mapInPandas(score, schema)
    return out.withColumn("probability", array_to_vector("probability"))


def test_onnx_route_equals_spark_transform(models, scored, tmp_path):
    model, native = models["gbt"]
    onnx_path = str(tmp_path / "gbt.onnx")
    forest2onnx.convert(native, onnx_path)  # double: Spark compares in float64
    out = onnx_transform(scored, onnx_path)
    ours = collect(out.withColumn("rawPrediction", out["probability"]))
    theirs = collect(model.transform(scored))
    del ours["rawPrediction"], theirs["rawPrediction"]
    assert_same(ours, theirs, "gbt via onnxruntime")
