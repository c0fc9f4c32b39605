"""Run-length encoding (RLE) of binary masks, in COCO's convention.

Definition
----------
A binary mask of shape (H, W) is read **column by column** (column-major, or
Fortran, order: down column 0, then down column 1, ...) and stored as the
lengths of its alternating runs, always starting with a run of 0s::

    mask (H=3, W=3)      read column by column          counts
    0 1 1                col 0: 0 0 0                   [3, 2, 1, 1, 2]
    0 1 0          ->    col 1: 1 1 0            ->     3 zeros, 2 ones, 1 zero,
    0 0 0                col 2: 1 0 0                   1 one, 2 zeros

A mask that starts with a 1 has a first count of 0; the counts always sum to
H * W, and the odd-indexed counts (the runs of 1s) sum to the mask's area.

COCO writes the counts in two ways:

* **uncompressed**: ``{"size": [H, W], "counts": [3, 2, 1, 1, 2]}`` (a list of
  ints; COCO uses it for crowd regions);
* **compressed**: ``{"size": [H, W], "counts": "321O1"}``, a short ASCII string.
  Counts from the fourth on are first replaced by their difference to the count
  two places earlier (neighbouring runs of the same colour have similar
  lengths, so the differences are small). Each value is then cut into 5-bit
  groups, least significant first; every group becomes one character
  ``chr(48 + group)``, with bit 5 (value 32) set when more groups follow. Bit 4
  of the last group is the sign (two's complement). Worked example for the
  counts above: 3 -> "3", 2 -> "2", 1 -> "1", 1 - 2 = -1 -> group 31 -> "O",
  2 - 1 = 1 -> "1".

Public API
----------
``encode(mask) -> {"size": [H, W], "counts": str}``      compressed, JSON-ready
``encode_many(masks (N, H, W)) -> list of those``         one fast call for N masks
``decode(rle) -> (H, W) bool``                            compressed or uncompressed
``mask_to_counts(mask) -> (M,) uint32``, ``counts_to_mask(counts, H, W)``
``counts_to_string(counts) -> str``, ``string_to_counts(s) -> (M,) uint32``
``area(rle or mask) -> int``, ``to_bbox(rle or mask) -> (4,) float64 [x, y, w, h]``
``iou(dt, gt, iscrowd=None) -> (D, G) float64``  mask IoU, crowd-aware (``rle_iou.py``)

Each codec has a readable ``*_naive`` loop version (what the kernels do, in plain
Python) and a Numba kernel that handles a whole batch in one call.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from minimaskrcnn.datasets.rle_iou import bboxes_from_counts, mask_iou_dense, pair_iou

# ---------------------------------------------------------------------------
# Mask <-> counts
# ---------------------------------------------------------------------------


def mask_to_counts_naive(mask: np.ndarray) -> list[int]:
    """Counts of one (H, W) mask, read column by column (reference loop)."""
    H, W = mask.shape
    counts, run, previous = [], 0, False
    for x in range(W):
        for y in range(H):
            value = bool(mask[y, x])
            if value != previous:  # a run ends here
                counts.append(run)
                run, previous = 0, value
            run += 1
    counts.append(run)
    return counts


def counts_to_mask_naive(counts, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask from counts (reference loop)."""
    flat = np.zeros(height * width, dtype=bool)  # column-major read-out
    position, value = 0, False
    for run in counts:
        flat[position:position + run] = value
        position += run
        value = not value
    return flat.reshape(width, height).T  # column-major -> (H, W)


# The kernels work on masks already laid out column by column: (N, W*H) uint8
# rows, obtained with one numpy transpose. Scanning memory in order is several
# times faster than hopping down the columns of a row-major array.


@njit(cache=True)
def _count_runs_kernel(columns, n_runs):
    """n_runs[n] = number of counts of mask n; columns (N, W*H) uint8 (column-major masks)."""
    N, P = columns.shape
    for n in range(N):
        runs, previous = 1, 0
        for p in range(P):
            if columns[n, p] != previous:
                runs += 1
                previous = columns[n, p]
        n_runs[n] = runs


@njit(cache=True)
def _fill_runs_kernel(columns, offsets, counts):
    """Write the counts of mask n into counts[offsets[n]:offsets[n + 1]]."""
    N, P = columns.shape
    for n in range(N):
        k, run_start, previous = offsets[n], 0, 0
        for p in range(P):
            if columns[n, p] != previous:  # a run ends just before pixel p
                counts[k] = p - run_start
                k += 1
                run_start, previous = p, columns[n, p]
        counts[k] = P - run_start


