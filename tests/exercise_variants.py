"""Students' implementations for testing the grader: planted bugs and correct alternatives.

``BUGS[exercise]`` lists mistakes students make, each as ``Bug(name, functions, checks, phrase)``:
the grader must take points for every check in ``checks`` and its message must contain
``phrase`` (the broken property's name). ``ALTERNATIVES[exercise]`` lists correct
implementations written differently from the solution (vectorised, another loop
order), which must score full marks. The correct solutions themselves come from the
source notebooks (tests/test_exercises.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from minimaskrcnn.boxes import box_iou as package_box_iou
from minimaskrcnn.ops import bilinear_interpolate, roi_align as package_roi_align


@dataclass
class Bug:
    name: str
    functions: dict  # names -> the student's (buggy) functions; missing names come from the solution
    checks: tuple  # checks that must lose their points
    phrase: str  # must appear in the message of the first of those checks


def _pair(size):
    return (size, size) if np.isscalar(size) else tuple(size)


# ============================================================================ 01 convolution
def conv_forward_loops(x, w, b, stride=1, padding=0, flip=False, transpose=False, pad_one_side=False):
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]  # a true convolution: the kernel flipped
    if pad_one_side:
        xp = np.pad(x, ((0, 0), (0, 0), (2 * padding, 0), (2 * padding, 0)))  # all padding top and left
    else:
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    kernel = w[:, f] if transpose else w[f]  # transposed: filter and channel axes swapped
                    out[n, f, i, j] = np.sum(window * kernel) + b[f]
    return out


def conv_backward_loops(dout, x, w, b, stride=1, padding=0, overwrite_dw=False, db_mean=False,
                        ignore_stride=False):
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    s = 1 if ignore_stride else stride
                    rows, cols = slice(i * s, i * s + kh), slice(j * s, j * s + kw)
                    if overwrite_dw:
                        dw[f] = dout[n, f, i, j] * xp[n, :, rows, cols]  # = instead of +=
                    else:
                        dw[f] += dout[n, f, i, j] * xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    db = dout.mean(axis=(0, 2, 3)) if db_mean else dout.sum(axis=(0, 2, 3))
    return dxp[:, :, padding:padding + H, padding:padding + W], dw, db


def conv_forward_windows(x, w, b, stride=1, padding=0):
    """Vectorised: every window at once (sliding_window_view), one einsum."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    F, C, kh, kw = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None]


