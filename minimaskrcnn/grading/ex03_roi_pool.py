"""Exercise 03: RoIPool forward, with torchvision's semantics.

The student writes::

    roi_pool(features, rois, output_size, spatial_scale=1.0) -> (K, C, ph, pw)

Round the box (halves away from zero), count the end pixel, cut whole-pixel
bins (floor / ceil), max-pool; empty bins give 0. Reference:
``minimaskrcnn.ops.roi_pool_naive``.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.grading import properties as P
from minimaskrcnn.grading.core import Check, Exercise, expect_close, explain, falsify
from minimaskrcnn.grading.roi_cases import agree_rois, roi_pool_cases
from minimaskrcnn.ops import roi_align, roi_pool_naive


def reference(features, rois, output_size, spatial_scale=1.0):
    return roi_pool_naive(features, rois, output_size, spatial_scale)


def check_worked_examples(s):
    for box, size, scale, expected, why in P.ROI_POOL_EXAMPLES:
        if "halves" in why:
            continue  # its own check
        with explain(f"worked example: {why}\nroi_pool(np.arange(25.).reshape(1, 1, 5, 5), "
                     f"rois=[[0, {', '.join(map(str, box))}]], output_size={size}, spatial_scale={scale})"):
            expect_close(s.roi_pool(P.ARANGE, P.one_roi(box), size, scale), np.asarray(expected, float)[None, None],
                         "roi_pool")


def check_rounding(s):
    box, size, scale, expected, why = next(c for c in P.ROI_POOL_EXAMPLES if "halves" in c[4])
    with explain(f"{why}\nroi_pool(np.arange(25.).reshape(1, 1, 5, 5), rois=[[0, 0.5, 0.5, 1.5, 2.5]], "
                 f"output_size=1)"):
        expect_close(s.roi_pool(P.ARANGE, P.one_roi(box), size, scale), np.asarray(expected, float)[None, None],
                     "roi_pool")


def check_end_pixel(s):
    falsify("RoIPool counts the end pixel: on pixels x1..x2 and y1..y2 (both ends included) it equals "
            "RoIAlign(mode='max', aligned=True) on the continuous box [x1, x2 + 1) x [y1, y2 + 1) "
            "with one sample on every pixel centre", P.end_pixel_cases(),
            lambda case: P.check_end_pixel(case, s.roi_pool, roi_align), s)


def check_piecewise_constant(s):
    falsify("RoIPool rounds the box to whole pixels: moving its corners by less than half a pixel "
            "changes nothing", P.roi_pool_rounding_cases(), lambda case: P.check_rounding_roi_pool(case, s.roi_pool), s)


def check_translation(s):
    falsify("moving the image and the box by whole pixels (away from the border) changes nothing",
            P.translation_cases(), lambda case: P.check_translation_roi_pool(case, s.roi_pool), s)


def check_constant(s):
    falsify("a constant map gives the constant in every bin that holds a pixel of the map, 0 in an empty bin",
            P.roi_pool_constant_cases(), lambda case: P.check_constant_map_roi_pool(case, s.roi_pool), s)


def check_reference(s, seed=0):
    agree_rois("roi_pool", roi_pool_cases(seed), s.roi_pool, reference)


NEEDS = ("roi_pool",)
EXERCISE = Exercise(
    id="03_roi_pool",
    title="RoIPool: a fixed-size grid by rounding to whole pixels",
    lecture="03_roipool_vs_roialign.ipynb",
    functions=NEEDS,
    minutes=45,
    teaches="Fast R-CNN's RoI max pooling exactly as torchvision computes it: rounding halves away from "
            "zero, the inclusive end pixel (+1), bins rounded outwards with floor/ceil, clipping, empty "
            "bins. Properties tie it to RoIAlign (the end pixel) and show what rounding does (sub-pixel "
            "moves change nothing).",
    checks=(
        Check("worked_examples", "worked examples on arange(25)", 2, NEEDS, check_worked_examples),
        Check("rounding", "halves round away from zero", 1, NEEDS, check_rounding),
        Check("end_pixel", "property: the inclusive end pixel (vs RoIAlign max)", 2, NEEDS, check_end_pixel),
        Check("piecewise_constant", "property: sub-pixel moves of the box change nothing", 1, NEEDS,
              check_piecewise_constant),
        Check("translation", "property: whole-pixel translations change nothing", 1, NEEDS, check_translation),
        Check("constant_map", "property: constant maps, empty bins", 1, NEEDS, check_constant),
        Check("reference", "equals the package's reference (ties, borders, zero sizes, scales, no RoIs)", 3,
              NEEDS, check_reference),
        Check("hidden", "hidden cases against the reference", 1, NEEDS, lambda s: check_reference(s, seed=100),
              hidden=True),
    ),
)
