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

  The work is done in tiles of output pixels (``ops/tiles.py``): a few whole
  images, or a band of rows of one large image, sized so the tile's columns
  stay in cache from the im2col that writes them to the GEMM that reads them.
  Tiles run on all cores at once, each with its own single-threaded im2col and
  matrix multiply, and the weight gradient is summed tile by tile in a fixed
  order, so results are bit-identical however many threads ran them.

The transposed convolution (the mask head's 2x2, stride-2 upsampling) is the
adjoint of a convolution: its forward pass is a convolution's input-gradient
computation and its backward pass is a convolution's forward pass. With ``w`` in
torch's layout (C_in, C_out, kh, kw) every input pixel stamps a weighted copy of
the kernel onto the output::

    out[n, o, h*stride - padding + i, w*stride - padding + j] += x[n, c, h, w] * w[c, o, i, j]

so ``Ho = (H - 1)*stride - 2*padding + kh``.

The caches hold the inputs, not the column matrices: columns are 9x larger than
the input for a 3x3 kernel, so the fast path rebuilds them in backward, one
cache-sized tile at a time (cheaper than reading a stored copy from memory).
Float32 and float64 are both supported; the output dtype is the input dtype.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ops import tiles
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
# Fast path: im2col + GEMM, tile by tile (ops/tiles.py), on every core
# ----------------------------------------------------------------------------
def _is_pointwise(kh, kw, stride, padding):
    return kh == kw == stride == 1 and padding == 0


def _pixels(a, tile, width):
    """The tile's pixels of ``a`` (N, C, R, width) as a view (images, C, pixels per image)."""
    n0, n1, r0, r1 = tile
    N, C = a.shape[:2]
    return a.reshape(N, C, -1)[n0:n1, :, r0 * width : r1 * width]


def _tile_columns(a, tile, kh, kw, stride, padding, dilation, Wo, slot, role):
    """im2col of one tile's output pixels, as a view (images, C*kh*kw, pixels per image)."""
    n0, n1, r0, r1 = tile
    C = a.shape[1]
    if _is_pointwise(kh, kw, stride, padding):  # 1x1: the columns are the pixels themselves
        return _pixels(a, tile, Wo)
    cols = tiles.buffer(slot, role, (n1 - n0, C * kh * kw, (r1 - r0) * Wo), a.dtype)
    _im2col_kernel(a, n0, n1, r0, r1, kh, kw, stride, padding, dilation, Wo, cols)
    return cols


def _weight_gradient(cols, d, out):
    """``out`` = sum over the tile's images of ``cols[n] @ d[n].T``, stored with the longer side as rows.

    cols: (images, K, pixels); d: (images, F, pixels); out: (K, F) if K >= F else (F, K).
    (BLAS runs these thin products fastest with the longer side of the result as rows.)
    """
    if out.shape[0] == cols.shape[1]:
        prod = np.matmul(cols, d.transpose(0, 2, 1))  # (images, K, F)
    else:
        prod = np.matmul(d, cols.transpose(0, 2, 1))  # (images, F, K)
    prod.sum(axis=0, out=out)


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution via im2col and matrix multiplies, tile by tile on every core (``ops/tiles.py``).

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
    w2 = w.reshape(F, C * kh * kw)  # (F, C*kh*kw)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)

    def forward_tile(slot, i, tile):
        cols = _tile_columns(x, tile, kh, kw, stride, padding, dilation, Wo, slot, "cols")  # (n, C*kh*kw, pixels)
        y = np.matmul(w2, cols, out=_pixels(out, tile, Wo))  # (n, F, pixels), written in place
        if b is not None:
            y += b[:, None]

    todo = tiles.plan(N, Ho, Wo, C * kh * kw, x.itemsize)
    tiles.run(forward_tile, todo, flops=2.0 * out.size * C * kh * kw)
    return out, (x, w, b is not None, stride, padding, dilation)


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
    d = _check_dout(dout, (N, F, Ho, Wo), x.dtype)  # (N, F, Ho, Wo)
    db = d.sum(axis=(0, 2, 3)) if has_bias else None
    K = C * kh * kw
    dx = np.empty_like(x)
    # With stride 1, dx is itself a convolution: dout, padded by dilation*(k-1) - padding,
    # correlated with the kernel flipped in space and with in/out channels swapped. One
    # more im2col + GEMM per tile, cheaper than writing and folding back a dcols matrix.
    dx_is_conv = stride == 1 and kh == kw and padding <= dilation * (kh - 1)
    w_flip = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(C, F * kh * kw)  # (C, F*kh*kw)

    # dw sums over every pixel: each tile stores its own part, and the parts are added in
    # tile order at the end, so the result does not depend on which thread did what.
    dw_tiles = tiles.plan(N, Ho, Wo, K, x.itemsize, bands=dx_is_conv)
    dw_parts = np.empty((len(dw_tiles), max(K, F), min(K, F)), dtype=x.dtype)

    def dw_tile(slot, i, tile):  # (for the general dx, also dx of these whole images)
        cols = _tile_columns(x, tile, kh, kw, stride, padding, dilation, Wo, slot, "cols")  # (n, K, pixels)
        d_tile = _pixels(d, tile, Wo)  # (n, F, pixels)
        _weight_gradient(cols, d_tile, dw_parts[i])
        if not dx_is_conv:  # dcols = W2.T @ dout, then fold the columns back onto the images
            dcols = np.matmul(w.reshape(F, K).T, d_tile, out=tiles.buffer(slot, "dcols", cols.shape, x.dtype))
            _col2im_kernel(dcols, tile[0], tile[1], kh, kw, stride, padding, dilation, Ho, Wo, dx)

    def dx_tile(slot, i, tile):  # stride 1: tiles of dx's own H x W grid
        dcols = _tile_columns(d, tile, kh, kw, 1, dilation * (kh - 1) - padding, dilation, W, slot, "dcols")
        np.matmul(w_flip, dcols, out=_pixels(dx, tile, W))  # (n, C, pixels) = (C, F*kh*kw) @ (n, F*kh*kw, pixels)

    def do(slot, _, job):  # job = (dw_tile or dx_tile, the tile's index in its own list, tile)
        task, i, tile = job
        task(slot, i, tile)

    jobs = [(dw_tile, i, t) for i, t in enumerate(dw_tiles)]  # one parallel region for both gradients
    if dx_is_conv:
        jobs += [(dx_tile, i, t) for i, t in enumerate(tiles.plan(N, H, W, F * kh * kw, x.itemsize))]
    tiles.run(do, jobs, flops=4.0 * N * F * K * Ho * Wo)
    dw = dw_parts.sum(axis=0)  # (max(K, F), min(K, F)), tile by tile in order
    dw = dw.T if K >= F else dw  # (F, K)
    return dx, np.ascontiguousarray(dw).reshape(w.shape), db


def _transposed_size(H, W, kh, kw, stride, padding):
    for arg, value, low in (("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {value!r}")
    Ho, Wo = (H - 1) * stride - 2 * padding + kh, (W - 1) * stride - 2 * padding + kw
    if Ho < 1 or Wo < 1:
        raise ValueError(f"padding {padding} is too large: the output would be {Ho}x{Wo}")
    return Ho, Wo


def conv_transpose2d_forward(x, w, b, stride=2, padding=0):
    """Transposed convolution: per tile of images, GEMMs make every stamp, col2im adds them up.

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
    K = F * kh * kw
    w_stamps = w.reshape(C, K).T  # (C_out*kh*kw, C_in)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)

    def forward_tile(slot, i, tile):  # whole images: stamps of neighbouring pixels overlap
        n0, n1 = tile[:2]
        stamps = tiles.buffer(slot, "cols", (n1 - n0, K, H * W), x.dtype)  # (n, C_out*kh*kw, H*W)
        np.matmul(w_stamps, _pixels(x, tile, W), out=stamps)
        _col2im_kernel(stamps, n0, n1, kh, kw, stride, padding, 1, H, W, out)  # add overlapping stamps
        if b is not None:
            out[n0:n1] += b[:, None, None]

    todo = tiles.plan(N, H, W, K, x.itemsize, bands=False)
    tiles.run(forward_tile, todo, flops=2.0 * x.size * K)
    return out, (x, w, b is not None, stride, padding)


def conv_transpose2d_backward(dout, cache):
    """Gradients of :func:`conv_transpose2d_forward`: per tile, im2col of ``dout`` plus two GEMMs.

    Returns dx (N, C_in, H, W), dw (C_in, C_out, kh, kw), db (C_out,) or None.
    """
    x, w, has_bias, stride, padding = cache
    N, C, H, W = x.shape
    _, F, kh, kw = w.shape
    Ho, Wo = _transposed_size(H, W, kh, kw, stride, padding)
    dout = _check_dout(dout, (N, F, Ho, Wo), x.dtype)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    K = F * kh * kw
    dx = np.empty_like(x)
    todo = tiles.plan(N, H, W, K, x.itemsize)
    dw_parts = np.empty((len(todo), max(K, C), min(K, C)), dtype=x.dtype)  # per tile, summed in order

    def backward_tile(slot, i, tile):  # tiles of x's grid: each pixel's stamp window of dout
        dcols = _tile_columns(dout, tile, kh, kw, stride, padding, 1, W, slot, "dcols")  # (n, C_out*kh*kw, pixels)
        np.matmul(w.reshape(C, K), dcols, out=_pixels(dx, tile, W))  # (n, C_in, pixels)
        _weight_gradient(dcols, _pixels(x, tile, W), dw_parts[i])  # sum_n dcols[n] @ x[n].T

    tiles.run(backward_tile, todo, flops=4.0 * x.size * K)
    dw = dw_parts.sum(axis=0)  # (max(K, C_in), min(K, C_in))
    dw = dw if K >= C else dw.T  # (C_out*kh*kw, C_in)
    return dx, np.ascontiguousarray(dw.T).reshape(w.shape), db