def conv_backward_taps(dout, x, w, b, stride=1, padding=0):
    """Another loop order: over the kernel's taps (u, v), every output position at once."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for u in range(kh):
        for v in range(kw):
            seen = xp[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride]  # (N, C, Ho, Wo)
            dw[:, :, u, v] = np.einsum("nfhw,nchw->fc", dout, seen)
            dxp[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride] += \
                np.einsum("nfhw,fc->nchw", dout, w[:, :, u, v])
    return dxp[:, :, padding:padding + H, padding:padding + W], dw, dout.sum(axis=(0, 2, 3))


def conv_forward_taps(x, w, b, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.broadcast_to(b[None, :, None, None], (N, F, Ho, Wo)).astype(float)
    for u in range(kh):
        for v in range(kw):
            seen = xp[:, :, u:u + stride * (Ho - 1) + 1:stride, v:v + stride * (Wo - 1) + 1:stride]
            out = out + np.einsum("nchw,fc->nfhw", seen, w[:, :, u, v])
    return out


def conv_backward_windows(dout, x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    F, C, kh, kw = w.shape
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    dw = np.einsum("nfhw,nchwij->fcij", dout, windows)
    dwin = np.einsum("nfhw,fcij->nchwij", dout, w)  # gradient of every window
    dxp = np.zeros_like(xp)
    N, _, Ho, Wo = dout.shape
    for i in range(Ho):
        for j in range(Wo):
            dxp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += dwin[:, :, i, j]
    H, W = x.shape[2:]
    return dxp[:, :, padding:padding + H, padding:padding + W], dw, dout.sum(axis=(0, 2, 3))


# ============================================================================ 02 bilinear
def bilinear_variant(feature, y, x, own_area=False, no_last_row=False, off_by_one_outside=False, swap_xy=False):
    H, W = feature.shape
    outside = (y <= -1 or y >= H or x <= -1 or x >= W) if off_by_one_outside else (y < -1 or y > H or x < -1 or x > W)
    if outside:
        return 0.0, [-1] * 4, [-1] * 4, [0.0] * 4
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1 and not no_last_row:
        y0, y1, y = H - 1, H - 1, float(H - 1)
    else:
        y1 = y0 + 1
    if x0 >= W - 1 and not no_last_row:
        x0, x1, x = W - 1, W - 1, float(W - 1)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    ys, xs = [y0, y0, y1, y1], [x0, x1, x0, x1]
    weights = [ly * lx, ly * hx, hy * lx, hy * hx] if own_area else [hy * hx, hy * lx, ly * hx, ly * lx]
    value = sum(wt * (feature[c, r] if swap_xy else feature[r, c]) for r, c, wt in zip(ys, xs, weights))
    return value, ys, xs, weights


def bilinear_two_lerps(feature, y, x):
    """Two 1-D interpolations: along x on both rows, then along y; 1-D rule in a helper."""
    H, W = feature.shape

    def axis(t, size):
        if t < -1 or t > size:
            return None
        t = max(t, 0.0)
        lo = math.floor(t)
        if lo >= size - 1:
            return size - 1, size - 1, 0.0
        return lo, lo + 1, t - lo

    ay, ax = axis(y, H), axis(x, W)
    if ay is None or ax is None:
        return 0.0, [0, 0, 0, 0], [0, 0, 0, 0], [0.0, 0.0, 0.0, 0.0]
    (r0, r1, fy), (c0, c1, fx) = ay, ax
    top = (1 - fx) * feature[r0, c0] + fx * feature[r0, c1]
    bottom = (1 - fx) * feature[r1, c0] + fx * feature[r1, c1]
    weights = [(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx]
    return (1 - fy) * top + fy * bottom, [r0, r0, r1, r1], [c0, c1, c0, c1], weights


def bilinear_numpy(feature, y, x):
    """NumPy arrays throughout: clip, floor, outer product of the 1-D weights."""
    H, W = feature.shape
    if not (-1 <= y <= H and -1 <= x <= W):
        return np.float64(0), np.full(4, -1), np.full(4, -1), np.zeros(4)
    t = np.array([y, x], dtype=float).clip(0, None)
    size = np.array([H, W])
    lo = np.minimum(np.floor(t), size - 1).astype(int)
    hi = np.minimum(lo + 1, size - 1)
    frac = np.where(lo >= size - 1, 0.0, t - lo)
    wy, wx = np.array([1 - frac[0], frac[0]]), np.array([1 - frac[1], frac[1]])
    weights = np.outer(wy, wx).ravel()  # (2, 2) -> TL, TR, BL, BR
    ys = np.array([lo[0], lo[0], hi[0], hi[0]])
    xs = np.array([lo[1], hi[1], lo[1], hi[1]])
    return float(weights @ feature[ys, xs]), ys, xs, weights


# ============================================================================ 03 RoIPool
def _round_away(v):
    t = math.trunc(v)
    return t + (1 if v > 0 else -1) if abs(v - t) >= 0.5 else t


def roi_pool_variant(features, rois, output_size, spatial_scale=1.0, exclusive_end=False, python_round=False,
                     average=False, floor_both=False, no_clip=False):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw))
    rnd = round if python_round else _round_away
    for k, (b, *box) in enumerate(rois):
        x1, y1, x2, y2 = (rnd(v * spatial_scale) for v in box)
        extra = 0 if exclusive_end else 1
        rh, rw = max(y2 - y1 + extra, 1), max(x2 - x1 + extra, 1)
        bh, bw = rh / ph, rw / pw
        end = math.floor if floor_both else math.ceil
        clip = (lambda v, n: v) if no_clip else (lambda v, n: min(max(v, 0), n))  # noqa: E731
        for i in range(ph):
            h0, h1 = clip(math.floor(i * bh) + y1, H), clip(end((i + 1) * bh) + y1, H)
            for j in range(pw):
                w0, w1 = clip(math.floor(j * bw) + x1, W), clip(end((j + 1) * bw) + x1, W)
                region = features[int(b), :, h0:h1, w0:w1]
                if region.size:
                    out[k, :, i, j] = region.mean(axis=(1, 2)) if average else region.max(axis=(1, 2))
    return out


def roi_pool_masks(features, rois, output_size, spatial_scale=1.0):
    """Vectorised over bins: each bin as a boolean mask of pixels, max of where(mask, f, -inf)."""
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw))
    rows, cols = np.arange(H), np.arange(W)
    for k, (b, *box) in enumerate(rois):
        x1, y1, x2, y2 = (_round_away(v * spatial_scale) for v in box)
        bh, bw = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
        i, j = np.arange(ph), np.arange(pw)
        h0 = np.floor(i * bh).astype(int) + y1
        h1 = np.ceil((i + 1) * bh).astype(int) + y1
        w0 = np.floor(j * bw).astype(int) + x1
        w1 = np.ceil((j + 1) * bw).astype(int) + x1
        in_row = (rows[None, :] >= h0[:, None]) & (rows[None, :] < h1[:, None])  # (ph, H)
        in_col = (cols[None, :] >= w0[:, None]) & (cols[None, :] < w1[:, None])  # (pw, W)
        mask = in_row[:, None, :, None] & in_col[None, :, None, :]  # (ph, pw, H, W)
        vals = np.where(mask[None], features[int(b)][:, None, None], -np.inf).max(axis=(3, 4))  # (C, ph, pw)
        out[k] = np.where(mask.any(axis=(2, 3))[None], vals, 0.0)
    return out


def roi_pool_pixel_loops(features, rois, output_size, spatial_scale=1.0):
    """Loops in another order: channels outermost, the max kept by hand over pixels."""
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw))
    for c in range(C):
        for k in range(len(rois)):
            b = int(rois[k][0])
            x1, y1, x2, y2 = (_round_away(float(v) * spatial_scale) for v in rois[k][1:])
            bh, bw = max(y2 - y1 + 1, 1) / ph, max(x2 - x1 + 1, 1) / pw
            for i in range(ph):
                for j in range(pw):
                    best = None
                    for y in range(max(math.floor(i * bh) + y1, 0), min(math.ceil((i + 1) * bh) + y1, H)):
                        for x in range(max(math.floor(j * bw) + x1, 0), min(math.ceil((j + 1) * bw) + x1, W)):
                            v = features[b, c, y, x]
                            best = v if best is None or v > best else best
                    out[k, c, i, j] = 0.0 if best is None else best
    return out


# ============================================================================ 04 RoIAlign
def _grid(box, ph, pw, scale, ratio, aligned, shift=True, floor_adaptive=False, min_size=True):
    offset = 0.5 if (aligned and shift) else 0.0
    x1, y1, x2, y2 = (v * scale - offset for v in box)
    rw, rh = x2 - x1, y2 - y1
    if not aligned and min_size:
        rw, rh = max(rw, 1.0), max(rh, 1.0)
    bh, bw = rh / ph, rw / pw
    rnd = math.floor if floor_adaptive else math.ceil
    gh = ratio if ratio > 0 else rnd(rh / ph)
    gw = ratio if ratio > 0 else rnd(rw / pw)
    ys = np.array([[y1 + i * bh + (a + 0.5) * bh / gh for a in range(gh)] for i in range(ph)]).reshape(ph, gh)
    xs = np.array([[x1 + j * bw + (a + 0.5) * bw / gw for a in range(gw)] for j in range(pw)]).reshape(pw, gw)
    return ys, xs


def roi_align_variant(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, mode="avg",
                      shift=True, always_max=False, normaliser="count", floor_adaptive=False, min_size=True):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw))
    for k, (b, *box) in enumerate(rois):
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned, shift, floor_adaptive, min_size)
        for c in range(C):
            for i in range(ph):
                for j in range(pw):
                    v = [bilinear_interpolate(features[int(b), c], y, x).value for y in ys[i] for x in xs[j]]
                    if not v:
                        continue
                    if mode == "max" or always_max:
                        out[k, c, i, j] = max(v)
                    else:
                        n = {"count": len(v), "rows": ys.shape[1]}[normaliser]
                        out[k, c, i, j] = sum(v) / n
    return out


def roi_align_backward_variant(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                               aligned=False, mode="avg", wrong_neighbour=False, max_to_all=False):
    ph, pw = _pair(output_size)
    grad = np.zeros_like(features)
    for k, (b, *box) in enumerate(rois):
        b = int(b)
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned)
        for c in range(features.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    samples = [bilinear_interpolate(features[b, c], y, x) for y in ys[i] for x in xs[j]]
                    if not samples:
                        continue
                    if mode == "max" and not max_to_all:
                        best = max(range(len(samples)), key=lambda s: samples[s].value)
                        samples, share = [samples[best]], grad_output[k, c, i, j]
                    else:
                        share = grad_output[k, c, i, j] / len(samples)
                    for s in samples:
                        order = [0, 2, 1, 3] if wrong_neighbour else [0, 1, 2, 3]  # TR and BL swapped
                        for n, (y, x) in enumerate(zip(s.ys, s.xs)):
                            if s.weights[order[n]] != 0 and y >= 0:
                                grad[b, c, y, x] += share * s.weights[order[n]]
    return grad


def _samples(features_b, ys, xs):
    """All bilinear samples of one RoI, vectorised: ys (ph, gh), xs (pw, gw) -> Bilinear of (ph, pw, gh, gw)."""
    return [bilinear_interpolate(features_b[c], ys[:, None, :, None], xs[None, :, None, :])
            for c in range(features_b.shape[0])]


def roi_align_vectorised(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
                         mode="avg"):
    """Vectorised per RoI: the package's vectorised bilinear_interpolate on the whole sample grid."""
    ph, pw = _pair(output_size)
    out = np.zeros((len(rois), features.shape[1], ph, pw))
    for k, (b, *box) in enumerate(rois):
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned)
        if ys.size == 0 or xs.size == 0:
            continue
        for c, s in enumerate(_samples(features[int(b)], ys, xs)):
            out[k, c] = s.value.max(axis=(2, 3)) if mode == "max" else s.value.mean(axis=(2, 3))
    return out


