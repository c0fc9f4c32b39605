"""The COCO evaluation protocol on flat tables of ground truths and detections.

The protocol in five steps (the same as pycocotools' COCOeval):

1. **Group** instances into blocks, one per (category, image). Inside a block,
   detections are sorted by score, highest first (a stable sort: ties keep the
   order in which they were given), and only the first ``max(MAX_DETS)`` = 100
   are kept.
2. **IoU** between every detection and ground truth of a block (``iou.py`` for
   boxes, ``datasets/rle_iou.py`` for masks).
3. **Match** greedily at each IoU threshold 0.50, 0.55, ..., 0.95 and each area
   range (``matching.py``): every detection becomes a true positive, a false
   positive, or ignored.
4. **Accumulate** per (category, area range, max detections): pool the
   detections of all images, sort by score (stable, images in increasing id
   order), and walk down the list keeping running counts of TP and FP:
   recall = TP / (number of non-ignored ground truths),
   precision = TP / (TP + FP). Make precision monotone by replacing each value
   with the best precision at any higher recall (the "envelope"), then read it
   at the 101 recall points 0, 0.01, ..., 1 (0 beyond the highest recall reached).
5. **Summarise**: AP is the mean of those 101 precisions over IoU thresholds and
   categories; AR is the mean of the highest recall reached. Settings with no
   ground truth are -1 and are left out of the means; a figure with nothing to
   average is -1.

Area ranges are inclusive on both ends (an object of exactly 32**2 pixels is
both "small" and "medium"); areas are the annotations' ``area`` fields (mask
pixel counts) for ground truths; for detections, the box's w * h when the result has a
box, else the mask's pixel count (how pycocotools' ``loadRes`` sizes results).

``iou_type="keypoints"`` runs the same five steps with OKS in place of IoU and
COCO's keypoint settings (20 detections, no "small" range): see ``keypoints.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimaskrcnn.datasets.rle_iou import pair_iou
from minimaskrcnn.evaluation.iou import block_pairs, box_iou_pairs
from minimaskrcnn.evaluation.keypoints import KEYPOINT_AREA_RANGES, KEYPOINT_MAX_DETS, oks_pairs
from minimaskrcnn.evaluation.matching import match_blocks
from minimaskrcnn.evaluation.result import EvalResult

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # exactly as pycocotools builds them
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
AREA_RANGES = {"all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}


@dataclass
class Instances:
    """A flat table of ground truths or detections (one row each).

    image_id, category_id (N,) int64; area (N,) float64; bbox (N, 4) float64 COCO
    (x, y, w, h); for ground truths ``iscrowd`` (N,) bool and ``ann_id`` (N,) int64;
    for detections ``score`` (N,) float64. Masks, when present, as run-length
    counts: RLE n is ``counts[offsets[n]:offsets[n + 1]]`` (see ``rle.py``).
    Keypoints, when present: (N, K, 3) float64 rows [x, y, v] (ground truths)
    or [x, y, score] (detections).
    """

    image_id: np.ndarray
    category_id: np.ndarray
    area: np.ndarray
    bbox: np.ndarray
    score: np.ndarray | None = None
    iscrowd: np.ndarray | None = None
    ann_id: np.ndarray | None = None
    counts: np.ndarray | None = None
    offsets: np.ndarray | None = None
    keypoints: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image_id)

    def take(self, index: np.ndarray) -> "Instances":
        """Rows ``index`` (in that order), masks included."""
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        counts, offsets = self.counts, self.offsets
        if counts is not None:
            lengths = np.diff(offsets)[index]
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            starts = self.offsets[:-1][index]
            run = np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths)
            counts = counts[np.repeat(starts, lengths) + run]
        return Instances(pick(self.image_id), pick(self.category_id), pick(self.area), pick(self.bbox),
                         pick(self.score), pick(self.iscrowd), pick(self.ann_id), counts, offsets,
                         pick(self.keypoints))


def evaluate_instances(gt: Instances, dt: Instances, image_ids, category_ids, iou_type: str,
                       class_names=None, keypoint_sigmas=None) -> EvalResult:
    """Run the protocol (steps 1-5 above) for ``iou_type`` "bbox", "segm" or "keypoints".

    image_ids, category_ids: what is evaluated (each sorted and deduplicated).
    Instances of other images or categories are dropped, as pycocotools does.
    class_names: one per entry of category_ids, in the same order (default: the ids as text).
    keypoint_sigmas: (K,) OKS sigmas, needed for "keypoints" (both tables then carry ``keypoints``).
    """
    if iou_type not in ("bbox", "segm", "keypoints"):
        raise ValueError(f"iou_type: expected 'bbox', 'segm' or 'keypoints', got {iou_type!r}")
    keypoints = iou_type == "keypoints"
    area_ranges = KEYPOINT_AREA_RANGES if keypoints else AREA_RANGES
    max_dets = KEYPOINT_MAX_DETS if keypoints else MAX_DETS
    given_ids = [int(c) for c in category_ids]
    if class_names is not None and len(class_names) != len(given_ids):
        raise ValueError(f"class_names: expected {len(given_ids)} names (one per category), got {len(class_names)}")
    name_of = dict(zip(given_ids, class_names if class_names is not None else map(str, given_ids)))
    image_ids = np.unique(np.asarray(image_ids, dtype=np.int64))
    category_ids = np.unique(np.asarray(given_ids, dtype=np.int64))
    I, K = len(image_ids), len(category_ids)
    max_det = max_dets[-1]

    # 1. blocks: sort by (category, image[, -score]); stable, so ties keep their order
    def block_keys(table):
        i = np.searchsorted(image_ids, table.image_id)
        k = np.searchsorted(category_ids, table.category_id)
        known = (i < I) & (k < K)
        known[known] &= image_ids[i[known]] == table.image_id[known]
        known[known] &= category_ids[k[known]] == table.category_id[known]
        return np.where(known, k * I + i, -1)  # -1: not evaluated

    gt_key = block_keys(gt)
    gt_order = np.flatnonzero(gt_key >= 0)
    gt_order = gt_order[np.argsort(gt_key[gt_order], kind="stable")]
    dt_key = block_keys(dt)
    dt_order = np.flatnonzero(dt_key >= 0)
    dt_order = dt_order[np.lexsort((-dt.score[dt_order], dt_key[dt_order]))]  # lexsort is stable
    gt, gt_key = gt.take(gt_order), gt_key[gt_order]
    dt, dt_key = dt.take(dt_order), dt_key[dt_order]
    # rank of each detection inside its block; keep the top max_det
    first = np.searchsorted(dt_key, dt_key, side="left")
    keep = np.arange(len(dt)) - first < max_det
    dt, dt_key = dt.take(np.flatnonzero(keep)), dt_key[keep]
    dt_rank = np.arange(len(dt)) - np.searchsorted(dt_key, dt_key, side="left")

    keys = np.union1d(gt_key, dt_key)  # non-empty blocks, in (category, image) order
    gt_start = np.searchsorted(gt_key, keys, side="left")
    num_gt = np.searchsorted(gt_key, keys, side="right") - gt_start
    dt_start = np.searchsorted(dt_key, keys, side="left")
    num_dt = np.searchsorted(dt_key, keys, side="right") - dt_start

    # 2. IoU of every (detection, gt) pair of every block
    d_index, g_index, pair_start = block_pairs(dt_start, num_dt, gt_start, num_gt)
    match_area = gt.area
    if iou_type == "bbox":
        ious = box_iou_pairs(dt.bbox[d_index], gt.bbox[g_index], gt.iscrowd[g_index])
    elif keypoints:
        ious = oks_pairs(dt.keypoints[d_index], gt.keypoints[g_index], gt.area[g_index], gt.bbox[g_index],
                         keypoint_sigmas)
        # pycocotools ignores a ground truth without labelled keypoints, as it ignores crowds;
        # the matcher ignores every ground truth outside the area range: area -1 is outside all.
        match_area = np.where((gt.keypoints[:, :, 2] > 0).any(axis=1), gt.area, -1.0)
    else:
        ious = pair_iou(dt.counts, dt.offsets, gt.counts, gt.offsets, d_index, g_index, gt.iscrowd)

    # 3. greedy matching for every block, area range and IoU threshold
    dt_matched, dt_ignore, gt_ignore = match_blocks(
        dt_start, num_dt, gt_start, num_gt, pair_start, ious, match_area, gt.iscrowd, gt.ann_id,
        dt.area, list(area_ranges.values()), IOU_THRESHOLDS)

    # 4. precision / recall per (category, area range, max detections)
    precision, recall, scores = accumulate(
        keys // max(I, 1), gt_key // max(I, 1), dt_key // max(I, 1), K,
        dt.score, dt_rank, dt_matched, dt_ignore, gt_ignore, max_dets)

    return EvalResult(iou_type=iou_type, precision=precision, recall=recall, scores=scores,
                      category_ids=[int(c) for c in category_ids],
                      class_names=[str(name_of[int(c)]) for c in category_ids],
                      iou_thresholds=IOU_THRESHOLDS, recall_thresholds=RECALL_THRESHOLDS,
                      area_ranges=dict(area_ranges), max_dets=max_dets,
                      num_images=I, num_gt=len(gt), num_dt=len(dt))


def accumulate(block_cat, gt_cat, dt_cat, K, dt_score, dt_rank, dt_matched, dt_ignore, gt_ignore,
               max_dets=MAX_DETS):
    """Step 4. Returns precision (T, R, K, A, M), recall (T, K, A, M), scores (T, R, K, A, M).

    Rows of the dt/gt arrays are sorted by (category, image, -score), so each
    category is one contiguous slice. -1 marks settings with no ground truth.
    """
    A, T, _ = dt_matched.shape
    R, M = len(RECALL_THRESHOLDS), len(max_dets)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    scores = -np.ones((T, R, K, A, M))
    present = np.zeros(K, bool)
    present[block_cat] = True  # categories with at least one gt or detection
    dt_bounds = np.searchsorted(dt_cat, np.arange(K + 1))
    gt_bounds = np.searchsorted(gt_cat, np.arange(K + 1))
    for k in np.flatnonzero(present):
        in_cat = np.arange(dt_bounds[k], dt_bounds[k + 1])
        for m, max_det in enumerate(max_dets):
            picked = in_cat[dt_rank[in_cat] < max_det]
            picked = picked[np.argsort(-dt_score[picked], kind="mergesort")]  # pool images, by score
            n = len(picked)
            for a in range(A):
                num_positives = np.count_nonzero(~gt_ignore[a, gt_bounds[k]:gt_bounds[k + 1]])
                if num_positives == 0:
                    continue  # no ground truth: precision and recall stay -1
                matched, ignored = dt_matched[a][:, picked], dt_ignore[a][:, picked]  # (T, n)
                tp = np.cumsum(matched & ~ignored, axis=1, dtype=np.float64)
                fp = np.cumsum(~matched & ~ignored, axis=1, dtype=np.float64)
                rc = tp / num_positives
                pr = tp / (fp + tp + np.spacing(1))
                recall[:, k, a, m] = rc[:, -1] if n else 0.0
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]  # monotone envelope
                for t in range(T):
                    at = np.searchsorted(rc[t], RECALL_THRESHOLDS, side="left")
                    reached = at < n
                    precision[t, :, k, a, m] = np.where(reached, pr[t, np.minimum(at, n - 1)] if n else 0, 0)
                    scores[t, :, k, a, m] = np.where(reached, dt_score[picked][np.minimum(at, n - 1)] if n else 0, 0)
    return precision, recall, scores
