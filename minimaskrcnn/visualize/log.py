"""``log(name, array)``: one line with an array's shape, dtype, min and max.

The quickest check while stepping through a detector: a wrong shape, an
unexpected dtype or a NaN shows up at a glance::

    >>> log("anchors", np.zeros((4, 4), np.float32))
    anchors                   shape: (4, 4)               dtype: float32    min:    0.00000  max:    0.00000
"""
from __future__ import annotations

import numpy as np


def format_log(name: str, array=None) -> str:
    """The line ``log`` prints (without printing it)."""
    if array is None:
        return str(name)
    array = np.asarray(array)
    head = f"{name:<25} shape: {str(array.shape):<20} dtype: {str(array.dtype):<10}"
    if array.size == 0 or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return f"{head} min: {'-':>10}  max: {'-':>10}"
    values = array.astype(np.int64) if array.dtype == bool else array
    if np.issubdtype(values.dtype, np.integer):
        return f"{head} min: {values.min():10d}  max: {values.max():10d}"
    finite = values[~np.isnan(values)]
    if finite.size < values.size:
        head += f" ({values.size - finite.size} NaN)"
    if finite.size == 0:
        return f"{head} min: {'nan':>10}  max: {'nan':>10}"
    return f"{head} min: {finite.min():10.5f}  max: {finite.max():10.5f}"


def log(name: str, array=None) -> None:
    """Print name, shape, dtype, min and max of ``array`` (just the name if None)."""
    print(format_log(name, array))
