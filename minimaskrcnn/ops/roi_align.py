"""RoIAlign: a fixed-size feature grid from a box, without rounding anything.

Definition
----------
For one RoI ``(b, x1, y1, x2, y2)`` (image coordinates) and output size
``(ph, pw)``:

1. Move the box onto the feature map: multiply by ``spatial_scale`` (1/stride)
   and, if ``aligned``, subtract 0.5 (see below). Nothing is rounded.
2. Split the box into ``ph x pw`` equal bins, of fractional size
   ``bin_h = roi_h / ph``, ``bin_w = roi_w / pw``.
3. In each bin place a regular ``gh x gw`` grid of sampling points at the
   centres of equal sub-cells: ``gh = gw = sampling_ratio`` if it is > 0, else
   adaptively ``gh = ceil(roi_h / ph)``, ``gw = ceil(roi_w / pw)`` (about one
   sample per feature pixel).
4. Read the map at every sampling point by bilinear interpolation
   (ops/bilinear.py, including its border rule).
5. Pool the samples of each bin into one number:
   ``mode="avg"`` averages them (the paper, torchvision, detectron2);
   ``mode="max"`` takes the largest (the lecture's drawing: 2x2 points per
   cell, then max pooling). With ``sampling_ratio=2`` both see the same four
   points; they differ only in how the four values are combined.

``aligned``: the half-pixel shift
----------------------------------
Boxes live in continuous coordinates (pixel ``i`` covers ``[i, i+1)``), but
bilinear interpolation puts value ``f[i]`` at the point ``i`` -- the centre of
pixel ``i`` is at ``i + 0.5`` in box coordinates. ``aligned=True`` subtracts
0.5 so that the two frames agree: the box ``[1, 3)`` then samples exactly
between the centres of pixels 1 and 2. ``aligned=False`` (torchvision's
default, the original Detectron behaviour) skips the shift, so every sample is
half a pixel too far right and down; it also forces RoIs to be at least 1x1.
**The model uses aligned=True.**

Worked example, ``f = np.arange(25).reshape(1, 1, 5, 5)`` (``f[y, x] = 5y + x``),
RoI ``(0, 1, 1, 3, 3)``, output 2x2, ``sampling_ratio=1``:

* ``aligned=True``: box in map coordinates ``[0.5, 2.5)``, bins of size 1,
  one sample at each bin centre ``y, x in {1.0, 2.0}`` -> ``[[6, 7], [11, 12]]``,
  the values of pixels 1..2 exactly.
* ``aligned=False``: box ``[1, 3)``, samples at ``{1.5, 2.5}`` ->
  ``[[9, 10], [14, 15]]``: shifted by half a pixel in both directions (+3).

Edges, defined once:

* a bin without samples (a zero-size box with ``aligned=True``: ``ceil(0) = 0``
  samples) gives 0, in both modes, and passes no gradient;
* samples outside the map read 0 (the border rule of ops/bilinear.py), so a box
  entirely off the map gives 0 in ``avg`` mode -- and in ``max`` mode, where 0 is
  then the largest sample;
* NaN propagates: a NaN among a bin's samples makes the bin NaN in both modes
  (as in ``roi_pool``), and in ``max`` mode the first NaN is the winner;
* the work is capped: a bin may hold at most ``MAX_SAMPLES_PER_BIN`` = 4096
  samples (64 x 64). The adaptive grid grows with the box (``ceil(roi_h / ph)``
  per axis), so a huge RoI is refused with an error naming it instead of
  running for hours; pass a fixed ``sampling_ratio`` (<= 64) for such boxes.

Gradient: the output is linear in the features. In ``avg`` mode each sample
sends ``grad / count`` to its four neighbours in proportion to their bilinear
weights; in ``max`` mode only the winning sample (the first maximum, or the
first NaN -- ``np.argmax``'s choice) sends ``grad`` to its four neighbours. ``roi_align_backward`` recomputes the winner
from ``features``, so in max mode it needs the forward input; in avg mode only
its shape and dtype are used.

In ``avg`` mode the outputs equal ``torchvision.ops.roi_align`` bit for bit
(arithmetic in the features' dtype, in the same order) for every ``aligned`` and
``sampling_ratio``; the gradients agree to rounding (the kernel divides the
upstream gradient by the sample count once per bin).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, uint64

from minimaskrcnn.ops._roi_inputs import (
    check_features,
    check_flag,
    check_grad_output,
    check_output_size,
    check_rois,
    check_sampling_ratio,
    check_spatial_scale,
)
from minimaskrcnn.ops import tiles
from minimaskrcnn.ops.bilinear import bilinear_interpolate_naive, linear_weights

MAX_SAMPLES_PER_BIN = 4096  # gh * gw; see "Edges" above


# --------------------------------------------------------------------------- geometry
def _roi_align_geometry(roi_xyxy, ph, pw, spatial_scale, sampling_ratio, aligned, T):
    """Box start, bin size and samples per bin for one RoI, in arithmetic of type T."""
    offset = T(0.5) if aligned else T(0)
    scale = T(spatial_scale)
    x1, y1, x2, y2 = (T(v) * scale - offset for v in roi_xyxy)
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # legacy behaviour: at least one pixel
        roi_w, roi_h = max(roi_w, T(1)), max(roi_h, T(1))
    bin_h, bin_w = roi_h / T(ph), roi_w / T(pw)
    if sampling_ratio > 0:
        gh = gw = sampling_ratio
    else:  # adaptive: about one sample per feature pixel
        gh, gw = int(math.ceil(roi_h / T(ph))), int(math.ceil(roi_w / T(pw)))
    return y1, x1, bin_h, bin_w, gh, gw


def roi_align_sampling_points(roi_xyxy, output_size, spatial_scale=1.0, sampling_ratio=-1,
                              aligned=False, dtype=np.float64):
    """Where RoIAlign reads the feature map for one RoI, in the map's index frame.

    Args:
        roi_xyxy: (x1, y1, x2, y2) in image coordinates (no batch index).
        output_size, spatial_scale, sampling_ratio, aligned: as in ``roi_align``.
        dtype: arithmetic precision (the features' dtype).

    Returns:
        ``(ys, xs)`` with ``ys`` (ph, gh) and ``xs`` (pw, gw): the samples of bin
        ``(i, j)`` are all ``gh * gw`` points ``(ys[i, a], xs[j, b])``. The grid is
        separable, so rows and columns are listed once.
    """
    ph, pw = check_output_size(output_size)
    T = np.dtype(dtype).type
    roi_xyxy = _check_roi_xyxy(roi_xyxy)
    y1, x1, bin_h, bin_w, gh, gw = _roi_align_geometry(
        roi_xyxy, ph, pw, check_spatial_scale(spatial_scale), check_sampling_ratio(sampling_ratio),
        check_flag(aligned, "aligned"), T)
    _check_samples_per_bin(np.array([gh * gw]), np.array([[0, *roi_xyxy]]))
    # Same operation order as the kernel: start + i * bin + ((a + 0.5) * bin) / g.
    ys = (y1 + np.arange(ph, dtype=T)[:, None] * bin_h) + (np.arange(gh, dtype=T) + T(0.5)) * bin_h / T(gh)
    xs = (x1 + np.arange(pw, dtype=T)[:, None] * bin_w) + (np.arange(gw, dtype=T) + T(0.5)) * bin_w / T(gw)
    return ys.reshape(ph, gh), xs.reshape(pw, gw)


def roi_align_bin_edges(roi_xyxy, output_size, spatial_scale=1.0, aligned=False, dtype=np.float64):
    """Bin boundaries of one RoI in the index frame: ``(y_edges (ph+1,), x_edges (pw+1,))``."""
    ph, pw = check_output_size(output_size)
    T = np.dtype(dtype).type
    y1, x1, bin_h, bin_w, _, _ = _roi_align_geometry(
        _check_roi_xyxy(roi_xyxy), ph, pw, check_spatial_scale(spatial_scale), 1,
        check_flag(aligned, "aligned"), T)
    return y1 + np.arange(ph + 1, dtype=T) * bin_h, x1 + np.arange(pw + 1, dtype=T) * bin_w


def _check_roi_xyxy(roi_xyxy) -> tuple:
    """One box (x1, y1, x2, y2) of finite numbers with x2 >= x1, y2 >= y1."""
    box = np.asarray(roi_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1]:
        raise ValueError(f"roi_xyxy must be one finite box (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, "
                         f"got {np.asarray(roi_xyxy).tolist()}")
    return tuple(np.asarray(roi_xyxy).reshape(-1))


def samples_per_bin(rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
                    dtype=np.float64) -> np.ndarray:
    """(K,) int64 number of samples ``gh * gw`` in each bin of each RoI (validated rois (K, 5)).

    The same arithmetic as the kernels (in ``dtype``), vectorised over RoIs.
    """
    ph, pw = output_size
    if sampling_ratio > 0:
        return np.full(len(rois), sampling_ratio * sampling_ratio, dtype=np.int64)
    T = np.dtype(dtype).type
    offset = T(0.5) if aligned else T(0)
    r = rois.astype(T, copy=False) * T(spatial_scale) - offset  # (K, 5); column 0 unused
    roi_w, roi_h = r[:, 3] - r[:, 1], r[:, 4] - r[:, 2]
    if not aligned:
        roi_w, roi_h = np.maximum(roi_w, T(1)), np.maximum(roi_h, T(1))
    gh = np.ceil(roi_h / T(ph)).astype(np.int64)  # exact: |values| < 2**24 (check_rois)
    gw = np.ceil(roi_w / T(pw)).astype(np.int64)
    return gh * gw


def _check_samples_per_bin(counts, rois) -> None:
    too_many = counts > MAX_SAMPLES_PER_BIN
    if too_many.any():
        k = int(np.flatnonzero(too_many)[0])
        raise ValueError(f"rois[{k}] = {np.asarray(rois[k]).tolist()}: {int(counts[k])} samples per bin is more "
                         f"than MAX_SAMPLES_PER_BIN = {MAX_SAMPLES_PER_BIN} (the adaptive sampling_ratio grows "
                         f"with the box); pass a fixed sampling_ratio <= 64 or a smaller RoI")


# --------------------------------------------------------------------------- reference
def _check_all(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode):
    features = check_features(features)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois(rois, features, spatial_scale)
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")
    output_size = check_output_size(output_size)
    sampling_ratio = check_sampling_ratio(sampling_ratio)
    aligned = check_flag(aligned, "aligned")
    _check_samples_per_bin(samples_per_bin(rois, output_size, spatial_scale, sampling_ratio, aligned,
                                           features.dtype), rois)
    return features, rois, output_size, spatial_scale, sampling_ratio, aligned


def roi_align_naive(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                    aligned=False, mode="avg"):
    """Reference RoIAlign: plain loops over RoIs, channels, bins and samples."""
    features, rois, (ph, pw), spatial_scale, sampling_ratio, aligned = _check_all(
        features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    T = features.dtype.type
    out = np.zeros((len(rois), features.shape[1], ph, pw), dtype=features.dtype)  # (K, C, ph, pw)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        ys, xs = roi_align_sampling_points(roi[1:], (ph, pw), spatial_scale, sampling_ratio, aligned, T)
        count = T(max(ys.shape[1] * xs.shape[1], 1))
        for c in range(features.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    values = [bilinear_interpolate_naive(features[b, c], y, x).value
                              for y in ys[i] for x in xs[j]]
                    if mode == "max":  # the first maximum, or the first NaN (np.argmax's choice)
                        out[k, c, i, j] = values[int(np.argmax(values))] if values else 0
                    else:
                        total = T(0)
                        for v in values:
                            total += v
                        out[k, c, i, j] = total / count
    return out


def roi_align_backward_naive(grad_output, features, rois, output_size, spatial_scale=1.0,
                             sampling_ratio=-1, aligned=False, mode="avg"):
    """Reference gradient of ``roi_align`` with respect to ``features``, by plain loops."""
    features, rois, (ph, pw), spatial_scale, sampling_ratio, aligned = _check_all(
        features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    T = features.dtype.type
    grad_output = check_grad_output(grad_output, (len(rois), features.shape[1], ph, pw), features.dtype)
    grad = np.zeros_like(features)  # (N, C, H, W)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        ys, xs = roi_align_sampling_points(roi[1:], (ph, pw), spatial_scale, sampling_ratio, aligned, T)
        count = T(max(ys.shape[1] * xs.shape[1], 1))
        for c in range(features.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    samples = [bilinear_interpolate_naive(features[b, c], y, x)
                               for y in ys[i] for x in xs[j]]
                    if not samples:
                        continue
                    if mode == "max":  # only the first maximum (or first NaN) passes the gradient on
                        best = int(np.argmax([s.value for s in samples]))
                        samples, scale = [samples[best]], T(1)
                    else:
                        scale = T(1) / count
                    for s in samples:
                        for y, x, w in zip(s.ys, s.xs, s.weights):
                            if y >= 0:
                                grad[b, c, y, x] += grad_output[k, c, i, j] * scale * w
    return grad


# --------------------------------------------------------------------------- kernels
# The kernels run the same computation as the loops above, reorganised for speed:
# * features are read channels-last, (N, H, W, C): a sample's four neighbours are
#   four contiguous rows of C values, and the innermost loop over channels is a
#   plain vector operation;
# * bilinear weights are products of 1-D weights (``linear_weights``), so they are
#   tabulated once per sample row and once per sample column of each RoI.
@njit(cache=True)
def _geometry_kernel(roi, ph, pw, spatial_scale, sampling_ratio, aligned, T):
    """``_roi_align_geometry`` for a row (b, x1, y1, x2, y2) of type T."""
    offset = T(0.5) if aligned else T(0)
    scale = T(spatial_scale)
    x1 = roi[1] * scale - offset
    y1 = roi[2] * scale - offset
    roi_w = (roi[3] * scale - offset) - x1
    roi_h = (roi[4] * scale - offset) - y1
    if not aligned:
        roi_w = max(roi_w, T(1))
        roi_h = max(roi_h, T(1))
    if sampling_ratio > 0:
        gh = sampling_ratio
        gw = sampling_ratio
    else:
        gh = int(math.ceil(roi_h / T(ph)))
        gw = int(math.ceil(roi_w / T(pw)))
    return y1, x1, roi_h / T(ph), roi_w / T(pw), gh, gw


@njit(cache=True)
def _axis_table(start, bin_size, n_bins, grid, size, T):
    """Neighbours and 1-D weights of the sample coordinates along one axis.

    Entry ``p * grid + a`` is sample ``a`` of bin ``p``. Outside samples point at
    pixel 0 with weight 0 and ``inside`` False: the kernels read them as 0 (even
    when pixel 0 holds NaN, which a zero weight would not hide).
    """
    n = n_bins * grid
    low, high = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    w_low, w_high = np.zeros(n, dtype=T), np.zeros(n, dtype=T)
    inside = np.zeros(n, dtype=np.bool_)
    for p in range(n_bins):
        for a in range(grid):
            t = start + T(p) * bin_size + T(a + 0.5) * bin_size / T(grid)
            lo, hi, wl, wh = linear_weights(t, size, T)
            if lo >= 0:
                low[p * grid + a], high[p * grid + a] = lo, hi
                w_low[p * grid + a], w_high[p * grid + a] = wl, wh
                inside[p * grid + a] = True
    return low, high, w_low, w_high, inside


@njit(cache=True, nogil=True)
def _roi_align_forward_kernel(features, rois, k0, k1, ph, pw, spatial_scale, sampling_ratio, aligned,
                              use_max, out):
    """RoIs k0..k1-1: features (N, H, W, C) channels-last, rois (K, 5) -> fills out[k0:k1] (K, C, ph, pw)."""
    _, H, W, C = features.shape
    T = features.dtype.type
    nc = uint64(C)  # unsigned channel index: no wrap-around check, so the channel loops vectorise
    res = np.empty((ph * pw, C), dtype=features.dtype)  # one RoI's bins, channels-last
    for k in range(k0, k1):  # RoIs are independent
        b = int(rois[k, 0])
        y1, x1, bin_h, bin_w, gh, gw = _geometry_kernel(rois[k], ph, pw, spatial_scale,
                                                        sampling_ratio, aligned, T)
        y_low, y_high, hy, ly, in_y = _axis_table(y1, bin_h, ph, gh, H, T)  # (ph * gh,)
        x_low, x_high, hx, lx, in_x = _axis_table(x1, bin_w, pw, gw, W, T)  # (pw * gw,)
        count = T(max(gh * gw, 1))
        res[:] = 0
        for i in range(ph):
            for j in range(pw):
                acc = res[i * pw + j]  # (C,)
                for sy in range(i * gh, (i + 1) * gh):
                    for sx in range(j * gw, (j + 1) * gw):
                        w1, w2, w3, w4 = hy[sy] * hx[sx], hy[sy] * lx[sx], ly[sy] * hx[sx], ly[sy] * lx[sx]
                        f1 = features[b, y_low[sy], x_low[sx]]  # (C,) rows of the four neighbours
                        f2 = features[b, y_low[sy], x_high[sx]]
                        f3 = features[b, y_high[sy], x_low[sx]]
                        f4 = features[b, y_high[sy], x_high[sx]]
                        outside = not (in_y[sy] and in_x[sx])  # reads 0
                        if not use_max:
                            if outside:
                                continue
                            for c in range(nc):
                                acc[c] += w1 * f1[c] + w2 * f2[c] + w3 * f3[c] + w4 * f4[c]
                        elif outside:
                            first = sy == i * gh and sx == j * gw
                            for c in range(nc):
                                if first or acc[c] < 0:  # 0 beats smaller values, never a NaN
                                    acc[c] = T(0)
                        else:
                            first = sy == i * gh and sx == j * gw
                            for c in range(nc):
                                v = w1 * f1[c] + w2 * f2[c] + w3 * f3[c] + w4 * f4[c]
                                if first or v > acc[c] or (v != v and acc[c] == acc[c]):  # NaN wins
                                    acc[c] = v
                if not use_max:
                    for c in range(nc):
                        acc[c] = acc[c] / count
        for c in range(C):  # (ph * pw, C) -> (C, ph, pw)
            for i in range(ph):
                for j in range(pw):
                    out[k, c, i, j] = res[i * pw + j, c]


@njit(cache=True, nogil=True)
def _roi_align_backward_kernel(grad_output, features, rois, spatial_scale, sampling_ratio,
                               aligned, use_max, c0, c1, grad):
    """Accumulates channels c0..c1-1 of grad (N, H, W, C), channels-last and zeroed.

    Called once per block of channels (``ops/tiles.py`` runs the blocks on all
    threads): each call owns its channels of grad, so no two threads ever add
    into the same element, and RoIs are visited in order. features (N, H, W, C)
    is read in max mode only, to find the winners.
    """
    _, H, W, C = grad.shape
    K, _, ph, pw = grad_output.shape
    T = grad.dtype.type
    nc = uint64(c1 - c0)  # unsigned: the channel loops vectorise
    g = np.empty(c1 - c0, dtype=grad.dtype)  # this bin's upstream gradient
    share = np.empty(c1 - c0, dtype=grad.dtype)  # what one sample passes on
    best = np.empty(c1 - c0, dtype=grad.dtype)  # max mode: best value so far
    winner = np.zeros(c1 - c0, dtype=np.int64)  # max mode: which sample it was
    for k in range(K):
        b = int(rois[k, 0])
        y1, x1, bin_h, bin_w, gh, gw = _geometry_kernel(rois[k], ph, pw, spatial_scale,
                                                        sampling_ratio, aligned, T)
        y_low, y_high, hy, ly, in_y = _axis_table(y1, bin_h, ph, gh, H, T)
        x_low, x_high, hx, lx, in_x = _axis_table(x1, bin_w, pw, gw, W, T)
        count = T(max(gh * gw, 1))
        for i in range(ph):
            for j in range(pw):
                for c in range(c0, c1):
                    g[c - c0] = grad_output[k, c, i, j]
                if use_max:  # pass 1: every channel's winning sample (first maximum)
                    s = 0
                    for sy in range(i * gh, (i + 1) * gh):
                        for sx in range(j * gw, (j + 1) * gw):
                            w1, w2, w3, w4 = hy[sy] * hx[sx], hy[sy] * lx[sx], ly[sy] * hx[sx], ly[sy] * lx[sx]
                            f1 = features[b, y_low[sy], x_low[sx], c0:c1]  # (c1 - c0,) rows
                            f2 = features[b, y_low[sy], x_high[sx], c0:c1]
                            f3 = features[b, y_high[sy], x_low[sx], c0:c1]
                            f4 = features[b, y_high[sy], x_high[sx], c0:c1]
                            outside = not (in_y[sy] and in_x[sx])  # reads 0
                            for c in range(nc):
                                v = T(0) if outside else w1 * f1[c] + w2 * f2[c] + w3 * f3[c] + w4 * f4[c]
                                if s == 0 or v > best[c] or (v != v and best[c] == best[c]):
                                    best[c], winner[c] = v, s  # first maximum, or first NaN
                            s += 1
                else:
                    for c in range(nc):
                        share[c] = g[c] / count
                s = 0  # pass 2: each sample hands its share to its four neighbours
                for sy in range(i * gh, (i + 1) * gh):
                    for sx in range(j * gw, (j + 1) * gw):
                        w1, w2, w3, w4 = hy[sy] * hx[sx], hy[sy] * lx[sx], ly[sy] * hx[sx], ly[sy] * lx[sx]
                        if not (in_y[sy] and in_x[sx]):  # outside: a constant 0, no gradient
                            s += 1
                            continue
                        if use_max:  # only where this sample won
                            for c in range(nc):
                                share[c] = g[c] if winner[c] == s else T(0)
                        r1 = grad[b, y_low[sy], x_low[sx], c0:c1]  # (c1 - c0,) rows
                        r2 = grad[b, y_low[sy], x_high[sx], c0:c1]
                        r3 = grad[b, y_high[sy], x_low[sx], c0:c1]
                        r4 = grad[b, y_high[sy], x_high[sx], c0:c1]
                        for c in range(nc):  # one loop per row, as rows
                            r1[c] += w1 * share[c]  # coincide at the border
                        for c in range(nc):
                            r2[c] += w2 * share[c]
                        for c in range(nc):
                            r3[c] += w3 * share[c]
                        for c in range(nc):
                            r4[c] += w4 * share[c]
                        s += 1


# --------------------------------------------------------------------------- public API
GEMM_EQUIVALENT = 40.0  # one sample x channel takes about as long as this many GEMM flops (for tiles.run)


def _work(rois, out_shape, spatial_scale, sampling_ratio) -> float:
    """Bilinear samples times channels: the inner-loop count of a call."""
    K, C, ph, pw = out_shape
    if sampling_ratio > 0:
        samples = K * sampling_ratio**2
    else:  # adaptive: about one per feature pixel of each bin
        size = (rois[:, 3:5] - rois[:, 1:3]) * spatial_scale  # (K, 2) width, height
        samples = float(np.sum(np.ceil(size[:, 1] / ph) * np.ceil(size[:, 0] / pw)))
    return samples * ph * pw * C


def roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
              mode="avg"):
    """RoIAlign of ``rois`` on ``features``.

    Args:
        features: (N, C, H, W) float32 or float64 feature maps.
        rois: (K, 5) rows (batch_index, x1, y1, x2, y2) in image coordinates, x2 >= x1,
            y2 >= y1; converted to the features' dtype.
        output_size: int or (ph, pw).
        spatial_scale: feature-map size / image size (1 / stride), e.g. 1/16.
        sampling_ratio: samples per bin along each axis; <= 0 means adaptive,
            ceil(roi_size / output_size).
        aligned: apply the half-pixel shift (torchvision's default is False;
            **the model uses True**).
        mode: "avg" (paper, torchvision) or "max" (the lecture's drawing).

    Returns:
        (K, C, ph, pw) array of the features' dtype (empty when K = 0; see "Edges"
        in the module docstring for empty bins, NaN and the sample cap).
    """
    features, rois, (ph, pw), spatial_scale, sampling_ratio, aligned = _check_all(
        features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    out = np.zeros((len(rois), features.shape[1], ph, pw), dtype=features.dtype)  # (K, C, ph, pw)
    if len(rois) and features.shape[1]:
        nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))  # (N, H, W, C)
        def chunk(slot, i, ks):  # blocks of RoIs on every thread (ops/tiles.py)
            _roi_align_forward_kernel(nhwc, rois, ks[0], ks[1], ph, pw, spatial_scale, sampling_ratio,
                                      aligned, mode == "max", out)

        work = _work(rois, out.shape, spatial_scale, sampling_ratio)
        tiles.run(chunk, tiles.split(len(rois), int(work), min_size=1 << 18), flops=GEMM_EQUIVALENT * work)
    return out


def roi_align_backward(grad_output, features, rois, output_size, spatial_scale=1.0,
                       sampling_ratio=-1, aligned=False, mode="avg"):
    """Gradient of ``roi_align`` with respect to ``features``.

    Args:
        grad_output: (K, C, ph, pw) upstream gradient.
        features: the forward input (N, C, H, W). In "avg" mode only its shape and
            dtype are used; in "max" mode the winning sample of every bin is
            recomputed from it (nothing is cached by the forward pass).
        rois, output_size, spatial_scale, sampling_ratio, aligned, mode: as in forward.

    Returns:
        (N, C, H, W) gradient, the features' dtype. RoIs that overlap add up.
    """
    features, rois, (ph, pw), spatial_scale, sampling_ratio, aligned = _check_all(
        features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    N, C, H, W = features.shape
    grad_output = check_grad_output(grad_output, (len(rois), C, ph, pw), features.dtype)
    if len(rois) == 0 or C == 0:
        return np.zeros_like(features)
    use_max = mode == "max"
    # avg mode never reads the features: pass a tiny stand-in instead of transposing them
    nhwc = (np.ascontiguousarray(features.transpose(0, 2, 3, 1)) if use_max
            else np.zeros((1, 1, 1, C), dtype=features.dtype))
    grad = np.zeros((N, H, W, C), dtype=features.dtype)  # channels-last accumulator
    work = 2 * _work(rois, grad_output.shape, spatial_scale, sampling_ratio)
    # one block of channels per thread: each owns its part of grad (a channel's sum runs over the
    # RoIs in order whatever the blocks, so the result does not depend on them)
    n = min(tiles.num_threads(), C) if GEMM_EQUIVALENT * work >= tiles.PARALLEL_MIN_FLOPS else 1
    blocks = [(C * i // n, C * (i + 1) // n) for i in range(n)]

    def block(slot, i, cs):
        _roi_align_backward_kernel(grad_output, nhwc, rois, spatial_scale, sampling_ratio, aligned,
                                   use_max, cs[0], cs[1], grad)

    tiles.run(block, blocks, flops=GEMM_EQUIVALENT * work)
    return np.ascontiguousarray(grad.transpose(0, 3, 1, 2))  # (N, C, H, W)
