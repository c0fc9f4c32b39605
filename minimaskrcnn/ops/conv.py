"""2-D convolution and transposed convolution, forward and backward.

Definition (cross-correlation, as in every deep-learning library)::

    out[n, f, oh, ow] = b[f] + sum_{c, i, j} w[f, c, i, j]
                        * x[n, c, oh*stride + i*dilation - padding, ow*stride + j*dilation - padding]

with ``x`` (N, C, H, W), ``w`` (F, C, kh, kw), ``b`` (F,) or None, zero padding,
and ``out`` (N, F, Ho, Wo) where ``Ho = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1``.

Worked example: x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]] (one image, one channel),
w = [[1, 0], [0, -1]], no bias, stride 1, no padding. Each output is "top-left
minus bottom-right" of a 2x2 window: out = [[1-5, 2-6], [4-8, 5-9]] = [[-4, -4], [-4, -4]].

Backward, for an upstream gradient ``dout`` (N, F, Ho, Wo):

* ``db[f] = sum_{n, oh, ow} dout[n, f, oh, ow]``
* ``dw[f, c, i, j] = sum_{n, oh, ow} dout[n, f, oh, ow] * x[n, c, <the pixel that tap (i, j) saw>]``
* ``dx[n, c, h, w]`` = sum of ``dout * w`` over every (output pixel, tap) that saw pixel (h, w).

Two implementations share one API:

* ``conv2d_forward_naive`` / ``conv2d_backward_naive``: loops over output pixels,
  straight from the definition. For reading and for tests.
* ``conv2d_forward`` / ``conv2d_backward``: im2col (see ``ops/im2col.py``) turns the
  convolution into matrix multiplies, which BLAS runs near the machine's peak::

      forward:   out[n]  = W2 @ cols[n]             W2 = w.reshape(F, C*kh*kw)
      backward:  dw      = sum_n dout[n] @ cols[n].T
                 dcols[n] = W2.T @ dout[n],  dx = col2im(dcols)
                 (with stride 1, dx is computed as a convolution of dout with the
                 flipped kernel instead: same result, less memory traffic)

  A 1x1 convolution with stride 1 and no padding needs no im2col at all:
  ``cols[n]`` is just ``x[n].reshape(C, H*W)``.

The transposed convolution (the mask head's 2x2, stride-2 upsampling) is the
adjoint of a convolution: its forward pass is a convolution's input-gradient
computation and its backward pass is a convolution's forward pass. With ``w`` in
torch's layout (C_in, C_out, kh, kw) every input pixel stamps a weighted copy of
the kernel onto the output::

    out[n, o, h*stride - padding + i, w*stride - padding + j] += x[n, c, h, w] * w[c, o, i, j]

so ``Ho = (H - 1)*stride - 2*padding + kh``.

The caches hold the inputs, not the column matrices: columns are 9x larger than
the input for a 3x3 kernel, so the fast path rebuilds them in backward (about
as cheap as reading a stored copy) inside reusable work buffers. Float32 and
float64 are both supported; the output dtype is the input dtype.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ops.im2col import (
    _check_geometry, _col2im_kernel, _im2col_kernel, conv_output_size,
)

__all__ = [
    "conv2d_forward", "conv2d_backward", "conv2d_forward_naive", "conv2d_backward_naive",
    "conv_transpose2d_forward", "conv_transpose2d_backward",
    "conv_transpose2d_forward_naive", "conv_transpose2d_backward_naive",
]


# ----------------------------------------------------------------------------
# Validation (public functions only; kernels assume valid input)
# ----------------------------------------------------------------------------
def _check_float_array(name: str, a, ndim: int) -> None:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {a.shape}")
    # A sum is finite only if every element is (NaN and inf propagate); it costs one
    # fast pass. Only if it is not finite (or overflowed) do we look element-wise.
    if not np.isfinite(a.sum()) and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")


def _check_inputs(x, w, b, w_in_axis: int):
    """Validate (x, w, b) of a conv (w_in_axis=1) or transposed conv (w_in_axis=0)."""
    _check_float_array("x", x, 4)
    _check_float_array("w", w, 4)
    if w.dtype != x.dtype:
        raise TypeError(f"w has dtype {w.dtype} but x has dtype {x.dtype}; they must match")
    if w.shape[w_in_axis] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels but w {w.shape} expects "
            f"{w.shape[w_in_axis]} (axis {w_in_axis} of w)"
        )
    out_channels = w.shape[1 - w_in_axis]
    if b is not None:
        _check_float_array("b", b, 1)
        if b.shape != (out_channels,):
            raise ValueError(f"b must have shape ({out_channels},), got {b.shape}")
        if b.dtype != x.dtype:
            raise TypeError(f"b has dtype {b.dtype} but x has dtype {x.dtype}; they must match")
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


def _check_dout(dout, shape, dtype) -> np.ndarray:
    if not isinstance(dout, np.ndarray) or dout.shape != shape or dout.dtype != dtype:
        raise ValueError(
            f"dout must be a {np.dtype(dtype)} array of shape {shape}, got "
            f"{getattr(dout, 'dtype', type(dout).__name__)} {np.shape(dout)}"
        )
    return np.ascontiguousarray(dout)


# ----------------------------------------------------------------------------
# Readable references: loops over output pixels
# ----------------------------------------------------------------------------
def conv2d_forward_naive(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution by the definition. Same arguments and returns as :func:`conv2d_forward`."""
    x, w = _check_inputs(x, w, b, w_in_axis=1)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = _check_geometry("x", H, W, kh, kw, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))  # (N, C, H+2p, W+2p)
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oh in range(Ho):
                for ow in range(Wo):
                    h0, w0 = oh * stride, ow * stride
                    window = xp[n, :, h0 : h0 + dilation * (kh - 1) + 1 : dilation,
                                w0 : w0 + dilation * (kw - 1) + 1 : dilation]  # (C, kh, kw)
                    out[n, f, oh, ow] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out, (x, w, b, stride, padding, dilation)


