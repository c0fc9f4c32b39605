"""Tiles: run a convolution's im2col and matrix multiplies on every core, deterministically.

The fast convolution (``ops/conv.py``) is im2col + GEMM. This package runs BLAS
on one thread (``minimaskrcnn/__init__.py`` explains why: idle OpenBLAS
threads spin and fight everything else for the cores), so to use the other
cores the convolution splits its work itself:

* The output pixels are cut into **tiles** (:func:`plan`): groups of whole
  images when images are small (the mask head's 14x14 RoIs: one large matrix
  multiply instead of a hundred small ones), bands of rows when one image is
  large. A tile's column matrix is kept to about ``TILE_BYTES``, so it stays
  in cache between the im2col that writes it and the GEMM that reads it.
* Each tile is independent: its own im2col into its thread's work buffer
  (:func:`buffer`), its own single-threaded ``np.matmul``. Numba kernels
  compiled with ``nogil=True`` and numpy's matmul release the GIL, so tiles on
  different threads really run at the same time.
* Threads take the next tile from a shared counter (:func:`run`), so a core
  that is busy with another process simply does fewer tiles instead of making
  everyone wait for its half.
* The tiles depend only on the shapes, never on the number of threads, and a
  sum over tiles (the weight gradient) is stored per tile and added in tile
  order at the end. So the result is bit-identical whether one thread or
  several ran the tiles, and from run to run.

Convolutions smaller than ``PARALLEL_MIN_FLOPS`` run their tiles in the calling
thread: handing work to another thread costs tens of microseconds, and a whole
scheduler time slice when the other core is busy.

The number of threads is Numba's (``NUMBA_NUM_THREADS``, or
``numba.set_num_threads(n)`` at run time; 1 turns the threads off), so one
setting governs every parallel kernel of the package. (If you give BLAS more
threads with ``MINIMASKRCNN_BLAS_THREADS``, turn these off, or the two kinds of
threads compete for the same cores.)

On a shared machine expect less: Linux divides the CPU fairly between
sessions (autogroup), so while other jobs keep every core busy a second
thread adds no CPU time. It costs little either (about 25 microseconds per
parallel convolution), and pays as soon as a core is idle.
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

__all__ = ["plan", "split", "run", "num_threads", "buffer", "TILE_BYTES", "MIN_TILE_PIXELS", "MIN_TILES", "PARALLEL_MIN_FLOPS"]

TILE_BYTES = 2 << 20  # aim for column matrices of about 2 MiB (they stay in cache; measured best)
MIN_TILE_PIXELS = 256  # but never fewer pixels than this, or the GEMMs get inefficient
MIN_TILES = 4  # at least this many tiles, or a multiple of it, if the pixels allow: cores share evenly
PARALLEL_MIN_FLOPS = 20e6  # below this (about 0.3 ms of work) one thread does every tile


def plan(N: int, rows: int, width: int, col_rows: int, itemsize: int, bands: bool = True):
    """Cut N images of ``rows x width`` output pixels into tiles ``(n0, n1, r0, r1)``.

    A tile is images ``n0..n1-1``, rows ``r0..r1-1`` of each: either one image's
    band of rows (``n1 == n0 + 1``) or several whole images (``r0, r1 == 0, rows``).
    ``col_rows`` is the number of rows of the column matrix (``C*kh*kw``); tiles
    hold about ``TILE_BYTES / (col_rows * itemsize)`` pixels, fewer if that makes
    less than ``MIN_TILES`` tiles (or groups of images not a multiple of it), but
    at least ``MIN_TILE_PIXELS``, and are cut into equal parts. The shapes alone
    decide, never the number of threads. ``bands=False`` allows
    whole images only (a col2im must not run on two bands of one image at once).
    """
    if N == 0:
        return []  # an empty batch (e.g. no RoI for the mask head) has no tile
    per_image = rows * width
    target = min(TILE_BYTES // max(1, col_rows * itemsize), -(-N * per_image // MIN_TILES))
    target = max(MIN_TILE_PIXELS, target)
    if bands and per_image > target:
        n_bands = min(rows, -(-per_image // target))  # ceil
        edges = [rows * b // n_bands for b in range(n_bands + 1)]
        return [(n, n + 1, edges[b], edges[b + 1]) for n in range(N) for b in range(n_bands)]
    n_tiles = -(-N // max(1, target // per_image))  # ceil(N / images that fit)
    even = min(N, -(-n_tiles // MIN_TILES) * MIN_TILES)  # a multiple of MIN_TILES shares out evenly
    if n_tiles > 1 and N * per_image >= even * MIN_TILE_PIXELS:
        n_tiles = even
    edges = [N * t // n_tiles for t in range(n_tiles + 1)]
    return [(edges[t], edges[t + 1], 0, rows) for t in range(n_tiles)]


def split(n: int, size: int, min_size: int = 1 << 16) -> list[tuple[int, int]]:
    """Cut ``n`` independent items of ``size`` values in all into equal ranges ``(lo, hi)``.

    ``MIN_TILES`` ranges (fewer if that would leave under ``min_size`` values in
    a range, or fewer items than that): the plan for kernels that loop over
    independent items (GroupNorm's groups, RoIs), which ``run`` then spreads on the threads.
    """
    parts = max(1, min(MIN_TILES, n, size // max(1, min_size)))
    return [(n * p // parts, n * (p + 1) // parts) for p in range(parts)]


# ----------------------------------------------------------------------------
# Work buffers, one set per thread slot
# ----------------------------------------------------------------------------
_BUFFERS: dict = {}


def buffer(slot: int, role: str, shape, dtype) -> np.ndarray:
    """A reusable scratch array for thread ``slot`` (contents undefined).

    Column matrices are large, and a fresh large array costs page faults on
    first touch every call; one buffer per (slot, role), grown when needed,
    avoids that. Never returned to callers.
    """
    size = int(np.prod(shape))
    key = (slot, role, np.dtype(dtype))
    buf = _BUFFERS.get(key)
    if buf is None or buf.size < size:
        buf = _BUFFERS[key] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


# ----------------------------------------------------------------------------
# Running tiles
# ----------------------------------------------------------------------------
_POOL: ThreadPoolExecutor | None = None
_LOCK = threading.Lock()  # one convolution at a time: they share the work buffers


def _forget_threads_after_fork() -> None:
    """A forked child inherits the pool object but not its threads: start afresh."""
    global _POOL, _LOCK
    _POOL, _LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads_after_fork)


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        if _POOL is not None:
            _POOL.shutdown(wait=True)
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minimaskrcnn-conv")
    return _POOL


def num_threads() -> int:
    """How many threads may run tiles: Numba's setting (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``)."""
    return numba.get_num_threads()


def run(task, tiles, flops: float) -> int:
    """Call ``task(slot, i, tile)`` once for every ``tiles[i]``, on up to :func:`num_threads` threads.

    ``slot`` (0 = the calling thread) names the thread's work buffers. Tasks must
    write only their own tile's part of the output (or their own ``i``-th partial
    sum). The calling thread works too; with fewer than ``PARALLEL_MIN_FLOPS`` or
    one tile it does everything itself. Returns the number of threads used.
    """
    with _LOCK:
        threads = min(num_threads(), len(tiles))
        if threads <= 1 or flops < PARALLEL_MIN_FLOPS:
            for i, tile in enumerate(tiles):
                task(0, i, tile)
            return 1
        counter = itertools.count()  # next() is atomic under the GIL: each tile is taken once

        def work(slot):
            for i in iter(counter.__next__, None):
                if i >= len(tiles):
                    return
                task(slot, i, tiles[i])

        futures = [_pool(threads - 1).submit(work, slot) for slot in range(1, threads)]
        try:
            work(0)
        finally:  # wait for every helper, even if this thread failed: they use the buffers
            errors = [f.exception() for f in futures]
        for error in errors:
            if error is not None:
                raise error
        return threads
