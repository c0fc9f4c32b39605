"""Properties of the RoI operations and NMS, shared by the project's tests and the grader.

Each property is a hypothesis strategy of *cases* (dicts of the arguments of
one call) and a function ``check_...(case, <implementations>)`` that raises
``CheckFailed`` (an AssertionError) when the implementations break it. The
tests run them on the package's functions (tests/test_roi_properties.py);
the exercises run them on a student's, and print the smallest failing case
(minimaskrcnn/grading/core.py, ``falsify``).

Cases are built from small integers and eighths of a pixel, so that every
shift below is exact in floating point (a property fails only because the op
is wrong) and hypothesis can shrink a failure to a few pixels:

* RoIAlign vs RoIPool: constant maps, affine maps (RoIAlign exact, RoIPool off
  by a bounded amount), sub-pixel shifts of the box (RoIAlign follows them,
  RoIPool rounds them away), whole-pixel translations (both unchanged), the
  inclusive end pixel (RoIPool on pixels x1..x2 is RoIAlign-max on [x1, x2 + 1)),
  RoIAlign Lipschitz in the box;
* bilinear interpolation: area weights, affine exactness;
* NMS: what it keeps and what it suppresses; per-class NMS never crosses classes.

The tables of hand-worked values (``ROI_ALIGN_EXAMPLES``, ...) are also shared:
the unit tests pin the package to them and the exercises' worked-example checks
show them to the student.
"""
from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from minimaskrcnn.grading.core import CheckFailed, as_array, expect_close, expect_equal_indices

ARANGE = np.arange(25.0).reshape(1, 1, 5, 5)  # f[y, x] = 5y + x

# --------------------------------------------------------------------------- worked examples
# Hand-worked on f = arange(25).reshape(5, 5), f[y, x] = 5y + x (affine, so a sample at
# (y, x) inside the map reads exactly 5y + x). torchvision 0.29 gives the same numbers.
# (box, output_size, sampling_ratio, aligned, spatial_scale, expected (ph, pw), why)
ROI_ALIGN_EXAMPLES = [
    ((1, 1, 3, 3), 2, 1, True, 1.0, [[6, 7], [11, 12]],
     "aligned: box [1, 3) -> samples at pixel centres 1, 2: the pixels themselves"),
    ((1, 1, 3, 3), 2, 1, False, 1.0, [[9, 10], [14, 15]],
     "not aligned: every sample half a pixel right and down (+0.5 * 5 + 0.5 = +3)"),
    ((0, 0, 4, 4), 2, -1, False, 1.0, [[6, 8], [16, 18]],
     "adaptive grid: ceil(4 / 2) = 2 samples per axis, the mean is the bin centre"),
    ((0, 0, 4, 4), 2, 2, True, 1.0, [[3, 5], [13, 15]],
     "aligned, 2x2 samples at 0, 1 | 2, 3: the mean of 2x2 pixels"),
    ((0, 0, 5, 5), 1, 2, True, 1.0, [[12]], "samples at 0.75 and 3.25: the centre of the map"),
    ((3, 3, 6, 6), 1, 2, False, 1.0, [[5.625]],
     "samples at 3.75 and 5.25: three of four lie beyond H = 5 and read 0 -> 22.5 / 4"),
    ((4, 4, 5, 5), 1, 1, False, 1.0, [[24]], "a sample at 4.5, between the last row and H: clamped to row 4"),
    ((2, 2, 2, 2), 1, -1, True, 1.0, [[0]], "zero-size box, aligned: no samples (0)"),
    ((2, 2, 2, 2), 1, -1, False, 1.0, [[15]], "zero-size box, not aligned: forced to 1x1"),
    ((2, 2, 6, 6), 2, 1, True, 0.5, [[6, 7], [11, 12]], "spatial_scale 0.5 halves the box: the first case again"),
]
# max mode: aligned box (0, 0, 4, 4), 2x2 samples per bin at pixel centres -> the bottom-right pixel
ROI_ALIGN_MAX_EXAMPLE = ((0, 0, 4, 4), 2, 2, True, 1.0, [[6, 8], [16, 18]],
                         "max mode, 2x2 samples per bin at pixel centres: the largest is the bottom-right one")

