"""Shared by ``booster_ours.py`` and ``booster_onnxmltools.py``: the booster
fixtures, what the library predicts for the rows a converted model is fed,
and the comparison and the table both scripts print (same columns, so the
two tables line up).

A fixture case is ``tests/fixtures/LIBRARY/VERSION/NAME.expected.json``
(written by ``booster_cases.py``): rows, the library's ``predict`` and
raw margins, and ``meta`` (library, version, case, objective, model files).
Model files in those directories that no ``*.expected.json`` names are the
ones the library can save but forest2onnx refuses (linear trees, gblinear,
vector leaves, the old binary format, ...).
"""

import json
import math
import os
from collections import OrderedDict

import numpy as np

#: Outputs must be within this much relative or absolute of the library's.
REL_TOL = 1e-5
ABS_TOL = 1e-6

#: Objectives whose ``predict`` gives probabilities (labels derived from them).
PROBABILITY_OBJECTIVES = ("binary:logistic", "multi:softprob", "binary", "multiclass",
                          "multiclassova")
#: Objectives whose ``predict`` gives the class itself.
CLASS_OBJECTIVES = ("multi:softmax",)

LIBRARIES = ("xgboost", "lightgbm")


def load_matrix(v):
    """A fixture matrix: ``null`` is NaN, ``"inf"``/``"-inf"`` infinities."""
    def num(x):
        if x is None:
            return np.nan
        if isinstance(x, str):
            return math.inf if x == "inf" else -math.inf
        return float(x)
    a = np.array([[num(x) for x in r] for r in v], dtype=np.float64)
    return a.reshape(len(v), -1)


def cases(root):
    """(library, version, directory, expected document) for every case
    under ``root/xgboost`` and ``root/lightgbm``, sorted."""
    for lib in LIBRARIES:
        base = os.path.join(root, lib)
        if not os.path.isdir(base):
            continue
        for version in sorted(os.listdir(base)):
            d = os.path.join(base, version)
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                if f.endswith(".expected.json"):
                    with open(os.path.join(d, f)) as fh:
                        yield lib, version, d, json.load(fh)


def refused_files(root):
    """(library, version, path) of every model file under ``root`` that no
    case names: the models forest2onnx is expected to refuse."""
    for lib in LIBRARIES:
        base = os.path.join(root, lib)
        if not os.path.isdir(base):
            continue
        for version in sorted(os.listdir(base)):
            d = os.path.join(base, version)
            if not os.path.isdir(d):
                continue
            named = set()
            for f in os.listdir(d):
                if f.endswith(".expected.json"):
                    with open(os.path.join(d, f)) as fh:
                        named.update(json.load(fh)["meta"]["files"])
            for f in sorted(os.listdir(d)):
                if not f.endswith(".expected.json") and f not in named:
                    yield lib, version, os.path.join(d, f)


def library_prediction(lib, model_path, exp, float32_inputs):
    """(rows, predict) to compare a converted model with.

    The fixture rows of XGBoost cases are float32 values already and XGBoost
    reads float32, so its recorded predictions apply at either precision.
    LightGBM compares in f64: a model fed float32 is compared with LightGBM
    on the same float32 values, predicted now by the installed LightGBM
    (which reads the older versions' files); a double model with the
    recorded predictions on the original rows.
    """
    rows = load_matrix(exp["rows"])
    expected = load_matrix(exp["predict"])
    if lib == "lightgbm" and float32_inputs:
        import lightgbm as lgb

        rows = rows.astype(np.float32).astype(np.float64)
        booster = lgb.Booster(model_file=model_path)
        expected = np.asarray(booster.predict(rows), dtype=np.float64).reshape(len(rows), -1)
    return rows, expected


def library_labels(objective, expected):
    """The labels the library's ``predict`` implies, or None (no classes)."""
    if objective in CLASS_OBJECTIVES:
        return expected[:, 0]
    if objective not in PROBABILITY_OBJECTIVES:
        return None
    if expected.shape[1] == 1:
        return (expected[:, 0] > 0.5).astype(np.float64)
    return np.argmax(expected, axis=1).astype(np.float64)


def as_predict(values, labels, objective, expected):
    """A converter's main output shaped like the library's ``predict``:
    the positive class of two probability columns, the label where the
    library predicts the class (``multi:softmax``)."""
    values = np.asarray(values, dtype=np.float64)
    if objective in CLASS_OBJECTIVES and labels is not None:
        values = np.asarray(labels, dtype=np.float64).reshape(-1, 1)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if values.ndim == 2 and values.shape[1] == 2 and expected.shape[1] == 1:
        values = values[:, 1:]
    if values.size != expected.size:
        raise RuntimeError("output shape %s, library %s" % (values.shape, expected.shape))
    return values.reshape(expected.shape)


