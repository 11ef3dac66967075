"""forest2onnx: convert trained tree ensembles to ONNX exactly, and keep
them in a safe, fast native file, from Python, on forest2onnx's Rust core.

* :func:`to_onnx` converts a fitted scikit-learn tree model, an XGBoost or
  a LightGBM model (or a loaded :class:`Forest`) to ONNX bytes, validated
  row by row;
* :func:`convert` converts model files, like ``forest2onnx convert``;
* :func:`dump` / :func:`load` replace ``joblib.dump`` / ``joblib.load``
  with a checksummed ``.forest`` file that is safe to load from anywhere;
* :func:`validate` compares an ONNX model with the source model;
* :func:`forest2onnx.spark.transform` scores a Spark DataFrame in the
  executors, as Spark ML's ``model.transform``.

Model objects are never unpickled or executed by forest2onnx: a
scikit-learn estimator is pickled in memory and read *as data* by the same
restricted reader that reads ``.pkl``/``.joblib`` files.

Errors are :class:`Error` subclasses carrying the command line's messages.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Union

from . import _native
from ._errors import (
    Error,
    ExportError,
    InputError,
    LoadError,
    NotFittedError,
    ShapeError,
    UnsupportedModelError,
    ValidationError,
)
from ._forest import Forest, as_rows
from ._models import SKLEARN_SUPPORTED, SUPPORTED_TEXT, model_bytes, params_json
from . import registry  # noqa: E402  (forest2onnx.registry.push/pull/list)
from . import spark  # noqa: E402  (forest2onnx.spark.transform; imports pyspark when called)

Report = _native.Report
__version__ = _native.__version__

__all__ = [
    "to_onnx",
    "convert",
    "convert_many",
    "dump",
    "load",
    "validate",
    "registry",
    "spark",
    "Forest",
    "Report",
    "Error",
    "LoadError",
    "UnsupportedModelError",
    "NotFittedError",
    "ExportError",
    "ValidationError",
    "ShapeError",
    "InputError",
    "SKLEARN_SUPPORTED",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]


def _forest(model: Any) -> "tuple[Forest, Optional[dict]]":
    """A Forest for a model object (or the Forest itself), and the model's
    training parameters when it has them."""
    if isinstance(model, Forest):
        return model, None
    if isinstance(model, (str, os.PathLike, bytes)):
        raise InputError(
            "give a fitted model object; for a model file use forest2onnx.load(path) "
            "or forest2onnx.convert(path_in, path_out)"
        )
    data, params = model_bytes(model)
    return Forest(_native.Forest.from_bytes(data)), params


_forest_of = _forest  # for forest2onnx.registry


def _check_options(precision: Any, ml_opset: Any, zipmap: Any, validate: Any) -> None:
    if precision not in ("auto", "float", "double"):
        raise InputError(f'precision must be "auto", "float" or "double", not {precision!r}')
    if ml_opset is not None and (isinstance(ml_opset, bool) or ml_opset not in (1, 3, 5)):
        raise InputError(f"ml_opset must be 1, 3, 5 or None, not {ml_opset!r}")
    for name, value in (("zipmap", zipmap), ("validate", validate)):
        if not isinstance(value, bool):
            raise InputError(f"{name} must be True or False, not {value!r}")


def to_onnx(
    model: Any,
    *,
    precision: str = "auto",
    ml_opset: Optional[int] = None,
    zipmap: bool = False,
    validate: bool = True,
) -> bytes:
    """Convert a fitted tree model to an ONNX model; returns its bytes.

    ``model``: a fitted scikit-learn estimator (decision trees, random
    forests and extra trees, classifiers and regressors; GradientBoosting;
    HistGradientBoosting; IsolationForest), an ``xgboost.Booster`` or
    ``XGBModel``, a ``lightgbm.Booster`` or ``LGBMModel``, or a
    :class:`Forest`. The object is serialised in memory and read by the
    same safe Rust reader as model files.

    Options (the command line's ``convert`` options):

    * ``precision``: ``"auto"`` (default) picks the one that reproduces
      the model exactly: ``"double"`` for models that compare float64
      inputs with float64 thresholds (LightGBM, HistGradientBoosting),
      ``"float"`` for models that round inputs to float32 first
      (scikit-learn trees and forests, GradientBoosting, IsolationForest,
      XGBoost). ``"float"`` makes a float32 input and outputs; routing is
      exact for every float32 input (thresholds are rounded to the float32
      that splits float32 inputs as the model does). ``"double"`` makes a
      double input and outputs: exact for every float64 input; needs
      ``ml_opset`` 3 or 5.
    * ``ml_opset``: the ``ai.onnx.ml`` opset. 1 (the default for float)
      and 3 (the default for double) write ``TreeEnsembleClassifier`` /
      ``TreeEnsembleRegressor``; 5 writes ``TreeEnsemble``.
    * ``zipmap``: also output the probabilities as one ``{label:
      probability}`` map per row (``output_probability``), as skl2onnx
      does. Outputs are otherwise ``label`` and ``probabilities``
      (classifiers), ``variable`` (regressors), ``label`` and ``scores``
      (isolation forests).
    * ``validate``: run the ONNX model (forest2onnx's tract runtime) on
      rows at every split threshold and one step either side, and compare
      it with the model: a mismatch raises :class:`ValidationError`.

    Raises :class:`UnsupportedModelError` (naming what is supported),
    :class:`NotFittedError`, :class:`LoadError`, :class:`ExportError` or
    :class:`ValidationError`.
    """
    _check_options(precision, ml_opset, zipmap, validate)
    forest, _ = _forest(model)
    return forest._native.to_onnx(precision, ml_opset, zipmap, validate)


def convert(path_in: PathLike, path_out: PathLike, **options: Any) -> int:
    """Convert the model file ``path_in`` to ``path_out``, like ``forest2onnx
    convert``; returns the number of bytes written.

    The input format is recognised from the content (a ``.forest`` file, a
    scikit-learn pickle/joblib file read as data, XGBoost JSON/UBJSON,
    LightGBM text, smartcore JSON). The output's extension chooses what is
    written: ``.onnx`` (options ``precision``, ``ml_opset``, ``zipmap``,
    ``validate``, ``name``, ``doc``: see :func:`to_onnx`) or ``.forest``
    (options ``compress``, 0-22, default 3, and ``validate``: decode the
    file again and require the identical forest). Options for the other
    format, and unknown options, raise :class:`InputError`. Nothing is
    written when validation fails; files are replaced atomically.
    """
    path_out = os.fspath(path_out)
    ext = os.path.splitext(path_out)[1].lower()
    allowed = {
        ".onnx": {"precision", "ml_opset", "zipmap", "validate", "name", "doc"},
        ".forest": {"compress", "validate"},
    }
    if ext not in allowed:
        raise InputError(
            f"cannot tell the output format from `{path_out}`: the known extensions are "
            ".onnx (ONNX), .forest (forest2onnx native)"
        )
    foreign = sorted(set(options) - allowed[ext])
    if foreign:
        raise InputError(
            f"{', '.join(foreign)} does not apply to {ext} output; "
            f"the options for {ext} are {', '.join(sorted(allowed[ext]))}"
        )
    forest = load(path_in)
    if ext == ".forest":
        return _save(forest, path_out, options.get("compress", 3), None, None)[0]
    precision = options.get("precision", "auto")
    ml_opset = options.get("ml_opset")
    zipmap = options.get("zipmap", False)
    check = options.get("validate", True)
    _check_options(precision, ml_opset, zipmap, check)
    name = options.get("name") or os.path.splitext(os.path.basename(os.fspath(path_in)))[0]
    onnx = forest._native.to_onnx(precision, ml_opset, zipmap, check, name, options.get("doc"))
    _native.write_atomic(path_out, onnx)
    return len(onnx)


def convert_many(
    source: PathLike,
    out_dir: PathLike,
    *,
    to: str = "onnx",
    precision: str = "auto",
    ml_opset: Optional[int] = None,
) -> "list[dict]":
    """Convert every model file of a folder (recursively), a glob (``*``,
    ``?``, ``**``) or one file into ``out_dir``, in parallel, as
    ``forest2onnx convert SOURCE --out-dir OUT_DIR --to TO`` does (the same
    Rust code): each file is validated and written atomically, at its path
    relative to the folder, with the extension of ``to`` (``"onnx"``,
    ``"forest"`` or ``"pmml"``).

    Returns one dict per file, in order: ``input``, ``output`` (None unless
    converted), ``format``, ``library``, ``version``, ``estimator``,
    ``result`` (``"converted"``, ``"refused"``, ``"failed"`` or
    ``"skipped"`` for files that are not models), ``reason``, ``bytes``,
    ``millis``. Nothing is written for a file that is not converted.
    """
    _check_options(precision, ml_opset, False, True)
    if to not in ("onnx", "forest", "pmml"):
        raise InputError(f'to must be "onnx", "forest" or "pmml", not {to!r}')
    text = _native.convert_many(os.fspath(source), os.fspath(out_dir), to, precision, ml_opset)
    return json.loads(text)


def _save(
    forest: Forest,
    path: PathLike,
    compress: Any,
    metadata: Optional[Dict[str, str]],
    params: Optional[dict],
    environment: Optional[dict] = None,
    versioned: bool = False,
) -> "tuple[int, str]":
    if isinstance(compress, bool) or not isinstance(compress, int) or not 0 <= compress <= 22:
        raise InputError(f"compress must be an int from 0 (none) to 22, not {compress!r}")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise InputError("metadata must be a dict of str to str")
    env = None if environment is None else json.dumps(environment)
    size, written = forest._native.save(
        os.fspath(path), compress, metadata, params_json(params), env, versioned
    )
    return size, os.fspath(written)


def dump(
    model: Any,
    path: PathLike,
    *,
    compress: int = 3,
    metadata: Optional[Dict[str, str]] = None,
    environment: bool = True,
    requirements: bool = False,
    versioned: bool = False,
) -> Union[int, str]:
    """Save a fitted model (see :func:`to_onnx` for the kinds) or a
    :class:`Forest` as a native ``.forest`` file; returns its size in bytes
    (with ``versioned=True``, the path written).

    The file is versioned and checksummed, and safe to :func:`load` from an
    untrusted source (nothing in it is executed). It is encoded, decoded
    again and compared with the model before it atomically replaces
    ``path``. ``compress``: zstd level, 0 (uncompressed, memory-mappable)
    to 22; default 3. ``metadata``: your own ``str -> str`` tags, given back
    by ``load(path).metadata``. The estimator's parameters
    (``get_params()``) are recorded as training parameters.

    ``environment`` (default True) records the Python, platform, numpy,
    scikit-learn / XGBoost / LightGBM versions (``load(path).provenance
    ["environment"]``, ``forest2onnx inspect``); ``requirements=True`` adds
    the installed package set (``name==version`` lines) and its SHA-256.
    ``versioned=True`` writes ``NAME_vN_<UTC time>.forest`` next to
    ``path`` (NAME: ``path``'s stem; N one more than the latest version, as
    the command line's ``--versioned``, safe under concurrent saves).
    """
    forest, params = _forest(model)
    if not isinstance(versioned, bool) or not isinstance(requirements, bool):
        raise InputError("versioned and requirements must be True or False")
    # A Forest read from a native file keeps the environment it recorded.
    kept = isinstance(model, Forest) and (model.provenance or {}).get("environment")
    env = _environment(requirements) if environment and not kept else None
    size, written = _save(forest, path, compress, metadata, params, env, versioned)
    return written if versioned else size


def _environment(requirements: bool) -> dict:
    """The software this process runs on, for :func:`dump`."""
    import hashlib
    import platform
    from importlib import metadata as md

    packages = {}
    for name in ("scikit-learn", "numpy", "scipy", "xgboost", "xgboost-cpu", "lightgbm", "forest2onnx"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    env: Dict[str, Any] = {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "packages": packages,
    }
    if requirements:
        lines = sorted(
            {f"{d.metadata['Name']}=={d.version}" for d in md.distributions() if d.metadata["Name"]},
            key=str.lower,
        )
        text = "".join(line + "\n" for line in lines)
        env["requirements"] = text
        env["requirements_hash"] = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return env


def load(path: PathLike) -> Forest:
    """Load a model file as a :class:`Forest`: a ``.forest`` file, or any
    format :func:`convert` reads (recognised from the content; pickles are
    read as data, never unpickled)."""
    return Forest(_native.Forest.from_path(os.fspath(path)))


def validate(model_or_forest: Any, onnx_bytes: bytes, X: Any = None) -> "Report":
    """Compare the ONNX model ``onnx_bytes`` with a model (or a
    :class:`Forest`) row by row: on ``X`` (optional; NumPy array or pandas
    DataFrame) plus rows at every split threshold and one step either side.

    Returns a :class:`Report` (``passed``, ``mismatches``,
    ``max_abs_diff``, ``str(report)`` is the command line's report); a
    model that cannot be compared at all (other features or outputs) is a
    failed report.
    """
    if not isinstance(onnx_bytes, (bytes, bytearray, memoryview)):
        raise InputError(f"onnx_bytes must be bytes, not {type(onnx_bytes).__name__}")
    forest, _ = _forest(model_or_forest)
    rows = None
    if X is not None:
        rows = as_rows(X, forest._native.feature_names, forest.n_features_in_)
    return forest._native.validate(bytes(onnx_bytes), rows)
