"""Swap the model's RoIAlign, NMS or mask loss for your own, inside a ``with`` block.

The exercises (``exercises/``) end with a capstone: the student's own RoIAlign,
and if they like their NMS and mask loss, run inside the real Mask R-CNN while
it trains. This module is the one switch for that::

    from minimaskrcnn import ops

    with ops.use(roi_align=my_roi_align, roi_align_backward=my_roi_align_backward):
        losses = model.forward(images, targets, rng)  # the RoI poolers call my_roi_align
        model.zero_grad(); model.backward()           # ... and my_roi_align_backward

Outside the block (and in any block that does not name an operation) the
package's own function runs. Blocks nest; leaving one restores what was there.

Replaceable operations, the signature a replacement must have, and where the
model looks it up (at call time, so the swap needs no new model):

* ``roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)``
  -> (K, C, ph, pw), and ``roi_align_backward(grad_output, features, rois, output_size,
  spatial_scale, sampling_ratio, aligned, mode)`` -> (N, C, H, W): the arguments of
  ``ops.roi_align`` (the model calls them with ``aligned=True, sampling_ratio=2``).
  Looked up by the RoI poolers (``model/poolers.py``) when ``Config.roi_op`` is
  ``"align_avg"`` or ``"align_max"``. Training needs both; prediction only the first.
* ``nms(boxes, scores, iou_threshold)`` -> kept indices, best first: the final per-class
  NMS of the detections (``model/roi_heads.py``), run once per class. The RPN's proposal
  NMS keeps the package's kernel: it runs on thousands of boxes every training step.
* ``mask_loss(logits, labels, targets)`` -> ``(loss, dlogits)``: logits (P, K, m, m),
  labels (P,) in 1..K (0 = background), targets (P, m, m); the sigmoid loss on each RoI's
  ground-truth channel (``model/mask_head.py``, with ``mask_loss="sigmoid"`` and
  class-specific masks).

Replacements are called with the package's float32 arrays; their results are
checked for shape (a mismatch raises ``ValueError`` naming the function) and
cast back to the features' dtype.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from minimaskrcnn.ops.nms import batched_nms as _package_batched_nms
from minimaskrcnn.ops.roi_align import roi_align as _package_roi_align
from minimaskrcnn.ops.roi_align import roi_align_backward as _package_roi_align_backward

REPLACEABLE = ("roi_align", "roi_align_backward", "nms", "mask_loss")
_active: dict = {}  # name -> replacement, for the innermost ``use`` block


@contextmanager
def use(**replacements):
    """Within the block, the model calls ``replacements[name]`` instead of the package's op.

    Names: ``roi_align``, ``roi_align_backward``, ``nms``, ``mask_loss`` (see the module
    docstring for their signatures). A value of ``None`` keeps the package's op.
    """
    for name, fn in replacements.items():
        if name not in REPLACEABLE:
            raise TypeError(f"use() got an unknown operation {name!r}; replaceable: {', '.join(REPLACEABLE)}")
        if fn is not None and not callable(fn):
            raise TypeError(f"use(): {name} must be a function, got {type(fn).__name__}")
    global _active
    previous = _active
    _active = {**previous, **{k: v for k, v in replacements.items() if v is not None}}
    try:
        yield
    finally:
        _active = previous


def current(name: str):
    """The active replacement for ``name``, or None (the package's op runs)."""
    return _active.get(name)


def _checked(result, shape, dtype, name):
    out = np.asarray(result)
    if out.shape != tuple(shape):
        raise ValueError(f"the replacement {name} returned shape {out.shape}, expected {tuple(shape)}")
    return out.astype(dtype, copy=False)


def roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode):
    """The active RoIAlign (a replacement, else ``ops.roi_align``)."""
    fn = current("roi_align")
    if fn is None:
        return _package_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    size = (output_size, output_size) if np.isscalar(output_size) else tuple(output_size)
    out = fn(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    return _checked(out, (len(rois), features.shape[1], *size), features.dtype, "roi_align")


def roi_align_backward(grad_output, features, rois, output_size, spatial_scale, sampling_ratio, aligned,
                       mode):
    """The active RoIAlign gradient; a replaced forward needs a replaced backward."""
    fn = current("roi_align_backward")
    if fn is None:
        if current("roi_align") is not None:
            raise RuntimeError("roi_align was replaced but roi_align_backward was not: training needs both "
                               "(ops.use(roi_align=..., roi_align_backward=...))")
        return _package_roi_align_backward(grad_output, features, rois, output_size, spatial_scale,
                                           sampling_ratio, aligned, mode)
    grad = fn(grad_output, features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)
    return _checked(grad, features.shape, features.dtype, "roi_align_backward")


def batched_nms(boxes, scores, idxs, iou_threshold):
    """Per-category NMS with the active ``nms`` (a replacement runs once per category)."""
    fn = current("nms")
    if fn is None:
        return _package_batched_nms(boxes, scores, idxs, iou_threshold)
    keep = []
    for category in np.unique(idxs):
        members = np.flatnonzero(idxs == category)
        kept = np.asarray(fn(boxes[members], scores[members], iou_threshold), dtype=np.int64).reshape(-1)
        if kept.size and (kept.min() < 0 or kept.max() >= len(members)):
            raise ValueError(f"the replacement nms returned indices outside 0..{len(members) - 1}")
        keep.extend(members[kept])
    keep = np.sort(np.array(keep, dtype=np.int64))  # input order, then a stable sort by score
    return keep[np.argsort(-scores[keep], kind="stable")]


def mask_loss(logits, labels, targets):
    """``(loss, dlogits)`` from the replacement ``mask_loss`` (call only when one is active)."""
    loss, dlogits = current("mask_loss")(logits, labels, targets)
    return float(loss), _checked(dlogits, logits.shape, logits.dtype, "mask_loss")
