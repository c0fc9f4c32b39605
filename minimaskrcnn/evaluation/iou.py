"""Box IoU as the COCO evaluator computes it, and the list of (detection, gt) pairs.

Boxes here are COCO's (x, y, width, height) in float64, because that is what
annotation and results files hold; computing from them with exactly COCO's
arithmetic makes every IoU bit-identical to the official evaluator's, so no
detection lands on the other side of a threshold.

    overlap_w = min(x_d + w_d, x_g + w_g) - max(x_d, x_g)      (0 if <= 0)
    overlap_h = min(y_d + h_d, y_g + h_g) - max(y_d, y_g)      (0 if <= 0)
    I = overlap_w * overlap_h
    IoU = I / (w_d h_d + w_g h_g - I)     or, for a crowd gt,  I / (w_d h_d)

Worked example: d = [0, 0, 10, 10], g = [5, 0, 10, 10] -> overlap 5 x 10 = 50,
union 100 + 100 - 50 = 150, IoU = 1/3; if g is a crowd region, 50 / 100 = 0.5.

Mask IoU follows the same two definitions (see ``datasets/rle_iou.py``).
"""
from __future__ import annotations

import numpy as np


def box_iou_pairs(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU (P,) of box pairs: dt (P, 4), gt (P, 4) in xywh, crowd (P,) bool."""
    w = np.minimum(dt[:, 2] + dt[:, 0], gt[:, 2] + gt[:, 0]) - np.maximum(dt[:, 0], gt[:, 0])
    h = np.minimum(dt[:, 3] + dt[:, 1], gt[:, 3] + gt[:, 1]) - np.maximum(dt[:, 1], gt[:, 1])
    inter = w * h
    dt_area, gt_area = dt[:, 2] * dt[:, 3], gt[:, 2] * gt[:, 3]
    union = np.where(crowd, dt_area, dt_area + gt_area - inter)
    overlap = (w > 0) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def box_iou(dt: np.ndarray, gt: np.ndarray, iscrowd=None) -> np.ndarray:
    """COCO box IoU matrix (D, G) float64 of dt (D, 4) and gt (G, 4) boxes in xywh."""
    dt = np.asarray(dt, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    crowd = np.zeros(len(gt), bool) if iscrowd is None else np.asarray(iscrowd, bool)
    D, G = len(dt), len(gt)
    d, g = np.repeat(np.arange(D), G), np.tile(np.arange(G), D)  # row-major pairs
    return box_iou_pairs(dt[d], gt[g], crowd[g]).reshape(D, G)


def block_pairs(dt_start, num_dt, gt_start, num_gt):
    """All (detection, gt) index pairs of every block, row-major inside each block.

    A block is one (category, image): num_dt[b] detections starting at
    dt_start[b] and num_gt[b] ground truths starting at gt_start[b]. Returns
    (dt_index (P,), gt_index (P,), pair_start (B,)); block b's IoU matrix
    (num_dt[b], num_gt[b]) is flat at pair_start[b] onward.
    """
    sizes = num_dt * num_gt
    pair_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    block = np.repeat(np.arange(len(sizes)), sizes)  # block of each pair
    local = np.arange(int(sizes.sum())) - pair_start[block]
    G = num_gt[block]
    return dt_start[block] + local // G, gt_start[block] + local % G, pair_start
