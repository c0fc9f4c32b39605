"""RoI Pooling (Fast R-CNN): a fixed-size grid from a box, by rounding to whole pixels.

Definition
----------
For one RoI ``(b, x1, y1, x2, y2)`` and output size ``(ph, pw)``:

1. **Round the box to pixels**: ``x1' = round(x1 * spatial_scale)`` etc., with
   rounding half away from zero (``std::round``; note Python's ``round`` would
   round half to even).
2. **Count the end pixel inclusively**: the box covers pixels ``x1' .. x2'``
   *including* ``x2'``, so its width is ``x2' - x1' + 1`` (at least 1). This is
   the "+1" of the old pixel-index box convention; in the continuous convention
   of ``minimaskrcnn.boxes`` the same pixels form the box ``(x1', y1', x2'+1, y2'+1)``.
3. **Cut it into bins of whole pixels**: with ``bin_h = height / ph``, bin row
   ``i`` covers pixel rows ``floor(i * bin_h) .. ceil((i+1) * bin_h) - 1``
   (offset by ``y1'`` and clipped to the map); so neighbouring bins may share
   a row, and bins may differ in size by one pixel.
4. **Max-pool** each bin.

Edges, defined once: a bin that lies entirely off the map (no pixel) gives 0
and passes no gradient; a bin holding only -inf gives -inf (torchvision gives
-FLT_MAX there); NaN propagates as in ``roi_align``: a NaN pixel in a bin makes
the bin NaN, and its gradient goes to the first NaN (``np.argmax``'s choice).
RoI coordinates times ``spatial_scale`` must lie within 2**24 feature pixels
of the origin (``_roi_inputs.MAX_ROI_COORDINATE``).

Two roundings (box, then bin edges) move the pooled region by up to about a
pixel of the feature map -- 16 image pixels at stride 16. That misalignment is
what RoIAlign removes (ops/roi_align.py).

Worked example, ``f = np.arange(25).reshape(1, 1, 5, 5)`` (``f[y, x] = 5y + x``),
RoI ``(0, 0.6, 0.4, 3.4, 2.6)``, output 2x2: the box rounds to
``x 1..3, y 0..3`` (3 x 4 pixels, 2.6 rounds *up* to 3); bin columns are
``floor(0)..ceil(1.5)-1 = 0..1`` and ``floor(1.5)..ceil(3)-1 = 1..2`` (they
share column 1, offset by x1' = 1: x 1..2 and 2..3); bin rows ``0..1`` and
``2..3``. Maxima: ``[[f[1,2], f[1,3]], [f[3,2], f[3,3]]] = [[7, 8], [17, 18]]``.

Gradient: each output passes its gradient to the single pixel that held the
maximum (the first one in row-major order on ties, or the first NaN).
``roi_pool_backward`` recomputes that pixel from ``features``. Results equal
``torchvision.ops.roi_pool`` (arithmetic in the features' dtype) on finite
features, and bins without -inf; with NaN, torchvision skips it where we
propagate it (so that RoIPool and RoIAlign treat NaN alike).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from minimaskrcnn.ops._roi_inputs import (
    MAX_ROI_COORDINATE,
    check_features,
    check_grad_output,
    check_output_size,
    check_rois,
    check_spatial_scale,
    threads_for,
)


# --------------------------------------------------------------------------- reference
def _round_half_away(v) -> int:
    """Round to the nearest integer, halves away from zero (exact for any float)."""
    v = float(v)  # exact for float32 and float64
    t = math.trunc(v)
    return t + (1 if v > 0 else -1) if abs(v - t) >= 0.5 else t


def roi_pool_bins(roi_xyxy, output_size, feature_size, spatial_scale=1.0, dtype=np.float64):
    """RoIPool's quantised bins for one RoI, as whole-pixel ranges of the feature map.

    Args:
        roi_xyxy: (x1, y1, x2, y2) in image coordinates (no batch index).
        output_size: int or (ph, pw).
        feature_size: (H, W) of the map; bins are clipped to it.
        spatial_scale: feature-map size / image size.
        dtype: arithmetic precision (the features' dtype).

    Returns:
        ``(h_start, h_end, w_start, w_end)``, int64 arrays of shapes (ph,), (ph,),
        (pw,), (pw,): bin ``(i, j)`` covers rows ``h_start[i] <= y < h_end[i]`` and
        columns ``w_start[j] <= x < w_end[j]`` (empty if either range is).
    """
    ph, pw = check_output_size(output_size)
    try:
        height, width = (int(v) for v in feature_size)
    except (TypeError, ValueError):
        raise TypeError(f"feature_size must be a pair (H, W) of ints, got {feature_size!r}") from None
    T = np.dtype(dtype).type
    scale = T(check_spatial_scale(spatial_scale))
    box = np.asarray(roi_xyxy, dtype=np.float64).reshape(-1)
    if box.shape != (4,) or not np.isfinite(box).all() or box[2] < box[0] or box[3] < box[1] \
            or np.abs(box).max() * float(scale) > MAX_ROI_COORDINATE:
        raise ValueError(f"roi_xyxy must be one finite box (x1, y1, x2, y2) with x2 >= x1, y2 >= y1 and "
                         f"|coordinates| * spatial_scale <= 2**24, got {np.asarray(roi_xyxy).tolist()}")
    x1, y1, x2, y2 = (_round_half_away(T(v) * scale) for v in np.asarray(roi_xyxy).reshape(-1))
    roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)  # end pixel counted
    bin_h, bin_w = T(roi_h) / T(ph), T(roi_w) / T(pw)

    def edges(start, bin_size, n, size):
        lo = [min(max(math.floor(T(p) * bin_size) + start, 0), size) for p in range(n)]
        hi = [min(max(math.ceil(T(p + 1) * bin_size) + start, 0), size) for p in range(n)]
        return np.array(lo, dtype=np.int64), np.array(hi, dtype=np.int64)

    return (*edges(y1, bin_h, ph, height), *edges(x1, bin_w, pw, width))


def roi_pool_naive(features, rois, output_size, spatial_scale=1.0):
    """Reference RoIPool: plain loops over RoIs, channels, bins and pixels."""
    features = check_features(features)
    rois = check_rois(rois, features, check_spatial_scale(spatial_scale))
    ph, pw = check_output_size(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw), dtype=features.dtype)  # (K, C, ph, pw)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        h_start, h_end, w_start, w_end = roi_pool_bins(roi[1:], (ph, pw), (H, W), spatial_scale,
                                                       features.dtype)
        for c in range(C):
            for i in range(ph):
                for j in range(pw):
                    region = features[b, c, h_start[i]:h_end[i], w_start[j]:w_end[j]]
                    out[k, c, i, j] = region.max() if region.size else 0  # NaN propagates; empty bin -> 0
    return out


def roi_pool_backward_naive(grad_output, features, rois, output_size, spatial_scale=1.0):
    """Reference gradient of ``roi_pool``: each output's gradient goes to its argmax pixel."""
    features = check_features(features)
    rois = check_rois(rois, features, check_spatial_scale(spatial_scale))
    ph, pw = check_output_size(output_size)
    N, C, H, W = features.shape
    grad_output = check_grad_output(grad_output, (len(rois), C, ph, pw), features.dtype)
    grad = np.zeros_like(features)  # (N, C, H, W)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        h_start, h_end, w_start, w_end = roi_pool_bins(roi[1:], (ph, pw), (H, W), spatial_scale,
                                                       features.dtype)
        for c in range(C):
            for i in range(ph):
                for j in range(pw):
                    region = features[b, c, h_start[i]:h_end[i], w_start[j]:w_end[j]]
                    if region.size:  # argmax: the first maximum in row-major order (or first NaN)
                        y, x = np.unravel_index(np.argmax(region), region.shape)
                        grad[b, c, h_start[i] + y, w_start[j] + x] += grad_output[k, c, i, j]
    return grad