@njit(cache=True)
def _decode_kernel(counts, offsets, out):
    """Set the runs of 1s of RLE n in out[n]; out (N, W*H) bool, all False (column-major)."""
    for n in range(len(offsets) - 1):
        position, value = 0, False
        for j in range(offsets[n], offsets[n + 1]):
            run = counts[j]
            if value:
                out[n, position:position + run] = True
            position += run
            value = not value


def _as_mask_stack(masks, name: str) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"{name}: expected a (N, H, W) mask array, got shape {masks.shape}")
    if masks.dtype != bool:
        if not np.issubdtype(masks.dtype, np.integer) or masks.size and not np.isin(masks, (0, 1)).all():
            raise TypeError(f"{name}: expected a bool (or 0/1 integer) mask, got dtype {masks.dtype}")
        masks = masks.astype(bool)
    return np.ascontiguousarray(masks)


def encode_counts_batch(masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of N masks at once: (flat counts uint32, offsets (N + 1,) int64).

    Mask n's counts are ``flat[offsets[n]:offsets[n + 1]]``. masks: (N, H, W) bool.
    """
    masks = _as_mask_stack(masks, "masks")
    N, H, W = masks.shape
    columns = np.ascontiguousarray(masks.transpose(0, 2, 1)).reshape(N, W * H).view(np.uint8)  # (N, W*H)
    n_runs = np.empty(N, dtype=np.int64)
    _count_runs_kernel(columns, n_runs)
    offsets = np.zeros(N + 1, dtype=np.int64)
    np.cumsum(n_runs, out=offsets[1:])
    counts = np.empty(offsets[-1], dtype=np.uint32)
    _fill_runs_kernel(columns, offsets, counts)
    return counts, offsets


def decode_counts_batch(counts: np.ndarray, offsets: np.ndarray, height: int, width: int) -> np.ndarray:
    """(N, H, W) bool masks from flat counts and offsets (all of one size).

    Raises ValueError if some RLE's counts do not sum to H * W.
    """
    counts = np.ascontiguousarray(counts, dtype=np.uint32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    sums = np.add.reduceat(counts.astype(np.int64), offsets[:-1]) if len(counts) else np.zeros(0)
    sums[offsets[:-1] == offsets[1:]] = 0  # reduceat quirk: empty segments
    bad = np.flatnonzero(sums != height * width)
    if len(bad):
        raise ValueError(f"counts: RLE {bad[0]} sums to {sums[bad[0]]}, "
                         f"expected height * width = {height * width}")
    columns = np.zeros((len(offsets) - 1, width * height), dtype=bool)  # (N, W*H)
    _decode_kernel(counts, offsets, columns)
    return np.ascontiguousarray(columns.reshape(-1, width, height).transpose(0, 2, 1))  # (N, H, W)


def mask_to_counts(mask: np.ndarray) -> np.ndarray:
    """Counts (M,) uint32 of one (H, W) bool mask, column-major, starting with 0s."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask: expected a (H, W) array, got shape {mask.shape}")
    counts, _ = encode_counts_batch(mask[None])
    return counts


def counts_to_mask(counts, height: int, width: int) -> np.ndarray:
    """(H, W) bool mask from counts. Raises ValueError unless sum(counts) == H * W."""
    counts = _check_counts(counts, "counts")
    return decode_counts_batch(counts, np.array([0, len(counts)]), height, width)[0]


def _check_counts(counts, name: str) -> np.ndarray:
    array = np.asarray(counts)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a flat list of integers, got {type(counts).__name__} "
                         f"of shape {array.shape} and dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= 2**32):
        raise ValueError(f"{name}: run lengths must lie in [0, 2**32), got {array.min()}..{array.max()}")
    return array.astype(np.uint32)


# ---------------------------------------------------------------------------
# Counts <-> compressed string
# ---------------------------------------------------------------------------


def counts_to_string_naive(counts) -> str:
    """COCO's compressed string for counts (reference loop; see module docstring)."""
    chars = []
    for i, run in enumerate(counts):
        value = int(run) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            group = value & 0x1F
            value >>= 5  # arithmetic shift: negative values keep their sign
            # stop once the rest is pure sign: 0 for positive, -1 for negative
            more = value != -1 if group & 0x10 else value != 0
            chars.append(chr(48 + (group | 0x20 if more else group)))
    return "".join(chars)


def string_to_counts_naive(text: str) -> list[int]:
    """Counts from COCO's compressed string (reference loop)."""
    counts, p = [], 0
    while p < len(text):
        value, shift, more = 0, 0, True
        while more:
            if p >= len(text):
                raise ValueError("counts: compressed RLE string ends in the middle of a number")
            group = ord(text[p]) - 48
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            p, shift = p + 1, shift + 5
            if not more and group & 0x10:
                value |= -1 << shift  # sign-extend
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