# (box, output_size, spatial_scale, expected (ph, pw), why)
ROI_POOL_EXAMPLES = [
    ((0, 0, 3, 3), 2, 1.0, [[6, 8], [16, 18]], "pixels 0..3 inclusive (4 x 4), bins of 2 pixels"),
    ((0.6, 0.4, 3.4, 2.6), 2, 1.0, [[7, 8], [17, 18]],
     "rounds to x 1..3, y 0..3; column bins 1..2 and 2..3 share column 2"),
    ((0.5, 0.5, 1.5, 2.5), 1, 1.0, [[17]],
     "halves round away from zero: x 1..2, y 1..3 (Python's round() would give 0..2)"),
    ((1, 1, 3, 3), 3, 1.0, [[6, 7, 8], [11, 12, 13], [16, 17, 18]], "3 x 3 pixels, 3 x 3 bins: each bin one pixel"),
    ((6, 6, 9, 9), 2, 1.0, [[0, 0], [0, 0]], "a box entirely past the border: every bin empty -> 0"),
    ((2, 2, 7, 7), 2, 0.5, [[12, 14], [22, 24]], "spatial_scale 0.5: (1, 1, 3.5, 3.5) rounds to pixels 1..4"),
]

# Bilinear border rule on f = arange(25).reshape(5, 5): (y, x, expected value, why)
BILINEAR_BORDER_CASES = [
    (-1.0, 2.0, 2.0, "exactly -1: still inside, clamped to row 0"),
    (-1.0001, 2.0, 0.0, "beyond -1: outside, contributes 0"),
    (-0.5, -0.5, 0.0, "clamped to the corner pixel f[0, 0] = 0"),
    (-0.5, 3.0, 3.0, "y clamped to row 0"),
    (4.5, 1.5, 21.5, "past the last row: that row alone (row 4), x interpolated"),
    (5.0, 0.0, 20.0, "exactly H: still inside"),
    (5.0001, 0.0, 0.0, "beyond H: outside"),
    (2.5, 4.75, 16.5, "past the last column: column 4 alone"),
    (2.0, 5.5, 0.0, "beyond W: outside"),
]

# --------------------------------------------------------------------------- strategies
ratios = st.sampled_from([-1, 0, 1, 2, 3])
sizes = st.tuples(st.integers(1, 4), st.integers(1, 4))
scales = st.sampled_from([1.0, 0.5, 0.25])
modes = st.sampled_from(["avg", "max"])


def eighths(lo: float, hi: float):
    """Multiples of 1/8 in [lo, hi] (exact in floating point)."""
    return st.integers(int(8 * lo), int(8 * hi)).map(lambda v: v / 8)


@st.composite
def box_inside(draw, height, width, margin=0.0, scale=1.0):
    """(x1, y1, x2, y2) in image coordinates, on a 1/8 grid, inside [margin, size - margin] of the map."""
    def side(size):
        lo, hi = int(8 * margin), int(8 * (size - margin))
        a, b = sorted(draw(st.lists(st.integers(lo, hi), min_size=2, max_size=2)))
        return a / 8 / scale, b / 8 / scale
    (y1, y2), (x1, x2) = side(height), side(width)
    return x1, y1, x2, y2


@st.composite
def small_int_map(draw, height, width, channels=1, lo=-4, hi=4):
    """(1, C, H, W) float64 map of small integers (shrinks towards zeros)."""
    values = draw(st.lists(st.integers(lo, hi), min_size=channels * height * width,
                           max_size=channels * height * width))
    return np.array(values, dtype=np.float64).reshape(1, channels, height, width)


def affine_map(a, b, c, H, W) -> np.ndarray:
    """(1, 1, H, W) map f[y, x] = a x + b y + c."""
    y, x = np.mgrid[0:H, 0:W]
    return (a * x + b * y + c)[None, None].astype(np.float64)


def one_roi(box) -> np.ndarray:
    return np.array([[0.0, *box]])


def _align(roi_align, case, **changes):
    args = {**case, **changes}
    return roi_align(args["features"], args["rois"], args["output_size"], args["spatial_scale"],
                     args["sampling_ratio"], args["aligned"], args["mode"])


def _out_shape(case):
    size = case["output_size"]
    ph, pw = (size, size) if np.isscalar(size) else size
    return (len(case["rois"]), case["features"].shape[1], ph, pw)