# --------------------------------------------------------------------------- kernels
# Same loops, channels-last (N, H, W, C) so that the max over a bin's pixels is a
# vector operation over contiguous rows of C values.
@njit(cache=True)
def _bins_kernel(roi, ph, pw, spatial_scale, H, W, T):
    """``roi_pool_bins`` for a row (b, x1, y1, x2, y2) of type T -> four int64 arrays."""
    scale = T(spatial_scale)
    corners = np.empty(4, dtype=np.int64)  # x1, y1, x2, y2 rounded half away from zero
    for n in range(4):
        v = float(roi[n + 1] * scale)  # exact; float() also lets plain Python (NUMBA_DISABLE_JIT) trunc it
        t = math.trunc(v)
        corners[n] = t + (1 if v > 0 else -1) if abs(v - t) >= 0.5 else t
    roi_h = max(corners[3] - corners[1] + 1, 1)
    roi_w = max(corners[2] - corners[0] + 1, 1)
    bin_h, bin_w = T(roi_h) / T(ph), T(roi_w) / T(pw)
    h_start, h_end = np.empty(ph, dtype=np.int64), np.empty(ph, dtype=np.int64)
    w_start, w_end = np.empty(pw, dtype=np.int64), np.empty(pw, dtype=np.int64)
    for i in range(ph):
        h_start[i] = min(max(math.floor(T(i) * bin_h) + corners[1], 0), H)
        h_end[i] = min(max(math.ceil(T(i + 1) * bin_h) + corners[1], 0), H)
    for j in range(pw):
        w_start[j] = min(max(math.floor(T(j) * bin_w) + corners[0], 0), W)
        w_end[j] = min(max(math.ceil(T(j + 1) * bin_w) + corners[0], 0), W)
    return h_start, h_end, w_start, w_end


