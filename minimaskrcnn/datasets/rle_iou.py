"""Mask IoU, area and box computed directly on run-length counts (no decoding).

Definitions (COCO's, which the evaluator follows):

* IoU(d, g) = |d AND g| / |d OR g|, and 0 when the two masks do not intersect.
* For a *crowd* ground truth g (a region holding many objects), the union is
  replaced by the detection's own area: IoU = |d AND g| / |d|. A detection lying
  entirely inside a crowd region then scores 1, however big the region is.

Two masks stored as counts can be intersected by walking both run lists at once,
like merging two sorted lists: at every step, advance by the shorter of the two
current runs; when both runs are 1s, that stretch is in the intersection. The
cost is proportional to the number of runs, not the number of pixels.

Worked example (H*W = 9): a = [3, 2, 1, 1, 2] (1s at pixels 3, 4, 6),
b = [4, 5] (1s at pixels 4..8). Intersection = pixels 4 and 6 = 2; areas 3 and 5;
union = 3 + 5 - 2 = 6; IoU = 1/3.

All functions here take flat counts (uint32) with offsets (int64, N + 1), as
produced by ``rle.encode_counts_batch`` / ``rle.counts_from_strings_batch``:
RLE n is ``counts[offsets[n]:offsets[n + 1]]``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


def mask_iou_dense(dt_masks: np.ndarray, gt_masks: np.ndarray, iscrowd=None) -> np.ndarray:
    """IoU matrix (D, G) float64 of dense masks dt (D, H, W) and gt (G, H, W).

    The readable definition: intersections are a matrix product of the
    flattened 0/1 masks (exact integer counts), unions follow from the areas.
    """
    D, G = len(dt_masks), len(gt_masks)
    pixels = int(np.prod(dt_masks.shape[1:]))
    dt = dt_masks.reshape(D, pixels)  # (D, H*W)
    gt = gt_masks.reshape(G, pixels)  # (G, H*W)
    exact = np.float32 if dt.shape[1] < 2**24 else np.float64  # integers stay exact
    inter = (dt.astype(exact) @ gt.astype(exact).T).astype(np.int64)  # (D, G)
    dt_area, gt_area = dt.sum(axis=1), gt.sum(axis=1)
    union = dt_area[:, None] + gt_area[None, :] - inter  # (D, G)
    if iscrowd is not None:
        crowd = np.asarray(iscrowd, dtype=bool)
        union = np.where(crowd[None, :], dt_area[:, None], union)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / np.maximum(union, 1), 0.0)


def rle_intersection_naive(a, b) -> int:
    """Pixels in both masks, walking the two run lists side by side."""
    ia, ib = 0, 0  # index of the current run in a and b
    left_a, left_b = a[0], b[0]  # pixels left in the current runs
    one_a, one_b = False, False  # runs alternate 0s, 1s, 0s, ... starting with 0s
    inter = 0
    while True:
        while left_a == 0 and ia + 1 < len(a):  # move to the next non-empty run
            ia, left_a, one_a = ia + 1, a[ia + 1], not one_a
        while left_b == 0 and ib + 1 < len(b):
            ib, left_b, one_b = ib + 1, b[ib + 1], not one_b
        if left_a == 0 or left_b == 0:
            return int(inter)
        step = min(left_a, left_b)
        if one_a and one_b:
            inter += step
        left_a, left_b = left_a - step, left_b - step


def rle_iou_naive(a, b, crowd: bool) -> float:
    """COCO IoU of two count lists (reference)."""
    inter = rle_intersection_naive(a, b)
    if inter == 0:
        return 0.0
    area_a, area_b = int(np.sum(a[1::2])), int(np.sum(b[1::2]))
    union = area_a if crowd else area_a + area_b - inter
    return inter / union


@njit(cache=True)
def _intersection(counts_a, start_a, end_a, counts_b, start_b, end_b):
    ia, ib = start_a, start_b
    left_a, left_b = np.int64(counts_a[ia]), np.int64(counts_b[ib])
    one_a, one_b = False, False
    inter = np.int64(0)
    while True:
        while left_a == 0 and ia + 1 < end_a:
            ia += 1
            left_a = np.int64(counts_a[ia])
            one_a = not one_a
        while left_b == 0 and ib + 1 < end_b:
            ib += 1
            left_b = np.int64(counts_b[ib])
            one_b = not one_b
        if left_a == 0 or left_b == 0:
            return inter
        step = min(left_a, left_b)
        if one_a and one_b:
            inter += step
        left_a -= step
        left_b -= step


@njit(cache=True, parallel=True)
def _pair_iou_kernel(dt_counts, dt_offsets, dt_area, gt_counts, gt_offsets, gt_area,
                     dt_index, gt_index, gt_crowd, out):
    """out[p] = IoU(dt[dt_index[p]], gt[gt_index[p]]) for every pair p."""
    for p in prange(len(out)):
        d, g = dt_index[p], gt_index[p]
        inter = _intersection(dt_counts, dt_offsets[d], dt_offsets[d + 1],
                              gt_counts, gt_offsets[g], gt_offsets[g + 1])
        if inter == 0:
            out[p] = 0.0
        elif gt_crowd[g]:
            out[p] = inter / dt_area[d]
        else:
            out[p] = inter / (dt_area[d] + gt_area[g] - inter)


def areas_from_counts(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Area (N,) int64 of every RLE: the sum of its odd-indexed counts."""
    position = np.arange(len(counts)) - np.repeat(offsets[:-1], np.diff(offsets))
    ones = np.where(position % 2 == 1, counts, 0).astype(np.int64)
    cumulative = np.concatenate([[0], np.cumsum(ones)])
    return cumulative[offsets[1:]] - cumulative[offsets[:-1]]


