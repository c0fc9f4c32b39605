"""Polygons to masks, pixel for pixel as COCO rasterises them.

COCO stores most object outlines as polygons ``[x1, y1, x2, y2, ...]`` in
continuous pixel coordinates (an object may have several parts, each its own
polygon). To compare such an outline with a predicted mask we must turn it into
pixels, and to agree with the official evaluator we must pick *the same* pixels.
COCO's rule is a scan-line fill carried out on a grid 5x finer than the image:

1. Scale the vertices by 5 and round them to the nearest fine-grid point.
2. Walk every edge one fine-grid step at a time along its longer axis, rounding
   the other coordinate, so the outline becomes a chain of grid points.
3. Wherever the chain crosses the vertical line through a pixel centre
   (fine x = 5 * column + 2), record a *toggle* at that column, at the first
   pixel row whose centre lies below the crossing.
4. Sort the toggles in column-major order: inside a column, the pixels between
   two successive toggles are inside the polygon. The sorted toggle positions
   are the run-length counts (see ``rle.py``); two toggles at one position
   cancel.

Public API: ``polygon_to_counts(xy, height, width) -> (M,) uint32``,
``polygons_to_mask(polygons, height, width) -> (H, W) bool`` (union of parts).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from minimaskrcnn import checks
from minimaskrcnn.datasets.rle import counts_to_mask

SCALE = 5.0  # COCO's fine grid: 5 x 5 sub-pixels per pixel


def _trunc(value: float) -> int:
    return int(value)  # C-style cast: rounds toward zero, also for negatives


def polygon_to_counts_naive(xy, height: int, width: int) -> list[int]:
    """Counts of one polygon ``[x1, y1, x2, y2, ...]`` (reference loop)."""
    k = len(xy) // 2
    xs = [_trunc(SCALE * xy[2 * j] + 0.5) for j in range(k)] + [0]
    ys = [_trunc(SCALE * xy[2 * j + 1] + 0.5) for j in range(k)] + [0]
    xs[k], ys[k] = xs[0], ys[0]  # close the polygon
    # 2. walk each edge along its longer axis (always in increasing order)
    u, v = [], []
    for j in range(k):
        x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
        dx, dy = abs(x1 - x0), abs(y1 - y0)
        flip = (dx >= dy and x0 > x1) or (dx < dy and y0 > y1)
        if flip:
            x0, x1, y0, y1 = x1, x0, y1, y0
        if dx >= dy:
            slope = (y1 - y0) / dx if dx else 0.0
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + x0)
                v.append(_trunc(y0 + slope * t + 0.5))
        else:
            slope = (x1 - x0) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + y0)
                u.append(_trunc(x0 + slope * t + 0.5))
    # 3. toggles where the chain steps across a pixel-centre column
    toggles = []
    for j in range(1, len(u)):
        if u[j] == u[j - 1]:
            continue
        fx = u[j] if u[j] < u[j - 1] else u[j] - 1  # fine x just left of the step
        col = (fx + 0.5) / SCALE - 0.5
        if math.floor(col) != col or col < 0 or col > width - 1:
            continue
        row = (min(v[j], v[j - 1]) + 0.5) / SCALE - 0.5
        row = math.ceil(min(max(row, 0.0), float(height)))
        toggles.append(int(col) * height + row)
    # 4. sorted toggle positions -> run lengths; a repeated position cancels
    toggles = sorted(toggles) + [height * width]
    deltas = np.diff([0] + toggles).tolist()
    counts, j = [deltas[0]], 1
    while j < len(deltas):
        if deltas[j] > 0:
            counts.append(deltas[j])
            j += 1
        else:  # zero-length run: skip it and merge the next run into the previous one
            j += 1
            if j < len(deltas):
                counts[-1] += deltas[j]
                j += 1
    return counts


@njit(cache=True)
def _polygon_kernel(xy, height, width):
    """Same steps as polygon_to_counts_naive; xy (2k,) float64. Returns uint32 counts."""
    k = len(xy) // 2
    xs = np.empty(k + 1, np.int64)
    ys = np.empty(k + 1, np.int64)
    for j in range(k):
        xs[j] = np.int64(SCALE * xy[2 * j] + 0.5)
        ys[j] = np.int64(SCALE * xy[2 * j + 1] + 0.5)
    xs[k], ys[k] = xs[0], ys[0]
    n = 0
    for j in range(k):
        n += max(abs(xs[j + 1] - xs[j]), abs(ys[j + 1] - ys[j])) + 1
    u = np.empty(n, np.int64)
    v = np.empty(n, np.int64)
    m = 0
    for j in range(k):
        x0, x1, y0, y1 = xs[j], xs[j + 1], ys[j], ys[j + 1]
        dx, dy = abs(x1 - x0), abs(y1 - y0)
        flip = (dx >= dy and x0 > x1) or (dx < dy and y0 > y1)
        if flip:
            x0, x1, y0, y1 = x1, x0, y1, y0
        if dx >= dy:
            slope = (y1 - y0) / dx if dx > 0 else 0.0
            for d in range(dx + 1):
                t = dx - d if flip else d
                u[m] = t + x0
                v[m] = np.int64(y0 + slope * t + 0.5)
                m += 1
        else:
            slope = (x1 - x0) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v[m] = t + y0
                u[m] = np.int64(x0 + slope * t + 0.5)
                m += 1
    toggles = np.empty(m + 1, np.int64)
    t_count = 0
    for j in range(1, m):
        if u[j] == u[j - 1]:
            continue
        fx = u[j] if u[j] < u[j - 1] else u[j] - 1
        col = (fx + 0.5) / SCALE - 0.5
        if math.floor(col) != col or col < 0 or col > width - 1:
            continue
        row = (min(v[j], v[j - 1]) + 0.5) / SCALE - 0.5
        row = math.ceil(min(max(row, 0.0), float(height)))
        toggles[t_count] = np.int64(col) * height + np.int64(row)
        t_count += 1
    toggles[t_count] = height * width
    toggles = np.sort(toggles[:t_count + 1])
    counts = np.empty(t_count + 1, np.uint32)
    previous = np.int64(0)
    deltas = np.empty(t_count + 1, np.int64)
    for i in range(t_count + 1):
        deltas[i] = toggles[i] - previous
        previous = toggles[i]
    counts[0] = deltas[0]
    c, j = 1, 1
    while j < t_count + 1:
        if deltas[j] > 0:
            counts[c] = deltas[j]
            c += 1
            j += 1
        else:
            j += 1
            if j < t_count + 1:
                counts[c - 1] += deltas[j]
                j += 1
    return counts[:c]


def _check_polygon(xy, name: str, height=None, width=None) -> np.ndarray:
    """A flat float64 array of >= 3 finite (x, y) vertices.

    With the image size given, every vertex must lie within ``M = max(H, W)``
    pixels of the image (x in [-M, W + M], y in [-M, H + M]): the rasteriser walks
    every edge on the 5x grid, so its time and memory grow with the polygon's
    perimeter, and a vertex at 1e9 would need gigabytes (COCO's own code fails
    the same way). Inside the bound the work is at most ~15 M steps per edge.
    """
    if isinstance(xy, (str, bytes, dict)) or (isinstance(xy, (list, tuple))
                                              and any(isinstance(v, (bool, str, bytes)) for v in xy)):
        raise ValueError(f"{name}: a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]")
    try:
        array = np.asarray(xy, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: a polygon must be a flat list of numbers [x1, y1, x2, y2, ...]") from None
    if array.ndim != 1 or len(array) < 6 or len(array) % 2:
        raise ValueError(f"{name}: a polygon needs an even number (>= 6) of coordinates "
                         f"[x1, y1, x2, y2, x3, y3, ...], got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: polygon coordinates must be finite")
    if height is not None:
        xs, ys, m = array[0::2], array[1::2], max(height, width)
        if xs.min() < -m or xs.max() > width + m or ys.min() < -m or ys.max() > height + m:
            raise ValueError(f"{name}: polygon coordinates must lie within max(H, W) = {m} pixels of the "
                             f"{height}x{width} image (x in [{-m}, {width + m}], y in [{-m}, {height + m}]), got x "
                             f"{xs.min():g}..{xs.max():g}, y {ys.min():g}..{ys.max():g}")
    return array


def _check_size(height, width) -> tuple[int, int]:
    return checks.image_size("polygon image", height, width)


def polygon_to_counts(xy, height: int, width: int) -> np.ndarray:
    """Run-length counts (M,) uint32 of one polygon, as COCO rasterises it (see ``_check_polygon``)."""
    height, width = _check_size(height, width)
    return _polygon_kernel(_check_polygon(xy, "xy", height, width), height, width)


def polygons_to_mask(polygons, height: int, width: int, name: str = "polygons") -> np.ndarray:
    """(H, W) bool union of the parts ``[[x1, y1, ...], [x1, y1, ...], ...]``."""
    if not isinstance(polygons, (list, tuple)) or len(polygons) == 0:
        raise ValueError(f"{name}: expected a non-empty list of polygons, got {polygons!r:.80}")
    height, width = _check_size(height, width)
    mask = np.zeros((height, width), dtype=bool)
    for i, xy in enumerate(polygons):
        counts = _polygon_kernel(_check_polygon(xy, f"{name}[{i}]", height, width), height, width)
        mask |= counts_to_mask(counts, height, width)
    return mask