def roi_align_backward_vectorised(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                                  aligned=False, mode="avg"):
    ph, pw = _pair(output_size)
    grad = np.zeros_like(features)
    for k, (b, *box) in enumerate(rois):
        b = int(b)
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned)
        if ys.size == 0 or xs.size == 0:
            continue
        gh, gw = ys.shape[1], xs.shape[1]
        for c, s in enumerate(_samples(features[b], ys, xs)):
            g = grad_output[k, c][:, :, None, None]  # (ph, pw, 1, 1)
            if mode == "max":
                flat = s.value.reshape(ph, pw, gh * gw)
                win = np.zeros_like(flat)
                np.put_along_axis(win, flat.argmax(axis=2)[..., None], 1.0, axis=2)  # first maximum
                share = g * win.reshape(ph, pw, gh, gw)
            else:
                share = np.broadcast_to(g / (gh * gw), s.value.shape)
            inside = s.ys >= 0
            np.add.at(grad[b, c], (s.ys[inside], s.xs[inside]), (share[..., None] * s.weights)[inside])
    return grad


def roi_align_channels_inner(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
                             mode="avg"):
    """Another loop order: bins and samples outside, all channels at once inside."""
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw))
    for k, (b, *box) in enumerate(rois):
        f = features[int(b)]
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned)
        for i in range(ph):
            for j in range(pw):
                vals = []
                for y in ys[i]:
                    for x in xs[j]:
                        s = bilinear_interpolate(f[0], y, x)  # neighbours and weights, once for every channel
                        vals.append(sum(w * f[:, r, c] for r, c, w in zip(s.ys, s.xs, s.weights) if r >= 0)
                                    if s.weights.any() else np.zeros(C))
                if vals:
                    out[k, :, i, j] = np.max(vals, axis=0) if mode == "max" else np.mean(vals, axis=0)
    return out


def roi_align_backward_channels_inner(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                                      aligned=False, mode="avg"):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    grad = np.zeros_like(features)
    for k, (b, *box) in enumerate(rois):
        b = int(b)
        f = features[b]
        ys, xs = _grid(box, ph, pw, spatial_scale, sampling_ratio, aligned)
        for i in range(ph):
            for j in range(pw):
                samples = [bilinear_interpolate(f[0], y, x) for y in ys[i] for x in xs[j]]
                if not samples:
                    continue
                vals = np.array([[sum(w * f[c, r, cc] for r, cc, w in zip(s.ys, s.xs, s.weights) if r >= 0)
                                  for c in range(C)] for s in samples])  # (samples, C)
                for n, s in enumerate(samples):
                    if mode == "max":
                        share = np.where(vals.argmax(axis=0) == n, grad_output[k, :, i, j], 0.0)
                    else:
                        share = grad_output[k, :, i, j] / len(samples)
                    for r, cc, w in zip(s.ys, s.xs, s.weights):
                        if r >= 0:
                            grad[b, :, r, cc] += share * w
    return grad


# ============================================================================ 05 NMS
def _iou(a, b, no_minus_inter=False):
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - (0 if no_minus_inter else w * h)
    return w * h / union if union > 0 else 0.0


def nms_variant(boxes, scores, iou_threshold, geq=False, reversed_sort=False, suppressed_suppress=False,
                no_minus_inter=False):
    order = np.argsort(scores)[::-1] if reversed_sort else np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for n, i in enumerate(order):
        if not suppressed[i]:
            keep.append(i)
        elif not suppressed_suppress:
            continue
        for j in order[n + 1:]:
            iou = _iou(boxes[i], boxes[j], no_minus_inter)
            if iou >= iou_threshold if geq else iou > iou_threshold:
                suppressed[j] = True
    return np.array(keep, dtype=np.int64)


def batched_nms_class_blind(boxes, scores, idxs, iou_threshold):
    return nms_variant(boxes, scores, iou_threshold)


