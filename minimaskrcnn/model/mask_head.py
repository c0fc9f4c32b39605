"""Stage 4: the mask head — what Mask R-CNN adds to Faster R-CNN.

For each positive RoI the head predicts ``K`` binary m x m masks, one per
class, from the RoI's 14 x 14 features (FCN head)::

    (R, C, 14, 14) -> [conv 3x3 + ReLU] x 4 -> deconv 2x2 stride 2 + ReLU
                   -> conv 1x1 -> (R, K, 28, 28) mask logits

Decoupling (the paper's point): classification is the box head's job. The
mask loss looks only at the channel of the RoI's ground-truth class ``k``,
with a per-pixel sigmoid and binary cross-entropy, averaged over the m x m
pixels of all positive RoIs. The other ``K - 1`` channels get no gradient,
so classes never compete for a pixel.

Mask target of an RoI: its matched ground-truth mask, cut out by the RoI and
resized to m x m with RoIAlign (aligned=True) and binarised at 0.5
(``mask_targets``) — the "intersection of the RoI with its ground-truth mask".

At test time the branch runs only on the final (<= 100) detections, takes the
predicted class's channel, and ``paste_masks`` resizes each m x m
probability map to its box (bilinear) and thresholds it at 0.5 in the image.

Ablations (``Config``): ``mask_loss="softmax"`` (a per-pixel softmax over
background + K classes, so classes compete), ``mask_head="mlp"`` (fully
connected layers predicting K m² logits), ``class_agnostic_masks=True``
(one mask per RoI).
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.nn.layers import Conv2d, ConvTranspose2d, GroupNorm, Linear, ReLU
from minimaskrcnn.nn.losses import sigmoid, sigmoid_bce_with_logits, softmax_cross_entropy
from minimaskrcnn.nn.module import Module
from minimaskrcnn.ops import roi_align


class MaskHeadFCN(Module):
    """x (R, C, S, S) -> mask logits (R, num_masks, 2S, 2S).

    With ``num_groups`` > 0 each 3x3 conv is followed by a GroupNorm (as detectron2's
    from-scratch GN configs do): without a pretrained backbone the head's
    activations drift in scale early in training, and the norm keeps them in range.
    """

    def __init__(self, in_channels: int, conv_dim: int, num_convs: int, num_masks: int, *, rng,
                 num_groups: int = 0):
        super().__init__()
        dims = [in_channels] + [conv_dim] * num_convs
        self.convs = [Conv2d(a, b, 3, 1, 1, bias=not num_groups, rng=rng) for a, b in zip(dims[:-1], dims[1:])]
        self.norms = [GroupNorm(num_groups, conv_dim) for _ in self.convs] if num_groups else []
        self.relu = ReLU()
        self.deconv = ConvTranspose2d(dims[-1], conv_dim, 2, stride=2, rng=rng)
        self.predictor = Conv2d(conv_dim, num_masks, 1, rng=rng, init="normal", std=0.001)

    def forward(self, x):
        caches = []
        for k, conv in enumerate([*self.convs, self.deconv]):
            x, cc = conv.forward(x)
            nc = None
            if k < len(self.norms):
                x, nc = self.norms[k].forward(x)
            x, rc = self.relu.forward(x)
            caches.append((cc, nc, rc))
        logits, pc = self.predictor.forward(x)
        return logits, (caches, pc)

    def backward(self, dout, cache):
        caches, pc = cache
        d = self.predictor.backward(dout, pc)
        layers = [*self.convs, self.deconv]
        for k in reversed(range(len(layers))):
            cc, nc, rc = caches[k]
            d = self.relu.backward(d, rc)
            if nc is not None:
                d = self.norms[k].backward(d, nc)
            d = layers[k].backward(d, cc)
        return d


class MaskHeadMLP(Module):
    """The paper's MLP ablation: x (R, C, S, S) -> fc -> fc -> (R, num_masks, m, m)."""

    def __init__(self, in_features: int, hidden: int, num_masks: int, mask_size: int, *, rng):
        super().__init__()
        self.num_masks, self.mask_size = num_masks, mask_size
        self.fc1 = Linear(in_features, hidden, rng=rng)
        self.fc2 = Linear(hidden, hidden, rng=rng)
        self.relu = ReLU()
        self.predictor = Linear(hidden, num_masks * mask_size**2, rng=rng, init="normal", std=0.001)

    def forward(self, x):
        R, m = x.shape[0], self.mask_size
        h, c1 = self.fc1.forward(x.reshape(R, int(np.prod(x.shape[1:]))))  # (R, C*S*S) -> (R, hidden); R may be 0
        h, r1 = self.relu.forward(h)
        h, c2 = self.fc2.forward(h)
        h, r2 = self.relu.forward(h)
        out, pc = self.predictor.forward(h)  # (R, num_masks * m * m)
        return out.reshape(R, self.num_masks, m, m), (x.shape, c1, r1, c2, r2, pc)

    def backward(self, dout, cache):
        shape, c1, r1, c2, r2, pc = cache
        d = self.predictor.backward(dout.reshape(dout.shape[0], -1), pc)
        d = self.fc2.backward(self.relu.backward(d, r2), c2)
        d = self.fc1.backward(self.relu.backward(d, r1), c1)
        return d.reshape(shape)


