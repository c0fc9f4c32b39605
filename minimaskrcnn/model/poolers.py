"""RoI feature extraction: from feature maps and boxes to fixed-size features.

``RoIPooler`` hides the two choices a head should not care about:

* which operation cuts out the region (``Config.roi_op``): RoIAlign with
  average (the model's default, as in the paper and torchvision), RoIAlign
  with max (the lecture's drawing), or quantised RoIPool (the ablation);
* which map it reads: the single stride-16 map, or, with FPN, the pyramid
  level chosen by the box's size (``assign_fpn_levels``).

RoIAlign runs with ``aligned=True`` (half-pixel shift, as detectron2's Mask
R-CNN configs; torchvision's default is ``False``) and ``sampling_ratio=2`` (as
torchvision's ``MultiScaleRoIAlign``; detectron2 samples adaptively, ratio 0).
The RoIAlign is looked up at call time, so ``ops.use(roi_align=..., roi_align_backward=...)``
(ops/override.py) can swap in a student's own.

Shapes: features list of (N, C, H_l, W_l); rois (R, 5) = (batch_index, x1, y1,
x2, y2) in image pixels; output (R, C, S, S).
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.model.backbone import assign_fpn_levels
from minimaskrcnn.ops import override, roi_pool, roi_pool_backward


def rois_with_batch_index(boxes_per_image) -> np.ndarray:
    """[(P_i, 4) boxes of image i] -> (sum P_i, 5) rows (i, x1, y1, x2, y2), the RoI ops' format."""
    rows = [np.concatenate([np.full((len(b), 1), i, dtype=np.float32), np.asarray(b, np.float32)], 1)
            for i, b in enumerate(boxes_per_image)]
    return np.concatenate(rows, axis=0) if rows else np.zeros((0, 5), dtype=np.float32)


class RoIPooler:
    """Fixed-size RoI features from one or more maps. No parameters."""

    def __init__(self, cfg, output_size: int):
        self.output_size = output_size
        self.op = cfg.roi_op
        self.sampling_ratio = cfg.roi_sampling_ratio
        self.aligned = cfg.roi_aligned
        self.scales = [1.0 / s for s in cfg.feature_strides]
        self.levels = list(cfg.fpn_levels) if cfg.use_fpn else None
        self.canonical = (cfg.fpn_canonical_size, cfg.fpn_canonical_level)

    def _pool(self, features, rois, scale):
        if self.op == "roi_pool":
            return roi_pool(features, rois, self.output_size, scale)
        mode = "avg" if self.op == "align_avg" else "max"
        return override.roi_align(features, rois, self.output_size, scale, self.sampling_ratio,
                                  self.aligned, mode)  # ops.use() may swap in another RoIAlign

    def _unpool(self, dout, features, rois, scale):
        if self.op == "roi_pool":
            return roi_pool_backward(dout, features, rois, self.output_size, scale)
        mode = "avg" if self.op == "align_avg" else "max"
        return override.roi_align_backward(dout, features, rois, self.output_size, scale,
                                           self.sampling_ratio, self.aligned, mode)

    def level_of(self, rois: np.ndarray) -> np.ndarray:
        """(R,) index into the feature list each RoI reads."""
        if self.levels is None:
            return np.zeros(len(rois), dtype=np.int64)
        return assign_fpn_levels(rois[:, 1:], self.levels, *self.canonical)

    def forward(self, features, rois):
        """(R, C, S, S) features of ``rois``; cache for ``backward``."""
        rois = np.asarray(rois, dtype=features[0].dtype)
        C, S = features[0].shape[1], self.output_size
        out = np.zeros((len(rois), C, S, S), dtype=features[0].dtype)
        level = self.level_of(rois)
        for k, (f, scale) in enumerate(zip(features, self.scales)):
            idx = np.flatnonzero(level == k)
            if idx.size:
                out[idx] = self._pool(f, rois[idx], scale)
        return out, (features, rois, level)

    def backward(self, dout, cache):
        """One gradient per feature map (``None`` for a level no RoI read)."""
        features, rois, level = cache
        dfeatures = []
        for k, (f, scale) in enumerate(zip(features, self.scales)):
            idx = np.flatnonzero(level == k)
            dfeatures.append(self._unpool(dout[idx], f, rois[idx], scale) if idx.size else None)
        return dfeatures
