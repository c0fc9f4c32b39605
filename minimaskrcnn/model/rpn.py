"""Stage 2: the region proposal network (RPN).

A small convolutional head slides over every feature map and, for each of the
``A`` anchors at each cell, predicts

* an *objectness* logit: is there an object here? (one sigmoid per anchor), and
* four *deltas* (dx, dy, dw, dh) that move the anchor onto the object
  (``minimaskrcnn.boxes.decode_boxes`` with weights (1, 1, 1, 1)).

Training (``rpn_losses``): anchors are matched to ground truth by IoU
(>= 0.7 positive, < 0.3 negative, plus each ground-truth box's best anchors),
256 per image are sampled with at most half positive, and the loss is

    L = BCE(objectness of sampled anchors) + smooth_L1(deltas of positive anchors)

both summed over the sampled anchors of the batch and divided by their number.

Proposals (``generate_proposals``): per image and level, keep the top-k
anchors by objectness, decode their deltas, clip to the image, drop tiny
boxes, run NMS at 0.7 (levels never suppress each other), keep the best
``post_nms_topk``. Proposals are constants for the next stage: no gradient
flows back through their coordinates (as in Faster R-CNN).
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.boxes import box_iou, clip_boxes, decode_boxes, encode_boxes, remove_small_boxes
from minimaskrcnn.model.anchors import num_anchors_per_cell
from minimaskrcnn.model.matcher import POSITIVE, match_boxes, sample_balanced
from minimaskrcnn.nn.layers import Conv2d, ReLU
from minimaskrcnn.nn.losses import sigmoid, sigmoid_bce_with_logits, smooth_l1_loss
from minimaskrcnn.nn.module import Module
from minimaskrcnn.ops import batched_nms


class RPNHead(Module):
    """3x3 conv + ReLU, then 1x1 convs to A objectness logits and 4A deltas.

    feature (N, C, H, W) -> logits (N, H*W*A), deltas (N, H*W*A, 4),
    flattened in the anchor order of ``minimaskrcnn.model.anchors``.
    """

    def __init__(self, in_channels: int, channels: int, num_anchors: int, *, rng):
        super().__init__()
        self.num_anchors = num_anchors
        self.conv = Conv2d(in_channels, channels, 3, 1, 1, rng=rng, init="normal", std=0.01)
        self.relu = ReLU()
        self.cls = Conv2d(channels, num_anchors, 1, rng=rng, init="normal", std=0.01)
        self.bbox = Conv2d(channels, 4 * num_anchors, 1, rng=rng, init="normal", std=0.01)

    def forward(self, x):
        N, _, H, W = x.shape
        A = self.num_anchors
        h, conv_cache = self.conv.forward(x)
        h, relu_cache = self.relu.forward(h)
        logits, cls_cache = self.cls.forward(h)  # (N, A, H, W)
        deltas, bbox_cache = self.bbox.forward(h)  # (N, A*4, H, W)
        logits = logits.transpose(0, 2, 3, 1).reshape(N, H * W * A)
        deltas = deltas.reshape(N, A, 4, H, W).transpose(0, 3, 4, 1, 2).reshape(N, H * W * A, 4)
        return (logits, deltas), (conv_cache, relu_cache, cls_cache, bbox_cache, (N, H, W))

    def backward(self, dout, cache):
        dlogits, ddeltas = dout
        conv_cache, relu_cache, cls_cache, bbox_cache, (N, H, W) = cache
        A = self.num_anchors
        dlogits = np.ascontiguousarray(dlogits.reshape(N, H, W, A).transpose(0, 3, 1, 2))
        ddeltas = np.ascontiguousarray(
            ddeltas.reshape(N, H, W, A, 4).transpose(0, 3, 4, 1, 2).reshape(N, A * 4, H, W)
        )
        dh = self.cls.backward(dlogits, cls_cache) + self.bbox.backward(ddeltas, bbox_cache)
        dh = self.relu.backward(dh, relu_cache)
        return self.conv.backward(dh, conv_cache)


def rpn_targets(anchors: np.ndarray, gt_boxes: np.ndarray, cfg, rng):
    """Sampled labels and regression targets of one image's anchors.

    Args:
        anchors: (A, 4) all anchors of the image (every level concatenated).
        gt_boxes: (G, 4) ground-truth boxes; G may be 0 (all sampled anchors negative).

    Returns:
        labels (A,) int8: 1 / 0 for sampled positives / negatives, -1 otherwise;
        targets (A, 4) float32: encoded deltas of each anchor's matched box
        (meaningful where labels == 1).
    """
    iou = box_iou(gt_boxes, anchors)  # (G, A)
    matched, labels = match_boxes(iou, cfg.rpn_fg_iou, cfg.rpn_bg_iou, allow_low_quality=True)
    labels = sample_balanced(labels, cfg.rpn_batch_per_image, cfg.rpn_positive_fraction, rng)
    targets = np.zeros_like(anchors)
    pos = labels == POSITIVE
    if pos.any():
        targets[pos] = encode_boxes(gt_boxes[matched[pos]], anchors[pos], (1.0, 1.0, 1.0, 1.0))
    return labels, targets


def rpn_losses(logits, deltas, labels, targets, beta: float):
    """Objectness and box-regression losses of a batch, with their gradients.

    Args:
        logits: (N, A) objectness logits.
        deltas: (N, A, 4) predicted deltas.
        labels: (N, A) int8 from ``rpn_targets`` (1 / 0 sampled, -1 not).
        targets: (N, A, 4) regression targets.

    Returns:
        ({"loss_objectness", "loss_rpn_box"}, (dlogits (N, A), ddeltas (N, A, 4))).
    """
    sampled = labels >= 0
    pos = labels == POSITIVE
    n = max(int(sampled.sum()), 1)
    dlogits = np.zeros_like(logits)
    ddeltas = np.zeros_like(deltas)
    loss_obj = 0.0
    if sampled.any():
        loss_obj, d = sigmoid_bce_with_logits(logits[sampled], pos[sampled].astype(logits.dtype),
                                              reduction="sum")
        dlogits[sampled] = d / n
        loss_obj /= n
    loss_box = 0.0
    if pos.any():
        loss_box, d = smooth_l1_loss(deltas[pos], targets[pos], beta=beta, reduction="sum")
        ddeltas[pos] = d / n
        loss_box /= n
    return {"loss_objectness": float(loss_obj), "loss_rpn_box": float(loss_box)}, (dlogits, ddeltas)


def generate_proposals(logits, deltas, anchors, level_sizes, image_size, pre_nms_topk: int,
                       post_nms_topk: int, nms_thresh: float, min_size: float):
    """Turn the RPN's outputs into scored boxes, per image.

    Args:
        logits: (N, A) objectness logits, levels concatenated.
        deltas: (N, A, 4).
        anchors: (A, 4).
        level_sizes: anchors per level, summing to A.
        image_size: (H, W) for clipping, or one (h, w) per image (padded batches).

    Returns:
        list of N (boxes (P, 4) float32, scores (P,) float32 in (0, 1)), best first.
    """
    N = logits.shape[0]
    starts = np.cumsum([0, *level_sizes])
    idx, lvl = [], []
    for k in range(len(level_sizes)):  # top-k per level, so coarse levels get a say
        lo, hi = starts[k], starts[k + 1]
        top = min(pre_nms_topk, hi - lo)
        idx.append(np.argsort(-logits[:, lo:hi], axis=1, kind="stable")[:, :top] + lo)  # (N, top)
        lvl.append(np.full(top, k))
    idx, lvl = np.concatenate(idx, axis=1), np.concatenate(lvl)  # (N, T), (T,): T candidates per image
    T = idx.shape[1]
    rows = np.arange(N)[:, None]
    boxes = decode_boxes(deltas[rows, idx].reshape(N * T, 4), anchors[idx.reshape(-1)])  # (N*T, 4)
    sizes = [tuple(image_size)] * N if np.ndim(image_size) == 1 else [tuple(v) for v in image_size]
    limits = np.repeat(np.array([[w, h, w, h] for h, w in sizes], dtype=boxes.dtype), T, axis=0)  # (N*T, 4)
    boxes = np.clip(boxes, 0, limits)  # each image's boxes inside that image (clip_boxes, row by row)
    scores = sigmoid(logits[rows, idx]).reshape(N * T)
    image = np.repeat(np.arange(N), T)  # (N*T,) which image each candidate belongs to
    keep = remove_small_boxes(boxes, min_size)
    # one NMS for every (image, level) group: boxes of different images or levels never meet
    group = (image * len(level_sizes) + np.tile(lvl, N))[keep]
    kept = keep[batched_nms(boxes[keep], scores[keep], group, nms_thresh)]  # best first
    out = []
    for i in range(N):
        mine = kept[image[kept] == i][:post_nms_topk]  # still best first
        out.append((boxes[mine].astype(np.float32), scores[mine].astype(np.float32)))
    return out


class RPN(Module):
    """The RPN head applied to every level, with targets, losses and proposals."""

    def __init__(self, cfg, in_channels: int, *, rng):
        super().__init__()
        self.cfg = cfg
        self.head = RPNHead(in_channels, cfg.rpn_channels, num_anchors_per_cell(cfg), rng=rng)

    def forward(self, features, anchors, image_size, gt_boxes=None, rng=None, training=False):
        """Run the head on each map; return (proposals, losses, cache).

        Args:
            features: list of (N, C, H_l, W_l) maps, finest first.
            anchors: list of (H_l * W_l * A, 4) anchors per level.
            image_size: (H, W), or one (h, w) per image: proposals are clipped to it.
            gt_boxes: list of N (G_i, 4) arrays; needed when ``training``.
            rng: numpy Generator for anchor sampling (training only).

        Returns:
            proposals: list of N (boxes, scores);
            losses: dict (empty unless training);
            cache: for ``backward``.
        """
        cfg = self.cfg
        outs = [self.head.forward(f) for f in features]
        logits = np.concatenate([o[0][0] for o in outs], axis=1)  # (N, A_total)
        deltas = np.concatenate([o[0][1] for o in outs], axis=1)  # (N, A_total, 4)
        all_anchors = np.concatenate(anchors, axis=0)  # (A_total, 4)
        level_sizes = [a.shape[0] for a in anchors]
        pre, post = ((cfg.rpn_pre_nms_topk_train, cfg.rpn_post_nms_topk_train) if training
                     else (cfg.rpn_pre_nms_topk_test, cfg.rpn_post_nms_topk_test))
        proposals = generate_proposals(logits, deltas, all_anchors, level_sizes, image_size,
                                       pre, post, cfg.rpn_nms_thresh, cfg.rpn_min_size)
        losses, grads = {}, None
        if training:
            if gt_boxes is None or rng is None:
                raise ValueError("training needs gt_boxes and rng")
            per_image = [rpn_targets(all_anchors, g, cfg, rng) for g in gt_boxes]
            labels = np.stack([p[0] for p in per_image])  # (N, A_total)
            targets = np.stack([p[1] for p in per_image])  # (N, A_total, 4)
            losses, grads = rpn_losses(logits, deltas, labels, targets, cfg.rpn_smooth_l1_beta)
        cache = ([o[1] for o in outs], level_sizes, grads)
        return proposals, losses, cache

    def backward(self, cache):
        """Push the stored loss gradients through the head: one gradient per feature map."""
        head_caches, level_sizes, (dlogits, ddeltas) = cache
        starts = np.cumsum([0, *level_sizes])
        dfeatures = []
        for k, c in enumerate(head_caches):
            lo, hi = starts[k], starts[k + 1]
            dfeatures.append(self.head.backward((dlogits[:, lo:hi], ddeltas[:, lo:hi]), c))
        return dfeatures
