"""Keypoint head: Mask R-CNN for pose estimation (the paper's section 5).

The paper's observation: a keypoint is a mask with exactly one pixel on. So
the mask head, almost unchanged, predicts K keypoints per RoI:

    (R, C, 14, 14) RoIAlign features -> [conv 3x3 + ReLU] x n
                   -> deconv 4x4 stride 2 (the predictor)   -> (R, K, 28, 28)
                   -> bilinear 2x upsample (optional)       -> (R, K, 56, 56) heatmap logits

(detectron2's Keypoint R-CNN head, with fewer and thinner convs.)

Target (``keypoint_targets``): keypoint ``k`` of an RoI's matched ground
truth is a one-hot m x m mask: the single cell that contains it. With
the RoI ``(x1, y1, x2, y2)`` cut into m x m cells, a keypoint at ``(x, y)``
lands in column ``j = floor((x - x1) * m / (x2 - x1))`` and row
``i = floor((y - y1) * m / (y2 - y1))``; its target is the index ``i * m + j``
of that cell. A keypoint exactly on the right/bottom edge goes to the last
cell. Unlabelled keypoints (v = 0) and keypoints outside the RoI are
ignored (detectron2's ``keypoints_to_heatmap``).

Loss (``keypoint_loss``): unlike the mask head's per-pixel sigmoids, each
heatmap is one m²-way softmax: the m² cells compete, and the loss is the
cross-entropy of the target cell, averaged over all valid (RoI, keypoint)
pairs. The softmax "encourages a single point to be detected". It is blind
to a constant added to a whole heatmap, so the predictor needs no bias.

Inference (``heatmaps_to_keypoints``): for each detection and keypoint, the
arg-max cell; its centre, mapped back through the box, is the keypoint
``(x1 + (j + 0.5) (x2 - x1) / m, y1 + (i + 0.5) (y2 - y1) / m)``, and its
softmax probability is the score. Worked example: box (10, 20, 38, 48),
m = 28 (1-pixel cells); the arg-max at row 5, column 3 gives (13.5, 25.5).

Shapes: R RoIs, K keypoints, m = heatmap size.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.nn.layers import Conv2d, ConvTranspose2d, ReLU
from minimaskrcnn.nn.losses import softmax_cross_entropy
from minimaskrcnn.nn.module import Module
from minimaskrcnn.ops.upsample import upsample_bilinear, upsample_bilinear_backward

IGNORE = -1  # target of a keypoint that is not trained on


class UpsampleBilinear(Module):
    """Bilinear resize by an integer factor (torch's align_corners=False); see ``ops/upsample.py``."""

    def __init__(self, scale: int = 2):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return upsample_bilinear(x, self.scale), None

    def backward(self, dout, cache):
        return upsample_bilinear_backward(dout, self.scale)


class KeypointHead(Module):
    """x (R, C, S, S) -> heatmap logits (R, K, m, m), m = 2S, or 4S with ``upsample``."""

    def __init__(self, in_channels: int, conv_dim: int, num_convs: int, num_keypoints: int,
                 upsample: bool = True, *, rng):
        super().__init__()
        dims = [in_channels] + [conv_dim] * num_convs
        self.convs = [Conv2d(a, b, 3, 1, 1, rng=rng) for a, b in zip(dims[:-1], dims[1:])]
        self.relu = ReLU()
        # no bias: a constant added to a whole heatmap cancels in its softmax over the cells
        self.predictor = ConvTranspose2d(dims[-1], num_keypoints, 4, stride=2, padding=1, bias=False, rng=rng)
        self.upsample = UpsampleBilinear(2) if upsample else None

    def forward(self, x):
        caches = []
        for conv in self.convs:
            x, cc = conv.forward(x)
            x, rc = self.relu.forward(x)
            caches.append((cc, rc))
        logits, pc = self.predictor.forward(x)  # (R, K, 2S, 2S)
        if self.upsample is not None:
            logits, _ = self.upsample.forward(logits)  # (R, K, 4S, 4S)
        return logits, (caches, pc)

    def backward(self, dout, cache):
        caches, pc = cache
        if self.upsample is not None:
            dout = self.upsample.backward(dout, None)
        d = self.predictor.backward(dout, pc)
        for conv, (cc, rc) in reversed(list(zip(self.convs, caches))):
            d = conv.backward(self.relu.backward(d, rc), cc)
        return d


def build_keypoint_head(cfg, in_channels: int, *, rng) -> KeypointHead:
    return KeypointHead(in_channels, cfg.keypoint_conv_dim, cfg.keypoint_num_convs,
                        len(cfg.keypoint_names), cfg.keypoint_upsample, rng=rng)


def keypoint_targets(gt_keypoints: np.ndarray, rois: np.ndarray, matched: np.ndarray, heatmap_size: int):
    """The one-hot target cell of every keypoint of every RoI.

    Args:
        gt_keypoints: (G, K, 3) ground-truth [x, y, v] in image pixels (continuous coordinates).
        rois: (P, 4) boxes (x1, y1, x2, y2) in image pixels (positive RoIs).
        matched: (P,) int index into gt_keypoints of each RoI's ground truth.
        heatmap_size: m.

    Returns:
        targets (P, K) int64: cell index ``i * m + j`` in 0..m²-1, or ``IGNORE`` (-1);
        valid (P, K) bool: labelled (v > 0) and inside the RoI.
    """
    m = heatmap_size
    kp = np.asarray(gt_keypoints, dtype=np.float64)[np.asarray(matched, dtype=np.int64)]  # (P, K, 3)
    rois = np.asarray(rois, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = (rois[:, i:i + 1] for i in range(4))  # each (P, 1)
    x, y = kp[..., 0], kp[..., 1]
    j = np.floor((x - x1) * m / np.maximum(x2 - x1, 1e-6))
    i = np.floor((y - y1) * m / np.maximum(y2 - y1, 1e-6))
    j[x == x2], i[y == y2] = m - 1, m - 1  # the right/bottom edge belongs to the last cell
    valid = (kp[..., 2] > 0) & (j >= 0) & (j < m) & (i >= 0) & (i < m)
    targets = np.where(valid, i * m + j, IGNORE).astype(np.int64)
    return targets, valid


def keypoint_loss(logits: np.ndarray, targets: np.ndarray):
    """Softmax cross-entropy over the m² cells of every valid heatmap, with its gradient.

    Args:
        logits: (P, K, m, m) heatmap logits of P positive RoIs.
        targets: (P, K) int64 cell indices from ``keypoint_targets`` (``IGNORE`` = skip).

    Returns:
        loss (float, mean over valid keypoints; 0 if there are none), dlogits
        (same shape as logits; zero where ignored), and stats:
        ``keypoint_accuracy`` (arg-max cell == target cell) and
        ``keypoint_cell_error`` (mean distance in cells between the two).
    """
    P, K, m, _ = logits.shape
    if targets.shape != (P, K):
        raise ValueError(f"targets: expected shape {(P, K)}, got {targets.shape}")
    flat = logits.reshape(P * K, m * m)  # (P*K, m²): one m²-way softmax per heatmap
    labels = targets.reshape(-1)
    loss, dflat = softmax_cross_entropy(flat, labels, ignore_index=IGNORE)
    stats = {}
    valid = labels != IGNORE
    if valid.any():
        best = flat[valid].argmax(axis=1)
        truth = labels[valid]
        stats["keypoint_accuracy"] = float((best == truth).mean())
        stats["keypoint_cell_error"] = float(np.hypot(best // m - truth // m, best % m - truth % m).mean())
    return float(loss), dflat.reshape(logits.shape), stats


def heatmaps_to_keypoints(logits: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Arg-max of each heatmap, mapped into the image.

    Args:
        logits: (D, K, m, m) heatmap logits of D detections.
        boxes: (D, 4) their boxes (x1, y1, x2, y2).

    Returns:
        (D, K, 3) float32 rows [x, y, score]: the arg-max cell's centre in image
        pixels and its softmax probability (in (0, 1]).
    """
    logits = np.asarray(logits)
    D, K, m, _ = logits.shape
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != D:
        raise ValueError(f"boxes: expected {D} boxes (one per heatmap set), got {len(boxes)}")
    flat = logits.reshape(D, K, m * m).astype(np.float64)
    best = flat.argmax(axis=2)  # (D, K)
    z = flat - flat.max(axis=2, keepdims=True)
    score = 1.0 / np.exp(z).sum(axis=2)  # softmax at the arg-max, where z = 0
    i, j = best // m, best % m
    x1, y1, x2, y2 = (boxes[:, k:k + 1] for k in range(4))  # each (D, 1)
    out = np.empty((D, K, 3), dtype=np.float32)
    out[..., 0] = x1 + (j + 0.5) * (x2 - x1) / m
    out[..., 1] = y1 + (i + 0.5) * (y2 - y1) / m
    out[..., 2] = score
    return out
