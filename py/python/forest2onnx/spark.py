"""Score a Spark DataFrame with a forest2onnx model inside Spark's executors.

:func:`transform` is ``model.transform(df)`` for any model
:func:`forest2onnx.load` reads (a ``.forest`` file, a saved Spark ML model
folder, a scikit-learn pickle, an XGBoost or LightGBM file): the model is
loaded once per Python worker process, Arrow batches are scored by the Rust
core (``mapInArrow``, no per-row Python), and the columns Spark ML appends
are appended: ``prediction``, and for classifiers ``probability`` and
``rawPrediction`` as Spark ML vectors.

Needs pyspark >= 4.0 (and pyarrow): earlier releases cannot pass Spark ML
vectors through Arrow.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import _native
from ._errors import InputError, ShapeError, UnsupportedModelError
from ._forest import Forest, threads

__all__ = ["transform"]

_FORESTS: Dict[Tuple[Any, ...], Forest] = {}
_LOCK = threading.Lock()


def _is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _cache_key(location: str) -> Tuple[Any, ...]:
    """The model's cache key: its location, and for a local file its size
    and modification time, so a file replaced in place is read again."""
    if _is_url(location):
        return (location,)
    try:
        st = os.stat(location)
    except OSError:
        return (location,)
    return (location, st.st_size, st.st_mtime_ns)


def _read(location: str) -> Forest:
    if _is_url(location):
        import urllib.request

        with urllib.request.urlopen(location) as response:
            return Forest(_native.Forest.from_bytes(response.read()))
    return Forest(_native.Forest.from_path(location))


def load_cached(location: str) -> Forest:
    """The model at ``location`` (a path, a ``file://`` or ``http(s)://``
    URL), read once per process and kept for the process's lifetime."""
    if location.startswith("file://"):
        location = location[len("file://") :]
    key = _cache_key(location)
    with _LOCK:
        forest = _FORESTS.get(key)
        if forest is None:
            forest = _read(location)
            _FORESTS[key] = forest
        return forest


# ----- what the model outputs, in Spark's shapes ------------------------------


class _Outputs:
    """Which columns a model appends and how its raw scores become Spark's
    ``rawPrediction``; plain data, so it pickles to the executors."""

    def __init__(self, forest: Forest) -> None:
        task = forest.task
        if task not in ("classification", "regression"):
            raise UnsupportedModelError(
                f"forest2onnx.spark.transform scores classifiers and regressors, not a {task} model"
            )
        self.classifier = task == "classification"
        self.n_trees = forest.n_trees
        self.n_outputs = forest._native.n_outputs
        source = forest.source
        # Spark's GBT margin m gives p1 = 1/(1+e^-2m) and rawPrediction
        # [-m, m]; the forest's raw score is 2m.
        self.spark_gbt = source.get("library") == "spark" and "GBTClassificationModel" in str(
            source.get("estimator", "")
        )

    def raw_prediction(self, values: np.ndarray, raw: Optional[np.ndarray]) -> np.ndarray:
        """Spark's ``rawPrediction``: ``[-m, m]`` for one boosted margin m
        (Spark's GBT margin is half the forest's raw score), the raw scores
        of a multi-class booster, and the summed per-tree class
        probabilities (Spark's random-forest votes) of averaging forests."""
        if raw is None:
            return values * float(self.n_trees)
        if raw.shape[1] == 1:
            m = raw[:, 0] * 0.5 if self.spark_gbt else raw[:, 0]
            return np.column_stack((-m, m))
        return raw


# ----- Arrow <-> NumPy --------------------------------------------------------


def _vector_arrow_type() -> Any:
    """The Arrow layout of Spark ML's ``VectorUDT`` (its ``sqlType``)."""
    import pyarrow as pa

    return pa.struct(
        [
            pa.field("type", pa.int8(), nullable=False),
            pa.field("size", pa.int32()),
            pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
            pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
        ]
    )