@njit(cache=True)
def _to_string_kernel(counts, offsets, out, out_offsets):
    """Write the string of RLE n into out[out_offsets[n]:out_offsets[n + 1]] (uint8)."""
    p = 0
    for n in range(len(offsets) - 1):
        out_offsets[n] = p
        start = offsets[n]
        for i in range(start, offsets[n + 1]):
            value = np.int64(counts[i])
            if i - start > 2:
                value -= np.int64(counts[i - 2])
            more = True
            while more:
                group = value & 0x1F
                value >>= 5
                if group & 0x10:
                    more = value != -1
                else:
                    more = value != 0
                if more:
                    group |= 0x20
                out[p] = 48 + group
                p += 1
    out_offsets[len(offsets) - 1] = p


@njit(cache=True)
def _from_string_kernel(chars, char_offsets, counts, offsets):
    """Inverse of _to_string_kernel. Returns the index of a bad string, or -1."""
    m = 0
    for n in range(len(char_offsets) - 1):
        offsets[n] = m
        start, p, end = m, char_offsets[n], char_offsets[n + 1]
        while p < end:
            value, shift, more = np.int64(0), 0, True
            while more:
                if p >= end:
                    return n
                group = np.int64(chars[p]) - 48
                value |= (group & 0x1F) << shift
                more = (group & 0x20) != 0
                p += 1
                shift += 5
                if not more and (group & 0x10):
                    value |= np.int64(-1) << shift
            if m - start > 2:
                value += counts[m - 2]
            if value < 0:
                return n
            counts[m] = value
            m += 1
    offsets[len(char_offsets) - 1] = m
    return -1


def strings_from_counts_batch(counts: np.ndarray, offsets: np.ndarray) -> list[str]:
    """Compressed strings of many RLEs given as flat counts + offsets."""
    counts = np.ascontiguousarray(counts, dtype=np.uint32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    out = np.empty(7 * len(counts), dtype=np.uint8)  # a uint32 needs <= 7 groups
    out_offsets = np.empty(len(offsets), dtype=np.int64)
    _to_string_kernel(counts, offsets, out, out_offsets)
    text = out[:out_offsets[-1]].tobytes().decode("ascii")
    return [text[a:b] for a, b in zip(out_offsets[:-1], out_offsets[1:])]


def counts_from_strings_batch(strings) -> tuple[np.ndarray, np.ndarray]:
    """Decode many compressed strings at once: (flat counts uint32, offsets int64)."""
    encoded = [s.encode("ascii") if isinstance(s, str) else bytes(s) for s in strings]
    char_offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=char_offsets[1:])
    chars = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    if chars.size and (chars.min() < 48 or chars.max() > 48 + 63):
        raise ValueError("counts: compressed RLE strings use only the characters '0'..'o'")
    counts = np.empty(len(chars), dtype=np.int64)  # never more counts than chars
    offsets = np.empty(len(encoded) + 1, dtype=np.int64)
    bad = _from_string_kernel(chars, char_offsets, counts, offsets)
    if bad >= 0:
        raise ValueError(f"counts: compressed RLE string {bad} is malformed "
                         f"(truncated, or decodes to a negative run length)")
    return counts[:offsets[-1]].astype(np.uint32), offsets


def counts_to_string(counts) -> str:
    """COCO's compressed string form of counts (as pycocotools writes it)."""
    counts = _check_counts(counts, "counts")
    return strings_from_counts_batch(counts, np.array([0, len(counts)]))[0]


def string_to_counts(text) -> np.ndarray:
    """Counts (M,) uint32 from COCO's compressed string (str or bytes)."""
    if not isinstance(text, (str, bytes)):
        raise TypeError(f"text: expected a str or bytes, got {type(text).__name__}")
    return counts_from_strings_batch([text])[0]


# ---------------------------------------------------------------------------
# RLE dicts
# ---------------------------------------------------------------------------


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE dict ``{"size": [H, W], "counts": str}`` of one (H, W) mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask: expected a (H, W) array, got shape {mask.shape}")
    return encode_many(mask[None])[0]


def encode_many(masks: np.ndarray) -> list[dict]:
    """Compressed RLE dicts of N masks (N, H, W) in one call."""
    masks = _as_mask_stack(masks, "masks")
    H, W = masks.shape[1:]
    counts, offsets = encode_counts_batch(masks)
    return [{"size": [H, W], "counts": s} for s in strings_from_counts_batch(counts, offsets)]


