"""Anchors: the reference boxes the RPN scores and refines.

At every cell (x, y) of a feature map with stride ``s`` we place ``A =
len(sizes) * len(ratios)`` boxes centred at ``((x + offset) s, (y + offset) s)``
in image coordinates. An anchor of size ``S`` and ratio ``r = height / width``
has area ``S²``: ``w = S / sqrt(r)``, ``h = S * sqrt(r)``.

Where should a cell's anchors sit? Where the cell *looks*. Each stride-2
3x3 convolution (padding 1) of our backbone makes output i from inputs
2i-1, 2i, 2i+1, i.e. centred on input i's position doubled; chained four
times, cell x's receptive field is centred on pixel 16x, at ``16x + 0.5``
in continuous coordinates — the top-left corner of its 16x16 block, not the
block's centre. Hence ``offset = 0`` (``Config.anchor_offset``), which is also
torchvision's and detectron2's default; ``offset = 0.5`` would centre anchors
on the blocks, 7.5 pixels away from what the features describe.

Ordering (the RPN head's outputs are flattened the same way)::

    index = (y * W + x) * A + a,   a = size_index * len(ratios) + ratio_index

Worked example: one 2x2 map of stride 16, one size 16 and ratio 1 gives
four 16x16 boxes centred at (0, 0), (16, 0), (0, 16), (16, 16)::

    >>> generate_anchors((2, 2), 16, (16.0,), (1.0,))
    array([[-8., -8.,  8.,  8.],
           [ 8., -8., 24.,  8.],
           [-8.,  8.,  8., 24.],
           [ 8.,  8., 24., 24.]], dtype=float32)

torchvision additionally rounds anchor corners to integers; we keep them exact.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn import checks


def cell_anchors(sizes, ratios) -> np.ndarray:
    """The ``A`` anchors of one cell centred at (0, 0): (A, 4) float32."""
    out = []
    for size in sizes:
        for r in ratios:
            w = size / np.sqrt(r)
            h = size * np.sqrt(r)
            out.append([-w / 2, -h / 2, w / 2, h / 2])
    return np.asarray(out, dtype=np.float32)


def generate_anchors(feature_shape, stride: int, sizes, ratios, offset: float = 0.0) -> np.ndarray:
    """All anchors of one feature map.

    Args:
        feature_shape: (H, W) of the map.
        stride: image pixels per feature cell.
        sizes, ratios: anchor sizes (sqrt of area, pixels) and height/width ratios.
        offset: anchor centres at (x + offset) * stride; see the module docstring.

    Returns:
        (H * W * A, 4) float32 boxes (x1, y1, x2, y2), in the order documented above.
    """
    if not (isinstance(feature_shape, (tuple, list)) and len(feature_shape) == 2
            and all(checks.is_int(v) and v >= 0 for v in feature_shape)):
        raise ValueError(f"feature_shape: expected (H, W) of ints >= 0, got {feature_shape!r}")
    H, W = (int(v) for v in feature_shape)
    checks.number("stride", stride, 0, low_open=True)
    checks.number("offset", offset, 0, 1)
    for name, values in (("sizes", sizes), ("ratios", ratios)):
        if len(values) == 0 or not all(checks.is_number(v) and v > 0 for v in values):
            raise ValueError(f"{name}: expected at least one positive number, got {values!r}")
    base = cell_anchors(sizes, ratios)  # (A, 4)
    cx = (np.arange(W, dtype=np.float32) + offset) * stride
    cy = (np.arange(H, dtype=np.float32) + offset) * stride
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
            generate_anchors(shape, s, (size,), cfg.anchor_ratios, cfg.anchor_offset)
            for shape, s, size in zip(feature_shapes, strides, cfg.anchor_sizes)
        ]
    return [generate_anchors(feature_shapes[0], strides[0], cfg.anchor_sizes, cfg.anchor_ratios,
                             cfg.anchor_offset)]


def num_anchors_per_cell(cfg) -> int:
    per_level_sizes = 1 if cfg.use_fpn else len(cfg.anchor_sizes)
    return per_level_sizes * len(cfg.anchor_ratios)