@njit(cache=True, parallel=True)
def _roi_pool_forward_kernel(features, rois, ph, pw, spatial_scale, out):
    """features (N, H, W, C) channels-last, rois (K, 5) -> fills out (K, C, ph, pw)."""
    _, H, W, C = features.shape
    T = features.dtype.type
    for k in prange(rois.shape[0]):  # RoIs are independent
        b = int(rois[k, 0])
        h_start, h_end, w_start, w_end = _bins_kernel(rois[k], ph, pw, spatial_scale, H, W, T)
        res = np.zeros((ph * pw, C), dtype=features.dtype)  # this RoI's bins, channels-last
        for i in range(ph):
            for j in range(pw):
                if h_end[i] <= h_start[i] or w_end[j] <= w_start[j]:
                    continue  # empty bin -> 0
                acc = res[i * pw + j]  # (C,)
                acc[:] = features[b, h_start[i], w_start[j]]  # start from the bin's first pixel
                for y in range(h_start[i], h_end[i]):
                    for x in range(w_start[j], w_end[j]):
                        row = features[b, y, x]  # (C,)
                        for c in range(C):
                            v = row[c]
                            if v > acc[c] or (v != v and acc[c] == acc[c]):  # a NaN wins and stays
                                acc[c] = v
        for c in range(C):  # (ph * pw, C) -> (C, ph, pw)
            for i in range(ph):
                for j in range(pw):
                    out[k, c, i, j] = res[i * pw + j, c]


