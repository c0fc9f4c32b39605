"""Group normalisation, forward and backward: the readable definition and a fused kernel.

For ``x`` (N, C, ...) split into ``G`` groups of ``C // G`` channels, every
(sample, group) is normalised by its own mean and biased variance, then scaled
and shifted per channel::

    xhat = (x - mean_ng) / sqrt(var_ng + eps)
    out  = xhat * gamma[c] + beta[c]

Backward, for one group of ``M = C/G * H * W`` values (``dxhat = dout * gamma[c]``)::

    dx     = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
    dgamma = sum over n, h, w of dout * xhat
    dbeta  = sum over n, h, w of dout

Two implementations, one API:

* ``group_norm_forward_naive`` / ``group_norm_backward_naive``: whole-array
  numpy, line by line the formulas above. For reading and for tests.
* ``group_norm_forward`` / ``group_norm_backward``: one Numba pass per group,
  blocks of groups on all threads (``ops/tiles.py``; a group's values are
  contiguous in NCHW). The numpy version
  makes about ten passes over memory with temporaries; the kernel makes two
  (statistics, then normalise), which matters because a normalisation does
  almost no arithmetic per value. Sums run in float64, in a fixed order, so the
  result does not depend on the number of threads.

The caches are the same for both: ``(xhat, inv_std)`` with ``xhat`` shaped like
``x`` and ``inv_std`` (N, G).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from minimaskrcnn.ops import tiles

# Sums may be reordered (vectorised) but NaN and inf keep their IEEE meaning.
_REORDER = {"reassoc", "contract"}

# A value of GroupNorm costs about as much time as this many floating-point operations of a
# matrix multiply (it is limited by memory, not arithmetic): what ``tiles.run`` weighs
# against the cost of waking a second thread.
GEMM_EQUIVALENT = 40.0

__all__ = ["group_norm_forward", "group_norm_backward",
           "group_norm_forward_naive", "group_norm_backward_naive"]


def _grouped(a: np.ndarray, G: int) -> np.ndarray:
    N, M = a.shape[0], int(np.prod(a.shape[1:])) // G
    return a.reshape(N, G, M)  # (N, G, M = C/G * H * W); N may be 0


def group_norm_forward_naive(x, gamma, beta, G: int, eps: float):
    """``out, (xhat, inv_std)`` for x (N, C, ...), gamma/beta (C,), by whole-array numpy."""
    xg = _grouped(x, G)
    mean = xg.mean(axis=2, keepdims=True)  # (N, G, 1)
    centered = xg - mean
    inv_std = 1.0 / np.sqrt((centered * centered).mean(axis=2, keepdims=True) + eps)  # (N, G, 1)
    xhat = (centered * inv_std).reshape(x.shape)
    bshape = (1, -1) + (1,) * (x.ndim - 2)  # per-channel broadcast (1, C, 1, 1)
    out = xhat * gamma.reshape(bshape) + beta.reshape(bshape)
    return out.astype(x.dtype, copy=False), (xhat.astype(x.dtype, copy=False),
                                            inv_std[:, :, 0].astype(x.dtype, copy=False))


def group_norm_backward_naive(dout, cache, gamma, G: int):
    """``dx, dgamma, dbeta`` by whole-array numpy (the formulas of the module docstring)."""
    xhat, inv_std = cache
    axes = (0,) + tuple(range(2, dout.ndim))
    dgamma = (dout * xhat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    bshape = (1, -1) + (1,) * (dout.ndim - 2)
    dxhat = _grouped(dout * gamma.reshape(bshape), G)  # (N, G, M)
    xh = _grouped(xhat, G)
    dx = inv_std[:, :, None] * (dxhat - dxhat.mean(axis=2, keepdims=True)
                                - xh * (dxhat * xh).mean(axis=2, keepdims=True))
    return dx.reshape(dout.shape).astype(dout.dtype, copy=False), dgamma, dbeta


@njit(cache=True, nogil=True, fastmath=_REORDER)
def _forward_kernel(x, gamma, beta, eps, out, xhat, inv_std, t0, t1):
    """Groups t0..t1-1 (t = n * G + g) of x, out, xhat (N, C, P), P pixels per channel; inv_std (N, G)."""
    N, C, P = x.shape
    G = inv_std.shape[1]
    cg = C // G
    for t in range(t0, t1):
        n, g = t // G, t % G
        total = 0.0
        for c in range(g * cg, (g + 1) * cg):
            row = x[n, c]  # (P,)
            for p in range(P):
                total += row[p]
        mean = total / (cg * P)
        sq = 0.0
        for c in range(g * cg, (g + 1) * cg):
            row = x[n, c]
            for p in range(P):
                d = row[p] - mean
                sq += d * d
        s = 1.0 / np.sqrt(sq / (cg * P) + eps)
        inv_std[n, g] = s
        m, s_ = x.dtype.type(mean), x.dtype.type(s)
        for c in range(g * cg, (g + 1) * cg):
            w, b = gamma[c], beta[c]
            row, h_row, o_row = x[n, c], xhat[n, c], out[n, c]
            for p in range(P):
                h = (row[p] - m) * s_
                h_row[p] = h
                o_row[p] = h * w + b


@njit(cache=True, nogil=True, fastmath=_REORDER)
def _backward_kernel(dout, xhat, inv_std, gamma, dx, dgamma_n, dbeta_n, t0, t1):
    """Groups t0..t1-1 of dout, xhat, dx (N, C, P); per-sample parameter gradients dgamma_n, dbeta_n (N, C)."""
    N, C, P = dout.shape
    G = inv_std.shape[1]
    cg = C // G
    for t in range(t0, t1):
        n, g = t // G, t % G
        s1 = 0.0  # sum of dxhat
        s2 = 0.0  # sum of dxhat * xhat
        for c in range(g * cg, (g + 1) * cg):
            d_row, h_row = dout[n, c], xhat[n, c]  # (P,)
            a = 0.0
            b = 0.0
            for p in range(P):
                a += d_row[p]
                b += d_row[p] * h_row[p]
            dbeta_n[n, c] = a
            dgamma_n[n, c] = b
            s1 += gamma[c] * a
            s2 += gamma[c] * b
        T = dout.dtype.type
        m1, m2, s = T(s1 / (cg * P)), T(s2 / (cg * P)), T(inv_std[n, g])
        for c in range(g * cg, (g + 1) * cg):
            w = gamma[c]
            d_row, h_row, x_row = dout[n, c], xhat[n, c], dx[n, c]
            for p in range(P):
                x_row[p] = s * (w * d_row[p] - m1 - h_row[p] * m2)


def group_norm_forward(x, gamma, beta, G: int, eps: float):
    """Fast :func:`group_norm_forward_naive` (same arguments, returns and cache).

    x (N, C, ...) C-contiguous float32/float64; gamma, beta (C,) of its dtype.
    """
    N, C = x.shape[:2]
    x3 = np.ascontiguousarray(x).reshape(N, C, int(np.prod(x.shape[2:])))  # (N, C, P)
    out = np.empty_like(x3)
    xhat = np.empty_like(x3)
    inv_std = np.empty((N, G), dtype=x.dtype)
    if x3.size:
        tiles.run(lambda slot, i, r: _forward_kernel(x3, gamma, beta, eps, out, xhat, inv_std, *r),
                  tiles.split(N * G, x3.size), flops=GEMM_EQUIVALENT * x3.size)
    return out.reshape(x.shape), (xhat.reshape(x.shape), inv_std)


def group_norm_backward(dout, cache, gamma, G: int):
    """Fast :func:`group_norm_backward_naive`: ``dx, dgamma, dbeta``."""
    xhat, inv_std = cache
    N, C = dout.shape[:2]
    d3 = np.ascontiguousarray(dout).reshape(N, C, int(np.prod(dout.shape[2:])))  # (N, C, P)
    dx = np.empty_like(d3)
    dgamma_n = np.zeros((N, C), dtype=np.float64)
    dbeta_n = np.zeros((N, C), dtype=np.float64)
    if d3.size:
        h3 = xhat.reshape(d3.shape)
        tiles.run(lambda slot, i, r: _backward_kernel(d3, h3, inv_std, gamma, dx, dgamma_n, dbeta_n, *r),
                  tiles.split(N * G, d3.size), flops=GEMM_EQUIVALENT * d3.size)
    return (dx.reshape(dout.shape), dgamma_n.sum(axis=0).astype(dout.dtype),
            dbeta_n.sum(axis=0).astype(dout.dtype))