def nms_while(boxes, scores, iou_threshold):
    """Vectorised: take the best remaining, drop everything it overlaps, repeat."""
    remaining = np.argsort(-scores, kind="stable")
    keep = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        remaining = rest[package_box_iou(boxes[best][None], boxes[rest])[0] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def nms_matrix(boxes, scores, iou_threshold):
    """The IoU matrix up front, then one pass down the ranking."""
    order = np.argsort(-scores, kind="stable")
    over = package_box_iou(boxes[order], boxes[order]) > iou_threshold  # (K, K) in rank order
    alive = np.ones(len(order), bool)
    for r in range(len(order)):
        if alive[r]:
            alive[r + 1:] &= ~over[r, r + 1:]
    return order[alive].astype(np.int64)


def batched_nms_offsets(boxes, scores, idxs, iou_threshold):
    """torchvision's trick: move each class far away from the others, then one plain NMS."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    span = boxes.max() - boxes.min() + 1
    shifted = boxes + (idxs.astype(float) * span)[:, None]
    return nms_while(shifted, scores, iou_threshold)


def batched_nms_merge(boxes, scores, idxs, iou_threshold):
    kept = [np.flatnonzero(idxs == c)[nms_matrix(boxes[idxs == c], scores[idxs == c], iou_threshold)]
            for c in np.unique(idxs)]
    keep = np.sort(np.concatenate(kept)) if kept else np.zeros(0, np.int64)
    return keep[np.argsort(-scores[keep], kind="stable")].astype(np.int64)


# ============================================================================ 06 boxes
def box_iou_variant(b1, b2, plus_one=False, no_minus_inter=False, nan_union=False):
    e = 1.0 if plus_one else 0.0
    a1 = (b1[:, 2] - b1[:, 0] + e) * (b1[:, 3] - b1[:, 1] + e)
    a2 = (b2[:, 2] - b2[:, 0] + e) * (b2[:, 3] - b2[:, 1] + e)
    w = np.clip(np.minimum(b1[:, None, 2], b2[None, :, 2]) - np.maximum(b1[:, None, 0], b2[None, :, 0]) + e, 0, None)
    h = np.clip(np.minimum(b1[:, None, 3], b2[None, :, 3]) - np.maximum(b1[:, None, 1], b2[None, :, 1]) + e, 0, None)
    union = a1[:, None] + a2[None, :] - (0 if no_minus_inter else w * h)
    if nan_union:
        with np.errstate(invalid="ignore", divide="ignore"):
            return w * h / union
    return np.where(union > 0, w * h / np.where(union > 0, union, 1), 0.0)


def _centres(b):
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    return b[:, 0] + w / 2, b[:, 1] + h / 2, w, h


def encode_variant(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0), inverted_log=False):
    wx, wy, ww, wh = weights
    rx, ry, rw, rh = _centres(reference)
    gx, gy, gw, gh = _centres(boxes)
    dw, dh = (np.log(rw / gw), np.log(rh / gh)) if inverted_log else (np.log(gw / rw), np.log(gh / rh))
    return np.stack([wx * (gx - rx) / rw, wy * (gy - ry) / rh, ww * dw, wh * dh], axis=1)


def decode_variant(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clamp=math.log(1000 / 16), no_clamp=False,
                   multiply=False):
    wx, wy, ww, wh = weights
    rx, ry, rw, rh = _centres(reference)
    if multiply:
        d = deltas * np.array([wx, wy, ww, wh])
    else:
        d = deltas / np.array([wx, wy, ww, wh])
    dw, dh = (d[:, 2], d[:, 3]) if no_clamp else (np.minimum(d[:, 2], clamp), np.minimum(d[:, 3], clamp))
    cx, cy = d[:, 0] * rw + rx, d[:, 1] * rh + ry
    w, h = np.exp(dw) * rw, np.exp(dh) * rh
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def box_iou_loops(b1, b2):
    out = np.zeros((len(b1), len(b2)))
    for i, a in enumerate(b1):
        for j, b in enumerate(b2):
            out[i, j] = _iou(a, b)
    return out


def encode_rowwise(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)):
    out = np.zeros((len(boxes), 4))
    for n, (g, r) in enumerate(zip(boxes, reference)):
        rw, rh, gw, gh = r[2] - r[0], r[3] - r[1], g[2] - g[0], g[3] - g[1]
        out[n] = [weights[0] * ((g[0] + g[2]) / 2 - (r[0] + r[2]) / 2) / rw,
                  weights[1] * ((g[1] + g[3]) / 2 - (r[1] + r[3]) / 2) / rh,
                  weights[2] * math.log(gw / rw), weights[3] * math.log(gh / rh)]
    return out


def decode_rowwise(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clamp=math.log(1000 / 16)):
    out = np.zeros((len(deltas), 4))
    for n, (d, r) in enumerate(zip(deltas, reference)):
        rw, rh = r[2] - r[0], r[3] - r[1]
        cx = d[0] / weights[0] * rw + (r[0] + r[2]) / 2
        cy = d[1] / weights[1] * rh + (r[1] + r[3]) / 2
        w = math.exp(min(d[2] / weights[2], clamp)) * rw
        h = math.exp(min(d[3] / weights[3], clamp)) * rh
        out[n] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    return out


def box_iou_split(b1, b2):
    x1, y1, x2, y2 = np.hsplit(b1, 4)  # (K, 1) each
    u1, v1, u2, v2 = (c.T for c in np.hsplit(b2, 4))  # (1, M) each
    inter = (np.maximum(np.minimum(x2, u2) - np.maximum(x1, u1), 0)
             * np.maximum(np.minimum(y2, v2) - np.maximum(y1, v1), 0))
    union = (x2 - x1) * (y2 - y1) + (u2 - u1) * (v2 - v1) - inter
    iou = np.zeros(inter.shape)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou


# ============================================================================ 07 mask targets and loss
def mask_loss_variant(logits, labels, targets, all_classes=False, negatives=False, sum_pixels=False, unstable=False,
                      label_channel=False):
    d = np.zeros_like(logits)
    rois = np.arange(len(labels)) if negatives else np.flatnonzero(labels > 0)
    if len(rois) == 0:
        return 0.0, d
    P, K, m, _ = logits[rois].shape
    if all_classes:  # a sigmoid on every class's channel, all against the same target
        z, t = logits[rois], targets[rois][:, None].repeat(K, axis=1)
    else:
        ch = labels[rois] if label_channel else labels[rois] - 1
        z, t = logits[rois, ch], targets[rois]
    n = P * m * m if not sum_pixels else P
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if unstable:
            s = 1 / (1 + np.exp(-z))
            loss = -np.sum(t * np.log(s) + (1 - t) * np.log(1 - s)) / n
        else:
            loss = np.sum(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))) / n
        g = (1 / (1 + np.exp(-z)) - t) / n
    if all_classes:
        d[rois] = g
    else:
        d[rois, ch] = g
    return float(loss), d


def mask_targets_variant(gt_masks, rois, matched, mask_size, aligned=True, strict=False):
    if len(rois) == 0:
        return np.zeros((0, mask_size, mask_size))
    rois5 = np.concatenate([np.asarray(matched, float)[:, None], rois], axis=1)
    soft = package_roi_align(gt_masks[:, None].astype(float), rois5, mask_size, 1.0, 0, aligned, "avg")[:, 0]
    return (soft > 0.5 if strict else soft >= 0.5).astype(float)


def mask_loss_loops(logits, labels, targets):
    """One RoI at a time, np.logaddexp for the stable BCE."""
    d = np.zeros_like(logits)
    pos = [r for r in range(len(labels)) if labels[r] > 0]
    if not pos:
        return 0.0, d
    n = len(pos) * targets.shape[1] * targets.shape[2]
    loss = 0.0
    for r in pos:
        z, t = logits[r, labels[r] - 1], targets[r]
        loss += float(np.sum(np.logaddexp(0.0, z) - t * z))
        d[r, labels[r] - 1] = (np.exp(-np.logaddexp(0.0, -z)) - t) / n
    return loss / n, d


def mask_loss_onehot(logits, labels, targets):
    """Vectorised with a one-hot channel mask instead of fancy indexing."""
    R, K = logits.shape[:2]
    onehot = (labels[:, None] == np.arange(1, K + 1)[None, :]).astype(float)  # (R, K); background: all 0
    n = onehot.sum() * targets.shape[1] * targets.shape[2]
    if n == 0:
        return 0.0, np.zeros_like(logits)
    z, t = logits, targets[:, None]
    per_pixel = np.logaddexp(0.0, z) - t * z  # (R, K, m, m)
    w = onehot[:, :, None, None]
    return float((per_pixel * w).sum() / n), w * (np.exp(-np.logaddexp(0.0, -z)) - t) / n


def mask_targets_per_roi(gt_masks, rois, matched, mask_size):
    """One RoIAlign call per RoI, on its own mask (float64)."""
    out = np.zeros((len(rois), mask_size, mask_size))
    for k, (roi, j) in enumerate(zip(rois, matched)):
        mask = gt_masks[j][None, None].astype(float)
        soft = package_roi_align(mask, np.array([[0.0, *roi]]), mask_size, 1.0, 0, True, "avg")
        out[k] = soft[0, 0] >= 0.5
    return out


def mask_targets_bilinear(gt_masks, rois, matched, mask_size):
    """The adaptive sampling grid by hand, the package's vectorised bilinear interpolation."""
    out = np.zeros((len(rois), mask_size, mask_size))
    for k, (roi, j) in enumerate(zip(rois, matched)):
        ys, xs = _grid(roi, mask_size, mask_size, 1.0, 0, True)
        if ys.size == 0 or xs.size == 0:
            continue
        s = bilinear_interpolate(gt_masks[j].astype(float), ys[:, None, :, None], xs[None, :, None, :])
        out[k] = s.value.mean(axis=(2, 3)) >= 0.5
    return out


# ============================================================================ 08 paste
def paste_variant(mask, box, image_size, threshold=0.5, corners=False, nearest=False, strict=False, edge_pad=False,
                  rounded=False):
    H, W = image_size
    m = mask.shape[0]
    x1, y1, x2, y2 = (round(float(v)) if rounded else float(v) for v in box)
    c = 0.0 if corners else 0.5

    def weights(lo, hi, size):
        u = (np.arange(size) + c - lo) / max(hi - lo, 1e-6) * m - 0.5
        if edge_pad:
            u = np.clip(u, 0, m - 1)
        if nearest:
            idx = np.rint(u).astype(int)
            return ((idx[:, None] == np.arange(m)[None, :]) & (np.abs(u - idx) <= 0.5)[:, None]).astype(float)
        return np.maximum(0.0, 1.0 - np.abs(u[:, None] - np.arange(m)[None, :]))

    v = weights(y1, y2, H) @ mask @ weights(x1, x2, W).T
    return v > threshold if strict else v >= threshold


def paste_loops(mask, box, image_size, threshold=0.5):
    """Loops over the pixels of the box's range, two neighbours per axis."""
    H, W = image_size
    m = mask.shape[0]
    x1, y1, x2, y2 = (float(v) for v in box)
    out = np.zeros((H, W), bool)

    def neighbours(p, lo, hi):
        u = (p + 0.5 - lo) / max(hi - lo, 1e-6) * m - 0.5
        j = math.floor(u)
        return [(i, 1 - abs(u - i)) for i in (j, j + 1) if 0 <= i < m and abs(u - i) < 1]

    for r in range(max(math.floor(y1), 0), min(math.ceil(y2), H)):
        rows = neighbours(r, y1, y2)
        for c in range(max(math.floor(x1), 0), min(math.ceil(x2), W)):
            value = sum(wy * wx * mask[i, j] for i, wy in rows for j, wx in neighbours(c, x1, x2))
            out[r, c] = value >= threshold
    return out


def paste_interp(mask, box, image_size, threshold=0.5):
    """np.interp along each axis over the zero-padded mask (zero padding = linear decay to 0 at -1 and m)."""
    H, W = image_size
    m = mask.shape[0]
    x1, y1, x2, y2 = (float(v) for v in box)
    padded = np.pad(np.asarray(mask, float), 1)  # cell j of the mask at index j + 1; zeros at -1 and m
    grid = np.arange(-1, m + 1)
    u = (np.arange(W) + 0.5 - x1) / max(x2 - x1, 1e-6) * m - 0.5
    v = (np.arange(H) + 0.5 - y1) / max(y2 - y1, 1e-6) * m - 0.5
    along_x = np.array([np.interp(u, grid, row, left=0.0, right=0.0) for row in padded])  # (m + 2, W)
    values = np.array([np.interp(v, grid, col, left=0.0, right=0.0) for col in along_x.T]).T  # (H, W)
    return values >= threshold


# ============================================================================ 09 AP
def match_variant(ious, iou_threshold, reuse=False, strict=False):
    D, G = ious.shape
    taken = np.zeros(G, bool)
    out = np.full(D, -1, dtype=np.int64)
    for d in range(D):
        best, best_iou = -1, iou_threshold
        for g in range(G):
            if taken[g] and not reuse:
                continue
            if (ious[d, g] > best_iou) if strict else (ious[d, g] >= best_iou):
                best, best_iou = g, ious[d, g]
        if best >= 0:
            taken[best] = True
            out[d] = best
    return out


def precision_recall_variant(is_tp, num_gt, recall_over_dets=False):
    tp = np.cumsum(is_tp)
    fp = np.cumsum(~np.asarray(is_tp, bool))
    return tp / (tp + fp), tp / (len(is_tp) if recall_over_dets else num_gt)


def interpolated_variant(precision, recall, eleven=False, no_envelope=False):
    if len(precision) == 0:
        return 0.0
    p = np.asarray(precision, float) if no_envelope else np.maximum.accumulate(np.asarray(precision, float)[::-1])[::-1]
    points = np.linspace(0, 1, 11 if eleven else 101)
    at = np.searchsorted(recall, points, side="left")
    return float(np.mean([p[i] if i < len(p) else 0.0 for i in at]))


def make_average_precision(match, precision_recall, interpolated):
    def average_precision(detections, ground_truths, iou_threshold=0.5):
        num_gt = sum(len(g) for g in ground_truths)
        if num_gt == 0:
            return -1.0
        scores, tps = [], []
        for (boxes, sc), gt in zip(detections, ground_truths):
            order = np.argsort(-sc, kind="stable")
            tps.append(match(package_box_iou(boxes[order].reshape(-1, 4), np.reshape(gt, (-1, 4))), iou_threshold) >= 0)
            scores.append(sc[order])
        scores, tps = np.concatenate(scores), np.concatenate(tps)
        rank = np.argsort(-scores, kind="stable")
        p, r = precision_recall(tps[rank], num_gt)
        return interpolated(p, r)
    return average_precision


def interpolated_max_over(precision, recall):
    """For each recall point: the best precision among detections whose recall reaches it (no envelope array)."""
    if len(precision) == 0:
        return 0.0
    total = 0.0
    for r in np.linspace(0, 1, 101):
        reached = [p for p, rc in zip(precision, recall) if rc >= r]
        total += max(reached) if reached else 0.0
    return total / 101


def precision_recall_loop(is_tp, num_gt):
    p, r, tp = [], [], 0
    for n, hit in enumerate(is_tp, start=1):
        tp += bool(hit)
        p.append(tp / n)
        r.append(tp / num_gt)
    return np.array(p), np.array(r)


def match_sorted_pairs(ious, iou_threshold):
    """Per detection: candidates sorted by IoU (best first, later ground truth first on ties)."""
    D, G = ious.shape
    taken, out = set(), np.full(D, -1, dtype=np.int64)
    for d in range(D):
        for g in sorted(range(G), key=lambda g: (-ious[d, g], -g)):
            if ious[d, g] < iou_threshold:
                break
            if g not in taken:
                taken.add(g)
                out[d] = g
                break
    return out


# ============================================================================ 10 capstone
def _axis_matrix(start, end, n_bins, size, scale, ratio, aligned, shift=True, swap=False):
    offset = 0.5 if (aligned and shift) else 0.0
    a = start * scale - offset
    length = end * scale - offset - a
    if not aligned:
        length = max(length, 1.0)
    bin_size = length / n_bins
    g = ratio if ratio > 0 else math.ceil(length / n_bins)
    A = np.zeros((n_bins, size))
    if g == 0:
        return A
    t = a + np.arange(n_bins)[:, None] * bin_size + (np.arange(g) + 0.5) * bin_size / g
    inside = (t >= -1) & (t <= size)
    t = np.maximum(t, 0.0)
    low = np.minimum(np.floor(t).astype(int), size - 1)
    high = np.minimum(low + 1, size - 1)
    frac = np.where(low >= size - 1, 0.0, t - low)
    if swap:  # the gradient to the wrong neighbour
        frac = 1 - frac
    rows = np.repeat(np.arange(n_bins), g)
    np.add.at(A, (rows, low.ravel()), ((1 - frac) * inside).ravel() / g)
    np.add.at(A, (rows, high.ravel()), (frac * inside).ravel() / g)
    return A


def fast_roi_align_variant(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
                           mode="avg", shift=True, total=False):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw), dtype=features.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(np.asarray(rois, float)):
        Ay = _axis_matrix(y1, y2, ph, H, spatial_scale, sampling_ratio, aligned, shift)
        Ax = _axis_matrix(x1, x2, pw, W, spatial_scale, sampling_ratio, aligned, shift)
        if total:  # a sum over the samples instead of their mean
            Ay, Ax = Ay * max(sampling_ratio, 1), Ax * max(sampling_ratio, 1)
        out[k] = Ay @ features[int(b)] @ Ax.T
    return out