@njit(cache=True, parallel=True)
def _roi_pool_backward_kernel(grad_output, features, rois, spatial_scale, n_blocks, grad):
    """Accumulates into grad (N, H, W, C), channels-last and zeroed.

    Parallel over blocks of channels (no two threads add into the same element).
    """
    _, H, W, C = features.shape
    K, _, ph, pw = grad_output.shape
    T = features.dtype.type
    for blk in prange(n_blocks):
        c0, c1 = blk * C // n_blocks, (blk + 1) * C // n_blocks
        best = np.empty(c1 - c0, dtype=features.dtype)
        arg_y = np.empty(c1 - c0, dtype=np.int64)  # where each channel's max is
        arg_x = np.empty(c1 - c0, dtype=np.int64)
        for k in range(K):
            b = int(rois[k, 0])
            h_start, h_end, w_start, w_end = _bins_kernel(rois[k], ph, pw, spatial_scale, H, W, T)
            for i in range(ph):
                for j in range(pw):
                    if h_end[i] <= h_start[i] or w_end[j] <= w_start[j]:
                        continue  # empty bin: no gradient
                    best[:] = features[b, h_start[i], w_start[j], c0:c1]  # the bin's first pixel
                    arg_y[:] = h_start[i]
                    arg_x[:] = w_start[j]
                    for y in range(h_start[i], h_end[i]):
                        for x in range(w_start[j], w_end[j]):
                            row = features[b, y, x, c0:c1]  # (c1 - c0,)
                            for c in range(c1 - c0):
                                v = row[c]  # strict: the first maximum wins; a NaN wins and stays
                                if v > best[c] or (v != v and best[c] == best[c]):
                                    best[c], arg_y[c], arg_x[c] = v, y, x
                    for c in range(c1 - c0):
                        grad[b, arg_y[c], arg_x[c], c0 + c] += grad_output[k, c0 + c, i, j]


# --------------------------------------------------------------------------- public API
def _work(rois, out_shape, spatial_scale) -> float:
    """Pixels visited times channels: the inner-loop count of a call."""
    K, C, ph, pw = out_shape
    size = (rois[:, 3:5] - rois[:, 1:3]) * spatial_scale + 1  # (K, 2) pixels per side
    return float(np.sum(np.maximum(size[:, 0], pw) * np.maximum(size[:, 1], ph))) * C


def roi_pool(features, rois, output_size, spatial_scale=1.0):
    """RoI max pooling of ``rois`` on ``features`` (torchvision.ops.roi_pool semantics).

    Args:
        features: (N, C, H, W) float32 or float64 feature maps.
        rois: (K, 5) rows (batch_index, x1, y1, x2, y2) in image coordinates, x2 >= x1,
            y2 >= y1; converted to the features' dtype.
        output_size: int or (ph, pw).
        spatial_scale: feature-map size / image size (1 / stride).

    Returns:
        (K, C, ph, pw) array of the features' dtype (empty when K = 0).
    """
    features = check_features(features)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois(rois, features, spatial_scale)
    ph, pw = check_output_size(output_size)
    out = np.zeros((len(rois), features.shape[1], ph, pw), dtype=features.dtype)  # (K, C, ph, pw)
    if len(rois) and features.shape[1]:
        nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))  # (N, H, W, C)
        with threads_for(_work(rois, out.shape, spatial_scale)):
            _roi_pool_forward_kernel(nhwc, rois, ph, pw, spatial_scale, out)
    return out


def roi_pool_backward(grad_output, features, rois, output_size, spatial_scale=1.0):
    """Gradient of ``roi_pool`` with respect to ``features``.

    Args:
        grad_output: (K, C, ph, pw) upstream gradient.
        features: the forward input (N, C, H, W); the argmax of every bin is
            recomputed from it (nothing is cached by the forward pass).
        rois, output_size, spatial_scale: as in ``roi_pool``.

    Returns:
        (N, C, H, W) gradient, the features' dtype.
    """
    features = check_features(features)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois(rois, features, spatial_scale)
    ph, pw = check_output_size(output_size)
    N, C, H, W = features.shape
    grad_output = check_grad_output(grad_output, (len(rois), C, ph, pw), features.dtype)
    if len(rois) == 0 or C == 0:
        return np.zeros_like(features)
    nhwc = np.ascontiguousarray(features.transpose(0, 2, 3, 1))  # (N, H, W, C)
    grad = np.zeros_like(nhwc)  # channels-last accumulator
    with threads_for(_work(rois, grad_output.shape, spatial_scale)) as n:
        _roi_pool_backward_kernel(grad_output, nhwc, rois, spatial_scale, min(n, C), grad)
    return np.ascontiguousarray(grad.transpose(0, 3, 1, 2))  # (N, C, H, W)