# --------------------------------------------------------------------------- RoIAlign
@st.composite
def constant_map_cases(draw):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    scale = draw(scales)
    # x1 <= W - 1 keeps the unaligned (at least 1 pixel wide) RoI's samples on the map
    box = draw(box_inside(H - 1, W - 1, scale=scale))
    return dict(features=np.full((1, 1, H, W), draw(eighths(-5, 5))), rois=one_roi(box),
                output_size=draw(sizes), spatial_scale=scale, sampling_ratio=draw(ratios),
                aligned=draw(st.booleans()), mode=draw(modes))


def check_constant_map_roi_align(case, roi_align):
    """A constant map gives the constant in every bin (0 when a bin has no sampling points)."""
    from minimaskrcnn.ops import roi_align_sampling_points

    c = float(case["features"].flat[0])
    ys, xs = roi_align_sampling_points(case["rois"][0, 1:], case["output_size"], case["spatial_scale"],
                                       case["sampling_ratio"], case["aligned"])
    expected = np.full(_out_shape(case), c if ys.size and xs.size else 0.0)
    expect_close(_align(roi_align, case), expected, "roi_align", atol=1e-9)


@st.composite
def affine_cases(draw, aligned=True):
    """Affine map, box inside by half a pixel: every aligned sample lies in [0, H-1] x [0, W-1]."""
    H, W = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    scale = draw(scales)
    a, b, c = draw(eighths(-3, 3)), draw(eighths(-3, 3)), draw(eighths(-3, 3))
    box = draw(box_inside(H - 0.5, W - 0.5, margin=0.5, scale=scale))
    return dict(features=affine_map(a, b, c, H, W), rois=one_roi(box), output_size=draw(sizes),
                spatial_scale=scale, sampling_ratio=draw(ratios), aligned=aligned, mode="avg",
                a=a, b=b, c=c)


def _affine_at_bin_centres(case):
    """(ph, pw) values of f = a x + b y + c at the bin centres, in the index frame (aligned)."""
    x1, y1, x2, y2 = (v * case["spatial_scale"] for v in case["rois"][0, 1:])
    ph, pw = _out_shape(case)[2:]
    cy = y1 - 0.5 + (np.arange(ph) + 0.5) * (y2 - y1) / ph
    cx = x1 - 0.5 + (np.arange(pw) + 0.5) * (x2 - x1) / pw
    return case["a"] * cx[None, :] + case["b"] * cy[:, None] + case["c"]


def _public(case):
    return {k: v for k, v in case.items() if k not in ("a", "b", "c")}


def check_affine_roi_align(case, roi_align):
    """On f = a x + b y + c (aligned, samples on the map) each avg bin is f at the bin's centre."""
    from minimaskrcnn.ops import roi_align_sampling_points

    ys, xs = roi_align_sampling_points(case["rois"][0, 1:], case["output_size"], case["spatial_scale"],
                                       case["sampling_ratio"], True)
    if not (ys.size and xs.size):
        assume(False)  # a zero-size box with an adaptive grid has no samples
    expected = _affine_at_bin_centres(case)[None, None]
    expect_close(_align(roi_align, case), expected, "roi_align", rtol=1e-9, atol=1e-9)


def check_affine_roi_pool(case, roi_pool):
    """RoIPool reads whole pixels of rounded bins: within 3 + bin/2 pixels of the bin centre."""
    ph, pw = _out_shape(case)[2:]
    x1, y1, x2, y2 = (v * case["spatial_scale"] for v in case["rois"][0, 1:])
    bin_h, bin_w = (y2 - y1) / ph, (x2 - x1) / pw
    pooled = as_array(roi_pool(case["features"], case["rois"], case["output_size"], case["spatial_scale"]),
                      "roi_pool", (1, 1, ph, pw))[0, 0]
    a, b = case["a"], case["b"]
    bound = abs(a) * (3 + bin_w / 2) + abs(b) * (3 + bin_h / 2) + 1e-9
    err = np.abs(pooled - _affine_at_bin_centres(case))
    if not np.all(err <= bound):
        raise CheckFailed(f"roi_pool is {err.max():.3g} away from the affine map at a bin centre, "
                          f"more than the rounding allows ({bound:.3g})")


