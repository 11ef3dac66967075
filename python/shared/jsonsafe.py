"""Values as JSON can hold them exactly."""

import math

import numpy as np


def number(v):
    """A JSON-safe scalar: Python numbers stay exact; non-finite floats
    become the strings "nan", "inf" and "-inf"; bytes become text."""
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def plain(value):
    """A model output as nested JSON lists (ZipMap outputs: one list of
    values per row, in key order)."""
    if isinstance(value, list):  # ZipMap: one dict per row
        return [[number(row[k]) for k in sorted(row.keys())] for row in value]

    def walk(v):
        return [walk(x) for x in v] if isinstance(v, list) else number(v)

    return walk(np.asarray(value).tolist())


def nullable(v):
    """A float for JSON where NaN (a missing value) is null and infinities
    are the strings "inf" and "-inf"."""
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def nullable_matrix(a):
    """Rows of :func:`nullable` values; a vector becomes one column."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    return [[nullable(v) for v in row] for row in a]
