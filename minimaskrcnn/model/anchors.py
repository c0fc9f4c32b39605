"""Anchors: the reference boxes the RPN scores and refines.

At every cell of a feature map with stride ``s`` we place ``A = len(sizes) *
len(ratios)`` boxes centred on the cell's centre in image coordinates,
``((x + 0.5) s, (y + 0.5) s)``. An anchor of size ``S`` and ratio ``r =
height / width`` has area ``S²``: ``w = S / sqrt(r)``, ``h = S * sqrt(r)``.

Ordering (the RPN head's outputs are flattened the same way)::

    index = (y * W + x) * A + a,   a = size_index * len(ratios) + ratio_index

Worked example: one 2x2 map of stride 16, one size 16 and ratio 1 gives
four 16x16 boxes centred at (8, 8), (24, 8), (8, 24), (24, 24)::

    >>> generate_anchors((2, 2), 16, (16.0,), (1.0,))
    array([[ 0.,  0., 16., 16.],
           [16.,  0., 32., 16.],
           [ 0., 16., 16., 32.],
           [16., 16., 32., 32.]], dtype=float32)

Conventions elsewhere: torchvision's AnchorGenerator and detectron2's
DefaultAnchorGenerator (offset 0.0) centre anchors on the cell's top-left
corner, ``(x s, y s)``; we use the cell centre, which is where a stride-s
convolution's output actually looks with our half-pixel box convention.
torchvision also rounds anchor corners to integers; we keep them exact.
"""
from __future__ import annotations

import numpy as np


def cell_anchors(sizes, ratios) -> np.ndarray:
    """The ``A`` anchors of one cell centred at (0, 0): (A, 4) float32."""
    out = []
    for size in sizes:
        for r in ratios:
            w = size / np.sqrt(r)
            h = size * np.sqrt(r)
            out.append([-w / 2, -h / 2, w / 2, h / 2])
    return np.asarray(out, dtype=np.float32)


def generate_anchors(feature_shape, stride: int, sizes, ratios) -> np.ndarray:
    """All anchors of one feature map.

    Args:
        feature_shape: (H, W) of the map.
        stride: image pixels per feature cell.
        sizes, ratios: anchor sizes (sqrt of area, pixels) and height/width ratios.

    Returns:
        (H * W * A, 4) float32 boxes (x1, y1, x2, y2), in the order documented above.
    """
    H, W = feature_shape
    base = cell_anchors(sizes, ratios)  # (A, 4)
    cx = (np.arange(W, dtype=np.float32) + 0.5) * stride
    cy = (np.arange(H, dtype=np.float32) + 0.5) * stride
    cy, cx = np.meshgrid(cy, cx, indexing="ij")  # (H, W) each
    shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(H * W, 1, 4)
    return (shifts + base[None]).reshape(-1, 4).astype(np.float32)  # (H*W*A, 4)


def anchors_for_config(cfg, feature_shapes) -> list[np.ndarray]:
    """One anchor array per feature level, as the model's config prescribes.

    Single-level: every size in ``cfg.anchor_sizes`` on the one map.
    FPN: ``cfg.anchor_sizes[i]`` on level i (finest first).
    """
    strides = cfg.feature_strides
    if len(feature_shapes) != len(strides):
        raise ValueError(f"feature_shapes: expected {len(strides)} maps, got {len(feature_shapes)}")
    if cfg.use_fpn:
        return [
            generate_anchors(shape, s, (size,), cfg.anchor_ratios)
            for shape, s, size in zip(feature_shapes, strides, cfg.anchor_sizes)
        ]
    return [generate_anchors(feature_shapes[0], strides[0], cfg.anchor_sizes, cfg.anchor_ratios)]


def num_anchors_per_cell(cfg) -> int:
    per_level_sizes = 1 if cfg.use_fpn else len(cfg.anchor_sizes)
    return per_level_sizes * len(cfg.anchor_ratios)
