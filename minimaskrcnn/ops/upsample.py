"""Bilinear upsampling by an integer factor, and its backward pass.

The keypoint head's last step (detectron2's, after the transposed conv) is a
2x bilinear resize of its heatmaps: ``F.interpolate(x, scale_factor=2,
mode="bilinear", align_corners=False)`` in torch. Output pixel ``o`` (centre
``o + 0.5`` in output pixels) reads the input at the same point of the image,
in input pixel-index coordinates::

    u = (o + 0.5) / s - 0.5,   clamped to u >= 0
    i0 = floor(u),  i1 = min(i0 + 1, n - 1),  w = u - i0
    out[o] = (1 - w) * x[i0] + w * x[i1]

So each output value mixes two neighbours along each axis (four in 2-D).
Worked example, s = 2 on a row ``[0, 4]``: o = 0 gives u = -0.25 -> 0
(value 0), o = 1 gives u = 0.25 (value 1), o = 2 gives u = 0.75 (value 3),
o = 3 gives u = 1.25 -> i0 = 1, i1 = 1 (value 4): ``[0, 1, 3, 4]``.

Because the map is linear and separable, it is two small matrix products:
``out = A_h @ x @ A_w.T`` with the (n_out, n) weight matrices ``A`` of
``interpolation_matrix``; the backward pass is the transpose,
``dx = A_h.T @ dout @ A_w``. ``upsample_bilinear_naive`` is the loop version.

Shapes: x (N, C, H, W) -> (N, C, s*H, s*W).
"""
from __future__ import annotations

import numpy as np


def _source(o: int, n: int, scale: int) -> tuple[int, int, float]:
    """(i0, i1, w) of output index ``o`` along an axis of ``n`` input pixels."""
    u = max((o + 0.5) / scale - 0.5, 0.0)
    i0 = int(u)
    return i0, min(i0 + 1, n - 1), u - i0


def interpolation_matrix(n: int, scale: int, dtype=np.float64) -> np.ndarray:
    """(scale * n, n) weights A with ``out = A @ x`` along one axis."""
    A = np.zeros((scale * n, n), dtype=dtype)
    for o in range(scale * n):
        i0, i1, w = _source(o, n, scale)
        A[o, i0] += 1.0 - w
        A[o, i1] += w
    return A


def upsample_bilinear_naive(x: np.ndarray, scale: int = 2) -> np.ndarray:
    """Reference loops: every output pixel from its four input neighbours."""
    N, C, H, W = x.shape
    out = np.zeros((N, C, scale * H, scale * W), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for oy in range(scale * H):
                y0, y1, wy = _source(oy, H, scale)
                for ox in range(scale * W):
                    x0, x1, wx = _source(ox, W, scale)
                    out[n, c, oy, ox] = ((1 - wy) * ((1 - wx) * x[n, c, y0, x0] + wx * x[n, c, y0, x1])
                                         + wy * ((1 - wx) * x[n, c, y1, x0] + wx * x[n, c, y1, x1]))
    return out


def _check(x, name: str) -> None:
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}: expected a float32/float64 (N, C, H, W) array, got "
                         f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")


def upsample_bilinear(x: np.ndarray, scale: int = 2) -> np.ndarray:
    """Bilinear resize by ``scale`` (align_corners=False): (N, C, H, W) -> (N, C, sH, sW)."""
    _check(x, "x")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale: expected an int >= 1, got {scale!r}")
    H, W = x.shape[-2:]
    Ah, Aw = interpolation_matrix(H, scale, x.dtype), interpolation_matrix(W, scale, x.dtype)
    return Ah @ x @ Aw.T  # (sH, H) @ (N, C, H, W) @ (W, sW) -> (N, C, sH, sW)


def upsample_bilinear_backward(dout: np.ndarray, scale: int = 2) -> np.ndarray:
    """Gradient with respect to x: (N, C, sH, sW) -> (N, C, H, W)."""
    _check(dout, "dout")
    sH, sW = dout.shape[-2:]
    if sH % scale or sW % scale:
        raise ValueError(f"dout: height and width must be multiples of scale={scale}, got {sH}x{sW}")
    Ah, Aw = interpolation_matrix(sH // scale, scale, dout.dtype), interpolation_matrix(sW // scale, scale, dout.dtype)
    return Ah.T @ dout @ Aw  # (H, sH) @ (N, C, sH, sW) @ (sW, W)
