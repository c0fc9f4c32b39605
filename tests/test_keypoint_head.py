"""Keypoint head: bilinear upsampling, one-hot targets, the m²-way softmax loss, decoding."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minimaskrcnn.model.keypoint_head import (IGNORE, KeypointHead, heatmaps_to_keypoints, keypoint_loss,
                                              keypoint_targets)
from minimaskrcnn.nn import numerical_gradient, rel_error
from minimaskrcnn.ops.upsample import (interpolation_matrix, upsample_bilinear, upsample_bilinear_backward,
                                       upsample_bilinear_naive)

# -- bilinear upsampling ---------------------------------------------------------------


def test_upsample_worked_example_matches_torch():
    # torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    # on this 2x2 input gives these values (computed once with torch 2.x, pinned here).
    x = np.array([[[[0.0, 4.0], [8.0, 12.0]]]])
    expected = [[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]]
    np.testing.assert_allclose(upsample_bilinear(x)[0, 0], expected)
    np.testing.assert_allclose(upsample_bilinear_naive(x)[0, 0], expected)


@pytest.mark.parametrize("shape,scale", [((2, 3, 5, 7), 2), ((1, 1, 1, 1), 2), ((1, 2, 3, 4), 3), ((1, 1, 2, 2), 1)])
def test_upsample_fast_matches_naive(shape, scale):
    x = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(upsample_bilinear(x, scale), upsample_bilinear_naive(x, scale), atol=1e-12)


def test_upsample_reproduces_affine_ramps_inside_and_rows_sum_to_one():
    A = interpolation_matrix(6, 2)
    np.testing.assert_allclose(A.sum(axis=1), 1.0)
    ramp = np.arange(6.0)  # value = pixel index; away from the clamped border it is reproduced
    out = A @ ramp
    centres = (np.arange(12) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(out[1:-1], centres[1:-1])


def test_upsample_backward_gradient_check():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 2, 3, 4))
    dout = rng.normal(size=(2, 2, 6, 8))
    num = numerical_gradient(lambda _: upsample_bilinear(x), x, dout)
    assert rel_error(num, upsample_bilinear_backward(dout)) < 1e-8


def test_upsample_bad_input():
    with pytest.raises(ValueError, match="x"):
        upsample_bilinear(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="scale"):
        upsample_bilinear(np.zeros((1, 1, 2, 2)), 0)
    with pytest.raises(ValueError, match="dout"):
        upsample_bilinear_backward(np.zeros((1, 1, 5, 4)), 2)


# -- the head ----------------------------------------------------------------------------


@pytest.mark.parametrize("upsample", [False, True])
def test_head_shapes_and_gradient_check(upsample):
    rng = np.random.default_rng(0)
    head = KeypointHead(3, 4, 2, 5, upsample=upsample, rng=rng).astype(np.float64)
    for name, p, _ in head.named_parameters():  # non-zero biases keep ReLU inputs off the kink
        if name.endswith("bias"):
            p[...] = rng.normal(0, 0.1, p.shape)
    x = rng.normal(size=(2, 3, 4, 4))
    logits, cache = head.forward(x)
    m = 16 if upsample else 8
    assert logits.shape == (2, 5, m, m)
    dout = rng.normal(size=logits.shape)
    head.zero_grad()
    dx = head.backward(dout, cache)
    assert rel_error(numerical_gradient(lambda _: head.forward(x)[0], x, dout), dx) < 1e-6
    for name, p, g in head.named_parameters():
        num = numerical_gradient(lambda _: head.forward(x)[0], p, dout)
        assert rel_error(num, g) < 1e-6, name


# -- targets -------------------------------------------------------------------------------


def test_targets_land_in_the_right_cell():
    """RoI (10, 20) - (38, 48) with m = 28: one-pixel cells, so cell = floor(point - corner)."""
    kp = np.array([[[10.0, 20.0, 2],    # top-left corner -> cell (0, 0)
                    [13.5, 25.5, 2],    # -> row 5, column 3
                    [37.99, 47.99, 1],  # hidden but labelled: still a target, last cell
                    [38.0, 48.0, 2],    # exactly on the right/bottom edge -> last cell
                    [38.5, 30.0, 2],    # just right of the RoI -> ignored
                    [15.0, 25.0, 0]]])  # not labelled -> ignored
    targets, valid = keypoint_targets(kp, np.array([[10, 20, 38, 48]], np.float32), np.array([0]), 28)
    assert valid.tolist() == [[True, True, True, True, False, False]]
    assert targets.tolist() == [[0, 5 * 28 + 3, 28 * 28 - 1, 28 * 28 - 1, IGNORE, IGNORE]]


def test_targets_follow_the_matched_ground_truth_and_scale_with_the_roi():
    kp = np.array([[[5.0, 5.0, 2]], [[30.0, 10.0, 2]]])  # two instances, one keypoint each
    rois = np.array([[20, 0, 40, 20], [0, 0, 10, 10], [20, 0, 40, 20]], np.float32)
    targets, valid = keypoint_targets(kp, rois, np.array([1, 0, 0]), 4)  # 5-pixel cells
    assert valid[:, 0].tolist() == [True, True, False]  # instance 0's keypoint is outside RoI 2
    assert targets[0, 0] == 2 * 4 + 2 and targets[1, 0] == 2 * 4 + 2


@given(st.floats(0, 99.99), st.floats(0, 99.99), st.integers(2, 40))
def test_decoding_a_one_hot_target_returns_the_keypoint_within_half_a_cell(x, y, m):
    roi = np.array([[0.0, 0.0, 100.0, 100.0]])
    targets, valid = keypoint_targets(np.array([[[x, y, 2]]]), roi, np.array([0]), m)
    assert valid.all()
    logits = np.zeros((1, 1, m, m))
    logits.reshape(1, 1, -1)[0, 0, targets[0, 0]] = 20.0
    out = heatmaps_to_keypoints(logits, roi)
    half = 100.0 / m / 2
    assert abs(out[0, 0, 0] - x) <= half + 1e-4 and abs(out[0, 0, 1] - y) <= half + 1e-4
    assert out[0, 0, 2] > 0.99


def test_heatmaps_to_keypoints_worked_example_and_scores():
    logits = np.zeros((1, 2, 28, 28))
    logits[0, 0, 5, 3] = 1.0
    logits[0, 1] = 0.0  # flat heatmap: arg-max is cell 0, probability 1/784
    out = heatmaps_to_keypoints(logits, np.array([[10, 20, 38, 48]], np.float32))
    np.testing.assert_allclose(out[0, 0], [13.5, 25.5, np.e / (np.e + 783)], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], [10.5, 20.5, 1 / 784], rtol=1e-6)
    assert heatmaps_to_keypoints(np.zeros((0, 3, 8, 8)), np.zeros((0, 4))).shape == (0, 3, 3)
    with pytest.raises(ValueError, match="boxes"):
        heatmaps_to_keypoints(np.zeros((2, 3, 8, 8)), np.zeros((1, 4)))


# -- loss ------------------------------------------------------------------------------------


def test_loss_is_an_m2_way_softmax_cross_entropy():
    logits = np.zeros((1, 2, 3, 3))
    logits[0, 0, 1, 2] = 2.0
    targets = np.array([[1 * 3 + 2, IGNORE]])
    loss, d, stats = keypoint_loss(logits, targets)
    assert loss == pytest.approx(-np.log(np.e**2 / (np.e**2 + 8)))
    assert (d[0, 1] == 0).all() and d[0, 0].sum() == pytest.approx(0.0)
    assert stats == {"keypoint_accuracy": 1.0, "keypoint_cell_error": 0.0}


def test_loss_ignores_a_constant_added_to_a_heatmap_so_the_predictor_has_no_bias():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(2, 3, 4, 4))
    targets = rng.integers(0, 16, size=(2, 3))
    shifted = logits + rng.normal(size=(2, 3, 1, 1)) * 5
    assert keypoint_loss(shifted, targets)[0] == pytest.approx(keypoint_loss(logits, targets)[0])
    _, d, _ = keypoint_loss(logits, targets)
    np.testing.assert_allclose(d.sum(axis=(2, 3)), 0, atol=1e-12)  # what a bias would receive
    head = KeypointHead(3, 4, 1, 5, rng=rng)
    assert "predictor.bias" not in {n for n, _, _ in head.named_parameters()}


def test_loss_gradient_check():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(3, 4, 5, 5))
    targets = rng.integers(0, 25, size=(3, 4))
    targets[0, 1] = targets[2, 3] = IGNORE
    _, d, _ = keypoint_loss(logits, targets)
    num = numerical_gradient(lambda _: keypoint_loss(logits, targets)[0], logits)
    assert rel_error(num, d) < 1e-7


def test_loss_without_valid_keypoints_is_zero():
    loss, d, stats = keypoint_loss(np.ones((2, 3, 4, 4)), np.full((2, 3), IGNORE))
    assert loss == 0.0 and (d == 0).all() and stats == {}
    loss, d, _ = keypoint_loss(np.zeros((0, 3, 4, 4)), np.zeros((0, 3), np.int64))
    assert loss == 0.0 and d.shape == (0, 3, 4, 4)
    with pytest.raises(ValueError, match="targets"):
        keypoint_loss(np.zeros((2, 3, 4, 4)), np.zeros((2, 4), np.int64))


def test_head_backward_accumulates_into_grads():
    from model_fixtures import assert_backward_accumulates

    from minimaskrcnn.model.keypoint_head import KeypointHead

    head = KeypointHead(3, 4, 2, 5, True, rng=np.random.default_rng(0))
    assert_backward_accumulates(head, np.random.default_rng(1).normal(size=(2, 3, 4, 4)).astype(np.float32))
