"""Timings of the RoI primitives: Numba kernels vs their naive references.

    python benchmarks/bench_roi_ops.py            # all cases (about a minute)
    python benchmarks/bench_roi_ops.py --quick    # fewer repetitions

Cases (issue 3, item 9), all float32, sampling_ratio 2, aligned=True, 7x7:
  (a) features (1, 64, 32, 32),    256 RoIs, spatial_scale 1/8
  (b) features (1, 256, 100, 136), 1000 RoIs, spatial_scale 1/8
and the model's typical calls: 512 RoIs on (8, 128, 8, 8) at 1/16 and on
(8, 64, 16, 16) at 1/8, 7x7 (box head) and 14x14 (mask head).
NMS: 1000 and 5000 random boxes, IoU threshold 0.5.

RoIs: uniform corners inside the image, sides 16 px .. half the image
(``random_rois``); NMS boxes: corners uniform in a 1000 x 1000 image, sides
10..100 px (most boxes survive, the quadratic worst case).

Each figure is the best of several runs (wall clock; the first call, which
compiles or loads the kernels, is excluded). The naive references are pure
Python; their time is measured on a few RoIs (or channels) and scaled
linearly, which the printout marks with "~". Reference figures for
torchvision's CPU kernels on a 2-core machine, from the issue: roi_align fwd
(a) 10 ms, (b) 310 ms; fwd+bwd (b) 1.0 s; roi_pool fwd (b) 580 ms; nms 1000
boxes 3.7 ms, 5000 boxes 60 ms.
"""
from __future__ import annotations

import sys
import time

import numba
import numpy as np

from minimaskrcnn.ops import (
    nms,
    nms_naive,
    roi_align,
    roi_align_backward,
    roi_align_naive,
    roi_pool,
    roi_pool_naive,
)

TORCHVISION_MS = {  # issue 3, item 9
    ("a", "roi_align fwd"): 10.0,
    ("b", "roi_align fwd"): 310.0,
    ("b", "roi_align fwd+bwd"): 1000.0,
    ("b", "roi_pool fwd"): 580.0,
    ("nms", "1000 boxes"): 3.7,
    ("nms", "5000 boxes"): 60.0,
}


def best_ms(fn, repeats: int) -> float:
    fn()  # compile / load from cache, warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * min(times)


def random_rois(rng, k: int, batch: int, image_hw) -> np.ndarray:
    """(k, 5) float32 RoIs inside an image of image_hw pixels, sides 16 px .. half the image."""
    h, w = image_hw
    side = rng.uniform(16, 0.5 * min(h, w), size=(k, 2))  # (k, 2) width, height
    x1 = rng.uniform(0, w - side[:, 0])
    y1 = rng.uniform(0, h - side[:, 1])
    b = rng.integers(0, batch, size=k)
    return np.stack([b, x1, y1, x1 + side[:, 0], y1 + side[:, 1]], axis=1).astype(np.float32)


def random_boxes(rng, n: int):
    xy = rng.uniform(0, 1000, size=(n, 2))
    wh = rng.uniform(10, 100, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32), rng.random(n).astype(np.float32)


def row(case: str, what: str, ms: float, naive_ms: float | None, naive_note: str = "") -> None:
    speedup = f"{naive_ms / ms:9.0f}x" if naive_ms else " " * 10
    naive = f"{naive_note}{naive_ms:11.1f}" if naive_ms else " " * 12
    ref = TORCHVISION_MS.get((case, what))
    vs = f"{ref:8.1f}   {ref / ms:5.1f}x" if ref else ""
    print(f"{case:>4} {what:<20} {ms:9.2f}  {naive}  {speedup}   {vs}")


def main(repeats: int) -> None:
    rng = np.random.default_rng(0)
    print(f"numba {numba.__version__}, {numba.get_num_threads()} threads; best of {repeats} runs, ms")
    print(f"{'case':>4} {'op':<20} {'kernel':>9}  {'naive':>12}  {'speed-up':>10}   "
          f"{'torchvision':>8}  {'ratio':>6}")
    cases = [
        ("a", (1, 64, 32, 32), 256, 7, 1 / 8),
        ("b", (1, 256, 100, 136), 1000, 7, 1 / 8),
        ("m7", (8, 128, 8, 8), 512, 7, 1 / 16),
        ("m14", (8, 128, 8, 8), 512, 14, 1 / 16),
        ("f7", (8, 64, 16, 16), 512, 7, 1 / 8),
        ("f14", (8, 64, 16, 16), 512, 14, 1 / 8),
    ]
    for name, shape, k, size, scale in cases:
        features = rng.normal(size=shape).astype(np.float32)
        rois = random_rois(rng, k, shape[0], (shape[2] / scale, shape[3] / scale))
        args = (size, scale, 2, True)
        out = roi_align(features, rois, *args)
        grad = rng.normal(size=out.shape).astype(np.float32)
        fwd = best_ms(lambda: roi_align(features, rois, *args), repeats)
        both = best_ms(lambda: (roi_align(features, rois, *args),
                                roi_align_backward(grad, features, rois, *args)), repeats)
        fwd_max = best_ms(lambda: roi_align(features, rois, *args, mode="max"), repeats)
        pool = best_ms(lambda: roi_pool(features, rois, size, scale), repeats)
        # naive references: a couple of RoIs and a few channels, scaled linearly
        few, chans = 2, min(4, shape[1])
        sub_f, sub_r = features[:, :chans], rois[:few]
        scale_up = (k / few) * (shape[1] / chans)
        naive_align = best_ms(lambda: roi_align_naive(sub_f, sub_r, *args), 1) * scale_up
        naive_pool = best_ms(lambda: roi_pool_naive(sub_f, sub_r, size, scale), 1) * scale_up
        row(name, "roi_align fwd", fwd, naive_align, "~")
        row(name, "roi_align fwd+bwd", both, None)
        row(name, "roi_align fwd (max)", fwd_max, None)
        row(name, "roi_pool fwd", pool, naive_pool, "~")
    for n in (1000, 5000):
        boxes, scores = random_boxes(rng, n)
        ms = best_ms(lambda: nms(boxes, scores, 0.5), repeats)
        naive = best_ms(lambda: nms_naive(boxes, scores, 0.5), 1) if n <= 1000 else None
        row("nms", f"{n} boxes", ms, naive)


if __name__ == "__main__":
    main(repeats=3 if "--quick" in sys.argv else 10)