def fast_roi_align_backward_variant(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                                    aligned=False, mode="avg", swap=False):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    grad = np.zeros(features.shape)
    for k, (b, x1, y1, x2, y2) in enumerate(np.asarray(rois, float)):
        Ay = _axis_matrix(y1, y2, ph, H, spatial_scale, sampling_ratio, aligned, swap=swap)
        Ax = _axis_matrix(x1, x2, pw, W, spatial_scale, sampling_ratio, aligned, swap=swap)
        grad[int(b)] += Ay.T @ grad_output[k] @ Ax
    return grad.astype(features.dtype)


def _gather_tables(roi, ph, pw, H, W, scale, ratio, aligned):
    """Per axis: low, high indices and weights of every sample, (n * g,), plus g."""
    def axis(start, end, n, size):
        offset = 0.5 if aligned else 0.0
        a = start * scale - offset
        length = end * scale - offset - a
        if not aligned:
            length = max(length, 1.0)
        g = ratio if ratio > 0 else math.ceil(length / n)
        t = (a + np.arange(n)[:, None] * (length / n) + (np.arange(g) + 0.5) * (length / n) / max(g, 1)).ravel()
        inside = (t >= -1) & (t <= size)
        t = np.maximum(t, 0.0)
        low = np.minimum(np.floor(t).astype(int), size - 1)
        high = np.minimum(low + 1, size - 1)
        frac = np.where(low >= size - 1, 0.0, t - low)
        return low, high, (1 - frac) * inside, frac * inside, g
    return axis(roi[2], roi[4], ph, H), axis(roi[1], roi[3], pw, W)