@st.composite
def subpixel_shift_cases(draw):
    """Affine map; a box one pixel inside the map, moved by up to half a pixel (eighths)."""
    H, W = draw(st.integers(5, 9)), draw(st.integers(5, 9))
    scale = draw(st.sampled_from([1.0, 0.5]))
    a, b, c = draw(eighths(-3, 3)), draw(eighths(-3, 3)), draw(eighths(-3, 3))
    box = draw(box_inside(H - 2, W - 2, margin=1, scale=scale))
    shift = (draw(eighths(-0.5, 0.5)) / scale, draw(eighths(-0.5, 0.5)) / scale)  # (dx, dy), image pixels
    return dict(features=affine_map(a, b, c, H, W), rois=one_roi(box), output_size=draw(sizes),
                spatial_scale=scale, sampling_ratio=draw(st.sampled_from([1, 2, 3])),
                aligned=draw(st.booleans()), mode=draw(modes), a=a, b=b, c=c, shift=shift)


def check_subpixel_shift_roi_align(case, roi_align):
    """Moving the box by (dx, dy) on f = a x + b y + c changes every bin by exactly a dx + b dy."""
    dx, dy = case["shift"]
    moved = case["rois"] + np.array([[0, dx, dy, dx, dy]])
    args = {k: v for k, v in _public(case).items() if k != "shift"}
    before = as_array(_align(roi_align, args), "roi_align", _out_shape(case))
    after = as_array(_align(roi_align, args, rois=moved), "roi_align", _out_shape(case))
    change = (case["a"] * dx + case["b"] * dy) * case["spatial_scale"]
    expect_close(after - before, np.full(before.shape, change),
                 f"roi_align(box moved by {(dx, dy)}) - roi_align(box)", rtol=1e-9, atol=1e-9)


@st.composite
def translation_cases(draw):
    """A small integer map, a box one pixel inside it, and a whole-pixel translation (ty, tx)."""
    H, W = draw(st.integers(4, 7)), draw(st.integers(4, 7))
    scale = draw(st.sampled_from([1.0, 0.5]))
    return dict(features=draw(small_int_map(H, W)), rois=one_roi(draw(box_inside(H - 2, W - 2, 1, scale))),
                output_size=draw(sizes), spatial_scale=scale, sampling_ratio=draw(ratios),
                aligned=draw(st.booleans()), mode=draw(modes),
                translation=(draw(st.integers(0, 3)), draw(st.integers(0, 3))))


def _translated(case):
    ty, tx = case["translation"]
    f = case["features"]
    canvas = np.zeros(f.shape[:2] + (f.shape[2] + 3, f.shape[3] + 3))
    canvas[:, :, ty:ty + f.shape[2], tx:tx + f.shape[3]] = f  # the image moved by (ty, tx) map pixels
    moved = case["rois"] + np.array([[0, tx, ty, tx, ty]]) / case["spatial_scale"]
    return canvas, moved


def check_translation_roi_align(case, roi_align):
    """Moving the image and the box by whole pixels (away from the border) changes nothing."""
    canvas, moved = _translated(case)
    args = {k: v for k, v in case.items() if k != "translation"}
    expected = as_array(_align(roi_align, args), "roi_align", _out_shape(case))
    expect_close(_align(roi_align, args, features=canvas, rois=moved), expected,
                 "roi_align(translated image, translated box)", rtol=1e-12, atol=1e-12)


def check_translation_roi_pool(case, roi_pool):
    """RoIPool too: whole-pixel translations of image and box change nothing."""
    canvas, moved = _translated(case)
    expected = as_array(roi_pool(case["features"], case["rois"], case["output_size"], case["spatial_scale"]),
                        "roi_pool", _out_shape(case))
    expect_close(roi_pool(canvas, moved, case["output_size"], case["spatial_scale"]), expected,
                 "roi_pool(translated image, translated box)", exact=True)


@st.composite
def end_pixel_cases(draw):
    """RoIPool box x1..x2 (inclusive) with bins of exactly m x m pixels, ending on the map's border."""
    ph, pw = draw(sizes)
    m, x1, y1 = draw(st.integers(1, 3)), draw(st.integers(0, 3)), draw(st.integers(0, 3))
    x2, y2 = x1 + m * pw - 1, y1 + m * ph - 1
    return dict(features=draw(small_int_map(y2 + 1, x2 + 1, lo=-9, hi=9)),
                pixels=(x1, y1, x2, y2), output_size=(ph, pw), pixels_per_bin=m)