def build_mask_head(cfg, in_channels: int, *, rng) -> Module:
    m = 2 * cfg.mask_pool_size
    if cfg.mask_head == "fcn":
        return MaskHeadFCN(in_channels, cfg.mask_conv_dim, cfg.mask_num_convs,
                           cfg.num_mask_channels, rng=rng, num_groups=cfg.head_norm_groups)
    return MaskHeadMLP(in_channels * cfg.mask_pool_size**2, cfg.mask_mlp_dim,
                       cfg.num_mask_channels, m, rng=rng)


def mask_targets(gt_masks: np.ndarray, rois: np.ndarray, matched: np.ndarray, mask_size: int):
    """Cut each RoI's matched ground-truth mask out and resize it to m x m.

    Implemented as RoIAlign (aligned=True, adaptive sampling) over the stack of
    ground-truth masks, using the matched mask's index as the "batch index".

    Args:
        gt_masks: (G, H, W) bool or {0, 1} masks.
        rois: (P, 4) boxes (x1, y1, x2, y2) in image pixels.
        matched: (P,) int index into gt_masks.

    Returns:
        (P, m, m) float32 in {0, 1}.
    """
    P = len(rois)
    if P == 0:
        return np.zeros((0, mask_size, mask_size), dtype=np.float32)
    masks = gt_masks[:, None].astype(np.float32)  # (G, 1, H, W)
    rois5 = np.concatenate([matched[:, None].astype(np.float32), rois.astype(np.float32)], axis=1)
    soft = roi_align(masks, rois5, mask_size, 1.0, 0, True, "avg")  # (P, 1, m, m)
    return (soft[:, 0] >= 0.5).astype(np.float32)


def _channels(labels, cfg):
    """Which channel of the mask logits belongs to each RoI's class."""
    if cfg.class_agnostic_masks:
        return np.full(len(labels), 1 if cfg.mask_loss == "softmax" else 0)
    return labels if cfg.mask_loss == "softmax" else labels - 1  # softmax: channel 0 = background


