"""Matching boxes to ground truth, and balanced sampling: shared by the RPN and the RoI heads.

Both stages answer the same two questions for a set of candidate boxes
(anchors for the RPN, proposals for the RoI heads):

1. *Matching*: which ground-truth box does each candidate belong to, and is it
   a positive (foreground), a negative (background) or ignored? Decided by
   IoU thresholds, see ``match_boxes``.
2. *Sampling*: train on a fixed-size, class-balanced subset, because
   background candidates outnumber foreground ones by far. See
   ``sample_balanced``.

Label values used here: ``1`` positive, ``0`` negative, ``-1`` ignored.
"""
from __future__ import annotations

import numpy as np

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def match_boxes(iou: np.ndarray, fg_iou: float, bg_iou: float, allow_low_quality: bool):
    """Assign each candidate to its best ground-truth box, and label it.

    Args:
        iou: (G, A) IoU of G ground-truth boxes with A candidates.
        fg_iou: candidates with best IoU >= fg_iou are positive.
        bg_iou: candidates with best IoU < bg_iou are negative; those in
            between are ignored (-1).
        allow_low_quality: also make positive, for every ground-truth box, the
            candidates whose IoU with it equals its highest IoU with any
            candidate (ties included), so each ground-truth box has at least
            one positive even if no candidate reaches fg_iou (Faster R-CNN's
            rule for the RPN). A ground-truth box that overlaps no candidate at
            all (highest IoU 0) gets none; torchvision's Matcher would make
            every non-overlapping candidate positive in that case.

    Returns:
        matched (A,) int64: index of the best ground-truth box (0 when G = 0);
        labels (A,) int8: 1 positive, 0 negative, -1 ignored.
    """
    G, A = iou.shape
    if G == 0:  # no ground truth: everything is background
        return np.zeros(A, dtype=np.int64), np.zeros(A, dtype=np.int8)
    matched = iou.argmax(axis=0)  # (A,) first maximum on ties
    best = iou[matched, np.arange(A)]  # (A,)
    labels = np.full(A, IGNORE, dtype=np.int8)
    labels[best < bg_iou] = NEGATIVE
    labels[best >= fg_iou] = POSITIVE
    if allow_low_quality:
        highest = iou.max(axis=1, keepdims=True)  # (G, 1)
        is_best = (iou == highest) & (highest > 0)  # (G, A)
        labels[is_best.any(axis=0)] = POSITIVE
    return matched.astype(np.int64), labels


def sample_balanced(labels: np.ndarray, batch_size: int, positive_fraction: float, rng) -> np.ndarray:
    """Pick at most ``batch_size`` candidates, at most ``positive_fraction`` of them positive.

    If there are too few positives, negatives fill the rest (as in torchvision's
    BalancedPositiveNegativeSampler). The choice is random without replacement,
    drawn from ``rng``.

    Args:
        labels: (A,) values 1 / 0 / -1 from ``match_boxes``.

    Returns:
        (A,) int8 labels where the candidates not sampled are set to -1.
    """
    pos = np.flatnonzero(labels == POSITIVE)
    neg = np.flatnonzero(labels == NEGATIVE)
    num_pos = min(int(batch_size * positive_fraction), pos.size)
    num_neg = min(batch_size - num_pos, neg.size)
    keep_pos = rng.choice(pos, size=num_pos, replace=False) if num_pos else pos[:0]
    keep_neg = rng.choice(neg, size=num_neg, replace=False) if num_neg else neg[:0]
    out = np.full_like(labels, IGNORE)
    out[keep_pos] = POSITIVE
    out[keep_neg] = NEGATIVE
    return out
