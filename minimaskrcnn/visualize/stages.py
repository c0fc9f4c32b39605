"""Helpers for the stage-by-stage notebooks: receptive fields and feature-map pictures.

Receptive field
---------------
A cell of a feature map is computed from a square window of image pixels, its
*receptive field*. Walking the convolutions from the image upwards, three
numbers describe it (the recurrence of Araujo et al., "Computing receptive
fields of convolutional neural networks", Distill 2019)::

    size   <- size + (k_eff - 1) * jump       k_eff = dilation * (k - 1) + 1
    start  <- start + ((k_eff - 1) / 2 - padding) * jump
    jump   <- jump * stride

starting from the image itself: ``size = 1``, ``jump = 1``, ``start = 0.5``
(the centre of pixel 0 in continuous coordinates, where pixel ``i`` covers
``[i, i + 1)``). ``jump`` is the stride: image pixels between the centres of
neighbouring cells; ``start`` is the centre of cell 0; cell ``i`` is centred at
``start + i * jump``.

Worked example, the default tiny ResNet (3x3 convs with padding 1, the first
of each stage with stride 2)::

    stem 3x3/2            size 3    jump 2    start 0.5
    C2   3x3/2, 3x3/1     size 15   jump 4    start 0.5
    C3   3x3/2, 3x3/1     size 39   jump 8    start 0.5
    C4   3x3/2, 3x3/1     size 87   jump 16   start 0.5

A residual block has two paths, the two 3x3 convs and the (1x1, same stride)
shortcut; both are centred on the same pixel and the shortcut's window lies
inside the convs' one, so the block's field is the conv path's. GroupNorm
mixes statistics over the whole map, so strictly every cell depends a little
on every pixel; the receptive field is where the *convolutions* reach.

``draw_feature_maps`` shows the most active channels of a (C, H, W) map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimaskrcnn.nn.layers import Conv2d, ConvTranspose2d, Sequential
from minimaskrcnn.visualize.style import FONT


@dataclass(frozen=True)
class ReceptiveField:
    """Where the cells of one feature map look in the image.

    name: e.g. ``"stem"``, ``"C2"``; size: side of the square window (pixels);
    stride: pixels between neighbouring cells; start: centre of cell 0
    (continuous image coordinates).
    """

    name: str
    size: int
    stride: int
    start: float

    def centre(self, i) -> np.ndarray:
        """Centre (continuous image coordinate) of cell ``i`` along one axis."""
        return self.start + np.asarray(i) * self.stride

    def box(self, y: int, x: int) -> np.ndarray:
        """(4,) window (x1, y1, x2, y2) of cell (y, x); may extend past the image (zero padding)."""
        cx, cy, half = float(self.centre(x)), float(self.centre(y)), self.size / 2
        return np.array([cx - half, cy - half, cx + half, cy + half])


def grow(field: tuple[float, int, float], conv: Conv2d) -> tuple[float, int, float]:
    """One step of the recurrence: (size, jump, start) after ``conv``."""
    size, jump, start = field
    k = conv.params["weight"].shape[-1]
    k_eff = conv.dilation * (k - 1) + 1
    return size + (k_eff - 1) * jump, jump * conv.stride, start + ((k_eff - 1) / 2 - conv.padding) * jump


def _convs(module) -> list[Conv2d]:
    """The convs of a stem (Sequential) or a stage's blocks, along the longest path."""
    if isinstance(module, Conv2d):
        return [module]
    if isinstance(module, Sequential):
        return [c for layer in module.layers for c in _convs(layer)]
    if hasattr(module, "conv1") and hasattr(module, "conv2"):  # a residual basic block
        return [module.conv1, module.conv2]
    return []


def backbone_conv_path(body) -> list[tuple[str, list[Conv2d]]]:
    """The convs that set each level's receptive field in a ``TinyResNet``.

    Returns ``[("stem", [convs]), ("C2", [convs]), ("C3", ...), ...]``, each
    entry the convs between the previous level and this one, in order.
    """
    path = [("stem", _convs(body.stem))]
    for k, stage in enumerate(body.stages):
        path.append((f"C{k + 2}", _convs(stage)))
    return path


def receptive_fields(body) -> list[ReceptiveField]:
    """Receptive field of the stem's and every stage's output of a ``TinyResNet``."""
    field = (1.0, 1, 0.5)
    out = []
    for name, convs in backbone_conv_path(body):
        for conv in convs:
            if isinstance(conv, ConvTranspose2d):
                raise ValueError("receptive_fields: transposed convolutions are not supported")
            field = grow(field, conv)
        size, jump, start = field
        out.append(ReceptiveField(name, int(size), int(jump), float(start)))
    return out


def draw_feature_maps(feature, max_maps: int = 8, channels=None, title: str | None = None,
                      axes=None, cmap: str = "magma"):
    """The ``max_maps`` channels of a (C, H, W) map with the largest spatial variance.

    ``channels`` picks them explicitly. Each map gets its own colour scale; the
    channel index is written above it. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    f = np.asarray(feature, dtype=np.float64)
    if f.ndim != 3:
        raise ValueError(f"feature: expected one image's map (C, H, W), got shape {f.shape}")
    if channels is None:
        channels = np.argsort(-f.reshape(len(f), -1).var(axis=1), kind="stable")[:max_maps]
    channels = [int(c) for c in channels]
    if axes is None:
        fig, axes = plt.subplots(1, len(channels), figsize=(1.6 * len(channels), 1.9), squeeze=False)
        axes = axes[0]
    axes = np.asarray(axes).ravel()
    if len(axes) < len(channels):
        raise ValueError(f"axes: expected at least {len(channels)}, got {len(axes)}")
    for ax, c in zip(axes, channels):
        ax.imshow(f[c], cmap=cmap)
        ax.set_title(f"ch {c}", fontsize=FONT["small"])
        ax.set_axis_off()
    fig = axes[0].figure
    if title:
        fig.suptitle(title, fontsize=FONT["title"])
    return fig