def _dense_vectors(x: np.ndarray) -> Any:
    """Rows of ``x`` as Spark ML dense vectors (type 1: values only)."""
    import pyarrow as pa

    n, k = x.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    values = pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(x).ravel()))
    vtype = _vector_arrow_type()
    return pa.StructArray.from_arrays(
        [
            pa.array(np.ones(n, dtype=np.int8)),
            pa.nulls(n, pa.int32()),
            pa.nulls(n, vtype.field("indices").type),
            values.cast(vtype.field("values").type),
        ],
        fields=list(vtype),
    )


def _double_lists(x: np.ndarray) -> Any:
    import pyarrow as pa

    n, k = x.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(x).ravel()))


def _float64(array: Any) -> np.ndarray:
    """A numeric Arrow array as float64, nulls as NaN (missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)


def _segments(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions of the list elements of ``rows`` (list offsets given),
    concatenated: the gather indices of those rows' elements."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    total = int(lengths.sum())
    within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within


def _list_offsets(lists: Any, column: str) -> np.ndarray:
    if lists.null_count:
        raise InputError(f"column `{column}` has null rows; a row needs its features")
    return np.asarray(lists.offsets, dtype=np.int64)


def _from_vectors(vectors: Any, k: int, column: str) -> np.ndarray:
    """Spark ML vectors (dense type 1, sparse type 0) as an (n, k) array."""
    if vectors.null_count:
        raise InputError(f"column `{column}` has null vectors; a row needs its features")
    n = len(vectors)
    kinds = vectors.field("type").to_numpy(zero_copy_only=False)
    values = vectors.field("values")
    voff = _list_offsets(values, column)
    vflat = _float64(values.values)
    x = np.zeros((n, k))
    dense = np.flatnonzero(kinds == 1)
    if dense.size:
        if np.any(voff[dense + 1] - voff[dense] != k):
            raise ShapeError(f"the model takes {k} features; a vector in `{column}` has another size")
        x[dense] = vflat[_segments(voff, dense)].reshape(-1, k)
    sparse = np.flatnonzero(kinds == 0)
    if sparse.size:
        sizes = vectors.field("size").to_numpy(zero_copy_only=False)[sparse]
        if np.any(sizes != k):
            raise ShapeError(f"the model takes {k} features; a vector in `{column}` has another size")
        indices = vectors.field("indices")
        if np.any(indices.is_null().to_numpy(zero_copy_only=False)[sparse]):
            raise InputError(f"a sparse vector in `{column}` has no indices")
        ioff = np.asarray(indices.offsets, dtype=np.int64)
        iflat = indices.values.to_numpy(zero_copy_only=False)
        ipos, vpos = _segments(ioff, sparse), _segments(voff, sparse)
        if ipos.size != vpos.size:
            raise InputError(f"a sparse vector in `{column}` has as many indices as values")
        cols = iflat[ipos]
        if np.any((cols < 0) | (cols >= k)):
            raise InputError(f"a sparse vector in `{column}` has an index outside 0..{k - 1}")
        lengths = ioff[sparse + 1] - ioff[sparse]
        x[np.repeat(sparse, lengths), cols] = vflat[vpos]
    if dense.size + sparse.size != n:
        raise InputError(f"column `{column}` holds a vector of an unknown kind")
    return x


def _from_lists(lists: Any, k: int, column: str) -> np.ndarray:
    """An array<number> column as an (n, k) array."""
    offsets = _list_offsets(lists, column)
    if np.any(np.diff(offsets) != k):
        raise ShapeError(f"the model takes {k} features; an array in `{column}` has another length")
    flat = _float64(lists.values)
    return flat[offsets[0] : offsets[-1]].reshape(-1, k)


def _from_columns(batch: Any, names: Sequence[str]) -> np.ndarray:
    """Numeric columns as an (n, k) column-major array (read in place)."""
    x = np.empty((len(names), batch.num_rows)).T
    for j, name in enumerate(names):
        x[:, j] = _float64(batch.column(name))
    return x


# ----- the DataFrame side -----------------------------------------------------


def _features_reader(df: Any, forest: Forest, features_col: Optional[str], feature_cols: Any) -> Callable:
    """A function of an Arrow batch giving its (n, k) feature array, after
    checking the DataFrame's columns on the driver."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import types as T

    k = forest.n_features_in_
    if features_col is not None and feature_cols is not None:
        raise InputError("give features_col or feature_cols, not both")
    if features_col is None and feature_cols is None:
        names = forest.feature_names_in_
        if names is not None:
            feature_cols = [str(n) for n in names]
        elif "features" in df.columns:
            features_col = "features"
        else:
            raise InputError(
                "give features_col (a vector or array column) or feature_cols (numeric columns)"
            )
    fields = {f.name: f.dataType for f in df.schema.fields}
    if feature_cols is not None:
        if isinstance(feature_cols, str):
            raise InputError("feature_cols is a list of column names; use features_col for one column")
        names = [str(c) for c in feature_cols]
        if len(names) != k:
            raise ShapeError(f"the model takes {k} features; feature_cols names {len(names)}")
        for name in names:
            kind = fields.get(name)
            if kind is None:
                raise InputError(f"no column `{name}` in the DataFrame")
            if not isinstance(kind, T.NumericType) or isinstance(kind, T.DecimalType):
                raise InputError(f"column `{name}` must be numeric; it is {kind.simpleString()}")
        return lambda batch: _from_columns(batch, names)
    column = str(features_col)
    kind = fields.get(column)
    if kind is None:
        raise InputError(f"no column `{column}` in the DataFrame")
    if isinstance(kind, VectorUDT):
        return lambda batch: _from_vectors(batch.column(column), k, column)
    if isinstance(kind, T.ArrayType) and isinstance(kind.elementType, T.NumericType):
        return lambda batch: _from_lists(batch.column(column), k, column)
    raise InputError(
        f"column `{column}` must be a Spark ML vector or an array of numbers; "
        f"it is {kind.simpleString()}"
    )


