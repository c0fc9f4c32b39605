import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimaskrcnn.boxes import (
    BBOX_XFORM_CLIP,
    box_area,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    remove_small_boxes,
)


def random_boxes(rng, n, min_size=0.0, dtype=np.float64):
    xy = rng.uniform(-20, 100, size=(n, 2))
    wh = rng.uniform(min_size, 60, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(dtype)


def iou_loops(a, b):
    """IoU of every pair by plain loops, straight from the definition."""
    out = np.zeros((len(a), len(b)))
    for i, (ax1, ay1, ax2, ay2) in enumerate(a):
        for j, (bx1, by1, bx2, by2) in enumerate(b):
            iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
            ih = max(0.0, min(ay2, by2) - max(ay1, by1))
            inter = iw * ih
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def test_area_uses_no_plus_one():
    boxes = np.array([[0, 0, 2, 1], [1.5, 2.0, 4.0, 6.0], [3, 3, 3, 5]], dtype=np.float64)
    np.testing.assert_array_equal(box_area(boxes), [2.0, 10.0, 0.0])


def test_iou_hand_values():
    a = np.array([[0.0, 0.0, 2.0, 2.0]])
    b = np.array([
        [0.0, 0.0, 2.0, 2.0],  # identical -> 1
        [1.0, 0.0, 3.0, 2.0],  # half overlaps: 2 / (4 + 4 - 2) = 1/3
        [2.0, 0.0, 4.0, 2.0],  # touching edge -> 0
        [5.0, 5.0, 6.0, 6.0],  # disjoint -> 0
        [0.5, 0.5, 1.5, 1.5],  # inside: 1 / 4
    ])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0, 0.0, 0.25]])


def test_iou_matches_loops_and_keeps_dtype():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, 30), random_boxes(rng, 20)
    a[:3, 2] = a[:3, 0]  # a few degenerate boxes
    iou = box_iou(a, b)
    assert iou.shape == (30, 20)
    np.testing.assert_allclose(iou, iou_loops(a, b), rtol=1e-12, atol=1e-15)
    iou32 = box_iou(a.astype(np.float32), b.astype(np.float32))
    assert iou32.dtype == np.float32
    np.testing.assert_allclose(iou32, iou, atol=1e-5)


def test_iou_of_two_degenerate_boxes_is_zero_not_nan():
    p = np.array([[1.0, 1.0, 1.0, 1.0]])
    assert box_iou(p, p)[0, 0] == 0.0


def test_iou_empty_inputs():
    assert box_iou(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
    assert box_iou(np.ones((2, 4)), np.zeros((0, 4))).shape == (2, 0)


def test_clip_boxes():
    boxes = np.array([[-5.0, -1.0, 12.0, 3.0], [20.0, 20.0, 30.0, 40.0]], dtype=np.float32)
    out = clip_boxes(boxes, (8, 10))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 10, 3], [10, 8, 10, 8]])
    assert boxes[0, 0] == -5.0  # input untouched


def test_remove_small_boxes():
    boxes = np.array([[0, 0, 5, 5], [0, 0, 0.5, 5], [0, 0, 5, 0.9], [1, 1, 2, 2]], dtype=np.float32)
    keep = remove_small_boxes(boxes, 1.0)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, [0, 3])
    assert remove_small_boxes(np.zeros((0, 4)), 1.0).shape == (0,)


def test_encode_worked_example():
    ref = np.array([[0.0, 0.0, 10.0, 20.0]])
    gt = np.array([[5.0, 0.0, 25.0, 20.0]])
    np.testing.assert_allclose(encode_boxes(gt, ref), [[1.0, 0.0, math.log(2), 0.0]])


