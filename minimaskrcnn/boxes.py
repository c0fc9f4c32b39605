"""Boxes: one convention for the whole package, and the arithmetic on it.

Convention
----------
A box is a row ``(x1, y1, x2, y2)`` of floats in *continuous pixel coordinates*:
pixel ``(row i, column j)`` covers the square ``[j, j+1) x [i, i+1)`` and its
centre is ``(j + 0.5, i + 0.5)``. So the box ``(0, 0, 2, 1)`` covers exactly
the two pixels of the first row, and its

    width  = x2 - x1 = 2        (no "+1": that belongs to RoIPool, see ops/roi_pool.py)
    height = y2 - y1 = 1

Boxes come as ``(K, 4)`` arrays; ``x2 >= x1`` and ``y2 >= y1`` always.

Box coding (the regression targets of the RPN and the box head)
----------------------------------------------------------------
A detector does not predict box corners directly; it predicts how to move and
stretch a *reference* box (an anchor or a proposal) onto the target. With
reference centre ``(cx, cy)``, size ``(w, h)`` and target centre/size
``(cx', cy', w', h')``, and weights ``(wx, wy, ww, wh)``::

    dx = wx * (cx' - cx) / w        dw = ww * log(w' / w)
    dy = wy * (cy' - cy) / h        dh = wh * log(h' / h)

Dividing by the reference size makes the targets scale-free; the logarithm
makes "twice as wide" and "half as wide" symmetric. The weights only rescale
the targets so they have a convenient spread: the RPN uses (1, 1, 1, 1), the
box head (10, 10, 5, 5) (torchvision's and detectron2's defaults). Decoding
inverts the formulas, first clamping ``dw, dh`` at ``log(1000 / 16)`` so that
an untrained network cannot produce ``exp(huge) = inf``. These are
torchvision's ``BoxCoder`` formulas (no ``+1`` anywhere).

Worked example::

    >>> ref = np.array([[0.0, 0.0, 10.0, 20.0]])    # centre (5, 10), size 10 x 20
    >>> gt = np.array([[5.0, 0.0, 25.0, 20.0]])     # centre (15, 10), size 20 x 20
    >>> encode_boxes(gt, ref)                       # dx = 10/10, dy = 0, dw = log 2, dh = 0
    array([[1.        , 0.        , 0.69314718, 0.        ]])
    >>> decode_boxes(encode_boxes(gt, ref), ref)
    array([[ 5.,  0., 25., 20.]])

Every function accepts float32 or float64 and returns the same dtype (other
real dtypes, e.g. integer boxes typed by hand, are converted to float64).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

BBOX_XFORM_CLIP = math.log(1000.0 / 16)  # largest dw, dh accepted by decode_boxes


def _as_boxes(name: str, boxes, columns: int = 4, check_order: bool = True) -> np.ndarray:
    """Validate a (K, columns) array of finite boxes; float32/float64 kept, other reals -> float64."""
    arr = np.asarray(boxes)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0 or arr.shape[1] % 4 or (columns == 4 and arr.shape[1] != 4):
        expected = "(K, 4)" if columns == 4 else "(K, 4 * C)"
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if check_order and arr.size and (
        (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any()
    ):
        raise ValueError(f"{name} must satisfy x2 >= x1 and y2 >= y1 in every row (x1, y1, x2, y2)")
    return arr


def box_area(boxes) -> np.ndarray:
    """Areas ``(x2 - x1) * (y2 - y1)`` of boxes (K, 4) -> (K,)."""
    b = _as_boxes("boxes", boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes1, boxes2) -> np.ndarray:
    """Pairwise intersection-over-union: boxes1 (K, 4), boxes2 (M, 4) -> (K, M).

    ``iou[k, m] = area(b1[k] ∩ b2[m]) / area(b1[k] ∪ b2[m])``. Two boxes whose
    union has zero area (both degenerate) get IoU 0 here, where torchvision
    returns NaN (0 / 0); everywhere else the values are torchvision's. The result
    has the promoted dtype of the two inputs.
    """
    b1 = _as_boxes("boxes1", boxes1)
    b2 = _as_boxes("boxes2", boxes2)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])  # (K,)
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])  # (M,)
    # Overlap rectangle of every pair: larger top-left corner, smaller bottom-right.
    w = np.minimum(b1[:, None, 2], b2[None, :, 2]) - np.maximum(b1[:, None, 0], b2[None, :, 0])
    h = np.minimum(b1[:, None, 3], b2[None, :, 3]) - np.maximum(b1[:, None, 1], b2[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)  # (K, M)
    union = area1[:, None] + area2[None, :] - inter  # (K, M)
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou


def clip_boxes(boxes, image_size) -> np.ndarray:
    """Clip boxes (K, 4) to an image of ``image_size = (H, W)``: x to [0, W], y to [0, H].

    Returns a new array; a box entirely outside the image becomes a degenerate
    box on the border (remove it with ``remove_small_boxes``).
    """
    b = _as_boxes("boxes", boxes)
    try:
        height, width = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise TypeError(f"image_size must be a pair (H, W), got {image_size!r}") from None
    if not (height >= 0 and width >= 0):
        raise ValueError(f"image_size must be non-negative (H, W), got {image_size!r}")
    out = b.copy()
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def remove_small_boxes(boxes, min_size: float) -> np.ndarray:
    """Indices (int64, ascending) of the boxes whose width and height are both >= min_size."""
    b = _as_boxes("boxes", boxes)
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return np.flatnonzero(keep).astype(np.int64)


def _check_weights(weights) -> tuple[float, float, float, float]:
    try:
        w = tuple(float(v) for v in weights)
    except (TypeError, ValueError):
        raise TypeError(f"weights must be four numbers (wx, wy, ww, wh), got {weights!r}") from None
    if len(w) != 4 or not all(math.isfinite(v) and v > 0 for v in w):
        raise ValueError(f"weights must be four positive numbers (wx, wy, ww, wh), got {weights!r}")
    return w


def _centres_sizes(b: np.ndarray, name: str):
    """(K, 4) boxes -> centre x, centre y, width, height, each (K,); sizes must be > 0."""
    w = b[:, 2] - b[:, 0]
    h = b[:, 3] - b[:, 1]
    if (w <= 0).any() or (h <= 0).any():
        raise ValueError(f"{name} must have positive width and height (log/division by zero otherwise)")
    return b[:, 0] + 0.5 * w, b[:, 1] + 0.5 * h, w, h


def encode_boxes(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Deltas (dx, dy, dw, dh) that move each ``reference`` box onto its ``boxes`` row.

    Args:
        boxes: (K, 4) target boxes (ground truth), positive width and height.
        reference: (K, 4) anchors or proposals, positive width and height.
        weights: (wx, wy, ww, wh); RPN (1, 1, 1, 1), box head (10, 10, 5, 5).

    Returns:
        (K, 4) deltas in ``boxes``' dtype; torchvision's
        ``BoxCoder(weights).encode_single(boxes, reference)``.
    """
    g = _as_boxes("boxes", boxes)
    r = _as_boxes("reference", reference).astype(g.dtype, copy=False)
    if r.shape != g.shape:
        raise ValueError(f"reference must have the shape of boxes {g.shape}, got {r.shape}")
    wx, wy, ww, wh = _check_weights(weights)
    rx, ry, rw, rh = _centres_sizes(r, "reference")
    gx, gy, gw, gh = _centres_sizes(g, "boxes")
    deltas = np.empty_like(g)  # (K, 4)
    deltas[:, 0] = wx * (gx - rx) / rw
    deltas[:, 1] = wy * (gy - ry) / rh
    deltas[:, 2] = ww * np.log(gw / rw)
    deltas[:, 3] = wh * np.log(gh / rh)
    return deltas


