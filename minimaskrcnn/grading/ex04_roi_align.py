"""Exercise 04: RoIAlign forward (avg and max, aligned, sampling_ratio, adaptive) and backward.

The student writes::

    roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
              mode="avg") -> (K, C, ph, pw)
    roi_align_backward(grad_output, features, rois, output_size, spatial_scale=1.0,
                       sampling_ratio=-1, aligned=False, mode="avg") -> (N, C, H, W)

Reference: ``minimaskrcnn.ops.roi_align_naive`` / ``roi_align_backward_naive``.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.grading import properties as P
from minimaskrcnn.grading.core import Check, Exercise, as_array, expect_close, expect_gradient, explain, falsify
from minimaskrcnn.grading.roi_cases import agree_rois, roi_align_cases, with_grad_output
from minimaskrcnn.nn import numerical_gradient
from minimaskrcnn.ops import bilinear_interpolate, roi_align_backward_naive, roi_align_naive, roi_align_sampling_points
from minimaskrcnn.ops import roi_pool as package_roi_pool


def reference(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False, mode="avg"):
    return roi_align_naive(features, rois, output_size, spatial_scale, sampling_ratio, aligned, mode)


def reference_backward(grad_output, features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1,
                       aligned=False, mode="avg"):
    return roi_align_backward_naive(grad_output, features, rois, output_size, spatial_scale, sampling_ratio,
                                    aligned, mode)


def check_worked_examples(s):
    for (box, size, ratio, aligned, scale, expected, why), mode in \
            [(c, "avg") for c in P.ROI_ALIGN_EXAMPLES] + [(P.ROI_ALIGN_MAX_EXAMPLE, "max")]:
        with explain(f"worked example: {why}\nroi_align(np.arange(25.).reshape(1, 1, 5, 5), "
                     f"rois=[[0, {', '.join(map(str, box))}]], output_size={size}, spatial_scale={scale}, "
                     f"sampling_ratio={ratio}, aligned={aligned}, mode={mode!r})"):
            expect_close(s.roi_align(P.ARANGE, P.one_roi(box), size, scale, ratio, aligned, mode),
                         np.asarray(expected, float)[None, None], "roi_align")


def check_constant(s):
    falsify("a constant map gives the constant in every bin (0 in a bin with no sampling points)",
            P.constant_map_cases(), lambda case: P.check_constant_map_roi_align(case, s.roi_align), s)


def check_affine(s):
    falsify("on an affine map f[y, x] = a*x + b*y + c, RoIAlign (aligned=True, mode='avg', every sample on the "
            "map) returns f at each bin's centre: the half-pixel shift puts the box exactly where it is",
            P.affine_cases(), lambda case: P.check_affine_roi_align(case, s.roi_align), s)


def check_subpixel_shift(s):
    falsify("moving the box by a fraction of a pixel (dx, dy) on an affine map f = a*x + b*y + c changes every "
            "output by exactly (a*dx + b*dy) * spatial_scale: RoIAlign follows the box, nothing is rounded",
            P.subpixel_shift_cases(), lambda case: P.check_subpixel_shift_roi_align(case, s.roi_align), s)


def check_translation(s):
    falsify("moving the image and the box by whole pixels (away from the border) changes nothing",
            P.translation_cases(), lambda case: P.check_translation_roi_align(case, s.roi_align), s)


def check_end_pixel(s):
    falsify("RoIAlign(mode='max', aligned=True) on the continuous box [x1, x2 + 1) x [y1, y2 + 1), with one "
            "sample on every pixel centre, equals RoIPool on pixels x1..x2 and y1..y2 (ends included)",
            P.end_pixel_cases(), lambda case: P.check_end_pixel(case, package_roi_pool, s.roi_align), s)


def check_reference_forward(s, seed=0):
    agree_rois("roi_align", roi_align_cases(seed), s.roi_align, reference)


GRADIENT_ROIS = np.array([[0, 0.4, 1.1, 4.3, 4.8], [0, -1.5, 2.0, 3.0, 6.5], [0, 2.2, 0.3, 5.6, 3.9]])


def _max_mode_case():
    """Features whose winning sample beats the runner-up clearly in every bin (no tie under +-h)."""
    for seed in range(100):  # the first seed that gives clear winners (deterministic)
        f = np.random.default_rng(seed).normal(size=(1, 1, 5, 6))
        gaps = []
        for roi in GRADIENT_ROIS[:2]:
            ys, xs = roi_align_sampling_points(roi[1:], 2, 1.0, 2, True)
            for c in range(1):
                v = bilinear_interpolate(f[0, c], ys[:, None, :, None], xs[None, :, None, :]).value  # (2, 2, 2, 2)
                top2 = np.sort(v.reshape(2, 2, 4), axis=-1)[..., -2:]
                gaps.append((top2[..., 1] - top2[..., 0]).min())
        if min(gaps) > 1e-3:
            return f
    raise RuntimeError("no tie-free features found")


def check_gradient(s):
    rng = np.random.default_rng(1)
    configs = [((3, 2), -1, False, "avg", None), (2, 2, True, "avg", None), (2, 2, True, "max", _max_mode_case())]
    for size, ratio, aligned, mode, f in configs:
        rois = GRADIENT_ROIS if mode == "avg" else GRADIENT_ROIS[:2]
        f = rng.normal(size=(1, 1, 5, 6)) if f is None else f
        out_shape = (len(rois), 1, *((size, size) if np.isscalar(size) else size))
        g = rng.normal(size=out_shape)
        what = (f"roi_align_backward (output_size={size}, sampling_ratio={ratio}, aligned={aligned}, "
                f"mode={mode!r}, features (1, 1, 5, 6), float64)")
        got = s.roi_align_backward(g, f.copy(), rois, size, 1.0, ratio, aligned, mode)
        num = numerical_gradient(
            lambda x: as_array(s.roi_align(x, rois, size, 1.0, ratio, aligned, mode), "roi_align", out_shape), f, g)
        expect_gradient(got, num, what)


def check_reference_backward(s, seed=1):
    cases = with_grad_output(roi_align_cases(seed), reference, seed)
    agree_rois("roi_align_backward", cases, s.roi_align_backward, reference_backward, output="features")


def check_hidden(s):
    check_reference_forward(s, seed=100)
    check_reference_backward(s, seed=101)


FORWARD = ("roi_align",)
BOTH = ("roi_align", "roi_align_backward")
EXERCISE = Exercise(
    id="04_roi_align",
    title="RoIAlign forward (avg and max, aligned, sampling_ratio) and backward",
    lecture="03_roipool_vs_roialign.ipynb",
    functions=BOTH,
    minutes=90,
    teaches="Mask R-CNN's RoIAlign: exact bins, a regular grid of sampling points (fixed or adaptive), "
            "bilinear samples, average or max pooling, the half-pixel `aligned` shift and the legacy "
            "1-pixel minimum; then its backward pass, where each sample hands its gradient to its four "
            "neighbours. The hypothesis properties are the ones that tell RoIAlign from RoIPool.",
    checks=(
        Check("worked_examples", "worked examples on arange(25) (aligned, adaptive, max, borders)", 2, FORWARD,
              check_worked_examples),
        Check("constant_map", "property: constant maps", 1, FORWARD, check_constant),
        Check("affine", "property: exact on affine maps at the bin centres", 2, FORWARD, check_affine),
        Check("subpixel_shift", "property: follows sub-pixel shifts of the box", 2, FORWARD, check_subpixel_shift),
        Check("translation", "property: whole-pixel translations change nothing", 1, FORWARD, check_translation),
        Check("end_pixel", "property: max mode on [x1, x2+1) equals RoIPool on x1..x2", 1, FORWARD,
              check_end_pixel),
        Check("reference_forward", "forward equals the package's reference (all options, borders, no RoIs)", 3,
              FORWARD, check_reference_forward),
        Check("gradient_check", "float64 gradient check (avg, adaptive, max)", 2, BOTH, check_gradient),
        Check("reference_backward", "backward equals the package's reference", 2, BOTH, check_reference_backward),
        Check("hidden", "hidden cases: forward and backward against the reference", 1, BOTH, check_hidden,
              hidden=True),
    ),
)