def test_encode_decode_pinned_torchvision_values():
    # Literal values from torchvision 0.29 BoxCoder((10, 10, 5, 5)), float64.
    w = (10.0, 10.0, 5.0, 5.0)
    gt = np.array([[3.0, 4.0, 17.0, 30.0], [0.0, 0.0, 5.0, 5.0]])
    ref = np.array([[2.0, 2.0, 12.0, 22.0], [1.0, 1.0, 3.0, 4.0]])
    np.testing.assert_allclose(
        encode_boxes(gt, ref, w),
        [[3.0, 2.5, 1.6823611831, 1.3118213223], [2.5, 0.0, 4.5814536594, 2.5541281188]],
        rtol=1e-9,
    )
    deltas = np.array([[0.5, -1.0, 0.2, 30.0, 1.0, 2.0, -3.0, 0.0]])  # dh = 6 is clamped
    np.testing.assert_allclose(
        decode_boxes(deltas, ref[:1], w),
        [[2.2959461290, -615.0, 12.7040538710, 635.0, 5.2559418195, 6.0, 10.7440581805, 26.0]],
        rtol=1e-9,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_decode_inverts_encode(dtype, weights):
    rng = np.random.default_rng(1)
    gt = random_boxes(rng, 200, min_size=1.0, dtype=dtype)
    ref = random_boxes(rng, 200, min_size=1.0, dtype=dtype)
    deltas = encode_boxes(gt, ref, weights)
    assert deltas.dtype == dtype and deltas.shape == (200, 4)
    back = decode_boxes(deltas, ref, weights)
    assert back.dtype == dtype
    np.testing.assert_allclose(back, gt, atol=1e-3 if dtype == np.float32 else 1e-9)


def test_decode_per_class_columns_and_clamp():
    ref = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 7.0, 9.0]], dtype=np.float32)
    deltas = np.zeros((2, 12), dtype=np.float32)
    deltas[:, 6] = 100.0  # class 1: huge dw, clamped to log(1000/16)
    out = decode_boxes(deltas, ref)
    assert out.shape == (2, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0:4], ref)  # zero deltas: the reference itself
    np.testing.assert_array_equal(out[:, 8:12], ref)
    width = out[0, 6] - out[0, 4]
    assert width == pytest.approx(10.0 * math.exp(BBOX_XFORM_CLIP), rel=1e-6)
    assert np.isfinite(out).all()


