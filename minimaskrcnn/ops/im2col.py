"""im2col and col2im: turn a convolution into one matrix multiply.

A convolution slides a ``kh x kw`` window over every channel of the input. If we
copy, for every output position, the ``C * kh * kw`` input values under the
window into one column, the convolution becomes a single matrix product::

    cols[n, (c, i, j), (oh, ow)] = x[n, c, oh*stride + i*dilation - padding,
                                          ow*stride + j*dilation - padding]
                                   (0 where that index falls into the padding)

    out[n] = W.reshape(F, C*kh*kw) @ cols[n]           # (F, Ho*Wo)

Shapes: ``x`` is ``(N, C, H, W)``; ``cols`` is ``(N, C*kh*kw, Ho*Wo)`` with rows
ordered channel-major like ``W.reshape(F, -1)`` (``row = (c*kh + i)*kw + j``)
and columns ordered like the output pixels (``col = oh*Wo + ow``); the output
size is ``Ho = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1``.

``col2im`` is the adjoint (the transpose) of ``im2col``: it adds every column
entry back onto the input pixel it was copied from. Overlapping windows copy a
pixel several times, so col2im *sums* those copies. That is exactly the backward
pass of im2col, and also the forward pass of a transposed convolution.

Worked example (1 image, 1 channel, 3x3 input, 2x2 kernel, stride 1, no padding)::

    x = [[0, 1, 2],        cols = [[0, 1, 3, 4],    # (i, j) = (0, 0)
         [3, 4, 5],                [1, 2, 4, 5],    # (0, 1)
         [6, 7, 8]]                [3, 4, 6, 7],    # (1, 0)
                                   [4, 5, 7, 8]]    # (1, 1)
    columns = output pixels (0,0), (0,1), (1,0), (1,1)

and ``col2im(ones like cols)`` counts how many windows cover each pixel::

    [[1, 2, 1],
     [2, 4, 2],
     [1, 2, 1]]

The fast convolution works tile by tile (see ``ops/tiles.py``), so the im2col
kernel below fills the columns of one *tile*: images ``n0..n1-1``, output rows
``oh0..oh1-1`` of each::

    cols[n - n0, (c*kh + i)*kw + j, (oh - oh0)*Wo + ow]      # (n1-n0, C*kh*kw, (oh1-oh0)*Wo)

With every image and every row that is exactly ``cols`` above.

Speed notes: the kernels handle padding by computing the valid range of ``ow``
instead of padding a copy of ``x``, and index with unsigned integers. Numba
checks every signed index for Python-style negative wrap-around, which stops
LLVM from vectorising the inner copy; unsigned indices cannot be negative, so
the copies compile to SIMD loops. Each kernel runs on one thread and releases
the GIL (``nogil=True``): the convolution runs several tiles at once on its
own threads, each with its own single-threaded im2col and matrix multiply.
"""
from __future__ import annotations

import numpy as np
from numba import njit, uint64

