import numpy as np
from hypothesis import given, strategies as st

from minimaskrcnn.model.matcher import IGNORE, NEGATIVE, POSITIVE, match_boxes, sample_balanced


def test_thresholds_and_low_quality_matches():
    iou = np.array([[0.9, 0.5, 0.1, 0.0],
                    [0.0, 0.6, 0.2, 0.0]])
    matched, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=False)
    np.testing.assert_array_equal(matched, [0, 1, 1, 0])
    np.testing.assert_array_equal(labels, [POSITIVE, IGNORE, NEGATIVE, NEGATIVE])
    _, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=True)
    # anchor 1 is ground truth 1's best (0.6): promoted to positive
    np.testing.assert_array_equal(labels, [POSITIVE, POSITIVE, NEGATIVE, NEGATIVE])


def test_ties_in_best_anchor_all_become_positive():
    iou = np.array([[0.4, 0.4, 0.1]])
    _, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=True)
    np.testing.assert_array_equal(labels, [POSITIVE, POSITIVE, NEGATIVE])


def test_ground_truth_without_overlap_makes_no_positive():
    iou = np.zeros((1, 5))
    _, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=True)
    assert (labels == NEGATIVE).all()


def test_no_ground_truth_means_all_negative():
    matched, labels = match_boxes(np.zeros((0, 6)), 0.7, 0.3, allow_low_quality=True)
    assert (labels == NEGATIVE).all() and matched.shape == (6,)


@given(st.integers(0, 50), st.integers(0, 300), st.integers(1, 256), st.floats(0.05, 1.0), st.integers(0, 10**6))
def test_sample_balanced_respects_budget(npos, nneg, batch, frac, seed):
    rng = np.random.default_rng(seed)
    labels = np.array([POSITIVE] * npos + [NEGATIVE] * nneg + [IGNORE] * 7, dtype=np.int8)
    rng.shuffle(labels)
    out = sample_balanced(labels, batch, frac, np.random.default_rng(seed))
    kept_pos, kept_neg = (out == POSITIVE).sum(), (out == NEGATIVE).sum()
    assert kept_pos == min(npos, int(batch * frac))
    assert kept_neg == min(nneg, batch - kept_pos)
    assert ((out == POSITIVE) <= (labels == POSITIVE)).all()  # never invents positives
    assert ((out == NEGATIVE) <= (labels == NEGATIVE)).all()


def test_foreground_threshold_is_inclusive_background_threshold_exclusive():
    # exactly representable IoUs on and just off each threshold
    iou = np.array([[0.5, 0.25, np.nextafter(0.25, 0), np.nextafter(0.5, 0), 1.0, 0.0]])
    _, labels = match_boxes(iou, 0.5, 0.25, allow_low_quality=False)
    np.testing.assert_array_equal(labels, [POSITIVE, IGNORE, NEGATIVE, IGNORE, POSITIVE, NEGATIVE])


def test_equal_thresholds_leave_nothing_ignored():
    # the RoI heads call match_boxes(iou, fg, fg): IoU == fg is foreground, anything below background
    iou = np.array([[0.5, np.nextafter(0.5, 0), 0.75]])
    _, labels = match_boxes(iou, 0.5, 0.5, allow_low_quality=False)
    np.testing.assert_array_equal(labels, [POSITIVE, NEGATIVE, POSITIVE])


def test_a_candidate_tied_between_two_ground_truths_takes_the_first():
    iou = np.array([[0.8, 0.2, 0.6],
                    [0.8, 0.9, 0.6]])
    matched, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=False)
    np.testing.assert_array_equal(matched, [0, 1, 0])
    np.testing.assert_array_equal(labels, [POSITIVE, POSITIVE, IGNORE])


def test_low_quality_matches_only_add_positives_and_keep_the_argmax_match():
    iou = np.array([[0.5, 0.1, 0.0],
                    [0.45, 0.2, 0.0]])
    matched, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=True)
    # gt 0's best is anchor 0 (0.5); gt 1's best is anchor 0 as well (0.45): anchor 1 stays negative
    np.testing.assert_array_equal(labels, [POSITIVE, NEGATIVE, NEGATIVE])
    np.testing.assert_array_equal(matched, [0, 1, 0])  # each anchor keeps its best ground truth


def test_sample_balanced_takes_exactly_the_cap_when_there_are_more_positives():
    labels = np.array([POSITIVE] * 30 + [NEGATIVE] * 30, dtype=np.int8)
    out = sample_balanced(labels, 16, 0.25, np.random.default_rng(0))
    assert (out == POSITIVE).sum() == 4 and (out == NEGATIVE).sum() == 12 and (out == IGNORE).sum() == 44
    out = sample_balanced(labels, 10, 0.25, np.random.default_rng(0))  # int(2.5) = 2, not 3
    assert (out == POSITIVE).sum() == 2 and (out == NEGATIVE).sum() == 8