def gather_roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, mode="avg"):
    """Vectorised by gathering the four neighbours of every sample (fancy indexing), then a mean."""
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw), dtype=features.dtype)
    for k, roi in enumerate(np.asarray(rois, float)):
        (yl, yh, wyl, wyh, gh), (xl, xh, wxl, wxh, gw) = _gather_tables(roi, ph, pw, H, W, spatial_scale,
                                                                        sampling_ratio, aligned)
        if gh == 0 or gw == 0:
            continue
        f = features[int(roi[0])].astype(float)
        v = (f[:, yl][:, :, xl] * np.outer(wyl, wxl) + f[:, yl][:, :, xh] * np.outer(wyl, wxh)
             + f[:, yh][:, :, xl] * np.outer(wyh, wxl) + f[:, yh][:, :, xh] * np.outer(wyh, wxh))  # (C, ph*gh, pw*gw)
        out[k] = v.reshape(C, ph, gh, pw, gw).mean(axis=(2, 4))
    return out


def bincount_roi_align_backward(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                                aligned=False, mode="avg"):
    """Scatter with np.bincount over flat indices (much faster than np.add.at)."""
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    grad = np.zeros(N * C * H * W)
    for k, roi in enumerate(np.asarray(rois, float)):
        (yl, yh, wyl, wyh, gh), (xl, xh, wxl, wxh, gw) = _gather_tables(roi, ph, pw, H, W, spatial_scale,
                                                                        sampling_ratio, aligned)
        if gh == 0 or gw == 0:
            continue
        share = np.repeat(np.repeat(grad_output[k].astype(float), gh, axis=1), gw, axis=2) / (gh * gw)  # (C, S, T)
        base = (int(roi[0]) * C + np.arange(C))[:, None, None] * (H * W)
        for ys, wy in ((yl, wyl), (yh, wyh)):
            for xs, wx in ((xl, wxl), (xh, wxh)):
                idx = base + ys[None, :, None] * W + xs[None, None, :]
                grad += np.bincount(idx.ravel(), (share * np.outer(wy, wx)[None]).ravel(), minlength=grad.size)
    return grad.reshape(N, C, H, W).astype(features.dtype)


def einsum_roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, mode="avg"):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    out = np.zeros((len(rois), C, ph, pw), dtype=features.dtype)
    for k, (b, x1, y1, x2, y2) in enumerate(np.asarray(rois, float)):
        Ay = _axis_matrix(y1, y2, ph, H, spatial_scale, sampling_ratio, aligned)
        Ax = _axis_matrix(x1, x2, pw, W, spatial_scale, sampling_ratio, aligned)
        out[k] = np.einsum("ih,chw,jw->cij", Ay, features[int(b)], Ax, optimize=True)
    return out


def einsum_roi_align_backward(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                              aligned=False, mode="avg"):
    ph, pw = _pair(output_size)
    N, C, H, W = features.shape
    grad = np.zeros(features.shape)
    for k, (b, x1, y1, x2, y2) in enumerate(np.asarray(rois, float)):
        Ay = _axis_matrix(y1, y2, ph, H, spatial_scale, sampling_ratio, aligned)
        Ax = _axis_matrix(x1, x2, pw, W, spatial_scale, sampling_ratio, aligned)
        grad[int(b)] += np.einsum("ih,cij,jw->chw", Ay, grad_output[k], Ax, optimize=True)
    return grad.astype(features.dtype)


def slow_roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, mode="avg"):
    """Exercise 04's loops: correct, far too slow to train with."""
    return roi_align_variant(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)