def _check_spark() -> None:
    import pyspark

    major = int(pyspark.__version__.split(".")[0])
    if major < 4:
        raise InputError(
            f"forest2onnx.spark.transform needs pyspark >= 4.0 (Spark ML vectors in Arrow "
            f"batches); this is pyspark {pyspark.__version__}"
        )


def transform(
    df: Any,
    model: Any,
    *,
    features_col: Optional[str] = None,
    feature_cols: Optional[Sequence[str]] = None,
    prediction_col: str = "prediction",
    probability_col: str = "probability",
    raw_prediction_col: str = "rawPrediction",
    n_threads: int = 1,
    keep_sparse: bool = False,
) -> Any:
    """``df`` with the model's predictions appended, as Spark ML's
    ``model.transform(df)`` appends them; lazy, like every transformation.

    ``model``: where the model file is, readable from the driver and every
    executor: a path (a shared or mounted file system), a ``file://`` or an
    ``http(s)://`` URL. Any file :func:`forest2onnx.load` reads, best a
    ``.forest`` file (``forest2onnx convert spark_model/ -o m.forest``).
    Each Python worker reads it once and keeps it (keyed by location, and
    a local file's size and modification time).

    Features: ``features_col``, a Spark ML vector column (dense or sparse)
    or an array of numbers, or ``feature_cols``, numeric columns in the
    model's order. With neither, the model's feature names (a Spark
    pipeline's assembler inputs, a pandas-fitted estimator) or a column
    ``features``. Nulls in numeric columns are missing values (NaN), as
    ``VectorAssembler(handleInvalid="keep")`` makes them.

    Appended columns:

    * ``prediction_col`` (double): a classifier's class index (the
      position in ``forest2onnx.load(model).classes_``; Spark's own label
      for a Spark model), a regressor's value (an ``array<double>`` for
      several targets);
    * classifiers: ``probability_col`` (vector of class probabilities) and
      ``raw_prediction_col`` (vector): ``[-m, m]`` for a binary booster with
      margin ``m`` (Spark's GBT margin, half of ``decision_function``; for
      XGBoost, LightGBM and scikit-learn boosters their own margin, as
      Spark's logistic regression), the raw scores of multi-class boosters,
      and the summed per-tree class probabilities of averaging forests (a
      Spark random forest's ``rawPrediction``; a Spark decision tree's
      rawPrediction is the leaf's training counts, which a converted model
      does not keep: it gets the leaf's proportions).

    ``n_threads``: threads per Spark task (Spark runs one task per core).

    ``keep_sparse``: Spark ML vector columns of ``df`` travel to the Python
    workers as arrays of doubles (``vector_to_array``; for Spark a third of
    the cost of vectors) and come back as dense vectors with the same
    values (``array_to_vector``). With ``keep_sparse=True`` they travel as
    vectors and come back unchanged, sparse ones sparse.
    """
    _check_spark()
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import types as T

    if not isinstance(model, (str, os.PathLike)):
        raise InputError(
            f"model is the path or URL of a model file, not a {type(model).__name__}"
        )
    if not isinstance(keep_sparse, bool):
        raise InputError(f"keep_sparse must be True or False, not {keep_sparse!r}")
    location = os.fspath(model)
    forest = load_cached(location)
    outputs = _Outputs(forest)
    n_threads = threads(n_threads)
    vectors = [] if keep_sparse else [f.name for f in df.schema.fields if isinstance(f.dataType, VectorUDT)]
    source = _vectors_as_arrays(df, vectors)
    features = _features_reader(source, forest, features_col, feature_cols)

    names: List[str] = [prediction_col]
    if outputs.classifier:
        names += [probability_col, raw_prediction_col]
    taken = [n for n in names if n in df.columns]
    if taken or len(set(names)) != len(names):
        raise InputError(f"output column {', '.join(taken or names)} already exists")
    if outputs.classifier or outputs.n_outputs == 1:
        extra = [T.StructField(prediction_col, T.DoubleType(), False)]
    else:
        extra = [T.StructField(prediction_col, T.ArrayType(T.DoubleType(), False), False)]
    if outputs.classifier:
        extra += [
            T.StructField(probability_col, VectorUDT(), False),
            T.StructField(raw_prediction_col, VectorUDT(), False),
        ]
    schema = T.StructType(source.schema.fields + extra)

    def score(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        scorer = load_cached(location)._native
        for batch in batches:
            x = features(batch)
            classes, values, raw = scorer.predict(x, n_threads)
            columns = list(batch.columns)
            if outputs.classifier:
                columns += [
                    pa.array(np.asarray(classes, dtype=np.float64)),
                    _dense_vectors(values),
                    _dense_vectors(outputs.raw_prediction(values, raw)),
                ]
            elif values.shape[1] == 1:
                columns.append(pa.array(values[:, 0]))
            else:
                columns.append(_double_lists(values))
            yield pa.RecordBatch.from_arrays(columns, names=batch.schema.names + names)

    return _arrays_as_vectors(source.mapInArrow(score, schema), vectors)


def _vectors_as_arrays(df: Any, vectors: List[str]) -> Any:
    """``df`` with its vector columns ``vectors`` as arrays of doubles:
    the JVM writes those to Arrow far faster than vectors."""
    if not vectors:
        return df
    from pyspark.ml.functions import vector_to_array

    return df.select(*[vector_to_array(df[c]).alias(c) if c in vectors else df[c] for c in df.columns])


def _arrays_as_vectors(df: Any, vectors: List[str]) -> Any:
    """The inverse of :func:`_vectors_as_arrays` (dense vectors)."""
    if not vectors:
        return df
    from pyspark.ml.functions import array_to_vector

    return df.select(*[array_to_vector(df[c]).alias(c) if c in vectors else df[c] for c in df.columns])