def conv2d_backward_naive(dout, cache):
    """Gradients by the definition: every output pixel sends ``dout * window`` to ``dw``
    and ``dout * w[f]`` back onto the window it read. Returns ``(dx, dw, db)``."""
    x, w, b, stride, padding, dilation = cache
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for oh in range(Ho):
                for ow in range(Wo):
                    hs = slice(oh * stride, oh * stride + dilation * (kh - 1) + 1, dilation)
                    ws = slice(ow * stride, ow * stride + dilation * (kw - 1) + 1, dilation)
                    dw[f] += dout[n, f, oh, ow] * xp[n, :, hs, ws]
                    dxp[n, :, hs, ws] += dout[n, f, oh, ow] * w[f]
    dx = dxp[:, :, padding : padding + H, padding : padding + W]  # drop the padding's gradient
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return np.ascontiguousarray(dx), dw, db


def conv_transpose2d_forward_naive(x, w, b, stride=2, padding=0):
    """Transposed convolution by the definition: each input pixel stamps ``x * w[c]``
    onto the output. Same arguments and returns as :func:`conv_transpose2d_forward`."""
    x, w = _check_inputs(x, w, b, w_in_axis=0)
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    Ho, Wo = _transposed_size(H, W, kh, kw, stride, padding)
    full = np.zeros((N, F, Ho + 2 * padding, Wo + 2 * padding), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for v in range(W):
                    full[n, :, h * stride : h * stride + kh, v * stride : v * stride + kw] += x[n, c, h, v] * w[c]
    out = full[:, :, padding : padding + Ho, padding : padding + Wo]  # crop the padding
    if b is not None:
        out = out + b[None, :, None, None]
    return np.ascontiguousarray(out), (x, w, b, stride, padding)


def conv_transpose2d_backward_naive(dout, cache):
    """Each input pixel's gradient is its stamp's window of ``dout`` dotted with ``w[c]``."""
    x, w, b, stride, padding = cache
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    dfull = np.pad(dout, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for n in range(N):
        for c in range(C):
            for h in range(H):
                for v in range(W):
                    window = dfull[n, :, h * stride : h * stride + kh, v * stride : v * stride + kw]
                    dx[n, c, h, v] = np.sum(window * w[c])
                    dw[c] += x[n, c, h, v] * window
    db = None if b is None else dout.sum(axis=(0, 2, 3))
    return dx, dw, db


# ----------------------------------------------------------------------------
# Fast path: im2col + GEMM
# ----------------------------------------------------------------------------
_WORK: dict = {}


def _work_buffer(role: str, shape, dtype) -> np.ndarray:
    """A reusable scratch array for column matrices (contents undefined).

    Column matrices are large, and a fresh large array costs page faults on
    first touch every call; one buffer per role, grown when needed, avoids that.
    Never returned to callers. (Not thread-safe: one convolution at a time.)
    """
    size = int(np.prod(shape))
    buf = _WORK.get((role, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = _WORK[(role, np.dtype(dtype))] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _is_pointwise(kh, kw, stride, padding):
    return kh == kw == stride == 1 and padding == 0


def _columns(x, kh, kw, stride, padding, dilation, Ho, Wo):
    """im2col of ``x`` into the "cols" work buffer: (N, C*kh*kw, Ho*Wo)."""
    N, C, H, W = x.shape
    if _is_pointwise(kh, kw, stride, padding):
        return x.reshape(N, C, H * W)  # a 1x1 convolution reads the pixels as they are
    cols = _work_buffer("cols", (N, C * kh * kw, Ho * Wo), x.dtype)
    _im2col_kernel(x, kh, kw, stride, padding, dilation, Ho, Wo, cols)
    return cols


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution via im2col and one batched matrix multiply.

    Args:
        x: (N, C, H, W) float32 or float64.
        w: (F, C, kh, kw), same dtype as ``x``.
        b: (F,) or None.
        stride, padding, dilation: ints (the same along both axes).

    Returns:
        out: (N, F, Ho, Wo), dtype of ``x``.
        cache: what :func:`conv2d_backward` needs.
    """
    x, w = _check_inputs(x, w, b, w_in_axis=1)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = _check_geometry("x", H, W, kh, kw, stride, padding, dilation)
    stride, padding, dilation = int(stride), int(padding), int(dilation)  # one kernel signature
    cols = _columns(x, kh, kw, stride, padding, dilation, Ho, Wo)  # (N, C*kh*kw, Ho*Wo)
    out = np.matmul(w.reshape(F, -1), cols)  # (N, F, Ho*Wo)
    if b is not None:
        out += b[:, None]
    return out.reshape(N, F, Ho, Wo), (x, w, b is not None, stride, padding, dilation)


def conv2d_backward(dout, cache):
    """Gradients of :func:`conv2d_forward`.

    Args:
        dout: (N, F, Ho, Wo) upstream gradient.
        cache: from the forward pass.

    Returns:
        dx (N, C, H, W), dw (F, C, kh, kw), db (F,) or None if there was no bias.
    """
    x, w, has_bias, stride, padding, dilation = cache
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    d = _check_dout(dout, (N, F, Ho, Wo), x.dtype).reshape(N, F, Ho * Wo)
    db = d.sum(axis=(0, 2)) if has_bias else None
    cols = _columns(x, kh, kw, stride, padding, dilation, Ho, Wo)  # rebuilt, (N, C*kh*kw, Ho*Wo)
    # (F, C*kh*kw). Computed transposed: BLAS is faster with the long side of the result as rows.
    dw = np.matmul(cols, d.transpose(0, 2, 1)).sum(axis=0).T
    if _is_pointwise(kh, kw, stride, padding):  # the columns are the pixels
        dx = np.matmul(w.reshape(F, C).T, d).reshape(N, C, H, W)
    elif stride == 1 and kh == kw and padding <= dilation * (kh - 1):
        # With stride 1, dx is itself a convolution: dout, padded by dilation*(k-1) - padding,
        # correlated with the kernel flipped in space and with in/out channels swapped.
        # One more im2col + GEMM; cheaper than writing and folding back a dcols matrix.
        w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * kh * kw)  # (C, F*kh*kw)
        dcols = _work_buffer("dcols", (N, F * kh * kw, H * W), x.dtype)
        _im2col_kernel(d.reshape(N, F, Ho, Wo), kh, kw, 1, dilation * (kh - 1) - padding, dilation, H, W, dcols)
        dx = np.matmul(w_flip, dcols).reshape(N, C, H, W)
    else:  # general case: dcols[n] = W2.T @ dout[n], then fold the columns back onto the image
        dcols = np.matmul(w.reshape(F, -1).T, d, out=_work_buffer("dcols", cols.shape, x.dtype))
        dx = np.empty_like(x)
        _col2im_kernel(dcols, kh, kw, stride, padding, dilation, Ho, Wo, dx)
    return dx, dw.reshape(w.shape), db


def _transposed_size(H, W, kh, kw, stride, padding):
    for arg, value, low in (("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {value!r}")
    Ho, Wo = (H - 1) * stride - 2 * padding + kh, (W - 1) * stride - 2 * padding + kw
    if Ho < 1 or Wo < 1:
        raise ValueError(f"padding {padding} is too large: the output would be {Ho}x{Wo}")
    return Ho, Wo


def conv_transpose2d_forward(x, w, b, stride=2, padding=0):
    """Transposed convolution: one GEMM to make every stamp, col2im to add them up.

    Args:
        x: (N, C_in, H, W) float32 or float64.
        w: (C_in, C_out, kh, kw), torch's ConvTranspose2d layout, dtype of ``x``.
        b: (C_out,) or None.
        stride, padding: ints. Output size ``(H - 1)*stride - 2*padding + kh``.

    Returns:
        out: (N, C_out, Ho, Wo); cache for :func:`conv_transpose2d_backward`.
    """
    x, w = _check_inputs(x, w, b, w_in_axis=0)
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    Ho, Wo = _transposed_size(H, W, kh, kw, stride, padding)
    stride, padding = int(stride), int(padding)
    cols = _work_buffer("cols", (N, F * kh * kw, H * W), x.dtype)
    np.matmul(w.reshape(C, -1).T, x.reshape(N, C, H * W), out=cols)  # (N, C_out*kh*kw, H*W) stamps
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    _col2im_kernel(cols, kh, kw, stride, padding, 1, H, W, out)  # add overlapping stamps
    if b is not None:
        out += b[:, None, None]
    return out, (x, w, b is not None, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """Gradients of :func:`conv_transpose2d_forward`: im2col of ``dout`` plus two GEMMs.

    Returns dx (N, C_in, H, W), dw (C_in, C_out, kh, kw), db (C_out,) or None.
    """
    x, w, has_bias, stride, padding = cache
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    Ho, Wo = _transposed_size(H, W, kh, kw, stride, padding)
    dout = _check_dout(dout, (N, F, Ho, Wo), x.dtype)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dcols = _work_buffer("dcols", (N, F * kh * kw, H * W), x.dtype)
    _im2col_kernel(dout, kh, kw, stride, padding, 1, H, W, dcols)  # each stamp's window of dout
    dx = np.matmul(w.reshape(C, -1), dcols).reshape(N, C, H, W)  # (N, C_in, H, W)
    dw = np.matmul(dcols, x.reshape(N, C, H * W).transpose(0, 2, 1)).sum(axis=0).T  # (C_in, C_out*kh*kw)
    return dx, dw.reshape(w.shape), db
