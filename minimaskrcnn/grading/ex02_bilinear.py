"""Exercise 02: bilinear interpolation, its four area weights and the border rule.

The student writes::

    bilinear_interpolate(feature, y, x) -> (value, ys, xs, weights)

for one point of an (H, W) map in the index frame (``feature[i, j]`` sits at
``(y, x) = (i, j)``): the neighbours' rows ``ys`` and columns ``xs`` and the
weights in the order top-left, top-right, bottom-left, bottom-right, with
torchvision's border rule. Reference: ``minimaskrcnn.ops.bilinear_interpolate_naive``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn.grading import properties as P
from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, describe_case, expect_close, explain, falsify
from minimaskrcnn.ops import bilinear_interpolate_naive

F = np.arange(25.0).reshape(5, 5)  # f[y, x] = 5y + x


def reference(feature, y, x):
    s = bilinear_interpolate_naive(feature, y, x)
    return float(s.value), s.ys, s.xs, s.weights


def _unpack(got, name="bilinear_interpolate"):
    try:
        value, ys, xs, weights = got
        return float(value), np.asarray(ys).reshape(-1), np.asarray(xs).reshape(-1), \
            np.asarray(weights, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} must return (value, ys, xs, weights), got {got!r}") from None


def compare(got, expected, name="bilinear_interpolate", shape=None):
    """Same value, and the same weight on every pixel (neighbours that coincide at the border add up)."""
    value, ys, xs, weights = _unpack(got, name)
    e_value, e_ys, e_xs, e_weights = expected
    expect_close(value, e_value, f"{name}: value", rtol=1e-12, atol=1e-12)
    if len(weights) != 4:
        raise CheckFailed(f"{name}: expected 4 weights, got {len(weights)}")
    expect_close(P.dense_weights(ys, xs, weights, shape), P.dense_weights(e_ys, e_xs, e_weights, shape),
                 f"{name}: the weight each pixel of the map gets", rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- checks
def check_worked_example(s):
    got = s.bilinear_interpolate(F, 1.25, 2.5)
    value, ys, xs, weights = _unpack(got)
    what = "bilinear_interpolate(np.arange(25.).reshape(5, 5), y=1.25, x=2.5)"
    expect_close(value, 8.75, f"{what}: value (= 5 * 1.25 + 2.5)")
    expect_close(ys, [1, 1, 2, 2], f"{what}: ys (rows of top-left, top-right, bottom-left, bottom-right)",
                 exact=True)
    expect_close(xs, [2, 3, 2, 3], f"{what}: xs", exact=True)
    expect_close(weights, [0.375, 0.375, 0.125, 0.125],
                 f"{what}: weights (each neighbour gets the area of the rectangle opposite it)")


def check_area_weights(s):
    falsify("inside the map, the four weights are the areas of the rectangles opposite each neighbour "
            "(top-left gets (1 - ly) * (1 - lx), ...), in the order top-left, top-right, bottom-left, "
            "bottom-right", P.interior_points(), lambda case: P.check_area_weights(case, s.bilinear_interpolate), s)


def check_affine(s):
    falsify("bilinear interpolation of an affine map f[y, x] = a*x + b*y + c is exact: at any point (y, x) "
            "of [0, H-1] x [0, W-1] it returns a*x + b*y + c, and the weights sum to 1",
            P.affine_points(), lambda case: P.check_affine_bilinear(case, s.bilinear_interpolate), s)


def check_border_rule(s):
    for y, x, expected, why in P.BILINEAR_BORDER_CASES:
        call = f"bilinear_interpolate(np.arange(25.).reshape(5, 5), y={y}, x={x})"
        with explain(f"border rule: {why}\n{call}"):
            value, _, _, _ = _unpack(s.bilinear_interpolate(F, y, x))
        if not np.isclose(value, expected, rtol=1e-9, atol=1e-9):
            raise CheckFailed(f"border rule: {why}\n{call}: expected {expected}, got {value}")

    @st.composite
    def near_border(draw):
        H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        return dict(feature=draw(P.small_int_map(H, W))[0, 0], y=draw(P.eighths(-2, H + 1)),
                    x=draw(P.eighths(-2, W + 1)))

    def prop(case):
        compare(s.bilinear_interpolate(*case.values()), reference(**case), shape=case["feature"].shape)

    falsify("the border rule: outside [-1, H] x [-1, W] the value and weights are 0; a coordinate in [-1, 0) "
            "is clamped to 0; on or past the last row (column) that row (column) is used alone",
            near_border(), prop, s)


def random_points(seed: int, n: int = 200):
    rng = np.random.default_rng(seed)
    H, W = rng.integers(2, 9, size=2)
    feature = rng.normal(size=(H, W))
    ys = np.concatenate([rng.uniform(-2, H + 1, n), [-1, 0, H - 1, H, -1.5, H + 0.5, 0.5]])
    xs = np.concatenate([rng.uniform(-2, W + 1, n), [-1, 0, W - 1, W, W - 0.5, -1.2, W + 0.25]])
    return feature, ys, xs


def check_reference(s, seed=0):
    feature, ys, xs = random_points(seed)
    for n, (y, x) in enumerate(zip(ys, xs)):
        try:
            compare(s.bilinear_interpolate(feature, float(y), float(x)), reference(feature, y, x),
                    shape=feature.shape)
        except CheckFailed as e:
            raise CheckFailed(f"disagrees with the package's reference at point {n + 1} of {len(ys)}:\n{e}\n"
                              f"inputs:\n{describe_case(dict(feature=feature, y=float(y), x=float(x)))}") from None


NEEDS = ("bilinear_interpolate",)
EXERCISE = Exercise(
    id="02_bilinear_interpolation",
    title="Bilinear interpolation: four area weights and the border rule",
    lecture="02_bilinear_interpolation.ipynb",
    functions=NEEDS,
    minutes=40,
    teaches="Reading a feature map between its pixels: the four neighbours, each weighted by the area "
            "opposite it, exactness on affine maps, and torchvision's border rule (the building block of "
            "RoIAlign). Catches transposed weights (own area instead of the opposite one), x/y mix-ups and "
            "off-by-one border tests.",
    checks=(
        Check("worked_example", "worked example: arange(25) at (1.25, 2.5)", 2, NEEDS, check_worked_example),
        Check("area_weights", "property: weights are the opposite areas, in order", 2, NEEDS, check_area_weights),
        Check("affine", "property: exact on affine maps", 2, NEEDS, check_affine),
        Check("border_rule", "the border rule (table and property)", 2, NEEDS, check_border_rule),
        Check("reference", "equals the package's reference (seeded random points)", 2, NEEDS, check_reference),
        Check("hidden", "hidden cases: more random points against the reference", 1, NEEDS,
              lambda s: check_reference(s, seed=100), hidden=True),
    ),
)
