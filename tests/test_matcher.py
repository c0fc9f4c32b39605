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
