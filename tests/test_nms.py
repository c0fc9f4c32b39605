import numpy as np
import pytest

from minimaskrcnn.ops import batched_nms, batched_nms_naive, nms, nms_naive, nms_steps


def random_boxes(rng, n, dtype=np.float64, clustered=False):
    xy = rng.uniform(0, 200, size=(n, 2))
    wh = rng.exponential(40, size=(n, 2))
    wh[::17] = 0.0  # a few degenerate boxes
    boxes = np.concatenate([xy, xy + wh], axis=1)
    if clustered:  # groups of near-duplicates, the case NMS is for
        boxes = np.repeat(boxes[: n // 8 + 1], 8, axis=0)[:n] + rng.normal(0, 2, size=(n, 4))
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return boxes.astype(dtype)


def test_worked_example():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    keep = nms(boxes, scores, 0.5)
    assert keep.dtype == np.int64
    np.testing.assert_array_equal(keep, [3, 2])
    np.testing.assert_array_equal(nms(boxes, scores, 0.95), [3, 0, 1, 2])  # nothing that close
    # step by step: box 3 is kept and removes 0 (IoU 0.9) and 1 (0.61); then 2 is kept
    assert list(nms_steps(boxes, scores, 0.5)) == [(3, [0, 1]), (2, [])]


def test_pinned_torchvision_result():
    # torchvision 0.29 torchvision.ops.nms on these float32 boxes, threshold 0.3
    boxes = np.array([[10, 10, 50, 50], [12, 14, 48, 52], [40, 40, 90, 80], [45, 38, 95, 85],
                      [0, 0, 20, 20], [100, 100, 120, 130], [102, 98, 118, 128]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.75, 0.5, 0.3, 0.8, 0.85], dtype=np.float32)
    np.testing.assert_array_equal(nms(boxes, scores, 0.3), [1, 6, 2, 4])


def test_suppression_is_strict():
    # IoU of these two is exactly 0.5: suppressed only when the threshold is below it
    boxes = np.array([[0.0, 0, 4, 3], [0.0, 0, 2, 3]])  # intersection 6, union 12
    scores = np.array([1.0, 0.5])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 1])
    np.testing.assert_array_equal(nms(boxes, scores, 0.49), [0])


def test_equal_scores_keep_input_order():
    boxes = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [50, 50, 60, 60]])
    scores = np.array([0.5, 0.5, 0.7, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [2, 0])


def test_degenerate_boxes_do_not_suppress_each_other():
    boxes = np.array([[5.0, 5, 5, 5], [5.0, 5, 5, 5]])
    np.testing.assert_array_equal(nms(boxes, np.array([0.9, 0.8]), 0.0), [0, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clustered", [False, True])
def test_kernel_matches_naive(dtype, clustered):
    rng = np.random.default_rng(0)
    for threshold in (0.0, 0.3, 0.5, 0.7, 1.0):
        boxes = random_boxes(rng, 150, dtype, clustered)
        scores = np.round(rng.random(150), 2)  # some ties
        np.testing.assert_array_equal(nms(boxes, scores, threshold), nms_naive(boxes, scores, threshold))
        idxs = rng.integers(1, 4, 150)  # class labels 1..3 (0 is background)
        np.testing.assert_array_equal(batched_nms(boxes, scores, idxs, threshold),
                                      batched_nms_naive(boxes, scores, idxs, threshold))


def test_batched_nms_is_nms_per_category():
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 120, clustered=True)
    scores = rng.random(120)
    idxs = rng.integers(0, 3, 120)
    keep = batched_nms(boxes, scores, idxs, 0.5)
    assert (np.diff(scores[keep]) <= 0).all()
    for c in range(3):
        members = np.flatnonzero(idxs == c)
        expected = members[nms(boxes[members], scores[members], 0.5)]
        np.testing.assert_array_equal(keep[idxs[keep] == c], expected)


def test_empty_inputs():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).shape == (0,)
    keep = batched_nms(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0, np.int64), 0.5)
    assert keep.shape == (0,) and keep.dtype == np.int64


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: nms(np.zeros((3, 4)), np.zeros(2), 0.5), ValueError, r"scores must have shape \(3,\)"),
        (lambda: nms(np.zeros((3, 5)), np.zeros(3), 0.5), ValueError, r"boxes must have shape \(K, 4\)"),
        (lambda: nms(np.zeros((1, 4)), np.array([np.nan]), 0.5), ValueError, "scores contains NaN"),
        (lambda: nms(np.zeros((1, 4)), np.zeros(1), float("nan")), ValueError, "iou_threshold must be"),
        (lambda: nms(np.array([[1.0, 0, 0, 1]]), np.zeros(1), 0.5), ValueError, "boxes must satisfy x2 >= x1"),
        (lambda: batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(3, int), 0.5), ValueError,
         r"idxs must have shape \(2,\)"),
        (lambda: batched_nms(np.zeros((2, 4)), np.zeros(2), np.zeros(2), 0.5), TypeError,
         "idxs must be an integer array"),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_unsigned_and_bool_scores_sort_as_numbers():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], np.float32)
    np.testing.assert_array_equal(nms(boxes, np.array([0, 5, 1], np.uint8), 0.5), [1, 2, 0])
    np.testing.assert_array_equal(nms(boxes, np.array([False, True, False]), 0.5), [1, 0, 2])


