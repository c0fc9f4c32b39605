"""Stage 1: the backbone turns an image into feature maps.

A tiny ResNet, built from the layer kit::

    image (N, 3, H, W)
      stem:    conv 3x3 stride 2 -> GroupNorm -> ReLU            stride 2
      stage 1: basic block(s), the first with stride 2           stride 4   = C2
      stage 2: ...                                               stride 8   = C3
      stage 3: ...                                               stride 16  = C4
      (stage 4 if configured)                                    stride 32  = C5

A *basic block* is ``relu(norm(conv(relu(norm(conv(x))))) + shortcut(x))``,
the shortcut being the identity, or a strided 1x1 conv + norm when the shape
changes. GroupNorm replaces BatchNorm because our batches hold 8 images.

Single-level model (``use_fpn=False``, "C4" in the paper): the heads read the
last stage's map, stride 16, so a 128x128 image gives an 8x8 map.

FPN (``Config.use_fpn``, the default): a top-down pathway gives every level the semantics
of the deepest one. For each chosen level k (largest first)::

    inner_k = lateral_1x1(C_k) + upsample_2x_nearest(inner_{k+1})
    P_k     = output_3x3(inner_k)

and RoIs of different sizes read different levels (``assign_fpn_levels``).

Contract: ``features, cache = backbone.forward(images)`` gives a list of maps,
finest first (one entry without FPN); ``backbone.backward(dfeatures, cache)``
takes one gradient per map (``None`` for a map that got none) and accumulates
parameter gradients.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.config import Config
from minimaskrcnn.nn.layers import Conv2d, GroupNorm, ReLU, Sequential, UpsampleNearest2d
from minimaskrcnn.nn.module import Module


class BasicBlock(Module):
    """Two 3x3 convs with GroupNorm and a residual connection.

    x (N, C_in, H, W) -> (N, C_out, H / stride, W / stride)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, num_groups: int, *, rng,
                 zero_init: bool = False):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, rng=rng)
        self.norm1 = GroupNorm(num_groups, out_channels)
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, rng=rng)
        self.norm2 = GroupNorm(num_groups, out_channels)
        if zero_init:  # the block starts as its shortcut (Goyal et al. 2017): easier early training
            self.norm2.params["weight"][:] = 0
        self.relu = ReLU()
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, 0, bias=False, rng=rng),
                GroupNorm(num_groups, out_channels),
            )

    def forward(self, x):
        h, c1 = self.conv1.forward(x)
        h, n1 = self.norm1.forward(h)
        h, r1 = self.relu.forward(h)
        h, c2 = self.conv2.forward(h)
        h, n2 = self.norm2.forward(h)
        if self.shortcut is None:
            s, sc = x, None
        else:
            s, sc = self.shortcut.forward(x)
        out, r2 = self.relu.forward(h + s)
        return out, (c1, n1, r1, c2, n2, sc, r2)

    def backward(self, dout, cache):
        c1, n1, r1, c2, n2, sc, r2 = cache
        dsum = self.relu.backward(dout, r2)  # flows into both branches unchanged
        dh = self.norm2.backward(dsum, n2)
        dh = self.conv2.backward(dh, c2)
        dh = self.relu.backward(dh, r1)
        dh = self.norm1.backward(dh, n1)
        dx = self.conv1.backward(dh, c1)
        if self.shortcut is None:
            return dx + dsum
        return dx + self.shortcut.backward(dsum, sc)


class TinyResNet(Module):
    """Stem + stages of basic blocks; returns every stage's output (C2, C3, ...)."""

    def __init__(self, cfg: Config, *, rng):
        super().__init__()
        g = cfg.num_groups
        self.stem = Sequential(
            Conv2d(3, cfg.stem_channels, 3, 2, 1, bias=False, rng=rng),
            GroupNorm(g, cfg.stem_channels),
            ReLU(),
        )
        self.stages = []
        cin = cfg.stem_channels
        for cout, blocks in zip(cfg.stage_channels, cfg.stage_blocks):
            z = cfg.zero_init_residual
            layers = [BasicBlock(cin, cout, 2, g, rng=rng, zero_init=z)]
            layers += [BasicBlock(cout, cout, 1, g, rng=rng, zero_init=z) for _ in range(blocks - 1)]
            self.stages.append(Sequential(*layers))
            cin = cout

    def forward(self, x):
        """x (N, 3, H, W) -> [C2 (N, c1, H/4, W/4), C3 (N, c2, H/8, W/8), ...]."""
        h, stem_cache = self.stem.forward(x)
        outs, caches = [], []
        for stage in self.stages:
            h, c = stage.forward(h)
            outs.append(h)
            caches.append(c)
        return outs, (stem_cache, caches)

    def backward(self, douts, cache):
        """douts: one gradient (or None) per stage output. Returns d(image)."""
        stem_cache, caches = cache
        dh = None
        for stage, c, d in reversed(list(zip(self.stages, caches, douts))):
            if d is not None:
                dh = d if dh is None else dh + d
            if dh is not None:
                dh = stage.backward(dh, c)
        return None if dh is None else self.stem.backward(dh, stem_cache)