def check_end_pixel(case, roi_pool, roi_align):
    """RoIPool on pixels x1..x2 (end pixel included) = RoIAlign(max) on the box [x1, x2 + 1).

    With sampling_ratio = the bin size in pixels, RoIAlign's samples sit exactly on
    the pixel centres of each bin, so its max is RoIPool's max.
    """
    x1, y1, x2, y2 = case["pixels"]
    f, size, m = case["features"], case["output_size"], case["pixels_per_bin"]
    pooled = as_array(roi_pool(f, one_roi((x1, y1, x2, y2)), size), "roi_pool", (1, 1, *size))
    aligned = as_array(roi_align(f, one_roi((x1, y1, x2 + 1, y2 + 1)), size, 1.0, m, True, "max"),
                       "roi_align", (1, 1, *size))
    if not np.array_equal(pooled, aligned):
        raise CheckFailed(f"roi_pool(features, rois=[[0, {x1}, {y1}, {x2}, {y2}]], output_size={size})\n"
                          f"  = {show_values(pooled)}\n"
                          f"roi_align(features, rois=[[0, {x1}, {y1}, {x2 + 1}, {y2 + 1}]], output_size={size}, "
                          f"spatial_scale=1.0, sampling_ratio={m}, aligned=True, mode='max')\n"
                          f"  = {show_values(aligned)}\nthey must be equal")


def show_values(a) -> str:
    return np.array2string(np.asarray(a)[0, 0], separator=", ")


@st.composite
def lipschitz_cases(draw):
    H, W = 9, 11
    box = np.array(draw(box_inside(H - 1.5, W - 1.5, margin=0.25)))
    delta = np.array(draw(st.lists(st.integers(-16, 16), min_size=4, max_size=4))) / 64
    moved = box + delta
    assume(moved[2] >= moved[0] and moved[3] >= moved[1])
    return dict(features=draw(small_int_map(H, W, 2)), rois=one_roi(box), moved=one_roi(moved),
                output_size=draw(sizes), spatial_scale=1.0, sampling_ratio=draw(st.sampled_from([1, 2, 3])),
                aligned=draw(st.booleans()), mode=draw(modes))


def check_lipschitz_roi_align(case, roi_align):
    """Moving a box edge by d moves every output by at most d times the map's steepest step."""
    f = case["features"]
    lx, ly = np.abs(np.diff(f, axis=3)).max(), np.abs(np.diff(f, axis=2)).max()
    delta = (case["moved"] - case["rois"])[0, 1:]
    args = {k: v for k, v in case.items() if k != "moved"}
    out = as_array(_align(roi_align, args), "roi_align", _out_shape(case))
    out_moved = as_array(_align(roi_align, args, rois=case["moved"]), "roi_align", _out_shape(case))
    # every sample coordinate is a convex combination of the two box edges (or x1 + t)
    bound = lx * np.abs(delta[[0, 2]]).max() + ly * np.abs(delta[[1, 3]]).max() + 1e-9
    if np.abs(out - out_moved).max() > bound:
        raise CheckFailed(f"the output moved by {np.abs(out - out_moved).max():.4g} > {bound:.4g}")


# --------------------------------------------------------------------------- RoIPool
@st.composite
def roi_pool_constant_cases(draw):
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    scale = draw(scales)
    box = draw(box_inside(H + 1, W + 1, scale=scale))  # up to a pixel past the border
    return dict(features=np.full((1, 1, H, W), draw(eighths(-5, 5))), rois=one_roi(box),
                output_size=draw(sizes), spatial_scale=scale)


def check_constant_map_roi_pool(case, roi_pool):
    """A constant map gives the constant in every bin that holds a pixel, 0 in empty bins."""
    from minimaskrcnn.ops import roi_pool_bins

    f = case["features"]
    c = float(f.flat[0])
    h0, h1, w0, w1 = roi_pool_bins(case["rois"][0, 1:], case["output_size"], f.shape[2:], case["spatial_scale"])
    non_empty = (h1 > h0)[:, None] & (w1 > w0)[None, :]  # (ph, pw)
    expect_close(roi_pool(f, case["rois"], case["output_size"], case["spatial_scale"]),
                 np.where(non_empty, c, 0.0)[None, None], "roi_pool", exact=True)


