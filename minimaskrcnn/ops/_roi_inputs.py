"""Argument checks and thread choice shared by the RoI ops (roi_align, roi_pool).

Kernels assume what these functions guarantee: C-contiguous arrays of the
features' dtype, rois ``(K, 5)`` with a valid integer batch index, finite
coordinates and ``x2 >= x1``, ``y2 >= y1``. Every error names the argument.
Feature values are not scanned for NaN/inf (that would cost a pass over the
whole map on every call); non-finite features propagate to the output.
"""
from __future__ import annotations

import math
import numbers
from contextlib import contextmanager

import numba
import numpy as np

# Below about this many inner-loop operations (~8 ms on one core) a call runs on
# one thread: waking the other threads costs microseconds on an idle machine, but
# a whole scheduler time slice (several ms) when another process keeps the other
# core busy -- more than the parallel loop would save.
PARALLEL_MIN_WORK = 16_000_000


def check_features(features, name: str = "features") -> np.ndarray:
    """(N, C, H, W) float32/float64, C-contiguous; other real dtypes become float64."""
    f = np.asarray(features)
    if f.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real-valued array, got dtype {f.dtype}")
    if f.dtype not in (np.float32, np.float64):
        f = f.astype(np.float64)
    if f.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got {f.shape}")
    if f.shape[2] < 1 or f.shape[3] < 1:
        raise ValueError(f"{name} must have H >= 1 and W >= 1, got shape {f.shape}")
    return np.ascontiguousarray(f)


def check_rois(rois, features: np.ndarray) -> np.ndarray:
    """(K, 5) rows (batch_index, x1, y1, x2, y2), converted to the features' dtype."""
    r = np.asarray(rois)
    if r.dtype.kind not in "fiu":
        raise TypeError(f"rois must be a real-valued array, got dtype {r.dtype}")
    if r.ndim != 2 or r.shape[1] != 5:
        raise ValueError(f"rois must have shape (K, 5) = (batch_index, x1, y1, x2, y2), got {r.shape}")
    r = np.ascontiguousarray(r, dtype=features.dtype)
    if r.shape[0] == 0:
        return r
    if not np.isfinite(r).all():
        raise ValueError("rois contains NaN or infinite values")
    batch = r[:, 0]
    if (batch != np.floor(batch)).any() or batch.min() < 0 or batch.max() >= features.shape[0]:
        raise ValueError(
            f"rois[:, 0] must be integer batch indices in [0, {features.shape[0]}) "
            f"(features has N = {features.shape[0]})"
        )
    if (r[:, 3] < r[:, 1]).any() or (r[:, 4] < r[:, 2]).any():
        raise ValueError("rois must satisfy x2 >= x1 and y2 >= y1 in every row (b, x1, y1, x2, y2)")
    return r


def check_output_size(output_size) -> tuple[int, int]:
    """An int ``s`` or a pair ``(ph, pw)`` of positive ints -> (ph, pw)."""
    size = (output_size, output_size) if isinstance(output_size, numbers.Integral) else output_size
    try:
        ph, pw = size
    except (TypeError, ValueError):
        raise TypeError(f"output_size must be an int or a pair (ph, pw), got {output_size!r}") from None
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (ph, pw)):
        raise TypeError(f"output_size must be an int or a pair (ph, pw) of ints, got {output_size!r}")
    if ph < 1 or pw < 1:
        raise ValueError(f"output_size must be positive, got {output_size!r}")
    return int(ph), int(pw)


def check_spatial_scale(spatial_scale) -> float:
    if not isinstance(spatial_scale, numbers.Real) or isinstance(spatial_scale, bool):
        raise TypeError(f"spatial_scale must be a number, got {spatial_scale!r}")
    if not (math.isfinite(spatial_scale) and spatial_scale > 0):
        raise ValueError(f"spatial_scale must be positive and finite, got {spatial_scale!r}")
    return float(spatial_scale)


def check_sampling_ratio(sampling_ratio) -> int:
    if not isinstance(sampling_ratio, numbers.Integral) or isinstance(sampling_ratio, bool):
        raise TypeError(f"sampling_ratio must be an int (<= 0 means adaptive), got {sampling_ratio!r}")
    return int(sampling_ratio)


def check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_grad_output(grad_output, shape: tuple, dtype) -> np.ndarray:
    """The upstream gradient: exactly the forward output's shape, cast to the features' dtype."""
    g = np.asarray(grad_output)
    if g.dtype.kind not in "fiu":
        raise TypeError(f"grad_output must be a real-valued array, got dtype {g.dtype}")
    if g.shape != tuple(shape):
        raise ValueError(f"grad_output must have the forward output's shape {tuple(shape)}, got {g.shape}")
    return np.ascontiguousarray(g, dtype=dtype)


@contextmanager
def threads_for(work: float):
    """Run the enclosed Numba kernel on all threads if ``work`` is large, else on one.

    Yields the number of threads chosen (kernels that split work into blocks use it).
    """
    previous = numba.get_num_threads()
    n = previous if work >= PARALLEL_MIN_WORK else 1
    numba.set_num_threads(n)  # thread-local: affects only this caller's next kernels
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
