"""Numerical gradients by central differences, for checking every backward pass.

To check ``backward`` of a function ``y = f(x)`` we pick a random upstream
gradient ``dout`` (same shape as ``y``) and look at the scalar

    L(x) = sum(f(x) * dout),  whose gradient is exactly what backward(dout) returns.

Central differences estimate it one coordinate at a time:

    dL/dx_i ≈ (L(x + h e_i) - L(x - h e_i)) / (2h)

with error O(h²). In float64 with h = 1e-6 the estimate agrees with a correct
analytic gradient to a relative error of about 1e-8 to 1e-10; a wrong backward
pass is typically off by 1e-1 or more. (In float32 round-off dominates: always
check in float64.)

Example::

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(3, 4))
    >>> dout = rng.normal(size=(3, 4))
    >>> num = numerical_gradient(np.tanh, x, dout)
    >>> rel_error(num, dout * (1 - np.tanh(x) ** 2)) < 1e-8
    True
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def numerical_gradient(
    f: Callable[[], np.ndarray] | Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dout: np.ndarray | float | None = None,
    h: float = 1e-6,
) -> np.ndarray:
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    Args:
        f: called as ``f(x)``; it may also ignore its argument and read ``x``
           through a closure (``x`` is modified in place and restored), which
           is how parameters inside a layer are checked.
        x: float64 array, perturbed in place one element at a time.
        dout: upstream gradient with the shape of ``f(x)``; ``None`` means
           ``f`` already returns a scalar loss.
        h: step size.

    Returns:
        Array with the shape of ``x``.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        raise TypeError("x must be a float64 numpy array (gradient checks need float64)")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous so it can be perturbed in place")
    grad = np.zeros_like(x)
    flat_x, flat_g = x.reshape(-1), grad.reshape(-1)  # views: perturb x in place

    def scalar() -> float:
        y = np.asarray(f(x), dtype=np.float64)
        return float(y.sum()) if dout is None else float(np.sum(y * dout))

    for i in range(flat_x.size):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = scalar()
        flat_x[i] = old - h
        minus = scalar()
        flat_x[i] = old
        flat_g[i] = (plus - minus) / (2.0 * h)
    return grad


def numerical_gradient_at(f: Callable[[], float], x: np.ndarray, flat_indices, h: float = 1e-6):
    """Central differences of the scalar ``f()`` at a few coordinates of ``x`` only.

    For checking large parameter arrays inside a whole model, where every
    coordinate would cost two forward passes. ``x`` is perturbed in place and
    restored. Returns ``(len(flat_indices),)`` float64.
    """
    if not isinstance(x, np.ndarray) or x.dtype != np.float64 or not x.flags.c_contiguous:
        raise TypeError("x must be a C-contiguous float64 numpy array")
    flat_x = x.reshape(-1)
    out = np.empty(len(flat_indices))
    for j, i in enumerate(flat_indices):
        old = flat_x[i]
        flat_x[i] = old + h
        plus = float(f())
        flat_x[i] = old - h
        minus = float(f())
        flat_x[i] = old
        out[j] = (plus - minus) / (2.0 * h)
    return out


def rel_error(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> float:
    """Relative error ``||a - b|| / max(||a|| + ||b||, eps)`` (Frobenius norms).

    Norm-based rather than element-wise, so a coordinate whose true gradient
    is ~0 does not dominate; 0 means identical, 1 means unrelated.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), eps))