@given(
    st.lists(st.floats(-100, 100), min_size=2, max_size=2),
    st.lists(st.floats(0.5, 50), min_size=2, max_size=2),
    st.lists(st.floats(-100, 100), min_size=2, max_size=2),
    st.lists(st.floats(0.5, 50), min_size=2, max_size=2),
)
def test_iou_properties(xy1, wh1, xy2, wh2):
    a = np.array([[*xy1, xy1[0] + wh1[0], xy1[1] + wh1[1]]])
    b = np.array([[*xy2, xy2[0] + wh2[0], xy2[1] + wh2[1]]])
    ab, ba = box_iou(a, b)[0, 0], box_iou(b, a)[0, 0]
    assert ab == ba
    assert 0.0 <= ab <= 1.0
    assert box_iou(a, a)[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: box_area(np.zeros((3, 5))), "boxes must have shape"),
        (lambda: box_area(np.array([[2.0, 0.0, 1.0, 1.0]])), "boxes must satisfy x2 >= x1"),
        (lambda: box_iou(np.array([[0, 0, np.nan, 1.0]]), np.zeros((1, 4))), "boxes1 contains NaN"),
        (lambda: box_iou(np.zeros((1, 4)), np.zeros((4,))), "boxes2 must have shape"),
        (lambda: encode_boxes(np.ones((2, 4)) * [0, 0, 1, 1], np.ones((3, 4)) * [0, 0, 1, 1]),
         "reference must have the shape"),
        (lambda: encode_boxes(np.array([[0.0, 0, 1, 1]]), np.array([[0.0, 0, 0, 1]])),
         "reference must have positive width"),
        (lambda: encode_boxes(np.array([[0.0, 0, 1, 1]]), np.array([[0.0, 0, 1, 1]]), (1, 1, 1)),
         "weights must be four positive"),
        (lambda: decode_boxes(np.zeros((2, 6)), np.zeros((2, 4))), r"deltas must have shape \(K, 4 \* C\)"),
        (lambda: decode_boxes(np.zeros((2, 4)), np.zeros((3, 4))), "reference must have 2 rows"),
        (lambda: decode_boxes(np.full((1, 4), np.inf), np.zeros((1, 4))), "deltas contains NaN"),
    ],
)
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_type_errors_name_the_argument():
    with pytest.raises(TypeError, match="boxes must be a real-valued array"):
        box_area(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(TypeError, match="image_size must be a pair"):
        clip_boxes(np.zeros((1, 4)), 5)


def test_integer_boxes_become_float64():
    assert box_area(np.array([[0, 0, 3, 4]])).dtype == np.float64


@pytest.mark.parametrize("clamp", [float("nan"), "big", None])
def test_decode_refuses_a_clamp_that_is_not_a_number(clamp):
    with pytest.raises(ValueError, match="clamp"):
        decode_boxes(np.zeros((1, 4), np.float32), np.array([[0, 0, 10, 10]], np.float32), clamp=clamp)


# -- every boxes argument is named in its errors, and every boundary is pinned ----------------------
GOOD = np.array([[0.0, 0, 2, 2]])
WIDE = np.zeros((1, 8))  # 8 columns: (K, 4 * C) deltas, never boxes


@pytest.mark.parametrize("call, name", [
    (lambda b: box_area(b), "boxes"),
    (lambda b: box_iou(b, GOOD), "boxes1"),
    (lambda b: box_iou(GOOD, b), "boxes2"),
    (lambda b: clip_boxes(b, (4, 4)), "boxes"),
    (lambda b: remove_small_boxes(b, 1.0), "boxes"),
    (lambda b: encode_boxes(b, GOOD), "boxes"),
    (lambda b: encode_boxes(GOOD, b), "reference"),
    (lambda b: decode_boxes(np.zeros((1, 4)), b), "reference"),
])
def test_each_boxes_argument_is_named_exactly(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must have shape \(K, 4\), got \(1, 8\)$"):
        call(WIDE)
    with pytest.raises(ValueError, match=rf"^{name} must satisfy x2 >= x1"):
        call(np.array([[2.0, 0, 1, 1]]))


def test_deltas_need_a_positive_multiple_of_four_columns():
    with pytest.raises(ValueError, match=r"^deltas must have shape \(K, 4 \* C\), got \(1, 0\)$"):
        decode_boxes(np.zeros((1, 0)), GOOD)
    assert decode_boxes(np.zeros((1, 8)), GOOD).shape == (1, 8)  # C = 2 classes


def test_zero_sized_boxes_are_named_in_encode():
    with pytest.raises(ValueError, match="^boxes must have positive width and height"):
        encode_boxes(np.array([[0.0, 0, 1, 0]]), GOOD)  # zero height (of the target)
    with pytest.raises(ValueError, match="^reference must have positive width and height"):
        encode_boxes(GOOD, np.array([[0.0, 0, 1, 0]]))
    # sizes below one pixel are fine
    small = np.array([[0.0, 0, 0.5, 0.25]])
    np.testing.assert_allclose(decode_boxes(encode_boxes(small, GOOD), GOOD), small, atol=1e-12)
    np.testing.assert_allclose(decode_boxes(encode_boxes(GOOD, small), small), GOOD, atol=1e-12)


@pytest.mark.parametrize("weights", [(1, 1, 0, 1), (1, 1, float("inf"), 1), (1, 1, -1, 1)])
def test_weights_must_be_finite_and_positive(weights):
    with pytest.raises(ValueError, match=r"^weights must be four positive numbers"):
        encode_boxes(GOOD, GOOD, weights)


def test_clip_accepts_an_empty_image_and_refuses_a_negative_size():
    np.testing.assert_array_equal(clip_boxes(np.array([[1.0, 1, 3, 3]]), (0, 2)), [[1, 0, 2, 0]])
    np.testing.assert_array_equal(clip_boxes(np.array([[1.0, 1, 3, 3]]), (5, 0)), [[0, 1, 0, 3]])
    for size in ((-1, 4), (4, -1)):
        with pytest.raises(ValueError, match="^image_size must be non-negative"):
            clip_boxes(GOOD, size)


def test_remove_small_boxes_measures_width_and_height_away_from_the_origin():
    boxes = np.array([[10, 10, 10.5, 20], [10, 10, 20, 10.5], [10, 10, 11, 11], [10, 10, 10.99, 30]])
    np.testing.assert_array_equal(remove_small_boxes(boxes, 1.0), [2])


def test_encode_in_float32_with_a_float64_reference_is_float32_arithmetic():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (50, 2))
    g = np.concatenate([xy, xy + rng.uniform(1, 50, (50, 2))], 1).astype(np.float32)
    r = (g + rng.uniform(-3, 3, g.shape)).astype(np.float32)
    r[:, 2:] = np.maximum(r[:, 2:], r[:, :2] + 1)
    out = encode_boxes(g, r.astype(np.float64), (10, 10, 5, 5))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, encode_boxes(g, r, (10, 10, 5, 5)))
