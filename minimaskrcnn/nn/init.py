"""Weight initialisers. Each takes an explicit ``rng`` (``np.random.default_rng(seed)``).

Kaiming (He) initialisation keeps the size of activations (forward) or of
gradients (backward) roughly constant from layer to layer in a ReLU network:
a weight drawn from ``N(0, 2 / fan)`` doubles the variance that ReLU halves.
With ``fan = fan_out`` it is the backward pass that stays balanced; this is
what torchvision's ResNet and detectron2 (``c2_msra_fill``) use for convolutions.

Fans follow torch's convention for every weight layout: ``fan_in = shape[1] * kh * kw``
and ``fan_out = shape[0] * kh * kw``. So for a Conv2d weight (F, C, kh, kw),
``fan_out = F * kh * kw``; for a Linear weight (out, in), ``fan_out = out``; for a
ConvTranspose2d weight (C_in, C_out, kh, kw) torch's rule gives ``C_in * kh * kw``.

Example::

    >>> w = kaiming_normal((64, 32, 3, 3), np.random.default_rng(0))
    >>> round(float(w.std()), 3), round((2 / (64 * 9)) ** 0.5, 3)   # close to sqrt(2 / fan_out)
    (0.059, 0.059)
"""
from __future__ import annotations

import numpy as np

__all__ = ["fans", "kaiming_normal", "normal", "zeros", "init_weight"]


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of this shape, torch's convention (see module doc)."""
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return int(shape[1]) * receptive, int(shape[0]) * receptive


def kaiming_normal(shape, rng: np.random.Generator, mode: str = "fan_out", dtype=np.float32) -> np.ndarray:
    """Samples from ``N(0, 2 / fan)`` (ReLU gain), ``fan`` = fan_out or fan_in per ``mode``."""
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(shape)
    std = np.sqrt(2.0 / (fan_out if mode == "fan_out" else fan_in))
    return (rng.standard_normal(shape) * std).astype(dtype)


def normal(shape, rng: np.random.Generator, std: float = 0.01, dtype=np.float32) -> np.ndarray:
    """Samples from ``N(0, std**2)``: the usual init for the final predictors of a detector."""
    if not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    return (rng.standard_normal(shape) * std).astype(dtype)


def zeros(shape, dtype=np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def init_weight(shape, rng: np.random.Generator, init: str = "kaiming", std: float = 0.01,
                mode: str = "fan_out") -> np.ndarray:
    """Dispatch used by the layers: ``init="kaiming"`` (with ``mode``) or ``"normal"`` (with ``std``)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if init == "kaiming":
        return kaiming_normal(shape, rng, mode=mode)
    if init == "normal":
        return normal(shape, rng, std=std)
    raise ValueError(f"init must be 'kaiming' or 'normal', got {init!r}")
