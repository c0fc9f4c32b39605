"""Non-maximum suppression: one detection per object instead of a cloud of them.

A detector fires many overlapping boxes on each object. Greedy NMS keeps the
best one and discards its near-duplicates:

1. sort the boxes by score, highest first (a *stable* sort: equal scores keep
   their input order);
2. keep the best remaining box;
3. suppress every remaining box whose IoU with it is *strictly greater* than
   ``iou_threshold``;
4. repeat from 2 until no box remains.

The kept indices come back in descending score order. ``batched_nms`` runs the
same procedure separately inside each category ``idxs`` (so a dog never
suppresses a cat), and returns all kept boxes together in descending score
order. On inputs without tied scores the indices equal ``torchvision.ops.nms``
and ``batched_nms``; IoU is computed as torchvision does, in the boxes' dtype,
and two degenerate boxes (zero union) never suppress each other.

Worked example (threshold 0.5)::

    boxes  = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]]
    scores = [0.9, 0.8, 0.7, 0.95]
    order by score: 3, 0, 1, 2
    keep 3; IoU(3, 0) = 90/100 = 0.9 > 0.5 -> suppress 0;
            IoU(3, 1) = 72/118 = 0.61 -> suppress 1; IoU(3, 2) = 0 -> stays
    keep 2 -> result [3, 2]

The threshold trades recall for duplicates: a low threshold also deletes
genuinely different, overlapping objects; a high one lets duplicates through.
"""
from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from minimaskrcnn.boxes import _as_boxes