def pair_iou(dt_counts, dt_offsets, gt_counts, gt_offsets, dt_index, gt_index, gt_crowd) -> np.ndarray:
    """COCO mask IoU (P,) float64 for pairs (dt_index[p], gt_index[p]) of RLEs.

    The RLEs on both sides must describe masks of the same size (the caller
    checks). gt_crowd (num_gt,) bool switches the union to the detection's area.
    """
    dt_counts = np.ascontiguousarray(dt_counts, dtype=np.uint32)
    gt_counts = np.ascontiguousarray(gt_counts, dtype=np.uint32)
    dt_offsets = np.ascontiguousarray(dt_offsets, dtype=np.int64)
    gt_offsets = np.ascontiguousarray(gt_offsets, dtype=np.int64)
    out = np.empty(len(dt_index), dtype=np.float64)
    _pair_iou_kernel(dt_counts, dt_offsets, areas_from_counts(dt_counts, dt_offsets),
                     gt_counts, gt_offsets, areas_from_counts(gt_counts, gt_offsets),
                     np.ascontiguousarray(dt_index, dtype=np.int64),
                     np.ascontiguousarray(gt_index, dtype=np.int64),
                     np.ascontiguousarray(gt_crowd, dtype=np.bool_), out)
    return out


@njit(cache=True)
def _bbox_kernel(counts, offsets, heights, out):
    """COCO's box of each RLE from its runs: (N, 4) [x, y, w, h].

    Each run of 1s contributes its first and last pixel; a run that wraps from
    one column into the next covers every row, so the box spans full height.
    """
    for n in range(len(offsets) - 1):
        start, end, H = offsets[n], offsets[n + 1], heights[n]
        m = ((end - start) // 2) * 2  # a trailing run of 0s adds nothing
        out[n, :] = 0.0
        if m == 0:
            continue
        x0, y0, x1, y1 = np.int64(1) << 62, np.int64(1) << 62, np.int64(0), np.int64(0)
        position, x_first = np.int64(0), np.int64(0)
        for j in range(m):
            position += counts[start + j]
            pixel = position - (j % 2)  # first pixel of a 1-run / last pixel of it
            y, x = pixel % H, pixel // H
            if j % 2 == 0:
                x_first = x
            elif x_first < x:
                y0, y1 = 0, H - 1
            x0, x1 = min(x0, x), max(x1, x)
            y0, y1 = min(y0, y), max(y1, y)
        out[n, 0], out[n, 1] = x0, y0
        out[n, 2], out[n, 3] = x1 - x0 + 1, y1 - y0 + 1


def bboxes_from_counts(counts, offsets, heights) -> np.ndarray:
    """COCO ``toBbox`` of N RLEs: (N, 4) float64 [x, y, w, h]; zeros when empty."""
    out = np.empty((len(offsets) - 1, 4), dtype=np.float64)
    _bbox_kernel(np.ascontiguousarray(counts, dtype=np.uint32),
                 np.ascontiguousarray(offsets, dtype=np.int64),
                 np.ascontiguousarray(heights, dtype=np.int64), out)
    return out
