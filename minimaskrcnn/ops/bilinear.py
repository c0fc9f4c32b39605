"""Bilinear interpolation: reading a feature map *between* its pixels.

RoIAlign samples a feature map at fractional positions. This file defines how
one such sample is read, with the exact border rule of torchvision's RoIAlign,
so that ``roi_align`` is "bilinear_interpolate at well-chosen points, then pool".

The index frame
---------------
Here, and inside every RoI op, the value ``f[i, j]`` sits at the *point*
``(y, x) = (i, j)``. (In the box convention of ``minimaskrcnn.boxes`` pixel
``i`` covers ``[i, i+1)`` with its centre at ``i + 0.5``; the RoI ops move boxes
into this frame, see ``aligned`` in ops/roi_align.py.)

The four neighbours and their area weights
------------------------------------------
A point ``(y, x)`` lies in the unit square spanned by its four neighbours::

    (y_low, x_low)  ----- (y_low, x_high)         y_low = floor(y), y_high = y_low + 1
          |        .  |                           x_low = floor(x), x_high = x_low + 1
          |  ------*  |   * = (y, x)              ly = y - y_low,   hy = 1 - ly
          |        |  |                           lx = x - x_low,   hx = 1 - lx
    (y_high, x_low) ----- (y_high, x_high)

The point cuts the square into four rectangles. Each neighbour is weighted by
the area of the rectangle *opposite* it (diagonally across the point), so the
nearest neighbour gets the largest weight, and the four areas sum to 1::

    f(y, x) = hy*hx * f[y_low, x_low]  + hy*lx * f[y_low, x_high]
            + ly*hx * f[y_high, x_low] + ly*lx * f[y_high, x_high]

This is linear interpolation along x on both rows, then along y between them,
so it reproduces any affine map ``a*x + b*y + c`` exactly.

Border rule (torchvision's RoIAlign)
------------------------------------
For a map of ``H`` rows and ``W`` columns:

* a point with ``y < -1`` or ``y > H`` or ``x < -1`` or ``x > W`` is *outside*:
  value 0, all four weights 0 (we report its neighbours as -1);
* otherwise a coordinate below 0 is clamped to 0, and a coordinate at or past
  the last row (``y >= H - 1``) uses that row alone (``y_low = y_high = H - 1``,
  ``ly = 0``); likewise for columns.

Worked example, ``f = np.arange(25.).reshape(5, 5)`` (so ``f[i, j] = 5i + j``)
at ``(y, x) = (1.25, 2.5)``: neighbours ``f[1,2], f[1,3], f[2,2], f[2,3] = 7, 8,
12, 13``; ``ly = 0.25, lx = 0.5``; weights ``0.375, 0.375, 0.125, 0.125``;
value ``2.625 + 3 + 1.5 + 1.625 = 8.75 = 5 * 1.25 + 2.5``::

    >>> s = bilinear_interpolate(np.arange(25.).reshape(5, 5), 1.25, 2.5)
    >>> float(s.value), s.ys.tolist(), s.xs.tolist(), s.weights.tolist()
    (8.75, [1, 1, 2, 2], [2, 3, 2, 3], [0.375, 0.375, 0.125, 0.125])

Arithmetic happens in the feature map's dtype (float32 or float64), as in
torchvision, so the RoI ops built on it match torchvision to the last bits.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class Bilinear(NamedTuple):
    """One or many bilinear samples, their four neighbours and area weights.

    The last axis of ``ys``, ``xs``, ``weights`` lists the neighbours in the
    order top-left, top-right, bottom-left, bottom-right:
    ``(y_low, x_low), (y_low, x_high), (y_high, x_low), (y_high, x_high)``.
    """

    value: np.ndarray  # (...)     the interpolated value, sum(weights * f[ys, xs])
    ys: np.ndarray  # (..., 4)     neighbour rows (-1 for an outside point)
    xs: np.ndarray  # (..., 4)     neighbour columns (-1 for an outside point)
    weights: np.ndarray  # (..., 4)  area weights: sum to 1, or all 0 outside


def _as_feature(feature) -> np.ndarray:
    f = np.asarray(feature)
    if f.dtype.kind not in "fiub":
        raise TypeError(f"feature must be a real-valued array, got dtype {f.dtype}")
    if f.dtype not in (np.float32, np.float64):
        f = f.astype(np.float64)
    if f.ndim != 2 or 0 in f.shape:
        raise ValueError(f"feature must be a non-empty 2-D map (H, W), got shape {f.shape}")
    return f


def bilinear_interpolate_naive(feature, y: float, x: float) -> Bilinear:
    """One sample of ``feature`` (H, W) at the point (y, x), spelled out step by step."""
    f = _as_feature(feature)
    T = f.dtype.type  # do the arithmetic in the feature's precision
    height, width = f.shape
    y, x = T(y), T(x)
    if not (np.isfinite(y) and np.isfinite(x)):
        raise ValueError(f"y and x must be finite, got y={y}, x={x}")
    if y < -1 or y > height or x < -1 or x > width:  # outside: contributes nothing
        return Bilinear(T(0), np.full(4, -1), np.full(4, -1), np.zeros(4, dtype=T))
    if y <= 0:
        y = T(0)
    if x <= 0:
        x = T(0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:  # on or past the last row: use that row alone
        y_low = y_high = height - 1
        y = T(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = T(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - T(y_low), x - T(x_low)  # distance from the top-left neighbour
    hy, hx = T(1) - ly, T(1) - lx
    ys = np.array([y_low, y_low, y_high, y_high])
    xs = np.array([x_low, x_high, x_low, x_high])
    weights = np.array([hy * hx, hy * lx, ly * hx, ly * lx], dtype=T)  # opposite areas
    value = (
        weights[0] * f[ys[0], xs[0]]
        + weights[1] * f[ys[1], xs[1]]
        + weights[2] * f[ys[2], xs[2]]
        + weights[3] * f[ys[3], xs[3]]
    )
    return Bilinear(value, ys, xs, weights)


@njit(cache=True)
def linear_weights(t, size, T):
    """The rule along one axis, as the Numba kernels use it (not validated).

    Bilinear weights are products of 1-D weights -- ``hy*hx, hy*lx, ly*hx,
    ly*lx`` -- and the border rule treats the two axes independently, so the
    RoIAlign kernels tabulate this function once per sample row and once per
    sample column instead of once per sample.

    Args:
        t: coordinate of type ``T`` along an axis of ``size`` pixels.
        T: the float type, e.g. ``features.dtype.type``.

    Returns:
        ``(low, high, w_low, w_high)`` (for y: ``y_low, y_high, hy, ly``);
        ``(-1, -1, 0, 0)`` when ``t < -1`` or ``t > size`` (outside).
    """
    if t < -1.0 or t > size:
        return -1, -1, T(0), T(0)
    if t <= 0:
        t = T(0)
    low = int(t)
    if low >= size - 1:  # on or past the last pixel: use it alone
        low = size - 1
        high = size - 1
        t = T(low)
    else:
        high = low + 1
    frac = t - T(low)
    return low, high, T(1) - frac, frac


def bilinear_interpolate(feature, y, x) -> Bilinear:
    """Bilinear samples of ``feature`` (H, W) at points (y, x), vectorised.

    Args:
        feature: (H, W) map; float32/float64 kept, other real dtypes -> float64.
        y, x: scalars or arrays broadcastable to a common shape ``S`` (index frame).

    Returns:
        ``Bilinear(value (S), ys (S + (4,)), xs (S + (4,)), weights (S + (4,)))``,
        identical to ``bilinear_interpolate_naive`` point by point.
    """
    f = _as_feature(feature)
    T = f.dtype.type
    height, width = f.shape
    y, x = np.broadcast_arrays(np.asarray(y, dtype=T), np.asarray(x, dtype=T))
    if not (np.isfinite(y).all() and np.isfinite(x).all()):
        raise ValueError("y and x must be finite")
    outside = (y < -1) | (y > height) | (x < -1) | (x > width)
    # clamp below at 0 (the border rule); above at the size, which changes only outside
    # points and keeps the int conversion below exact for any finite coordinate
    y, x = np.clip(y, T(0), T(height)), np.clip(x, T(0), T(width))
    y_low, x_low = y.astype(np.int64), x.astype(np.int64)  # truncation = floor, as y, x >= 0
    last_row, last_col = y_low >= height - 1, x_low >= width - 1
    y_low = np.where(last_row, height - 1, y_low)
    x_low = np.where(last_col, width - 1, x_low)
    y_high = np.where(last_row, height - 1, y_low + 1)
    x_high = np.where(last_col, width - 1, x_low + 1)
    y = np.where(last_row, T(height - 1), y)
    x = np.where(last_col, T(width - 1), x)
    ly, lx = y - y_low.astype(T), x - x_low.astype(T)
    hy, hx = T(1) - ly, T(1) - lx
    ys = np.stack([y_low, y_low, y_high, y_high], axis=-1)  # (S, 4)
    xs = np.stack([x_low, x_high, x_low, x_high], axis=-1)  # (S, 4)
    weights = np.stack([hy * hx, hy * lx, ly * hx, ly * lx], axis=-1).astype(T)  # (S, 4)
    ys[outside], xs[outside], weights[outside] = -1, -1, 0
    v = np.where(outside[..., None], T(0), f[np.maximum(ys, 0), np.maximum(xs, 0)])  # (S, 4)
    value = ((v[..., 0] * weights[..., 0] + v[..., 1] * weights[..., 1])
             + v[..., 2] * weights[..., 2]) + v[..., 3] * weights[..., 3]
    return Bilinear(value, ys, xs, weights)