def rle_counts(rle, name: str = "rle") -> tuple[np.ndarray, int, int]:
    """(counts uint32, H, W) from an RLE dict whose counts are a list or a string."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{name}: expected a dict with 'size' and 'counts', got {rle!r:.80}")
    size = rle["size"]
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and v >= 0 for v in size)):
        raise ValueError(f"{name}: 'size' must be [height, width] of non-negative ints, got {size!r}")
    H, W = int(size[0]), int(size[1])
    raw = rle["counts"]
    counts = string_to_counts(raw) if isinstance(raw, (str, bytes)) else _check_counts(raw, f"{name}['counts']")
    total = int(counts.sum(dtype=np.int64))
    if total != H * W:
        raise ValueError(f"{name}: counts sum to {total} but size {H}x{W} has {H * W} pixels")
    return counts, H, W


def decode(rle: dict) -> np.ndarray:
    """(H, W) bool mask from an RLE dict (compressed string or uncompressed list)."""
    counts, H, W = rle_counts(rle)
    return counts_to_mask(counts, H, W)


def area(rle_or_mask) -> int:
    """Number of foreground pixels: the sum of the odd-indexed counts."""
    if isinstance(rle_or_mask, dict):
        counts = rle_counts(rle_or_mask)[0]
        return int(counts[1::2].sum(dtype=np.int64))
    return int(np.count_nonzero(rle_or_mask))


def to_bbox(rle_or_mask) -> np.ndarray:
    """Tight box [x, y, w, h] (COCO order, float64) of a mask; zeros when empty.

    Continuous pixel coordinates: a mask covering columns c0..c1 gives x = c0 and
    w = c1 + 1 - c0. Computed from the runs, exactly as COCO's ``toBbox``.
    """
    if isinstance(rle_or_mask, dict):
        counts, H, _ = rle_counts(rle_or_mask)
    else:
        mask = np.asarray(rle_or_mask)
        if mask.ndim != 2:
            raise ValueError(f"rle_or_mask: expected an RLE dict or a (H, W) mask, got shape {mask.shape}")
        counts, H = mask_to_counts(mask), mask.shape[0]
    return bboxes_from_counts(counts, np.array([0, len(counts)]), np.array([H]))[0]


def _to_counts_list(objs, name: str):
    """(flat counts, offsets, (H, W)) from a list of RLE dicts or a (N, H, W) array."""
    if isinstance(objs, np.ndarray):
        masks = _as_mask_stack(objs, name)
        return (*encode_counts_batch(masks), masks.shape[1:])
    parsed = [rle_counts(r, f"{name}[{i}]") for i, r in enumerate(objs)]
    sizes = {(h, w) for _, h, w in parsed}
    if len(sizes) > 1:
        raise ValueError(f"{name}: all masks must have one size, got {sorted(sizes)}")
    offsets = np.zeros(len(parsed) + 1, dtype=np.int64)
    np.cumsum([len(c) for c, _, _ in parsed], out=offsets[1:])
    flat = np.concatenate([c for c, _, _ in parsed]) if parsed else np.zeros(0, np.uint32)
    return flat, offsets, (sizes.pop() if sizes else None)


def iou(dt, gt, iscrowd=None) -> np.ndarray:
    """COCO mask IoU matrix (D, G) float64.

    dt, gt: (D, H, W) / (G, H, W) bool arrays, or lists of RLE dicts.
    iscrowd: (G,) bool or None; for a crowd gt the union is the detection's area.
    Dense arrays use the readable matrix-product definition; RLEs are compared
    run by run without decoding. Both give bit-identical results.
    """
    crowd = np.zeros(len(gt), bool) if iscrowd is None else np.asarray(iscrowd, dtype=bool)
    if crowd.shape != (len(gt),):
        raise ValueError(f"iscrowd: expected shape ({len(gt)},), got {crowd.shape}")
    if isinstance(dt, np.ndarray) and isinstance(gt, np.ndarray):
        dt, gt = _as_mask_stack(dt, "dt"), _as_mask_stack(gt, "gt")
        if dt.shape[1:] != gt.shape[1:]:
            raise ValueError(f"dt, gt: mask sizes differ: {dt.shape[1:]} vs {gt.shape[1:]}")
        return mask_iou_dense(dt, gt, crowd)
    dt_counts, dt_offsets, dt_size = _to_counts_list(dt, "dt")
    gt_counts, gt_offsets, gt_size = _to_counts_list(gt, "gt")
    if dt_size and gt_size and dt_size != gt_size:
        raise ValueError(f"dt, gt: mask sizes differ: {dt_size} vs {gt_size}")
    D, G = len(dt_offsets) - 1, len(gt_offsets) - 1
    d_index, g_index = np.repeat(np.arange(D), G), np.tile(np.arange(G), D)  # row-major pairs
    return pair_iou(dt_counts, dt_offsets, gt_counts, gt_offsets, d_index, g_index, crowd).reshape(D, G)
