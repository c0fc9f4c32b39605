"""Small experiments the notebooks run live, each in a few seconds.

* ``fit_mask_head``: train a *copy* of a mask head on fixed RoI features with
  ``mask_loss`` (the backbone and the RoI features stay frozen), to compare
  training rules side by side, e.g. positive RoIs only against positives plus
  background RoIs with empty targets (notebook 08);
* ``predicted_mask_ious``: how well a head's masks match their targets, per RoI.
"""
from __future__ import annotations

import copy

import numpy as np

from minimaskrcnn.model.mask_head import _channels, mask_loss
from minimaskrcnn.nn.optim import SGD


def fit_mask_head(head, features, labels, targets, cfg, steps: int = 20, lr: float = 0.02,
                  momentum: float = 0.9):
    """Train a deep copy of ``head`` for ``steps`` SGD steps of ``mask_loss``; the original is untouched.

    Args:
        head: a mask head (``MaskHeadFCN`` or ``MaskHeadMLP``).
        features: (R, C, S, S) pooled RoI features, S = ``cfg.mask_pool_size``.
        labels: (R,) the class channel each RoI is trained on, in 1..K.
        targets: (R, m, m) binary mask targets.
        cfg: the model's Config (``mask_loss``, ``class_agnostic_masks``).

    Returns:
        ``(trained_head, losses)``: the copy and the loss before each step.
    """
    features = np.asarray(features, dtype=np.float32)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    targets = np.asarray(targets, dtype=np.float32)
    if features.ndim != 4 or len(features) != len(labels) or targets.shape[:1] != labels.shape:
        raise ValueError(f"features, labels, targets: expected (R, C, S, S), (R,), (R, m, m) with one R, got "
                         f"{features.shape}, {labels.shape}, {targets.shape}")
    if len(labels) and (labels.min() < 1 or labels.max() > cfg.num_classes):
        raise ValueError(f"labels: expected classes in 1..{cfg.num_classes}, got {labels.min()}..{labels.max()}")
    if steps < 0 or not lr > 0:
        raise ValueError(f"steps must be >= 0 and lr > 0, got steps={steps}, lr={lr}")
    trained = copy.deepcopy(head)
    optimizer = SGD(trained, lr=lr, momentum=momentum, weight_decay=0.0)
    losses = []
    for _ in range(int(steps)):
        logits, cache = trained.forward(features)
        loss, dlogits, _ = mask_loss(logits, labels, targets, cfg)
        trained.zero_grad()
        trained.backward(dlogits, cache)
        optimizer.step()
        losses.append(float(loss))
    return trained, losses


def predicted_mask_ious(head, features, labels, targets, cfg):
    """Per RoI: IoU of the head's m x m mask (its class channel, logit > 0) with the target, and
    the predicted mask's area over the target's.

    Returns ``(ious (R,), area_ratios (R,))``; an RoI whose mask and target are both empty has IoU 1.
    """
    logits, _ = head.forward(np.asarray(features, dtype=np.float32))
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    channel = _channels(labels, cfg)
    if cfg.mask_loss == "sigmoid":
        predicted = logits[np.arange(len(labels)), channel] > 0  # sigmoid > 0.5
    else:
        predicted = logits.argmax(axis=1) == channel[:, None, None]
    truth = np.asarray(targets) > 0.5
    inter = (predicted & truth).sum(axis=(1, 2))
    union = (predicted | truth).sum(axis=(1, 2))
    ious = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    ratios = predicted.sum(axis=(1, 2)) / np.maximum(truth.sum(axis=(1, 2)), 1)
    return ious, ratios
