"""Turning a Python model object into the bytes forest2onnx's Rust readers
take: the same safe reader as for files (one code path), never the
object's own code."""

from __future__ import annotations

import json
import math
import pickle
from typing import Any, Optional, Tuple

from . import _errors

#: scikit-learn estimators the Rust importer converts, by class name.
SKLEARN_SUPPORTED = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "IsolationForest",
)

SUPPORTED_TEXT = (
    "scikit-learn "
    + ", ".join(SKLEARN_SUPPORTED)
    + "; xgboost.Booster and XGBModel (XGBClassifier, XGBRegressor, ...); "
    "lightgbm.Booster and LGBMModel (LGBMClassifier, LGBMRegressor, ...); "
    "a forest2onnx.Forest"
)


def _qualname(model: Any) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def _unsupported(model: Any) -> _errors.UnsupportedModelError:
    return _errors.UnsupportedModelError(
        f"not supported: {_qualname(model)}; forest2onnx converts {SUPPORTED_TEXT}"
    )


def _not_fitted(model: Any, why: Any = None) -> _errors.NotFittedError:
    detail = f" ({why})" if why else ""
    return _errors.NotFittedError(
        f"{type(model).__name__} is not fitted: call fit() before converting it{detail}"
    )


def model_bytes(model: Any) -> Tuple[bytes, Optional[dict]]:
    """The bytes of a fitted model object, in a format the Rust readers
    recognise, and its training parameters (JSON-able) when known."""
    module = type(model).__module__.split(".")[0]
    if module == "sklearn":
        return _sklearn_bytes(model)
    if module == "xgboost":
        return _xgboost_bytes(model)
    if module == "lightgbm":
        return _lightgbm_bytes(model)
    raise _unsupported(model)


def _sklearn_bytes(model: Any) -> Tuple[bytes, Optional[dict]]:
    if type(model).__name__ not in SKLEARN_SUPPORTED:
        raise _unsupported(model)
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        raise _not_fitted(model) from None
    # Protocol 5 keeps NumPy arrays in band (one buffer per array), read
    # by the restricted pickle reader without executing anything.
    data = pickle.dumps(model, protocol=5)
    return data, _params(model.get_params(deep=False))


def _xgboost_bytes(model: Any) -> Tuple[bytes, Optional[dict]]:
    import xgboost

    params = None
    if isinstance(model, xgboost.XGBModel):
        try:
            booster = model.get_booster()
        except Exception as e:  # xgboost's own NotFittedError
            raise _not_fitted(model, e) from None
        params = _params(model.get_params(deep=False))
    elif isinstance(model, xgboost.Booster):
        booster = model
    else:
        raise _unsupported(model)
    return bytes(booster.save_raw(raw_format="ubj")), params


def _lightgbm_bytes(model: Any) -> Tuple[bytes, Optional[dict]]:
    import lightgbm

    params = None
    if isinstance(model, lightgbm.LGBMModel):
        try:
            booster = model.booster_
        except Exception as e:  # LightGBM's NotFittedError
            raise _not_fitted(model, e) from None
        classes = getattr(model, "classes_", None)
        if classes is not None:
            import numpy as np

            if not np.array_equal(np.asarray(classes), np.arange(len(classes))):
                raise _errors.UnsupportedModelError(
                    f"not supported: {type(model).__name__} with classes_ other than "
                    "0..n-1 (the booster stores only class indices); fit it on "
                    "integer-encoded labels"
                )
        params = _params(model.get_params(deep=False))
    elif isinstance(model, lightgbm.Booster):
        booster = model
    else:
        raise _unsupported(model)
    return booster.model_to_string().encode("utf-8"), params


def _params(params: dict) -> dict:
    """Training parameters as JSON values (other objects as their repr)."""

    def value(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, str)):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else repr(v)
        return repr(v)

    return {str(k): value(v) for k, v in params.items()}


def params_json(params: Optional[dict]) -> Optional[str]:
    return None if params is None else json.dumps(params)