def test_batched_nms_is_strict_at_the_threshold_and_ties_keep_input_order():
    boxes = np.array([[0.0, 0, 4, 3], [0, 0, 2, 3], [0, 0, 4, 3], [10, 10, 12, 12]])  # IoU(0, 1) = 0.5 exactly
    scores = np.array([1.0, 0.5, 1.0, 0.5])
    idxs = np.array([1, 1, 2, 2])
    np.testing.assert_array_equal(batched_nms(boxes, scores, idxs, 0.5), [0, 2, 1, 3])
    np.testing.assert_array_equal(batched_nms(boxes, scores, idxs, 0.49), [0, 2, 3])
    np.testing.assert_array_equal(batched_nms_naive(boxes, scores, idxs, 0.49), [0, 2, 3])


def test_a_suppressed_box_no_longer_suppresses():
    # 0 suppresses 1; 1 would have suppressed 2, but 1 is gone, so 2 stays (greedy, not pairwise)
    boxes = np.array([[0.0, 0, 10, 10], [0, 0, 10, 16], [0, 4, 10, 20]])
    scores = np.array([0.9, 0.8, 0.7])
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), [0, 2])
    np.testing.assert_array_equal(nms_naive(boxes, scores, 0.5), [0, 2])


def test_boxes_smaller_than_a_pixel_still_suppress():
    # union 0.25 < 1: the IoU (0.8) is computed, not replaced by 0
    boxes = np.array([[0.0, 0, 0.5, 0.5], [0, 0, 0.5, 0.4]])
    scores = np.array([0.9, 0.8])
    for fn in (nms, nms_naive):
        np.testing.assert_array_equal(fn(boxes, scores, 0.5), [0])
    np.testing.assert_array_equal(batched_nms_naive(boxes, scores, np.array([1, 1]), 0.5), [0])


def test_empty_inputs_give_int64_indices_in_every_implementation():
    for keep in (nms_naive(np.zeros((0, 4)), np.zeros(0), 0.5),
                 batched_nms_naive(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5),
                 nms(np.zeros((0, 4)), np.zeros(0), 0.5)):
        assert keep.shape == (0,) and keep.dtype == np.int64


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_the_iou_range_is_refused(threshold):
    with pytest.raises(ValueError, match=r"iou_threshold must lie in \[0, 1\]"):
        nms(np.zeros((1, 4)), np.zeros(1), threshold)