# ============================================================================ the tables
BUGS = {
    "01_convolution": [
        Bug("flipped kernel (a true convolution)",
            dict(conv_forward=lambda *a, **k: conv_forward_loops(*a, **k, flip=True)),
            ("one_hot_kernel", "worked_example"), "copies input channel c0"),
        Bug("filter and channel axes of w transposed",
            dict(conv_forward=lambda *a, **k: conv_forward_loops(*a, **k, transpose=True)),
            ("one_hot_kernel", "reference_forward"), "only non-zero"),
        Bug("padding on one side only",
            dict(conv_forward=lambda *a, **k: conv_forward_loops(*a, **k, pad_one_side=True)),
            ("one_hot_kernel", "worked_example"), "shifted by the tap"),
        Bug("dw overwritten instead of accumulated", dict(
            conv_backward=lambda *a, **k: conv_backward_loops(*a, **k, overwrite_dw=True)),
            ("gradient_check", "reference_backward"), "relative error"),
        Bug("db is a mean, not a sum", dict(conv_backward=lambda *a, **k: conv_backward_loops(*a, **k, db_mean=True)),
            ("gradient_check", "reference_backward"), "db"),
        Bug("gradient to the wrong pixels (stride ignored in dx)", dict(
            conv_backward=lambda *a, **k: conv_backward_loops(*a, **k, ignore_stride=True)),
            ("gradient_check",), "dx"),
    ],
    "02_bilinear_interpolation": [
        Bug("transposed weights (each neighbour gets its own area)",
            dict(bilinear_interpolate=lambda f, y, x: bilinear_variant(f, y, x, own_area=True)),
            ("area_weights", "worked_example"), "opposite"),
        Bug("no last-row rule (reads past the map)",
            dict(bilinear_interpolate=lambda f, y, x: bilinear_variant(f, y, x, no_last_row=True)),
            ("border_rule", "affine"), "last row"),
        Bug("outside test off by one (<= -1, >= H)",
            dict(bilinear_interpolate=lambda f, y, x: bilinear_variant(f, y, x, off_by_one_outside=True)),
            ("border_rule", "reference"), "exactly -1"),
        Bug("x and y swapped", dict(bilinear_interpolate=lambda f, y, x: bilinear_variant(f, y, x, swap_xy=True)),
            ("worked_example", "affine"), "5 * 1.25 + 2.5"),
    ],
    "03_roi_pool": [
        Bug("exclusive end pixel (no +1)", dict(roi_pool=lambda *a: roi_pool_variant(*a, exclusive_end=True)),
            ("end_pixel", "worked_examples"), "counts the end pixel"),
        Bug("Python's round() (halves to even)", dict(roi_pool=lambda *a: roi_pool_variant(*a, python_round=True)),
            ("rounding", "reference"), "halves round away from zero"),
        Bug("average instead of max", dict(roi_pool=lambda *a: roi_pool_variant(*a, average=True)),
            ("end_pixel", "worked_examples"), "RoIAlign(mode='max'"),
        Bug("bin ends rounded down (floor instead of ceil)",
            dict(roi_pool=lambda *a: roi_pool_variant(*a, floor_both=True)),
            ("worked_examples", "reference"), "share column 2"),
        Bug("bins not clipped to the map", dict(roi_pool=lambda *a: roi_pool_variant(*a, no_clip=True)),
            ("reference",), "first wrong RoI"),
    ],
    "04_roi_align": [
        Bug("half-pixel shift missing (aligned ignored)", dict(roi_align=lambda *a: roi_align_variant(*a, shift=False)),
            ("affine", "worked_examples"), "half-pixel shift"),
        Bug("max instead of avg", dict(roi_align=lambda *a: roi_align_variant(*a, always_max=True)),
            ("affine", "worked_examples"), "bin's centre"),
        Bug("wrong normaliser (divides by the sample rows only)",
            dict(roi_align=lambda *a: roi_align_variant(*a, normaliser="rows")),
            ("constant_map", "worked_examples"), "constant map"),
        Bug("adaptive grid with floor instead of ceil",
            dict(roi_align=lambda *a: roi_align_variant(*a, floor_adaptive=True)),
            ("reference_forward",), "sampling_ratio=-1"),
        Bug("no 1-pixel minimum when not aligned", dict(roi_align=lambda *a: roi_align_variant(*a, min_size=False)),
            ("worked_examples", "reference_forward"), "forced to 1x1"),
        Bug("gradient to the wrong neighbour (top-right and bottom-left swapped)",
            dict(roi_align_backward=lambda *a: roi_align_backward_variant(*a, wrong_neighbour=True)),
            ("gradient_check", "reference_backward"), "numerical gradient"),
        Bug("max mode sends the gradient to every sample",
            dict(roi_align_backward=lambda *a: roi_align_backward_variant(*a, max_to_all=True)),
            ("gradient_check", "reference_backward"), "mode='max'"),
    ],
    "05_nms": [
        Bug(">= instead of > (suppresses at IoU == threshold)", dict(nms=lambda *a: nms_variant(*a, geq=True)),
            ("strict", "properties"), "strict"),
        Bug("ties in reverse order (argsort(scores)[::-1])", dict(nms=lambda *a: nms_variant(*a, reversed_sort=True)),
            ("ties", "reference"), "tie rule"),
        Bug("suppressed boxes still suppress others", dict(nms=lambda *a: nms_variant(*a, suppressed_suppress=True)),
            ("properties", "reference"), "suppressed"),
        Bug("union without subtracting the intersection", dict(nms=lambda *a: nms_variant(*a, no_minus_inter=True)),
            ("worked_example", "properties"), "worked example"),
        Bug("per-class NMS ignores the classes", dict(batched_nms=batched_nms_class_blind),
            ("batched_properties", "batched_reference"), "never suppress each other"),
    ],
    "06_boxes": [
        Bug("+1 in widths and heights (the old pixel convention)",
            dict(box_iou=lambda a, b: box_iou_variant(a, b, plus_one=True)),
            ("iou_worked", "iou_reference"), "union 150"),
        Bug("union = area1 + area2 (intersection not subtracted)",
            dict(box_iou=lambda a, b: box_iou_variant(a, b, no_minus_inter=True)),
            ("iou_worked", "iou_properties"), "union 150"),
        Bug("0 / 0 = NaN for two empty boxes", dict(box_iou=lambda a, b: box_iou_variant(a, b, nan_union=True)),
            ("iou_worked", "iou_properties"), "zero-area"),
        Bug("log(w / w') instead of log(w' / w)", dict(encode_boxes=lambda *a: encode_variant(*a, inverted_log=True)),
            ("encode_worked", "roundtrip"), "dw = log(20 / 10)"),
        Bug("decoding without the clamp", dict(decode_boxes=lambda *a, **k: decode_variant(*a, **k, no_clamp=True)),
            ("decode_reference",), "clamp"),
        Bug("weights multiplied in decode instead of divided",
            dict(decode_boxes=lambda *a, **k: decode_variant(*a, **k, multiply=True)),
            ("roundtrip", "decode_reference"), "decoding inverts encoding"),
    ],
    "07_mask_targets_and_loss": [
        Bug("sigmoid over all classes' channels", dict(mask_loss=lambda *a: mask_loss_variant(*a, all_classes=True)),
            ("gt_channel_only", "loss_worked"), "ground-truth class's channel"),
        Bug("loss on negative RoIs too (label 0 -> channel -1)",
            dict(mask_loss=lambda *a: mask_loss_variant(*a, negatives=True)),
            ("negatives_ignored", "loss_worked"), "background RoIs"),
        Bug("wrong normaliser (sum over pixels, mean over RoIs)",
            dict(mask_loss=lambda *a: mask_loss_variant(*a, sum_pixels=True)),
            ("loss_worked", "loss_reference"), "mean over the 8 pixels"),
        Bug("log(sigmoid(z)) overflows", dict(mask_loss=lambda *a: mask_loss_variant(*a, unstable=True)),
            ("stable",), "overflows"),
        Bug("channel = label (off by one)", dict(mask_loss=lambda *a: mask_loss_variant(*a, label_channel=True)),
            ("loss_worked", "gt_channel_only"), "worked example"),
        Bug("targets cut without the half-pixel shift", dict(
            mask_targets=lambda *a: mask_targets_variant(*a, aligned=False)),
            ("targets_worked", "targets_reference"), "box-shaped mask"),
        Bug("targets thresholded with > 0.5", dict(mask_targets=lambda *a: mask_targets_variant(*a, strict=True)),
            ("targets_worked",), ">= 0.5"),
    ],
    "08_paste_masks": [
        Bug("pixel corners instead of centres (no + 0.5)",
            dict(paste_mask=lambda *a, **k: paste_variant(*a, **k, corners=True)),
            ("box_filling", "property"), "centres"),
        Bug("nearest-neighbour resize", dict(paste_mask=lambda *a, **k: paste_variant(*a, **k, nearest=True)),
            ("threshold", "reference"), "zero padding"),
        Bug("> instead of >= at the threshold", dict(paste_mask=lambda *a, **k: paste_variant(*a, **k, strict=True)),
            ("threshold",), "inclusive"),
        Bug("edge padding instead of zero padding",
            dict(paste_mask=lambda *a, **k: paste_variant(*a, **k, edge_pad=True)),
            ("property", "box_filling"), "outside the box"),
        Bug("box rounded to whole pixels", dict(paste_mask=lambda *a, **k: paste_variant(*a, **k, rounded=True)),
            ("reference",), "disagrees with the package's reference"),
    ],
    "09_average_precision": [
        Bug("11-point (VOC 2007) interpolation", dict(
            interpolated_ap=lambda p, r: interpolated_variant(p, r, eleven=True),
            average_precision=make_average_precision(match_variant, precision_recall_variant,
                                                     lambda p, r: interpolated_variant(p, r, eleven=True))),
            ("interpolation", "worked_example"), "101 recall points"),
        Bug("no precision envelope", dict(
            interpolated_ap=lambda p, r: interpolated_variant(p, r, no_envelope=True),
            average_precision=make_average_precision(match_variant, precision_recall_variant,
                                                     lambda p, r: interpolated_variant(p, r, no_envelope=True))),
            ("interpolation", "evaluator"), "interpolated_ap"),
        Bug("an object matched twice (duplicates count as hits)", dict(
            match_detections=lambda i, t: match_variant(i, t, reuse=True),
            average_precision=make_average_precision(lambda i, t: match_variant(i, t, reuse=True),
                                                     precision_recall_variant, interpolated_variant)),
            ("matching", "worked_example"), "duplicate"),
        Bug("IoU > threshold instead of >=", dict(match_detections=lambda i, t: match_variant(i, t, strict=True)),
            ("matching",), "match_detections"),
        Bug("recall divided by the number of detections", dict(
            precision_recall=lambda t, n: precision_recall_variant(t, n, recall_over_dets=True)),
            ("precision_recall",), "recall"),
    ],
    "10_capstone": [
        Bug("half-pixel shift missing", dict(roi_align=lambda *a: fast_roi_align_variant(*a, shift=False)),
            ("forward", "trains"), "first wrong RoI"),
        Bug("sum over the samples instead of the mean",
            dict(roi_align=lambda *a: fast_roi_align_variant(*a, total=True)),
            ("forward",), "roi_align"),
        Bug("gradient to the wrong neighbour", dict(
            roi_align_backward=lambda *a: fast_roi_align_backward_variant(*a, swap=True)),
            ("backward",), "roi_align_backward"),
        Bug("exercise 04's loops: correct but too slow to train", dict(roi_align=slow_roi_align),
            ("speed",), "took"),
    ],
}

