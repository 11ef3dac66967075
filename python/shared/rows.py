"""Adversarial rows for the fixtures: every split threshold and the float
steps around it, and rows with missing values."""

import numpy as np


def threshold_rows(splits, base, rng, max_rows, float64_steps=True, dtype=np.float64):
    """Rows putting each split feature at its threshold's neighbourhood.

    ``splits`` is a sequence of ``(feature, threshold)``. Each row is a
    random row of ``base`` with that feature set to the nearest float32 of
    the threshold and one float32 step either side, and, with
    ``float64_steps``, to the threshold itself and one float64 step either
    side (values float32 inputs cannot hold). Infinite thresholds (splits
    that only separate missing values) give no rows. At most ``max_rows``
    rows, sampled in their original order.
    """
    rows = []
    for f, t in splits:
        if not np.isfinite(t):
            continue
        t32 = np.float32(t)
        values = {
            float(t32),
            float(np.nextafter(t32, np.float32(-np.inf))),
            float(np.nextafter(t32, np.float32(np.inf))),
        }
        if float64_steps:
            values |= {float(t), float(np.nextafter(t, -np.inf)), float(np.nextafter(t, np.inf))}
        for x in sorted(values):
            if not np.isfinite(x):
                continue
            row = base[rng.integers(len(base))].copy()
            row[f] = x
            rows.append(row)
    rows = np.array(rows, dtype=dtype).reshape(-1, base.shape[1])
    if len(rows) > max_rows:
        rows = rows[np.sort(rng.choice(len(rows), max_rows, replace=False))]
    return rows


def nan_rows(base, rng, n):
    """``n`` random rows of ``base`` with one or two values missing, then a
    row with every value missing."""
    rows = base[rng.integers(len(base), size=n)].copy()
    for i in range(n):
        rows[i, i % base.shape[1]] = np.nan
        if i % 3 == 0:
            rows[i, rng.integers(base.shape[1])] = np.nan
    return np.vstack([rows, np.full((1, base.shape[1]), np.nan, dtype=rows.dtype)])
