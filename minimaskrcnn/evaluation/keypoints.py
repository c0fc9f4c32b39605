"""COCO keypoint evaluation: object keypoint similarity (OKS) in place of IoU.

For keypoints, "how well does detection d match ground truth g" is OKS,
a soft count of the keypoints that landed close enough::

    OKS(d, g) = mean over the labelled keypoints k of g (v_k > 0) of
                exp(-d_k² / (2 s² κ_k²)),      κ_k = 2 σ_k,   s² = area of g

with ``d_k`` the distance between predicted and true keypoint k, ``s²`` the
ground truth's area (object scale: the same pixel error is worse on a small
person) and ``σ_k`` a per-keypoint tolerance (``KEYPOINT_SIGMAS`` of the toy
data are documented in ``datasets/keypoints.py``; COCO's, for its 17 person
keypoints, are ``COCO_PERSON_SIGMAS``). A perfect prediction scores 1, and a
keypoint ``κ_k s`` pixels off scores exp(-1/2) ≈ 0.61. The predicted
keypoints' own scores play no part; the detection's score ranks it.

Worked example: s² = 400, σ = 0.1 (κ² = 0.04), two labelled keypoints off by
4 px and 0 px: exp(-16 / (2 · 400 · 0.04)) = exp(-0.5); OKS = (0.6065 + 1) / 2 = 0.8033.

A ground truth with no labelled keypoint (pycocotools' rule): every predicted
keypoint is measured against the box grown by its own width/height on each
side (distance 0 inside it), and all K keypoints are averaged. Such a ground
truth is *ignored* (like a crowd region), so this only decides whether a
detection on it is ignored too.

The rest is the box protocol of ``cocoeval.py`` with the OKS matrix as IoU,
except (pycocotools' ``setKpParams``): at most 20 detections per image
(``KEYPOINT_MAX_DETS``), the area ranges all/medium/large (no "small"), and
ten summary figures AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl.
Detection areas are box areas (or, for results without a box, the area of
the box around their keypoints, as pycocotools' ``loadRes`` computes it).
"""
from __future__ import annotations

import numpy as np

COCO_PERSON_KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
COCO_PERSON_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                               1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0
KEYPOINT_MAX_DETS = (20,)
KEYPOINT_AREA_RANGES = {"all": (0.0, 1e10), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10)}


def resolve_sigmas(sigmas, num_keypoints: int, source=None) -> np.ndarray:
    """(K,) float64 OKS sigmas: the given ones, else ``source.keypoint_sigmas``, else COCO's for K = 17."""
    if sigmas is None and source is not None:
        sigmas = getattr(source, "keypoint_sigmas", None)
    if sigmas is None:
        if num_keypoints == len(COCO_PERSON_SIGMAS):
            return COCO_PERSON_SIGMAS.copy()
        raise ValueError(f"keypoint_sigmas: needed for {num_keypoints} keypoints (COCO's apply only to its "
                         f"17 person keypoints); pass one sigma per keypoint")
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if len(sigmas) != num_keypoints or not (np.isfinite(sigmas).all() and (sigmas > 0).all()):
        raise ValueError(f"keypoint_sigmas: expected {num_keypoints} positive numbers (one per keypoint), "
                         f"got {sigmas.tolist()}")
    return sigmas


def oks_naive(dt_keypoints, gt_keypoints, gt_area, gt_bbox, sigmas) -> np.ndarray:
    """OKS matrix (D, G), one pair at a time, exactly as defined above.

    dt_keypoints (D, K, 3) [x, y, score]; gt_keypoints (G, K, 3) [x, y, v];
    gt_area (G,); gt_bbox (G, 4) COCO (x, y, w, h); sigmas (K,).
    """
    dt, gt = np.asarray(dt_keypoints, np.float64), np.asarray(gt_keypoints, np.float64)
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2
    out = np.zeros((len(dt), len(gt)))
    for g in range(len(gt)):
        xg, yg, vg = gt[g, :, 0], gt[g, :, 1], gt[g, :, 2]
        x, y, w, h = gt_bbox[g]
        for d in range(len(dt)):
            xd, yd = dt[d, :, 0], dt[d, :, 1]
            if (vg > 0).any():
                dx, dy = xd - xg, yd - yg
            else:  # no labelled keypoint: distance to the box grown by its size on every side
                dx = np.maximum(0, (x - w) - xd) + np.maximum(0, xd - (x + 2 * w))
                dy = np.maximum(0, (y - h) - yd) + np.maximum(0, yd - (y + 2 * h))
            e = (dx**2 + dy**2) / variances / (gt_area[g] + np.spacing(1)) / 2
            if (vg > 0).any():
                e = e[vg > 0]
            out[d, g] = np.sum(np.exp(-e)) / len(e)
    return out