@st.composite
def roi_pool_rounding_cases(draw):
    H, W = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    x1, x2 = sorted(draw(st.lists(st.integers(0, W - 1), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(st.integers(0, H - 1), min_size=2, max_size=2, unique=True)))
    # any shift by less than half a pixel rounds back to the same integer box
    shift = np.array(draw(st.lists(st.integers(-31, 31), min_size=4, max_size=4))) / 64
    return dict(features=draw(small_int_map(H, W)), rois=one_roi((x1, y1, x2, y2)),
                moved=one_roi(np.array([x1, y1, x2, y2]) + shift), output_size=draw(sizes))


def check_rounding_roi_pool(case, roi_pool):
    """RoIPool rounds the box: moving its corners by less than half a pixel changes nothing."""
    expected = as_array(roi_pool(case["features"], case["rois"], case["output_size"], 1.0), "roi_pool",
                        _out_shape(case))
    expect_close(roi_pool(case["features"], case["moved"], case["output_size"], 1.0), expected,
                 "roi_pool(moved box)", exact=True)


# --------------------------------------------------------------------------- bilinear
@st.composite
def interior_points(draw):
    """A map of small integers and a point inside [0, H-1] x [0, W-1] (eighths)."""
    H, W = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    return dict(feature=draw(small_int_map(H, W))[0, 0], y=draw(eighths(0, H - 1)), x=draw(eighths(0, W - 1)))


def _bilinear(interp, feature, y, x):
    got = interp(feature, y, x)
    try:
        value, ys, xs, weights = got
    except (TypeError, ValueError):
        raise CheckFailed(f"bilinear_interpolate must return (value, ys, xs, weights), got {got!r}") from None
    return (float(as_array(value, "value")), as_array(ys, "ys", (4,)), as_array(xs, "xs", (4,)),
            as_array(weights, "weights", (4,)))


def check_area_weights(case, bilinear_interpolate):
    """Inside the map the four weights are the areas opposite each neighbour (they sum to 1)."""
    f, y, x = case["feature"], case["y"], case["x"]
    H, W = f.shape
    y0, x0 = min(int(np.floor(y)), H - 1), min(int(np.floor(x)), W - 1)
    if y0 == H - 1 or x0 == W - 1:  # on the last row or column the border rule decides
        assume(False)
    ly, lx = y - y0, x - x0
    _, ys, xs, weights = _bilinear(bilinear_interpolate, f, y, x)
    expect_close(ys, [y0, y0, y0 + 1, y0 + 1], "ys (rows of top-left, top-right, bottom-left, bottom-right)",
                 exact=True)
    expect_close(xs, [x0, x0 + 1, x0, x0 + 1], "xs (columns of top-left, top-right, bottom-left, bottom-right)",
                 exact=True)
    expect_close(weights, [(1 - ly) * (1 - lx), (1 - ly) * lx, ly * (1 - lx), ly * lx],
                 "weights (top-left, top-right, bottom-left, bottom-right)", rtol=1e-12, atol=1e-12)


@st.composite
def affine_points(draw):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    a, b, c = draw(eighths(-3, 3)), draw(eighths(-3, 3)), draw(eighths(-3, 3))
    return dict(feature=affine_map(a, b, c, H, W)[0, 0], y=draw(eighths(0, H - 1)), x=draw(eighths(0, W - 1)),
                a=a, b=b, c=c)


def check_affine_bilinear(case, bilinear_interpolate):
    """Bilinear interpolation reproduces an affine map a x + b y + c exactly (inside the map)."""
    value, _, _, weights = _bilinear(bilinear_interpolate, case["feature"], case["y"], case["x"])
    expect_close(value, case["a"] * case["x"] + case["b"] * case["y"] + case["c"], "value", rtol=1e-12, atol=1e-12)
    expect_close(weights.sum(), 1.0, "sum of the weights", rtol=1e-12)


def dense_weights(ys, xs, weights, shape) -> np.ndarray:
    """The (H, W) map of how much each pixel contributes: convention-free (neighbours may coincide)."""
    dense = np.zeros(shape)
    for y, x, w in zip(ys, xs, weights):
        if w != 0:
            if not (0 <= y < shape[0] and 0 <= x < shape[1]):
                raise CheckFailed(f"neighbour (y={y}, x={x}) with weight {w} lies outside the {shape} map")
            dense[int(y), int(x)] += w
    return dense


# --------------------------------------------------------------------------- NMS
@st.composite
def detections(draw, max_boxes=40):
    """Integer boxes (x, y, x + w, y + h), scores in twentieths (ties!), labels in 1..3."""
    n = draw(st.integers(0, max_boxes))
    corners = draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 30),
                                      st.integers(0, 30)), min_size=n, max_size=n))
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in corners], dtype=np.float64).reshape(-1, 4)
    scores = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)), dtype=np.float64)
    labels = np.array(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)), dtype=np.int64)
    return boxes, scores / 20, labels


