"""Stage 3: the box head (Fast R-CNN on RPN proposals).

Training, per image (``sample_rois``):

1. append the ground-truth boxes to the proposals (so every object has at
   least one perfect RoI, even while the RPN is still poor);
2. match each RoI to its best ground-truth box: IoU >= 0.5 makes it a
   positive with that box's class, anything else is background (label 0);
3. sample 64 RoIs with at most 25% positives, from an ``rng``;
4. regression targets: the matched box encoded relative to the RoI with
   weights (10, 10, 5, 5).

Head: RoI features (R, C, 7, 7) -> flatten -> fc -> ReLU -> fc -> ReLU, then
two predictors: K+1 class logits (background first) and class-specific
deltas, 4 per foreground class (R, 4K).

Losses (``fast_rcnn_losses``): softmax cross-entropy over the sampled RoIs,
plus smooth L1 on the deltas of the ground-truth class of positive RoIs,
summed and divided by the number of sampled RoIs.

Inference (``postprocess_detections``): softmax scores, decode every class's
box and clip it, keep (box, class) pairs with score > 0.05 and a non-tiny box,
per-class NMS at IoU 0.5, keep the best 100.

Labels: 0 is background, 1..K are the classes.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.boxes import box_iou, clip_boxes, decode_boxes, encode_boxes, remove_small_boxes
from minimaskrcnn.model.matcher import POSITIVE, match_boxes, sample_balanced
from minimaskrcnn.nn.layers import Linear, ReLU
from minimaskrcnn.nn.losses import smooth_l1_loss, softmax_cross_entropy
from minimaskrcnn.nn.module import Module
from minimaskrcnn.ops import override


def sample_rois(proposals, gt_boxes, gt_labels, cfg, rng):
    """Training RoIs of one image, with their labels and targets.

    Args:
        proposals: (P, 4) RPN proposals.
        gt_boxes: (G, 4); gt_labels: (G,) in 1..K. G may be 0.

    Returns:
        rois (R, 4) float32, labels (R,) int64 (0 = background),
        matched (R,) int64 index of the matched ground-truth box,
        targets (R, 4) float32 encoded with ``cfg.box_reg_weights``.
    """
    boxes = np.concatenate([proposals, gt_boxes], axis=0).astype(np.float32)
    iou = box_iou(gt_boxes, boxes)  # (G, P + G)
    matched, fg = match_boxes(iou, cfg.roi_fg_iou, cfg.roi_fg_iou, allow_low_quality=False)
    fg = sample_balanced(fg, cfg.roi_batch_per_image, cfg.roi_positive_fraction, rng)
    keep = np.flatnonzero(fg >= 0)
    keep = np.concatenate([keep[fg[keep] == POSITIVE], keep[fg[keep] != POSITIVE]])  # positives first
    rois, matched = boxes[keep], matched[keep]
    labels = np.zeros(len(keep), dtype=np.int64)
    pos = fg[keep] == POSITIVE
    labels[pos] = gt_labels[matched[pos]]
    targets = np.zeros((len(keep), 4), dtype=np.float32)
    if pos.any():
        targets[pos] = encode_boxes(gt_boxes[matched[pos]], rois[pos], cfg.box_reg_weights)
    return rois, labels, matched, targets


class BoxHead(Module):
    """Two fully connected layers and the class / box predictors.

    x (R, C, S, S) -> class logits (R, K + 1), deltas (R, 4K).
    """

    def __init__(self, in_features: int, fc_dim: int, num_classes: int, *, rng):
        super().__init__()
        self.fc1 = Linear(in_features, fc_dim, rng=rng)
        self.fc2 = Linear(fc_dim, fc_dim, rng=rng)
        self.relu = ReLU()
        self.cls = Linear(fc_dim, num_classes + 1, rng=rng, init="normal", std=0.01)
        self.bbox = Linear(fc_dim, 4 * num_classes, rng=rng, init="normal", std=0.001)

    def forward(self, x):
        R = x.shape[0]
        h, c1 = self.fc1.forward(x.reshape(R, int(np.prod(x.shape[1:]))))  # (R, C*S*S) -> (R, fc); R may be 0
        h, r1 = self.relu.forward(h)
        h, c2 = self.fc2.forward(h)
        h, r2 = self.relu.forward(h)
        logits, cc = self.cls.forward(h)
        deltas, bc = self.bbox.forward(h)
        return (logits, deltas), (x.shape, c1, r1, c2, r2, cc, bc)

    def backward(self, dout, cache):
        dlogits, ddeltas = dout
        shape, c1, r1, c2, r2, cc, bc = cache
        dh = self.cls.backward(dlogits, cc) + self.bbox.backward(ddeltas, bc)
        dh = self.relu.backward(dh, r2)
        dh = self.fc2.backward(dh, c2)
        dh = self.relu.backward(dh, r1)
        return self.fc1.backward(dh, c1).reshape(shape)


def fast_rcnn_losses(logits, deltas, labels, targets, beta: float):
    """Classification and box losses over sampled RoIs, with gradients.

    Args:
        logits: (R, K + 1); deltas: (R, 4K); labels: (R,) in 0..K; targets (R, 4).

    Returns:
        ({"loss_cls", "loss_box"}, (dlogits, ddeltas)).
    """
    R = len(labels)
    loss_cls, dlogits = softmax_cross_entropy(logits, labels)
    ddeltas = np.zeros_like(deltas)
    loss_box = 0.0
    pos = np.flatnonzero(labels > 0)
    if pos.size:
        cols = 4 * (labels[pos, None] - 1) + np.arange(4)  # (P, 4) the ground-truth class's deltas
        loss_box, d = smooth_l1_loss(deltas[pos[:, None], cols], targets[pos], beta=beta,
                                     reduction="sum")
        ddeltas[pos[:, None], cols] = d / R
        loss_box /= R
    return {"loss_cls": float(loss_cls), "loss_box": float(loss_box)}, (dlogits, ddeltas)


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def postprocess_detections(logits, deltas, proposals, image_size, cfg):
    """Final detections of one image.

    Args:
        logits: (P, K + 1); deltas: (P, 4K); proposals: (P, 4).

    Returns:
        boxes (D, 4) float32, scores (D,) float32, labels (D,) int64 in 1..K,
        best first, D <= cfg.detections_per_image.
    """
    P, K = logits.shape[0], logits.shape[1] - 1
    scores = softmax(logits.astype(np.float64))[:, 1:]  # (P, K), background dropped
    boxes = decode_boxes(deltas, proposals, cfg.box_reg_weights).reshape(P, K, 4)
    boxes = clip_boxes(boxes.reshape(-1, 4), image_size)  # (P*K, 4), row p*K + k
    labels = np.tile(np.arange(1, K + 1), P)  # (P*K,)
    scores = scores.reshape(-1)
    keep = np.flatnonzero(scores > cfg.score_thresh)
    keep = keep[remove_small_boxes(boxes[keep], cfg.box_min_size)]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    # per-class NMS; ops.use(nms=...) swaps in another nms (ops/override.py)
    keep = override.batched_nms(boxes, scores, labels, cfg.detect_nms_thresh)[: cfg.detections_per_image]
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32), labels[keep]