__all__ = ["conv_output_size", "im2col", "col2im", "im2col_naive"]


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Output length of a convolution along one axis: ``(size + 2p - d(k-1) - 1) // s + 1``."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# ----------------------------------------------------------------------------
# Readable reference: the definition, one window at a time.
# ----------------------------------------------------------------------------
def im2col_naive(x, kh, kw, stride=1, padding=0, dilation=1):
    """Reference im2col with plain loops: ``(N, C, H, W) -> (N, C*kh*kw, Ho*Wo)``."""
    N, C, H, W = x.shape
    Ho = conv_output_size(H, kh, stride, padding, dilation)
    Wo = conv_output_size(W, kw, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.zeros((N, C * kh * kw, Ho * Wo), dtype=x.dtype)
    for oh in range(Ho):
        for ow in range(Wo):
            h0, w0 = oh * stride, ow * stride
            window = xp[:, :, h0 : h0 + dilation * (kh - 1) + 1 : dilation,
                        w0 : w0 + dilation * (kw - 1) + 1 : dilation]  # (N, C, kh, kw)
            cols[:, :, oh * Wo + ow] = window.reshape(N, -1)
    return cols


# ----------------------------------------------------------------------------
# Numba kernels. Arguments are plain ints and preallocated arrays.
# ----------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _valid_range(size, out_size, offset, stride):
    """``[lo, hi)``: the output indices ``o`` with ``0 <= o*stride + offset < size``."""
    lo = 0
    if offset < 0:
        lo = min((-offset + stride - 1) // stride, out_size)
    hi = 0
    if size - 1 - offset >= 0:
        hi = min((size - 1 - offset) // stride + 1, out_size)
    return lo, max(lo, hi)


@njit(cache=True, inline="always")
def _copy(dst, d0, src, s0, count):
    """``dst[d0 : d0+count] = src[s0 : s0+count]`` with unsigned indices (a SIMD loop)."""
    d, s = uint64(d0), uint64(s0)
    for q in range(uint64(count)):
        dst[d + q] = src[s + q]


@njit(cache=True, inline="always")
def _zero(dst, d0, count):
    d = uint64(d0)
    for q in range(uint64(count)):
        dst[d + q] = 0


@njit(cache=True, nogil=True)
def _im2col_kernel(x, n0, n1, oh0, oh1, kh, kw, stride, padding, dilation, Wo, cols):
    """Fill ``cols`` (n1-n0, C*kh*kw, (oh1-oh0)*Wo) with the windows of output rows
    ``oh0..oh1-1`` of images ``n0..n1-1`` of ``x`` (N, C, H, W); every entry is written."""
    _, C, H, W = x.shape
    step = uint64(stride)
    for n in range(n0, n1):
        for c in range(C):
            plane = x[n, c]  # (H, W)
            flat = plane.reshape(H * W)  # (H*W,) the same pixels, one row after another
            for i in range(kh):
                dh = i * dilation - padding  # input row = oh*stride + dh
                oh_lo, oh_hi = _valid_range(H, oh1, dh, stride)  # output rows inside the image
                oh_lo = min(max(oh_lo, oh0), oh1)  # ... and inside the tile
                oh_hi = min(max(oh_hi, oh_lo), oh1)
                for j in range(kw):
                    row = cols[n - n0, (c * kh + i) * kw + j]  # ((oh1-oh0)*Wo,) one kernel tap
                    offset = j * dilation - padding  # input column = ow*stride + offset
                    lo, hi = _valid_range(W, Wo, offset, stride)  # output columns inside the image
                    _zero(row, 0, (oh_lo - oh0) * Wo)  # rows above the image: padding
                    _zero(row, (oh_hi - oh0) * Wo, (oh1 - oh_hi) * Wo)  # rows below it
                    if stride == 1 and Wo == W:
                        # The tap's window over these rows is the plane shifted by (dh, offset):
                        # one contiguous copy, then zero the columns that wrapped around a row end.
                        start = (oh_lo - oh0) * W  # where output row oh_lo begins
                        src0 = (oh_lo + dh) * W + offset  # the input pixel it reads first
                        q0 = max(0, -src0)  # ... which may lie just before the plane
                        q1 = min((oh_hi - oh_lo) * W, H * W - src0)  # ... or the copy run past it
                        _copy(row, start + q0, flat, src0 + q0, q1 - q0)
                        for oh in range(oh_hi - oh_lo):
                            _zero(row, start + oh * W, lo)
                            _zero(row, start + oh * W + hi, W - hi)
                        continue
                    for oh in range(oh_lo, oh_hi):  # general stride: one output row at a time
                        start = (oh - oh0) * Wo
                        src = plane[oh * stride + dh]  # (W,)
                        _zero(row, start, lo)
                        first, dst = uint64(lo * stride + offset), uint64(start + lo)
                        for q in range(uint64(hi - lo)):
                            row[dst + q] = src[first + q * step]
                        _zero(row, start + hi, Wo - hi)


@njit(cache=True, nogil=True)
def _col2im_kernel(cols, n0, n1, kh, kw, stride, padding, dilation, Ho, Wo, out):
    """Overwrite images ``n0..n1-1`` of ``out`` (N, C, H, W) with the sum of every entry of
    ``cols`` (n1-n0, C*kh*kw, Ho*Wo) at its source pixel."""
    _, C, H, W = out.shape
    step = uint64(stride)
    for n in range(n0, n1):
        for c in range(C):
            plane = out[n, c]  # (H, W)
            plane[:] = 0
            for i in range(kh):
                for j in range(kw):
                    row = cols[n - n0, (c * kh + i) * kw + j]  # (Ho*Wo,)
                    offset = j * dilation - padding
                    lo, hi = _valid_range(W, Wo, offset, stride)
                    first = uint64(lo * stride + offset)
                    for oh in range(Ho):
                        h = oh * stride + i * dilation - padding
                        if h < 0 or h >= H:
                            continue  # this row of windows only saw padding
                        dst = plane[h]  # (W,)
                        start = uint64(oh * Wo + lo)
                        for q in range(uint64(hi - lo)):
                            dst[first + q * step] += row[start + q]


# ----------------------------------------------------------------------------
# Public functions: validate, allocate, call the kernel.
# ----------------------------------------------------------------------------
def _check_geometry(name, H, W, kh, kw, stride, padding, dilation):
    for arg, value, low in (("kernel_size", kh, 1), ("kernel_size", kw, 1), ("stride", stride, 1),
                            ("padding", padding, 0), ("dilation", dilation, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{arg} must be an integer >= {low}, got {value!r}")
    Ho = int(conv_output_size(H, kh, stride, padding, dilation))
    Wo = int(conv_output_size(W, kw, stride, padding, dilation))
    if Ho < 1 or Wo < 1:
        raise ValueError(
            f"kernel ({kh}x{kw}, dilation {dilation}) is larger than the padded {name} "
            f"({H}+2*{padding} x {W}+2*{padding})"
        )
    return Ho, Wo


def im2col(x: np.ndarray, kernel_size, stride: int = 1, padding: int = 0, dilation: int = 1,
           out: np.ndarray | None = None) -> np.ndarray:
    """Unfold ``x`` (N, C, H, W) into columns (N, C*kh*kw, Ho*Wo), see the module docstring.

    ``kernel_size`` is an int or a pair ``(kh, kw)``. ``out``, if given, is a
    preallocated C-contiguous array of the result's shape and dtype to fill.
    """
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"x must be a 4-d array (N, C, H, W), got {np.shape(x)}")
    N, C, H, W = x.shape
    Ho, Wo = _check_geometry("x", H, W, kh, kw, stride, padding, dilation)
    shape = (N, C * kh * kw, Ho * Wo)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif (not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != x.dtype
          or not out.flags.c_contiguous):  # the kernel writes without bounds checks
        raise ValueError(f"out must be a C-contiguous {x.dtype} array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out))} {np.shape(out)}")
    _im2col_kernel(np.ascontiguousarray(x), 0, N, 0, Ho, int(kh), int(kw), int(stride), int(padding), int(dilation),
                   Wo, out)
    return out


def col2im(cols: np.ndarray, x_shape, kernel_size, stride: int = 1, padding: int = 0,
           dilation: int = 1) -> np.ndarray:
    """Fold columns (N, C*kh*kw, Ho*Wo) back onto an image of ``x_shape`` (N, C, H, W), summing overlaps.

    This is the adjoint of :func:`im2col`: ``sum(im2col(x) * cols) == sum(x * col2im(cols))``.
    """
    kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
    N, C, H, W = x_shape
    Ho, Wo = _check_geometry("image", H, W, kh, kw, stride, padding, dilation)
    if cols.shape != (N, C * kh * kw, Ho * Wo):
        raise ValueError(f"cols must have shape {(N, C * kh * kw, Ho * Wo)}, got {cols.shape}")
    out = np.empty((N, C, H, W), dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), 0, N, int(kh), int(kw), int(stride), int(padding), int(dilation),
                   Ho, Wo, out)
    return out
