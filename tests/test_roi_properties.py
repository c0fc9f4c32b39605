"""Properties that tell RoIAlign and RoIPool apart, and properties of NMS (hypothesis).

Box coordinates are drawn on a grid of 1/8 pixel so that every shift below is
exact in floating point: a property must fail only because the op is wrong.
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from minimaskrcnn.boxes import box_iou
from minimaskrcnn.ops import (
    batched_nms,
    nms,
    roi_align,
    roi_align_sampling_points,
    roi_pool,
    roi_pool_bins,
)

ratios = st.sampled_from([-1, 0, 1, 2, 3])
sizes = st.tuples(st.integers(1, 4), st.integers(1, 4))
scales = st.sampled_from([1.0, 0.5, 0.25])


@st.composite
def box_inside(draw, height, width, margin=0.0, scale=1.0):
    """(x1, y1, x2, y2) in image coordinates, on a 1/8 grid, inside [margin, size - margin] of the map."""
    def side(size):
        lo, hi = int(8 * margin), int(8 * (size - margin))
        a, b = sorted(draw(st.lists(st.integers(lo, hi), min_size=2, max_size=2)))
        return a / 8 / scale, b / 8 / scale
    (y1, y2), (x1, x2) = side(height), side(width)
    return x1, y1, x2, y2


def one_roi(box):
    return np.array([[0.0, *box]])


# --------------------------------------------------------------------------- constant map
@given(st.data(), st.floats(-5, 5), sizes, ratios, st.booleans(), scales)
def test_constant_map_gives_the_constant_in_every_non_empty_bin(data, c, size, ratio, aligned, scale):
    H, W = 7, 9
    f = np.full((1, 2, H, W), c)
    # x1 <= W - 1 keeps the unaligned (at least 1 pixel wide) RoI's samples on the map
    box = data.draw(box_inside(H - 1, W - 1, scale=scale))
    ys, xs = roi_align_sampling_points(box, size, scale, ratio, aligned)
    expected = c if ys.size and xs.size else 0.0  # no samples: an empty bin
    for mode in ("avg", "max"):
        np.testing.assert_allclose(roi_align(f, one_roi(box), size, scale, ratio, aligned, mode), expected,
                                   atol=1e-12)
    h0, h1, w0, w1 = roi_pool_bins(box, size, (H, W), scale)
    non_empty = (h1 > h0)[:, None] & (w1 > w0)[None, :]  # (ph, pw)
    pooled = roi_pool(f, one_roi(box), size, scale)[0]
    np.testing.assert_array_equal(pooled, np.where(non_empty, c, 0.0)[None].repeat(2, 0))


# --------------------------------------------------------------------------- affine map
def affine_map(a, b, c, H, W):
    y, x = np.mgrid[0:H, 0:W]
    return (a * x + b * y + c)[None, None].astype(np.float64)  # f = a x + b y + c


@given(st.data(), st.floats(-3, 3), st.floats(-3, 3), st.floats(-3, 3), sizes, ratios, scales)
def test_affine_map_roi_align_is_exact_roi_pool_is_off_by_a_bounded_amount(data, a, b, c, size, ratio, scale):
    H, W = 10, 12
    f = affine_map(a, b, c, H, W)
    # inside the map by half a pixel: every aligned sample lies in [0, H-1] x [0, W-1]
    box = data.draw(box_inside(H - 0.5, W - 0.5, margin=0.5, scale=scale))
    x1, y1, x2, y2 = (v * scale for v in box)  # feature-map coordinates
    ph, pw = size
    bin_h, bin_w = (y2 - y1) / ph, (x2 - x1) / pw
    # bin centres in the frame the half-pixel shift defines (value f[i, j] sits at (i, j))
    cy = y1 - 0.5 + (np.arange(ph) + 0.5) * bin_h
    cx = x1 - 0.5 + (np.arange(pw) + 0.5) * bin_w
    at_centres = a * cx[None, :] + b * cy[:, None] + c  # (ph, pw)
    ys, xs = roi_align_sampling_points(box, size, scale, ratio, True)
    if ys.size and xs.size:
        aligned = roi_align(f, one_roi(box), size, scale, ratio, True)[0, 0]
        np.testing.assert_allclose(aligned, at_centres, atol=1e-9)
    # RoIPool reads whole pixels of its rounded bins: within 3 + bin/2 pixels of the centre
    # (box rounding <= 1/2, the +1 end pixel and the bin-edge rounding add the rest)
    pooled = roi_pool(f, one_roi(box), size, scale)[0, 0]
    bound = abs(a) * (3 + bin_w / 2) + abs(b) * (3 + bin_h / 2) + 1e-9
    assert np.all(np.abs(pooled - at_centres) <= bound)


def test_roi_pool_misalignment_is_not_zero():
    f = affine_map(1.0, 0.0, 0.0, 10, 12)  # f = x
    box = (2.3, 1.0, 7.6, 8.0)
    aligned = roi_align(f, one_roi(box), 1, 1.0, 2, True)[0, 0, 0, 0]
    pooled = roi_pool(f, one_roi(box), 1)[0, 0, 0, 0]
    assert aligned == pytest.approx((2.3 + 7.6) / 2 - 0.5)  # the box centre, in the index frame
    assert pooled == 8.0  # the max of f over the rounded box, columns 2..8
    assert abs(pooled - aligned) > 1


# --------------------------------------------------------------------------- box coordinates
@given(st.data(), sizes, st.integers(0, 2**31 - 1))
def test_roi_pool_is_piecewise_constant_in_the_box(data, size, seed):
    H, W = 9, 11
    f = np.random.default_rng(seed).normal(size=(1, 2, H, W))
    x1, x2 = sorted(data.draw(st.lists(st.integers(0, W - 1), min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(data.draw(st.lists(st.integers(0, H - 1), min_size=2, max_size=2, unique=True)))
    # any shift by less than half a pixel rounds back to the same integer box
    shift = data.draw(st.lists(st.integers(-31, 31), min_size=4, max_size=4))
    moved = np.array([x1, y1, x2, y2]) + np.array(shift) / 64
    np.testing.assert_array_equal(roi_pool(f, one_roi((x1, y1, x2, y2)), size),
                                  roi_pool(f, one_roi(moved), size))


@given(st.data(), sizes, st.sampled_from([1, 2, 3]), st.booleans(), st.sampled_from(["avg", "max"]),
       st.integers(0, 2**31 - 1))
def test_roi_align_is_lipschitz_in_the_box(data, size, ratio, aligned, mode, seed):
    H, W = 9, 11
    f = np.random.default_rng(seed).normal(size=(1, 2, H, W))
    lx = np.abs(np.diff(f, axis=3)).max()  # steepest step along x
    ly = np.abs(np.diff(f, axis=2)).max()
    box = np.array(data.draw(box_inside(H - 1.5, W - 1.5, margin=0.25)))
    delta = np.array(data.draw(st.lists(st.integers(-16, 16), min_size=4, max_size=4))) / 64
    moved = box + delta
    assume(moved[2] >= moved[0] and moved[3] >= moved[1])
    out = roi_align(f, one_roi(box), size, 1.0, ratio, aligned, mode)
    out_moved = roi_align(f, one_roi(moved), size, 1.0, ratio, aligned, mode)
    # every sample coordinate is a convex combination of the two box edges (or x1 + t):
    # it moves at most max|delta| along its axis
    bound = lx * np.abs(delta[[0, 2]]).max() + ly * np.abs(delta[[1, 3]]).max() + 1e-9
    assert np.abs(out - out_moved).max() <= bound


# --------------------------------------------------------------------------- translation
@given(st.data(), sizes, ratios, st.booleans(), st.sampled_from([1.0, 0.5]),
       st.integers(0, 4), st.integers(0, 4), st.integers(0, 2**31 - 1))
def test_translating_image_and_box_by_whole_pixels_changes_nothing(data, size, ratio, aligned, scale,
                                                                    ty, tx, seed):
    H, W = 8, 9
    f = np.random.default_rng(seed).normal(size=(1, 3, H, W))
    canvas = np.zeros((1, 3, H + 4, W + 4))
    canvas[:, :, ty:ty + H, tx:tx + W] = f  # the image moved by (ty, tx) feature pixels
    # one pixel away from the border: no sample or pooled pixel meets the border rule
    box = np.array(data.draw(box_inside(H - 2, W - 2, margin=1, scale=scale)))
    moved = box + np.array([tx, ty, tx, ty]) / scale
    for mode in ("avg", "max"):
        np.testing.assert_allclose(roi_align(f, one_roi(box), size, scale, ratio, aligned, mode),
                                   roi_align(canvas, one_roi(moved), size, scale, ratio, aligned, mode),
                                   rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(roi_pool(f, one_roi(box), size, scale),
                                  roi_pool(canvas, one_roi(moved), size, scale))


# --------------------------------------------------------------------------- the inclusive end pixel
@given(sizes, st.integers(1, 3), st.integers(0, 3), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_roi_pool_counts_its_end_pixel_roi_align_max_agrees_on_the_continuous_box(size, m, x1, y1, seed):
    """RoIPool on pixels x1..x2 (inclusive) is RoIAlign(max) on the box [x1, x2 + 1)."""
    ph, pw = size
    H, W = 16, 16
    f = np.random.default_rng(seed).normal(size=(1, 2, H, W))
    x2, y2 = x1 + m * pw - 1, y1 + m * ph - 1  # extent m * output size: bins of m x m pixels
    pooled = roi_pool(f, one_roi((x1, y1, x2, y2)), size)
    # sampling_ratio = bin size puts one sample on every pixel centre of the bin
    aligned = roi_align(f, one_roi((x1, y1, x2 + 1, y2 + 1)), size, 1.0, m, True, "max")
    np.testing.assert_array_equal(pooled, aligned)


# --------------------------------------------------------------------------- NMS
@st.composite
def detections(draw, max_boxes=40):
    n = draw(st.integers(0, max_boxes))
    corners = draw(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(0, 30),
                                      st.integers(0, 30)), min_size=n, max_size=n))
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in corners], dtype=np.float64).reshape(-1, 4)
    scores = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)), dtype=np.float64)
    labels = np.array(draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)), dtype=np.int64)
    return boxes, scores / 20, labels


@given(detections(), st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.9]))
def test_nms_properties(dets, threshold):
    boxes, scores, _ = dets
    keep = nms(boxes, scores, threshold)
    iou = box_iou(boxes, boxes)
    # kept boxes do not overlap each other by more than the threshold
    kept_iou = iou[np.ix_(keep, keep)]
    assert (kept_iou[~np.eye(len(keep), dtype=bool)] <= threshold).all()
    # every suppressed box overlaps a kept box with at least its score by more than the threshold
    for j in np.setdiff1d(np.arange(len(boxes)), keep):
        assert ((iou[keep, j] > threshold) & (scores[keep] >= scores[j])).any()
    # kept in descending score order; NMS of the survivors keeps them all
    assert (np.diff(scores[keep]) <= 0).all()
    np.testing.assert_array_equal(keep[nms(boxes[keep], scores[keep], threshold)], keep)


@given(detections(), st.sampled_from([0.0, 0.3, 0.5, 0.8]))
def test_batched_nms_never_suppresses_across_classes(dets, threshold):
    boxes, scores, labels = dets  # labels 1..3 (0 would be background)
    keep = batched_nms(boxes, scores, labels, threshold)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        alone = members[nms(boxes[members], scores[members], threshold)]
        np.testing.assert_array_equal(keep[labels[keep] == label], alone)
    # moving every class far apart and running plain NMS gives the same set
    shifted = boxes + 1000.0 * labels[:, None]
    np.testing.assert_array_equal(np.sort(keep), np.sort(nms(shifted, scores, threshold)))
