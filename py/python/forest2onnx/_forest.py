"""``forest2onnx.Forest``: a loaded forest that predicts like the
estimator it came from."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import numpy as np

from . import _errors, _native


def _labels(values: Any) -> Optional[np.ndarray]:
    if values is None:
        return None
    if isinstance(values, list):  # string labels
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    return values


def as_rows(X: Any, feature_names: Optional[list], n_features: int) -> np.ndarray:
    """X as a 2-D float32 or float64 NumPy array, without a copy when it
    already is one (any memory order). pandas DataFrames must have the
    model's feature names, in order, when the model has names."""
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X, "to_numpy"):
        names = [str(c) for c in columns]
        if feature_names is not None and names != list(feature_names):
            raise _errors.InputError(
                f"the feature names of X do not match the model's: X has {names}, "
                f"the model was fitted with {list(feature_names)}"
            )
        X = X.to_numpy()
    try:
        X = np.asarray(X)
    except Exception as e:
        raise _errors.InputError(f"X cannot be read as an array: {e}") from None
    if X.dtype != np.float64 and X.dtype != np.float32:
        if X.dtype.kind in "iub" or (X.dtype.kind == "f"):
            X = X.astype(np.float64)
        elif X.dtype.kind == "O":
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as e:
                raise _errors.InputError(f"X must hold numbers: {e}") from None
        else:
            raise _errors.InputError(
                f"X must hold numbers; it has dtype {X.dtype} "
                "(encode categories as numbers first)"
            )
    if X.ndim != 2:
        raise _errors.InputError(
            f"X must be 2-D (rows x features); it has shape {X.shape}"
            + ("; use X.reshape(1, -1) for one row" if X.ndim == 1 else "")
        )
    if X.shape[1] != n_features:
        raise _errors.ShapeError(
            f"the model takes {n_features} features; the input has {X.shape[1]}"
        )
    return X


class Forest:
    """A decision forest loaded by forest2onnx (:func:`forest2onnx.load`).

    It predicts like the estimator it was converted from
    (``predict``, ``predict_proba``, ``decision_function``,
    ``score_samples``) on NumPy arrays or pandas DataFrames (float32 or
    float64, any memory order: float64 arrays are read in place), in
    parallel and without holding the GIL.
    """

    __slots__ = ("_native", "_classes", "_output_labels")

    def __init__(self, native: "_native.Forest") -> None:
        if not isinstance(native, _native.Forest):
            raise TypeError("use forest2onnx.load(path) to get a Forest")
        self._native = native
        self._classes = _labels(native.class_labels())
        self._output_labels = _labels(native.output_labels())

    # ----- what it is ---------------------------------------------------

    @property
    def task(self) -> str:
        """``"classification"``, ``"regression"`` or ``"anomaly_detection"``."""
        return self._native.task

    @property
    def classes_(self) -> np.ndarray:
        """Class labels of a classifier, in the estimator's order."""
        if self._classes is None:
            raise AttributeError(f"a {self.task} model has no classes_")
        return self._classes.copy()

    @property
    def n_features_in_(self) -> int:
        """Number of features the model takes."""
        return self._native.n_features

    @property
    def feature_names_in_(self) -> Optional[np.ndarray]:
        """Feature names the estimator was fitted with (None when unnamed)."""
        names = self._native.feature_names
        return None if names is None else _labels(list(names))

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return self._native.n_trees

    @property
    def n_nodes(self) -> int:
        """Number of nodes over all trees."""
        return self._native.n_nodes

    @property
    def source(self) -> Dict[str, Any]:
        """Library, version and estimator that trained the model."""
        return json.loads(self._native.source_json())

    @property
    def format(self) -> str:
        """The format the model was read from, e.g. ``"scikit-learn pickle"``."""
        return self._native.format

    @property
    def metadata(self) -> Dict[str, str]:
        """The ``metadata`` given to :func:`forest2onnx.dump` (empty when
        none, or when the model did not come from a ``.forest`` file)."""
        p = self.provenance
        return dict(p.get("tags", {})) if p else {}

    @property
    def provenance(self) -> Optional[Dict[str, Any]]:
        """Everything a ``.forest`` file records (format version, creation
        time, source, training parameters, tags, ...); None for models read
        from other formats."""
        text = self._native.provenance_json()
        return None if text is None else json.loads(text)

    def __repr__(self) -> str:
        s = self.source
        return (
            f"<forest2onnx.Forest {s.get('library', '')} {s.get('estimator', '')}: "
            f"{self.task}, {self.n_trees} trees, {self.n_features_in_} features>"
        )

    # ----- predictions --------------------------------------------------

    def _predict(self, X: Any, n_threads: Optional[int]):
        if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 0):
            raise _errors.InputError(f"n_threads must be a positive int or None, not {n_threads!r}")
        rows = as_rows(X, self._native.feature_names, self._native.n_features)
        return self._native.predict(rows, n_threads)

    def predict(self, X: Any, *, n_threads: Optional[int] = None) -> np.ndarray:
        """Predicted labels (classifiers), values (regressors: ``(n,)``, or
        ``(n, n_targets)`` for several targets) or -1/1 (isolation forests),
        equal to the estimator's ``predict``.

        ``n_threads``: threads to use (None: all cores).
        """
        classes, values, _ = self._predict(X, n_threads)
        if classes is not None:
            return self._output_labels[classes]
        return values[:, 0] if values.shape[1] == 1 else values

    def predict_proba(self, X: Any, *, n_threads: Optional[int] = None) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` of a classifier, columns in
        the order of ``classes_``."""
        if self._classes is None:
            raise AttributeError(f"a {self.task} model has no predict_proba")
        _, values, _ = self._predict(X, n_threads)
        return values

    def decision_function(self, X: Any, *, n_threads: Optional[int] = None) -> np.ndarray:
        """Raw scores of a boosted model (before the link function), or an
        isolation forest's ``decision_function``; ``(n,)`` for one score."""
        _, values, raw = self._predict(X, n_threads)
        if self.task == "anomaly_detection":
            return values[:, 1]
        if raw is None:
            raise AttributeError(
                "decision_function: only boosted models and isolation forests have raw scores"
            )
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def score_samples(self, X: Any, *, n_threads: Optional[int] = None) -> np.ndarray:
        """An isolation forest's ``score_samples``."""
        if self.task != "anomaly_detection":
            raise AttributeError("score_samples: only isolation forests have it")
        _, values, _ = self._predict(X, n_threads)
        return values[:, 0]

    # ----- back to scikit-learn ------------------------------------------

    def to_sklearn(self) -> Any:
        """A fitted estimator of the installed scikit-learn's own class
        (``RandomForest*``, ``ExtraTrees*``, ``DecisionTree*``,
        ``ExtraTree*``, ``GradientBoosting*``, ``HistGradientBoosting*``,
        ``IsolationForest``), rebuilt from this forest through that
        release's own tree and predictor state, whatever release pickled
        the model: its ``predict``, ``predict_proba``,
        ``decision_function``, ``score_samples`` and ``apply`` give the
        original's results.

        ``classes_``, ``n_features_in_`` and ``feature_names_in_`` are set.
        Not restored (not needed to predict): impurities and training
        sample counts (``feature_importances_`` is zeros), ``train_score_``,
        out-of-bag results, random states, and hyper-parameters that do not
        change predictions. A model the installed release cannot hold
        exactly raises :class:`forest2onnx.UnsupportedModelError`.
        """
        from ._restore import to_sklearn

        return to_sklearn(self._native)