def oks_pairs(dt_keypoints, gt_keypoints, gt_area, gt_bbox, sigmas) -> np.ndarray:
    """OKS (P,) of P (detection, ground truth) pairs at once; inputs as ``oks_naive``, one row per pair."""
    dt, gt = np.asarray(dt_keypoints, np.float64), np.asarray(gt_keypoints, np.float64)
    P = len(dt)
    if P == 0:
        return np.zeros(0)
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2  # (K,)
    labelled = gt[:, :, 2] > 0  # (P, K)
    any_labelled = labelled.any(axis=1, keepdims=True)  # (P, 1)
    x, y, w, h = (np.asarray(gt_bbox, np.float64)[:, i:i + 1] for i in range(4))  # each (P, 1)
    xd, yd = dt[:, :, 0], dt[:, :, 1]
    outside_x = np.maximum(0, (x - w) - xd) + np.maximum(0, xd - (x + 2 * w))
    outside_y = np.maximum(0, (y - h) - yd) + np.maximum(0, yd - (y + 2 * h))
    dx = np.where(any_labelled, xd - gt[:, :, 0], outside_x)
    dy = np.where(any_labelled, yd - gt[:, :, 1], outside_y)
    e = (dx**2 + dy**2) / variances / (np.asarray(gt_area, np.float64)[:, None] + np.spacing(1)) / 2
    counted = np.where(any_labelled, labelled, True)  # (P, K): which keypoints enter the mean
    return np.where(counted, np.exp(-e), 0.0).sum(axis=1) / counted.sum(axis=1)


def keypoint_extent_areas(keypoints) -> np.ndarray:
    """(N,) area of the box around each detection's K keypoints (pycocotools' area for box-less results)."""
    kp = np.asarray(keypoints, np.float64).reshape(len(keypoints), -1, 3)
    if kp.shape[1] == 0:
        return np.zeros(len(kp))
    span = kp[:, :, :2].max(axis=1) - kp[:, :, :2].min(axis=1)  # (N, 2)
    return span[:, 0] * span[:, 1]


def keypoint_table(items, num_keypoints: int, where, ground_truth: bool) -> np.ndarray:
    """(N, K, 3) float64 from the flat ``keypoints`` lists of COCO annotations or results, as stored.

    A ground truth without ``keypoints`` gets K unlabelled rows; one whose
    ``num_keypoints`` disagrees with its visibility flags is an error (pycocotools
    ignores by the count and measures by the flags). ``where(i)`` names item i in errors.
    """
    out = np.zeros((len(items), num_keypoints, 3))
    for i, item in enumerate(items):
        flat = item.get("keypoints")
        if flat is None:
            if ground_truth:
                continue
            raise ValueError(f"{where(i)}: missing 'keypoints'")
        if not isinstance(flat, (list, tuple)) or len(flat) != 3 * num_keypoints or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in flat):
            raise ValueError(f"{where(i)}: 'keypoints' must be {3 * num_keypoints} numbers "
                             f"[x, y, v, ...] ({num_keypoints} keypoints), got {str(flat)[:60]}")
        out[i] = np.asarray(flat, dtype=np.float64).reshape(num_keypoints, 3)
        if ground_truth:
            labelled = int((out[i, :, 2] > 0).sum())
            if item.get("num_keypoints", labelled) != labelled:
                raise ValueError(f"{where(i)}: 'num_keypoints' is {item['num_keypoints']} but {labelled} "
                                 f"keypoints have v > 0")
    return out


def percentage_correct_keypoints(samples, predictions, alpha: float = 0.1, score_thresh: float = 0.5,
                                 iou_thresh: float = 0.5) -> float:
    """PCK@alpha: the fraction of labelled ground-truth keypoints predicted within ``alpha * size``.

    A simpler figure than OKS AP, easy to read as "how many keypoints are right".
    Each (non-crowd) ground-truth instance is paired with the detection scoring
    >= ``score_thresh`` whose box overlaps it most (box IoU >= ``iou_thresh``);
    ``size`` is the longer side of the ground-truth box. Keypoints of an instance
    left without a detection count as wrong. samples / predictions as for ``evaluate``.
    """
    from minimaskrcnn.boxes import box_iou

    correct = total = 0
    for sample, pred in zip(samples, predictions):
        gt_kp = np.asarray(sample["keypoints"], np.float64)
        keep = ~np.asarray(sample.get("iscrowd", np.zeros(len(gt_kp), bool)), bool)
        gt_kp, gt_boxes = gt_kp[keep], np.asarray(sample["boxes"], np.float64).reshape(-1, 4)[keep]
        confident = np.asarray(pred["scores"]) >= score_thresh
        dt_boxes = np.asarray(pred["boxes"], np.float64).reshape(-1, 4)[confident]
        dt_kp = np.asarray(pred["keypoints"], np.float64)[confident]
        iou = box_iou(gt_boxes, dt_boxes) if len(gt_boxes) and len(dt_boxes) else np.zeros((len(gt_boxes), 0))
        for g in range(len(gt_kp)):
            labelled = gt_kp[g, :, 2] > 0
            total += int(labelled.sum())
            if iou.shape[1] == 0 or iou[g].max() < iou_thresh:
                continue
            d = int(iou[g].argmax())
            size = max(gt_boxes[g, 2] - gt_boxes[g, 0], gt_boxes[g, 3] - gt_boxes[g, 1])
            error = np.hypot(*(dt_kp[d, :, :2] - gt_kp[g, :, :2]).T)  # (K,)
            correct += int((error[labelled] <= alpha * size).sum())
    return correct / total if total else float("nan")