class FPN(Module):
    """Feature pyramid over the backbone stages named by ``levels`` (k = log2 stride).

    inputs: C_k for each k in levels, finest first; outputs P_k, same order,
    each (N, fpn_channels, H / 2**k, W / 2**k).
    """

    def __init__(self, in_channels: list[int], out_channels: int, *, rng):
        super().__init__()
        self.lateral = [Conv2d(c, out_channels, 1, rng=rng) for c in in_channels]
        self.output = [Conv2d(out_channels, out_channels, 3, 1, 1, rng=rng) for _ in in_channels]
        self.upsample = UpsampleNearest2d(2)

    def forward(self, feats):
        n = len(feats)
        outs, caches = [None] * n, [None] * n
        inner = None
        for i in reversed(range(n)):  # coarsest first: the top-down pathway
            lat, lat_cache = self.lateral[i].forward(feats[i])
            up_cache = None
            if inner is not None:
                up, up_cache = self.upsample.forward(inner)
                lat = lat + up
            inner = lat
            outs[i], out_cache = self.output[i].forward(inner)
            caches[i] = (lat_cache, up_cache, out_cache)
        return outs, caches

    def backward(self, douts, caches):
        """douts: gradient (or None) per output level, finest first."""
        n = len(caches)
        dfeats = [None] * n
        dinner = None  # gradient reaching inner_{i} through the upsampling inside level i-1
        for i in range(n):  # finest first: the reverse of the top-down order
            lat_cache, up_cache, out_cache = caches[i]
            if douts[i] is not None:
                d = self.output[i].backward(douts[i], out_cache)
                dinner = d if dinner is None else dinner + d
            if dinner is None:
                continue
            dfeats[i] = self.lateral[i].backward(dinner, lat_cache)
            # inner_i = lateral_i(C_i) + upsample(inner_{i+1}): the same gradient goes both ways
            dinner = self.upsample.backward(dinner, up_cache) if up_cache is not None else None
        return dfeats


class Backbone(Module):
    """TinyResNet (+ FPN): images (N, 3, H, W) -> list of feature maps, finest first."""

    def __init__(self, cfg: Config, *, rng):
        super().__init__()
        self.cfg = cfg
        self.body = TinyResNet(cfg, rng=rng)
        self.fpn = None
        if cfg.use_fpn:
            chans = [cfg.stage_channels[k - 2] for k in cfg.fpn_levels]
            self.fpn = FPN(chans, cfg.fpn_channels, rng=rng)

    @property
    def out_channels(self) -> int:
        return self.cfg.fpn_channels if self.fpn is not None else self.cfg.stage_channels[-1]

    def forward(self, images):
        feats, body_cache = self.body.forward(images)  # [C2, C3, ...]
        if self.fpn is None:
            return [feats[-1]], (body_cache, None)
        chosen = [feats[k - 2] for k in self.cfg.fpn_levels]
        outs, fpn_cache = self.fpn.forward(chosen)
        return outs, (body_cache, fpn_cache)

    def backward(self, dfeatures, cache):
        """dfeatures: one gradient (or None) per output map. Returns d(images) (N, 3, H, W)."""
        body_cache, fpn_cache = cache
        nstages = len(self.body.stages)
        dstages = [None] * nstages
        if self.fpn is None:
            dstages[-1] = dfeatures[0]
        else:
            for k, d in zip(self.cfg.fpn_levels, self.fpn.backward(dfeatures, fpn_cache)):
                dstages[k - 2] = d
        return self.body.backward(dstages, body_cache)


def assign_fpn_levels(boxes: np.ndarray, levels, canonical_size: float, canonical_level: int) -> np.ndarray:
    """Which pyramid level each box reads, as an index into ``levels``.

    FPN paper, eq. (1): k = floor(k0 + log2(sqrt(w * h) / canonical_size)),
    clamped to the available levels. A small epsilon keeps zero-area boxes
    finite (they go to the finest level).

    boxes (R, 4) -> (R,) int64 in [0, len(levels)).
    """
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    scale = np.sqrt(np.maximum(w * h, 0.0))
    k = np.floor(canonical_level + np.log2(scale / canonical_size + 1e-8))
    k = np.clip(k, levels[0], levels[-1])
    return (k - levels[0]).astype(np.int64)
