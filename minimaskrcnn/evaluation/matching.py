"""Greedy matching of detections to ground truth, one image and category at a time.

COCO's rule, for one IoU threshold t:

1. Detections are visited from the highest score down (ties keep their order).
2. Each detection takes the *best* still-free ground truth with IoU >= t;
   ground truths that are already taken are skipped - except crowd regions,
   which can absorb any number of detections.
3. Ground truths that are *ignored* (crowd regions, or objects outside the area
   range being evaluated) are listed after the regular ones, and a detection
   that already found a regular match never switches to an ignored one.
4. A detection matched to an ignored ground truth is itself ignored: it counts
   neither as a true nor as a false positive. So is an unmatched detection whose
   own area lies outside the area range.

Everything else is a true positive (matched) or a false positive (unmatched).
A second detection on an already-taken object is therefore a false positive:
duplicates are punished, which is why detectors run non-maximum suppression.

One quirk is kept for exact agreement with pycocotools: it records a match by
the ground truth's annotation *id* and later tests that id for truth, so a
detection matched to a ground truth whose id is 0 is scored as unmatched.

``match_naive`` is the rule for one block and threshold, in plain Python;
``evaluate_block_naive`` applies it for every threshold like the kernel;
``match_blocks`` runs the Numba kernel over all blocks, area ranges and
thresholds in one call.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


def match_naive(ious, gt_ignore, gt_crowd, iou_threshold: float) -> list[int]:
    """For each detection (rows of ious (D, G), sorted by score) its gt index or -1."""
    D, G = ious.shape
    order = [g for g in range(G) if not gt_ignore[g]] + [g for g in range(G) if gt_ignore[g]]
    taken = [False] * G
    matches = []
    for d in range(D):
        best_iou, best = min(iou_threshold, 1 - 1e-10), -1
        for g in order:
            if taken[g] and not gt_crowd[g]:
                continue  # a regular object can be found only once
            if best > -1 and not gt_ignore[best] and gt_ignore[g]:
                break  # never trade a regular match for an ignored one
            if ious[d, g] < best_iou:
                continue
            best_iou, best = ious[d, g], g
        if best > -1:
            taken[best] = True
        matches.append(best)
    return matches


def evaluate_block_naive(ious, gt_area, gt_crowd, gt_id, dt_area, area_range, iou_thresholds):
    """One block, one area range: (dt_matched (T, D), dt_ignore (T, D), gt_ignore (G,)) bool."""
    lo, hi = area_range
    gt_ignore = np.array([bool(c) or a < lo or a > hi for a, c in zip(gt_area, gt_crowd)], dtype=bool)
    T, D = len(iou_thresholds), len(dt_area)
    dt_matched, dt_ignore = np.zeros((T, D), bool), np.zeros((T, D), bool)
    for t, threshold in enumerate(iou_thresholds):
        for d, g in enumerate(match_naive(ious, gt_ignore, gt_crowd, threshold)):
            if g > -1:
                dt_matched[t, d] = gt_id[g] != 0  # pycocotools' id quirk (see module docstring)
                dt_ignore[t, d] = gt_ignore[g]
            if not dt_matched[t, d] and (dt_area[d] < lo or dt_area[d] > hi):
                dt_ignore[t, d] = True
    return dt_matched, dt_ignore, gt_ignore


@njit(cache=True, parallel=True)
def _match_kernel(dt_start, num_dt, gt_start, num_gt, pair_start, ious, gt_area, gt_crowd, gt_id,
                  dt_area, area_lo, area_hi, iou_thresholds, dt_matched, dt_ignore, gt_ignore):
    """Fill dt_matched/dt_ignore (A, T, num_dets) and gt_ignore (A, num_gts) for every block."""
    A, T = len(area_lo), len(iou_thresholds)
    for b in prange(len(dt_start)):
        d0, D, g0, G, p0 = dt_start[b], num_dt[b], gt_start[b], num_gt[b], pair_start[b]
        order = np.empty(G, np.int64)
        taken = np.empty(G, np.bool_)
        for a in range(A):
            lo, hi = area_lo[a], area_hi[a]
            n = 0
            for g in range(G):  # regular ground truths first, then ignored ones
                ignored = gt_crowd[g0 + g] or gt_area[g0 + g] < lo or gt_area[g0 + g] > hi
                gt_ignore[a, g0 + g] = ignored
                if not ignored:
                    order[n] = g
                    n += 1
            for g in range(G):
                if gt_ignore[a, g0 + g]:
                    order[n] = g
                    n += 1
            for t in range(T):
                taken[:] = False
                for d in range(D):
                    best_iou, best = min(iou_thresholds[t], 1 - 1e-10), -1
                    for j in range(G):
                        g = order[j]
                        if taken[g] and not gt_crowd[g0 + g]:
                            continue
                        if best > -1 and not gt_ignore[a, g0 + best] and gt_ignore[a, g0 + g]:
                            break
                        iou = ious[p0 + d * G + g]
                        if iou < best_iou:
                            continue
                        best_iou, best = iou, g
                    matched, ignored = False, False
                    if best > -1:
                        taken[best] = True
                        matched = gt_id[g0 + best] != 0
                        ignored = gt_ignore[a, g0 + best]
                    if not matched and (dt_area[d0 + d] < lo or dt_area[d0 + d] > hi):
                        ignored = True
                    dt_matched[a, t, d0 + d] = matched
                    dt_ignore[a, t, d0 + d] = ignored


def match_blocks(dt_start, num_dt, gt_start, num_gt, pair_start, ious, gt_area, gt_crowd, gt_id,
                 dt_area, area_ranges, iou_thresholds):
    """Run the matching for all blocks (see ``iou.block_pairs`` for the layout).

    Returns dt_matched (A, T, num_dets), dt_ignore (A, T, num_dets) and
    gt_ignore (A, num_gts), all bool. A = len(area_ranges), T = len(iou_thresholds).
    """
    A, T = len(area_ranges), len(iou_thresholds)
    area_ranges = np.asarray(area_ranges, dtype=np.float64)
    dt_matched = np.zeros((A, T, len(dt_area)), dtype=np.bool_)
    dt_ignore = np.zeros((A, T, len(dt_area)), dtype=np.bool_)
    gt_ignore = np.zeros((A, len(gt_area)), dtype=np.bool_)
    i64 = lambda x: np.ascontiguousarray(x, dtype=np.int64)  # noqa: E731
    f64 = lambda x: np.ascontiguousarray(x, dtype=np.float64)  # noqa: E731
    _match_kernel(i64(dt_start), i64(num_dt), i64(gt_start), i64(num_gt), i64(pair_start), f64(ious),
                  f64(gt_area), np.ascontiguousarray(gt_crowd, dtype=np.bool_),
                  i64(gt_id), f64(dt_area), f64(area_ranges[:, 0]), f64(area_ranges[:, 1]),
                  f64(iou_thresholds), dt_matched, dt_ignore, gt_ignore)
    return dt_matched, dt_ignore, gt_ignore