@st.composite
def nms_cases(draw, max_boxes=40):
    boxes, scores, labels = draw(detections(max_boxes))
    return dict(boxes=boxes, scores=scores, idxs=labels,
                iou_threshold=draw(st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.9])))


def _keep(got, n, name):
    if got is None:
        raise CheckFailed(f"{name} returned None (did you forget `return`?)")
    keep = np.asarray(got).reshape(-1)
    if keep.size and (keep.dtype.kind not in "iu" and not np.all(keep == np.round(keep))):
        raise CheckFailed(f"{name} must return integer indices, got {got!r}")
    keep = keep.astype(np.int64)
    if keep.size and (keep.min() < 0 or keep.max() >= n or len(set(keep.tolist())) != keep.size):
        raise CheckFailed(f"{name} must return distinct indices in 0..{n - 1}, got {keep.tolist()}")
    return keep


def check_nms(case, nms):
    """Kept boxes overlap each other by at most the threshold; each suppressed box overlaps a kept
    box with at least its score by more than it; kept boxes come best first; NMS of them keeps all."""
    from minimaskrcnn.boxes import box_iou

    boxes, scores, threshold = case["boxes"], case["scores"], case["iou_threshold"]
    keep = _keep(nms(boxes, scores, threshold), len(boxes), "nms")
    iou = box_iou(boxes, boxes)
    kept_iou = iou[np.ix_(keep, keep)]
    off = ~np.eye(len(keep), dtype=bool)
    if (kept_iou[off] > threshold).any():
        i, j = np.argwhere(np.where(off, kept_iou, -1) > threshold)[0]
        raise CheckFailed(f"kept boxes {keep[i]} and {keep[j]} overlap with IoU {kept_iou[i, j]:.4g} > "
                          f"iou_threshold {threshold}: one of them should have been suppressed (kept: {keep.tolist()})")
    for j in np.setdiff1d(np.arange(len(boxes)), keep):
        if not ((iou[keep, j] > threshold) & (scores[keep] >= scores[j])).any():
            raise CheckFailed(f"box {j} was suppressed, but no kept box with a score >= {scores[j]} overlaps "
                              f"it with IoU > {threshold} (suppression is strict: IoU > threshold; "
                              f"kept: {keep.tolist()})")
    if (np.diff(scores[keep]) > 0).any():
        raise CheckFailed(f"kept indices must come in descending score order, got {keep.tolist()} "
                          f"with scores {scores[keep].tolist()}")
    again = _keep(nms(boxes[keep], scores[keep], threshold), len(keep), "nms")
    expect_equal_indices(keep[again], keep, "nms of the kept boxes (it must keep them all, in order)")


def check_batched_nms(case, batched_nms, nms):
    """Per-class NMS is NMS inside each class: boxes of different classes never suppress each other."""
    boxes, scores, labels, threshold = case["boxes"], case["scores"], case["idxs"], case["iou_threshold"]
    keep = _keep(batched_nms(boxes, scores, labels, threshold), len(boxes), "batched_nms")
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        alone = members[_keep(nms(boxes[members], scores[members], threshold), len(members), "nms")]
        expect_equal_indices(keep[labels[keep] == label], alone,
                             f"batched_nms's kept boxes of class {label} (= nms of that class alone)")
    # moving every class far apart and running plain NMS gives the same set
    shifted = boxes + 1000.0 * labels[:, None]
    expect_equal_indices(np.sort(keep), np.sort(_keep(nms(shifted, scores, threshold), len(boxes), "nms")),
                         "the set kept by batched_nms (= nms with the classes moved apart)")