# --------------------------------------------------------------------------- reference
def _iou_pair(a, b):
    """IoU of two boxes (x1, y1, x2, y2), in their dtype, as torchvision's kernel computes it."""
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms_steps(boxes, scores, iou_threshold):
    """Greedy NMS one decision at a time, with plain loops (the reference).

    Yields ``(i, suppressed)`` per step: the best box still standing (kept) and
    the indices it suppresses, in score order. ``nms_naive`` collects the ``i``.
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    order = np.argsort(-scores, kind="stable")  # best first; ties keep input order
    suppressed = np.zeros(len(boxes), dtype=bool)
    for n, i in enumerate(order):
        if suppressed[i]:
            continue
        removed = []  # box i is kept; it suppresses its near-duplicates further down
        for j in order[n + 1:]:
            if not suppressed[j] and _iou_pair(boxes[i], boxes[j]) > iou_threshold:
                suppressed[j] = True
                removed.append(int(j))
        yield int(i), removed


def nms_naive(boxes, scores, iou_threshold):
    """Reference greedy NMS -> kept indices (int64), best first."""
    return np.array([i for i, _ in nms_steps(boxes, scores, iou_threshold)], dtype=np.int64)


def batched_nms_naive(boxes, scores, idxs, iou_threshold):
    """Reference per-category NMS: ``nms_naive`` inside each category, then merged by score."""
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    idxs = _check_idxs(idxs, len(boxes))
    keep = []
    for category in np.unique(idxs):
        members = np.flatnonzero(idxs == category)
        keep.extend(members[nms_naive(boxes[members], scores[members], iou_threshold)])
    keep = np.sort(np.array(keep, dtype=np.int64))
    return keep[np.argsort(-scores[keep], kind="stable")]


# --------------------------------------------------------------------------- kernel
@njit(cache=True, error_model="numpy")
def _nms_kernel(boxes, segments, iou_threshold):
    """Greedy NMS inside each segment of boxes sorted best-first.

    Args:
        boxes: (4, n) rows x1, y1, x2, y2 (coordinate-major, so the inner loop
            reads four contiguous arrays and vectorises).
        segments: (S + 1,) start offsets; segment s is boxes[:, segments[s]:segments[s+1]].
        iou_threshold: suppress when IoU > threshold.

    Returns:
        (n,) bool, True for the kept boxes.

    The greedy loop is sequential by nature (each decision depends on the
    previous ones), so this kernel is serial; its inner loop is SIMD. A zero
    union gives 0/0 = NaN, which is never > threshold (error_model="numpy").
    """
    x1, y1, x2, y2 = boxes[0], boxes[1], boxes[2], boxes[3]
    area = (x2 - x1) * (y2 - y1)
    zero = boxes.dtype.type(0)
    suppressed = np.zeros(x1.size, dtype=np.uint8)
    for s in range(segments.size - 1):
        end = segments[s + 1]
        for i in range(segments[s], end):
            if suppressed[i]:
                continue
            # box i is kept; compare it with every box after it in its segment.
            # (Views of the tail, indexed from 0, give Numba a loop it can vectorise.)
            bx1, by1, bx2, by2 = x1[i + 1:end], y1[i + 1:end], x2[i + 1:end], y2[i + 1:end]
            b_area, b_suppressed = area[i + 1:end], suppressed[i + 1:end]
            for j in range(bx1.size):
                w = max(min(x2[i], bx2[j]) - max(x1[i], bx1[j]), zero)
                h = max(min(y2[i], by2[j]) - max(y1[i], by1[j]), zero)
                inter = w * h
                b_suppressed[j] |= np.uint8(inter / (area[i] + b_area[j] - inter) > iou_threshold)
    return suppressed == 0


# --------------------------------------------------------------------------- public API
def _check(boxes, scores, iou_threshold):
    boxes = _as_boxes("boxes", boxes)
    s = np.asarray(scores)
    if s.dtype.kind not in "fiub":
        raise TypeError(f"scores must be a real-valued array, got dtype {s.dtype}")
    if s.shape != (len(boxes),):
        raise ValueError(f"scores must have shape ({len(boxes)},) like boxes, got {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("scores contains NaN or infinite values")
    if s.dtype.kind in "ub":
        s = s.astype(np.float64)  # -scores must not wrap around (unsigned) or fail (bool)
    if not isinstance(iou_threshold, numbers.Real) or not np.isfinite(iou_threshold):
        raise ValueError(f"iou_threshold must be a finite number, got {iou_threshold!r}")
    if not 0 <= iou_threshold <= 1:  # IoU's range; also keeps a 0/0 IoU (NaN) and 0 equivalent
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold!r}")
    return boxes, s, float(iou_threshold)


def _check_idxs(idxs, n):
    i = np.asarray(idxs)
    if i.dtype.kind not in "iub":
        raise TypeError(f"idxs must be an integer array (category of each box), got dtype {i.dtype}")
    if i.shape != (n,):
        raise ValueError(f"idxs must have shape ({n},) like boxes, got {i.shape}")
    return i


def nms(boxes, scores, iou_threshold):
    """Greedy non-maximum suppression.

    Args:
        boxes: (K, 4) float (x1, y1, x2, y2), x2 >= x1, y2 >= y1.
        scores: (K,) float, higher is better.
        iou_threshold: in [0, 1]; a box is suppressed by a better one when IoU > iou_threshold.

    Returns:
        (M,) int64 indices of the kept boxes, highest score first (ties: input order).
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    order = np.argsort(-scores, kind="stable")  # best first, ties in input order
    sorted_boxes = np.ascontiguousarray(boxes[order].T)  # (4, K)
    keep = _nms_kernel(sorted_boxes, np.array([0, len(boxes)]), iou_threshold)
    return order[keep].astype(np.int64)


def batched_nms(boxes, scores, idxs, iou_threshold):
    """NMS within each category: boxes with different ``idxs`` never suppress each other.

    Args:
        boxes: (K, 4) float boxes; scores: (K,) float.
        idxs: (K,) int category of each box (e.g. class labels 1..K -- 0 is
            background -- or the image / FPN level a box belongs to).
        iou_threshold: as in ``nms``.

    Returns:
        (M,) int64 indices of the kept boxes over all categories, highest score
        first (ties: input order).
    """
    boxes, scores, iou_threshold = _check(boxes, scores, iou_threshold)
    idxs = _check_idxs(idxs, len(boxes))
    order = np.lexsort((-scores, idxs))  # by category, then best first; stable
    sorted_idxs = idxs[order]
    starts = np.flatnonzero(np.diff(sorted_idxs)) + 1  # where a new category begins
    segments = np.concatenate([[0], starts, [len(boxes)]]).astype(np.int64)
    keep = order[_nms_kernel(np.ascontiguousarray(boxes[order].T), segments, iou_threshold)]
    keep = np.sort(keep)  # input order, then a stable sort by score
    return keep[np.argsort(-scores[keep], kind="stable")].astype(np.int64)
