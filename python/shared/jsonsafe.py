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