def decode_boxes(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clamp: float = BBOX_XFORM_CLIP):
    """Apply deltas to reference boxes: the inverse of ``encode_boxes``.

    Args:
        deltas: (K, 4) or (K, 4 * C) rows ``(dx, dy, dw, dh)`` repeated for C classes.
        reference: (K, 4) anchors or proposals (any width/height >= 0).
        weights: the weights the deltas were encoded with.
        clamp: ``dw`` and ``dh`` are clipped to at most this (default log(1000/16)).

    Returns:
        Boxes with ``deltas``' shape and dtype, ``(x1, y1, x2, y2)`` per class;
        torchvision's ``BoxCoder(weights).decode_single(deltas, reference)``.
    """
    d = _as_boxes("deltas", deltas, columns=0, check_order=False)
    r = _as_boxes("reference", reference).astype(d.dtype, copy=False)
    if r.shape[0] != d.shape[0]:
        raise ValueError(f"reference must have {d.shape[0]} rows like deltas, got {r.shape[0]}")
    if isinstance(clamp, bool) or not isinstance(clamp, numbers.Real) or math.isnan(clamp):
        raise ValueError(f"clamp must be a number (the largest dw, dh; inf for none), got {clamp!r}")
    wx, wy, ww, wh = _check_weights(weights)
    widths = (r[:, 2] - r[:, 0])[:, None]  # (K, 1)
    heights = (r[:, 3] - r[:, 1])[:, None]
    ctr_x = r[:, 0:1] + 0.5 * widths
    ctr_y = r[:, 1:2] + 0.5 * heights
    dx = d[:, 0::4] / wx  # (K, C)
    dy = d[:, 1::4] / wy
    dw = np.minimum(d[:, 2::4] / ww, clamp)
    dh = np.minimum(d[:, 3::4] / wh, clamp)
    cx = dx * widths + ctr_x  # (K, C)
    cy = dy * heights + ctr_y
    half_w = 0.5 * (np.exp(dw) * widths)
    half_h = 0.5 * (np.exp(dh) * heights)
    out = np.empty_like(d)  # (K, 4 * C)
    out[:, 0::4] = cx - half_w
    out[:, 1::4] = cy - half_h
    out[:, 2::4] = cx + half_w
    out[:, 3::4] = cy + half_h
    return out
