"""Argument checks and thread choice shared by the RoI ops (roi_align, roi_pool).

Kernels assume what these functions guarantee: C-contiguous arrays of the
features' dtype, rois ``(K, 5)`` with a valid integer batch index, finite
coordinates within ``MAX_ROI_COORDINATE`` feature pixels of the origin and
``x2 >= x1``, ``y2 >= y1``. Every error names the argument.

Feature values are not scanned for NaN/inf (that would cost a pass over the
whole map on every call). Every RoI op propagates them the same way: a NaN
that enters a bin makes that bin's output NaN (average, RoIAlign max and
RoIPool alike), and in the max modes the gradient goes to the first NaN, as
``np.argmax`` picks it. An infinite feature may also turn into NaN where a
bilinear weight of 0 multiplies it (torchvision does the same).
"""
from __future__ import annotations

import math
import numbers
from contextlib import contextmanager

import numba
import numpy as np

from minimaskrcnn import checks

# Below about this many inner-loop operations (~8 ms on one core) a call runs on
# one thread: waking the other threads costs microseconds on an idle machine, but
# a whole scheduler time slice (several ms) when another process keeps the other
# core busy -- more than the parallel loop would save.
PARALLEL_MIN_WORK = 16_000_000

# RoI coordinates (times spatial_scale) must lie within this many feature pixels of
# the origin: beyond 2**24 float32 cannot tell neighbouring pixels apart, and the
# kernels' whole-pixel arithmetic (int64) stays exact far inside this bound.
MAX_ROI_COORDINATE = 2.0**24
MAX_OUTPUT_SIZE = 1024  # output bins per side (the model uses at most 28)


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


def check_rois(rois, features: np.ndarray, spatial_scale: float = 1.0) -> np.ndarray:
    """(K, 5) rows (batch_index, x1, y1, x2, y2), converted to the features' dtype."""
    try:
        r = np.asarray(rois)
    except ValueError:  # ragged rows
        raise ValueError("rois must have shape (K, 5) = (batch_index, x1, y1, x2, y2), got ragged rows") from None
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
    far = np.abs(r[:, 1:]).max(axis=1) * spatial_scale > MAX_ROI_COORDINATE  # (K,)
    if far.any():
        k = int(np.flatnonzero(far)[0])
        raise ValueError(f"rois[{k}] = {r[k].tolist()}: coordinates times spatial_scale ({spatial_scale:g}) "
                         f"must lie within +-2**24 feature pixels of the origin")
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
    if ph > MAX_OUTPUT_SIZE or pw > MAX_OUTPUT_SIZE:
        raise ValueError(f"output_size must be at most {MAX_OUTPUT_SIZE} per side, got {output_size!r}")
    return int(ph), int(pw)


def check_spatial_scale(spatial_scale) -> float:
    if not checks.is_number(spatial_scale, finite=False):
        raise TypeError(f"spatial_scale must be a number, got {spatial_scale!r}")
    if not (math.isfinite(spatial_scale) and spatial_scale > 0):
        raise ValueError(f"spatial_scale must be positive and finite, got {spatial_scale!r}")
    return float(spatial_scale)


def check_sampling_ratio(sampling_ratio) -> int:
    if not checks.is_int(sampling_ratio):
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