def mask_loss(logits, labels, targets, cfg):
    """Mask loss over positive RoIs, its gradient and training statistics.

    Args:
        logits: (P, num_masks, m, m) mask logits of the P positive RoIs.
        labels: (P,) ground-truth classes in 1..K.
        targets: (P, m, m) binary targets from ``mask_targets``.

    Returns:
        loss (float), dlogits (same shape as logits), stats dict with
        ``mask_accuracy``, ``mask_false_positive`` and ``mask_false_negative``
        (fractions of target-0 / target-1 pixels predicted wrong).
    With P = 0 the loss is 0 and the gradient empty.
    """
    P = len(labels)
    dlogits = np.zeros_like(logits)
    if P == 0:
        return 0.0, dlogits, {}
    ch = _channels(labels, cfg)
    if cfg.mask_loss == "sigmoid":
        chosen = logits[np.arange(P), ch]  # (P, m, m): only the ground-truth class's mask
        loss, d = sigmoid_bce_with_logits(chosen, targets, reduction="mean")
        dlogits[np.arange(P), ch] = d
        predicted_fg = chosen > 0
    else:
        C = logits.shape[1]
        flat = logits.transpose(0, 2, 3, 1).reshape(-1, C)  # (P*m*m, C): one softmax per pixel
        pixel_labels = (targets * ch[:, None, None]).astype(np.int64).reshape(-1)  # 0 = background
        loss, d = softmax_cross_entropy(flat, pixel_labels)
        dlogits = d.reshape(P, *targets.shape[1:], C).transpose(0, 3, 1, 2)
        predicted_fg = (flat.argmax(axis=1) == np.repeat(ch, targets[0].size)).reshape(targets.shape)
    truth = targets > 0.5
    stats = {
        "mask_accuracy": float((predicted_fg == truth).mean()),
        "mask_false_positive": float((predicted_fg & ~truth).sum() / max((~truth).sum(), 1)),
        "mask_false_negative": float((~predicted_fg & truth).sum() / max(truth.sum(), 1)),
    }
    return float(loss), np.ascontiguousarray(dlogits), stats


def mask_probabilities(logits, labels, cfg):
    """(D, m, m) foreground probability of each detection's predicted class."""
    D = len(labels)
    ch = _channels(labels, cfg)
    if cfg.mask_loss == "sigmoid":
        return sigmoid(logits[np.arange(D), ch])
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z.astype(np.float64))
    return (e / e.sum(axis=1, keepdims=True))[np.arange(D), ch]


def interpolation_matrix(lo: float, hi: float, start: int, stop: int, m: int) -> np.ndarray:
    """Bilinear weights from m mask cells onto image pixels start..stop-1.

    Pixel ``p`` (centre ``p + 0.5``) sits at mask coordinate
    ``u = (p + 0.5 - lo) / (hi - lo) * m - 0.5``; its value is
    ``sum_j max(0, 1 - |u - j|) * mask[j]``, with zero outside the mask
    (the same sampling as ``grid_sample(align_corners=False, padding="zeros")``).
    Returns (stop - start, m).
    """
    u = (np.arange(start, stop) + 0.5 - lo) / max(hi - lo, 1e-6) * m - 0.5
    return np.maximum(0.0, 1.0 - np.abs(u[:, None] - np.arange(m)[None, :]))


def paste_masks(probs: np.ndarray, boxes: np.ndarray, image_size, threshold: float = 0.5):
    """Resize each m x m mask to its box and paste it into an empty image.

    Bilinear resizing is separable: the pasted patch is ``Wy @ mask @ Wx.T``
    with the (rows x m) and (cols x m) weight matrices of
    ``interpolation_matrix``. Only pixels whose centres lie inside the box can
    reach the threshold (outside it, zero padding pulls every value below
    0.5); parts of the box outside the image are simply not pasted. A pixel
    is in the mask when its value >= threshold.

    Args:
        probs: (D, m, m) probabilities.
        boxes: (D, 4) boxes in image pixels (may extend past the image).
        image_size: (H, W).

    Returns:
        (D, H, W) bool.
    """
    H, W = image_size
    D, m = probs.shape[0], probs.shape[-1]
    out = np.zeros((D, H, W), dtype=bool)
    for i in range(D):
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        c0, c1 = max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), W)
        r0, r1 = max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), H)
        if c1 <= c0 or r1 <= r0:
            continue
        wy = interpolation_matrix(y1, y2, r0, r1, m)  # (rows, m)
        wx = interpolation_matrix(x1, x2, c0, c1, m)  # (cols, m)
        out[i, r0:r1, c0:c1] = wy @ probs[i] @ wx.T >= threshold
    return out