ALTERNATIVES = {
    "01_convolution": [
        ("vectorised (sliding windows + einsum)", dict(conv_forward=conv_forward_windows,
                                                      conv_backward=conv_backward_windows)),
        ("loops over the kernel's taps", dict(conv_forward=conv_forward_taps, conv_backward=conv_backward_taps)),
    ],
    "02_bilinear_interpolation": [
        ("two 1-D interpolations", dict(bilinear_interpolate=bilinear_two_lerps)),
        ("NumPy arrays, outer product of 1-D weights", dict(bilinear_interpolate=bilinear_numpy)),
    ],
    "03_roi_pool": [
        ("vectorised over bins (boolean masks)", dict(roi_pool=roi_pool_masks)),
        ("channels outermost, max by hand", dict(roi_pool=roi_pool_pixel_loops)),
    ],
    "04_roi_align": [
        ("vectorised per RoI, np.add.at backward", dict(roi_align=roi_align_vectorised,
                                                        roi_align_backward=roi_align_backward_vectorised)),
        ("channels innermost", dict(roi_align=roi_align_channels_inner,
                                    roi_align_backward=roi_align_backward_channels_inner)),
    ],
    "05_nms": [
        ("while loop with box_iou, offset-trick batching", dict(nms=nms_while, batched_nms=batched_nms_offsets)),
        ("IoU matrix up front, merge per class", dict(nms=nms_matrix, batched_nms=batched_nms_merge)),
    ],
    "06_boxes": [
        ("loops, row by row", dict(box_iou=box_iou_loops, encode_boxes=encode_rowwise, decode_boxes=decode_rowwise)),
        ("column splits, np.divide(where=)", dict(box_iou=box_iou_split, encode_boxes=encode_variant,
                                                 decode_boxes=decode_variant)),
    ],
    "07_mask_targets_and_loss": [
        ("one RoI at a time, np.logaddexp", dict(mask_targets=mask_targets_per_roi, mask_loss=mask_loss_loops)),
        ("one-hot channel mask; sampling grid by hand", dict(mask_targets=mask_targets_bilinear,
                                                              mask_loss=mask_loss_onehot)),
    ],
    "08_paste_masks": [
        ("loops over the box's pixels", dict(paste_mask=paste_loops)),
        ("np.interp over the zero-padded mask", dict(paste_mask=paste_interp)),
    ],
    "09_average_precision": [
        ("max over reached recalls, loops", dict(
            match_detections=match_sorted_pairs, precision_recall=precision_recall_loop,
            interpolated_ap=interpolated_max_over,
            average_precision=make_average_precision(match_sorted_pairs, precision_recall_loop,
                                                     interpolated_max_over))),
        ("variants with every switch off", dict(
            match_detections=match_variant, precision_recall=precision_recall_variant,
            interpolated_ap=interpolated_variant,
            average_precision=make_average_precision(match_variant, precision_recall_variant, interpolated_variant))),
    ],
    "10_capstone": [
        ("gather the neighbours, np.bincount scatter", dict(roi_align=gather_roi_align,
                                                            roi_align_backward=bincount_roi_align_backward)),
        ("einsum of the axis matrices", dict(roi_align=einsum_roi_align, roi_align_backward=einsum_roi_align_backward)),
    ],
}
