"""ReLU, forward and backward: ``max(x, 0)``, and the gradient passes where the output is positive.

Two implementations, one API:

* ``relu_forward_naive`` / ``relu_backward_naive``: numpy one-liners, the definition.
* ``relu_forward`` / ``relu_backward``: one Numba loop each. The numpy versions
  allocate a temporary (the boolean mask) and make two or three passes over
  memory; the loops make one, about three times faster on the backbone's maps.
  A NaN input stays NaN (``max`` of NaN and 0 propagates), as in numpy and torch.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["relu_forward", "relu_backward", "relu_forward_naive", "relu_backward_naive"]


def relu_forward_naive(x):
    """``max(x, 0)`` elementwise (NaN stays NaN)."""
    return np.maximum(x, 0)


def relu_backward_naive(dout, out):
    """``dout`` where the forward output ``out`` is positive, else 0."""
    return dout * (out > 0)


@njit(cache=True, nogil=True)
def _relu_forward_kernel(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = v if (v > 0 or v != v) else 0  # v != v: NaN passes through


@njit(cache=True, nogil=True)
def _relu_backward_kernel(dout, out, dx):
    for i in range(dout.size):
        dx[i] = dout[i] if out[i] > 0 else 0


def relu_forward(x):
    """Fast :func:`relu_forward_naive`: any shape, float32/float64."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _relu_forward_kernel(x.reshape(-1), out.reshape(-1))
    return out


def relu_backward(dout, out):
    """Fast :func:`relu_backward_naive`; ``dout`` and ``out`` of one shape."""
    dout, out = np.ascontiguousarray(dout), np.ascontiguousarray(out)
    dx = np.empty_like(dout)
    _relu_backward_kernel(dout.reshape(-1), out.reshape(-1), dx.reshape(-1))
    return dx