def compare(got, labels, expected, objective):
    """Figures of one converted model on one runtime against the library:
    rows, rows off (any output beyond both tolerances; NaN only matches
    NaN), max abs |Δ|, max relative |Δ| (over values with |library| >= 1e-3,
    as the Rust tests count), label mismatches (classifiers with a label
    output)."""
    d = np.abs(got - expected)
    nan_got, nan_exp = np.isnan(got), np.isnan(expected)
    d[nan_got & nan_exp] = 0.0
    d[nan_got != nan_exp] = np.inf
    big = np.abs(expected) >= 1e-3
    rel = np.where(big & ~nan_exp, d / np.where(big, np.abs(expected), 1.0), 0.0)
    wrong = (d > ABS_TOL) & (d > REL_TOL * np.nan_to_num(np.abs(expected)))
    result = {
        "rows": int(got.shape[0]),
        "rows_off": int(np.any(wrong, axis=1).sum()),
        "max_abs": float(d.max(initial=0.0)),
        "max_rel": float(rel.max(initial=0.0)),
    }
    lib_labels = library_labels(objective, expected)
    if lib_labels is not None and labels is not None:
        labels = np.asarray(labels, dtype=np.float64).ravel()
        result["label_mismatches"] = int((labels != lib_labels).sum())
    return result


def summarise(results, runners, by_version=True):
    """Per (library, version, objective) -- or (library, objective) without
    ``by_version`` -- and runner: models, rows, rows off, label mismatches,
    max rel and abs |Δ|, failures. ``results`` are dicts with library,
    version, objective, and per runner name either figures or
    ``{"error": ...}``."""
    groups = OrderedDict()
    for r in sorted(results, key=lambda r: (LIBRARIES.index(r["library"]), r["version"],
                                            r["objective"])):
        key = (r["library"], r["version"] if by_version else "all", r["objective"])
        g = groups.setdefault(key, OrderedDict(
            (name, {"models": 0, "rows": 0, "rows_off": 0, "label_mismatches": 0,
                    "labelled": False, "max_rel": 0.0, "max_abs": 0.0, "failed": 0})
            for name in runners))
        for name in runners:
            cell, fig = g[name], r.get(name)
            if fig is None:
                continue
            if "error" in fig:
                cell["failed"] += 1
                continue
            cell["models"] += 1
            cell["rows"] += fig["rows"]
            cell["rows_off"] += fig["rows_off"]
            if "label_mismatches" in fig:
                cell["labelled"] = True
                cell["label_mismatches"] += fig["label_mismatches"]
            cell["max_rel"] = max(cell["max_rel"], fig["max_rel"])
            cell["max_abs"] = max(cell["max_abs"], fig["max_abs"])
    if not by_version:
        groups = OrderedDict(sorted(groups.items(), key=lambda kv: (
            LIBRARIES.index(kv[0][0]), kv[0][2])))
    return groups


def _joined(cells, fmt):
    return " / ".join(fmt(c) for c in cells)


def markdown_table(groups, runners):
    """One line per group, the figures of every runner in one cell joined
    by `` / `` in the order of ``runners``: the columns both booster
    scripts print."""
    lines = ["| library | version | objective | models | rows | label ≠ | rows off "
             "| max rel \\|Δ\\| | max abs \\|Δ\\| | failed |",
             "|---|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for (lib, version, objective), g in groups.items():
        cells = [g[name] for name in runners]
        lines.append("| %s | %s | %s | %d | %d | %s | %s | %s | %s | %s |" % (
            lib, version, objective, max(c["models"] for c in cells),
            max(c["rows"] for c in cells),
            _joined(cells, lambda c: str(c["label_mismatches"]) if c["labelled"] else "–"),
            _joined(cells, lambda c: str(c["rows_off"])),
            _joined(cells, lambda c: "%.1e" % c["max_rel"]),
            _joined(cells, lambda c: "%.1e" % c["max_abs"]),
            _joined(cells, lambda c: str(c["failed"])) if any(c["failed"] for c in cells)
            else ""))
    return "\n".join(lines)


def totals(groups, runners):
    """Per library, every version and objective together (one group per
    library, for ``markdown_table``)."""
    out = OrderedDict()
    for (lib, _, _), g in groups.items():
        t = out.setdefault((lib, "all", "all"), OrderedDict(
            (name, {"models": 0, "rows": 0, "rows_off": 0, "label_mismatches": 0,
                    "labelled": False, "max_rel": 0.0, "max_abs": 0.0, "failed": 0})
            for name in runners))
        for name in runners:
            c, s = g[name], t[name]
            for k in ("models", "rows", "rows_off", "label_mismatches", "failed"):
                s[k] += c[k]
            s["labelled"] = s["labelled"] or c["labelled"]
            s["max_rel"] = max(s["max_rel"], c["max_rel"])
            s["max_abs"] = max(s["max_abs"], c["max_abs"])
    return out


def first_line(e):
    """An exception as ``Type: first line`` for a table."""
    text = str(e).strip().splitlines()
    return "%s: %s" % (type(e).__name__, text[0][:200] if text else "")
