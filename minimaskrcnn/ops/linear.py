"""The fully connected layer's matrix multiplies, on every core.

    forward:   out = x @ w.T          x (N, in), w (out, in) -> (N, out)
    backward:  dx  = dout @ w         (N, out) @ (out, in)   -> (N, in)
               dw  = dout.T @ x       (out, N) @ (N, in)     -> (out, in)

BLAS runs on one thread in this package (see ``minimaskrcnn/__init__.py``), so
large products are split into row blocks that ``ops/tiles.py`` runs on all
threads, each block one single-threaded GEMM; ``dw``, a sum over the rows of
``x``, adds its blocks' parts in block order, so the result does not depend on
the number of threads. Small products (the predictors, the MLP heads on few
RoIs) run as one GEMM in the calling thread.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ops import tiles

__all__ = ["linear_forward", "linear_backward"]

BLOCKS = 2  # row blocks of a large product (one per thread of a 2-core machine; more cost GEMM speed)


def _row_blocks(n: int, flops: float) -> list[tuple[int, int]]:
    """Row ranges of the N rows: BLOCKS of them for a large product, one for a small one."""
    k = min(BLOCKS if flops >= tiles.PARALLEL_MIN_FLOPS else 1, n)
    return [(n * b // k, n * (b + 1) // k) for b in range(k)]


def linear_forward(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w.T``: (N, in) @ (in, out) -> (N, out)."""
    out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    flops = 2.0 * out.size * x.shape[1]
    blocks = _row_blocks(x.shape[0], flops)

    def block(slot, i, rows):
        np.matmul(x[rows[0]:rows[1]], w.T, out=out[rows[0]:rows[1]])

    tiles.run(block, blocks, flops)
    return out


def linear_backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray):
    """``(dx, dw) = (dout @ w, dout.T @ x)`` for dout (N, out), x (N, in), w (out, in)."""
    dout = np.ascontiguousarray(dout)
    dx = np.empty_like(x)
    flops = 4.0 * dout.size * x.shape[1]
    blocks = _row_blocks(x.shape[0], flops)
    dw_parts = np.empty((len(blocks),) + w.shape, dtype=x.dtype)

    def block(slot, i, rows):
        r0, r1 = rows
        np.matmul(dout[r0:r1], w, out=dx[r0:r1])
        np.matmul(dout[r0:r1].T, x[r0:r1], out=dw_parts[i])

    tiles.run(block, blocks, flops)
    dw = dw_parts.sum(axis=0) if blocks else np.zeros_like(w)  # (out, in), blocks added in order
    return dx, dw
