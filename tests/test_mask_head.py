import numpy as np
import pytest
from model_fixtures import box_mask, disc_mask, tiny_config

from minimaskrcnn.model.mask_head import (MaskHeadFCN, MaskHeadMLP, mask_loss, mask_probabilities,
                                          mask_targets, paste_masks)
from minimaskrcnn.nn import numerical_gradient, rel_error


def test_mask_targets_equal_direct_crop_and_resize():
    """RoI on whole pixels, 2x larger than m: the target is the crop, 2x2-block subsampled."""
    rng = np.random.default_rng(0)
    gt = rng.random((2, 40, 40)) > 0.5
    gt[1] = disc_mask(20, 20, 9, 40)
    rois = np.array([[4, 6, 20, 22], [10, 10, 26, 26]], np.float32)
    matched = np.array([0, 1])
    t = mask_targets(gt, rois, matched, 8)
    assert t.shape == (2, 8, 8) and set(np.unique(t)) <= {0.0, 1.0}
    for k, ((x1, y1, x2, y2), j) in enumerate(zip(rois.astype(int), matched)):
        crop = gt[j, y1:y2, x1:x2].astype(float)  # (16, 16)
        blocks = crop.reshape(8, 2, 8, 2).mean(axis=(1, 3))  # the 4 samples of each bin
        np.testing.assert_array_equal(t[k], (blocks >= 0.5).astype(np.float32))


def test_mask_targets_of_a_box_filling_mask_are_all_ones():
    gt = box_mask((5, 7, 21, 19), 32)[None]
    t = mask_targets(gt, np.array([[5, 7, 21, 19]], np.float32), np.array([0]), 14)
    assert (t == 1).all()


def test_paste_box_filling_mask_lands_exactly_on_box_pixels():
    for box in ([3, 4, 20, 30], [0.0, 0.0, 31.0, 7.0], [10.5, 2.0, 11.5, 9.0]):
        masks = paste_masks(np.ones((1, 28, 28)), np.array([box], np.float32), (32, 32))
        yy, xx = np.mgrid[:32, :32] + 0.5  # pixel centres
        inside = (xx >= box[0]) & (xx <= box[2]) & (yy >= box[1]) & (yy <= box[3])
        np.testing.assert_array_equal(masks[0], inside)


def test_paste_handles_boxes_partly_outside_and_empty():
    masks = paste_masks(np.ones((2, 14, 14)), np.array([[-10, -10, 5, 5], [40, 40, 50, 50]], np.float32),
                        (32, 32))
    assert masks.shape == (2, 32, 32)
    assert masks[0, :5, :5].all() and masks[0].sum() == 25
    assert not masks[1].any()
    assert paste_masks(np.zeros((0, 14, 14)), np.zeros((0, 4)), (8, 9)).shape == (0, 8, 9)


def test_paste_resizes_bilinearly():
    """A left-half mask pasted into a 2x wider box fills its left half."""
    probs = np.zeros((1, 4, 4))
    probs[0, :, :2] = 1
    masks = paste_masks(probs, np.array([[0, 0, 8, 8]], np.float32), (8, 8))
    np.testing.assert_array_equal(masks[0], np.repeat([[1, 1, 1, 1, 0, 0, 0, 0]], 8, 0).astype(bool))


def test_sigmoid_mask_loss_uses_only_the_ground_truth_channel():
    cfg = tiny_config()
    logits = np.zeros((2, 3, 2, 2))
    logits[0, 1] = 2.0  # RoI 0 has label 2 -> channel 1
    logits[1, 2] = -1.0  # RoI 1 has label 3 -> channel 2
    logits[0, 0] = 50.0  # other channels must not matter
    targets = np.array([[[1, 1], [0, 0]], [[1, 0], [1, 0]]], np.float64)
    loss, d, stats = mask_loss(logits, np.array([2, 3]), targets, cfg)
    sp = lambda z: np.log1p(np.exp(z))  # noqa: E731  softplus
    expected = (2 * sp(-2.0) + 2 * sp(2.0) + 2 * sp(1.0) + 2 * sp(-1.0)) / 8
    assert loss == pytest.approx(expected)
    assert (d[0, [0, 2]] == 0).all() and (d[1, :2] == 0).all()
    assert stats["mask_accuracy"] == pytest.approx(0.5)
    assert stats["mask_false_positive"] == pytest.approx(0.5)  # RoI 0 bottom row
    assert stats["mask_false_negative"] == pytest.approx(0.5)  # RoI 1 left column


def test_mask_loss_with_no_positive_roi_is_zero():
    loss, d, _ = mask_loss(np.zeros((0, 3, 4, 4)), np.zeros(0, np.int64), np.zeros((0, 4, 4)), tiny_config())
    assert loss == 0.0 and d.shape == (0, 3, 4, 4)


@pytest.mark.parametrize("changes", [{}, {"mask_loss": "softmax"}, {"class_agnostic_masks": True},
                                     {"mask_loss": "softmax", "class_agnostic_masks": True}])
def test_mask_loss_gradient(changes):
    cfg = tiny_config(**changes)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, cfg.num_mask_channels, 4, 4))
    labels = np.array([1, 3, 2])
    targets = (rng.random((3, 4, 4)) > 0.5).astype(np.float64)
    _, d, _ = mask_loss(logits, labels, targets, cfg)
    num = numerical_gradient(lambda z: mask_loss(z, labels, targets, cfg)[0], logits)
    assert rel_error(num, d) < 1e-6
    probs = mask_probabilities(logits, labels, cfg)
    assert probs.shape == (3, 4, 4) and ((probs >= 0) & (probs <= 1)).all()


@pytest.mark.parametrize("head", ["fcn", "mlp"])
def test_mask_head_gradients(head):
    rng = np.random.default_rng(0)
    if head == "fcn":
        net = MaskHeadFCN(3, 4, 2, 3, rng=rng)
    else:
        net = MaskHeadMLP(3 * 4 * 4, 6, 3, 8, rng=rng)
    net.astype(np.float64)
    for name, p, _ in net.named_parameters():  # zero biases put ReLU inputs exactly on the kink
        if name.endswith("bias"):
            p[...] = rng.normal(0, 0.1, p.shape)
    x = rng.normal(size=(2, 3, 4, 4))
    out, cache = net.forward(x)
    assert out.shape == (2, 3, 8, 8)
    dout = rng.normal(size=out.shape)
    net.zero_grad()
    dx = net.backward(dout, cache)
    f = lambda _: np.sum(net.forward(x)[0] * dout)  # noqa: E731
    assert rel_error(numerical_gradient(f, x), dx) < 1e-6
    for name, p, g in net.named_parameters():
        assert rel_error(numerical_gradient(f, p), g) < 1e-6, name


@pytest.mark.parametrize("head", ["fcn", "mlp"])
def test_mask_head_backward_accumulates_into_grads(head):
    from model_fixtures import assert_backward_accumulates

    rng = np.random.default_rng(0)
    net = MaskHeadFCN(3, 4, 2, 3, rng=rng) if head == "fcn" else MaskHeadMLP(3 * 4 * 4, 6, 3, 8, rng=rng)
    assert_backward_accumulates(net, rng.normal(size=(2, 3, 4, 4)).astype(np.float32))


def test_mask_target_exactly_half_covered_is_foreground():
    gt = np.zeros((1, 4, 4), bool)
    gt[0, :, :2] = True  # the left half: the one bin's 16 samples average to exactly 0.5
    t = mask_targets(gt, np.array([[0, 0, 4, 4]], np.float32), np.array([0]), 1)
    np.testing.assert_array_equal(t, [[[1.0]]])


def test_paste_value_exactly_at_the_threshold_is_in_the_mask():
    # box (0, 0, 4, 4), m = 2: pixels 1 and 2 of each axis read the constant 0.5 exactly,
    # border pixels 0.375 (zero padding)
    masks = paste_masks(np.full((1, 2, 2), 0.5), np.array([[0, 0, 4, 4]], np.float32), (4, 4), threshold=0.5)
    expected = np.zeros((4, 4), bool)
    expected[1:3, 1:3] = True
    np.testing.assert_array_equal(masks[0], expected)


def test_paste_into_a_non_square_image():
    box = [6, 1, 12, 5]  # in a 6 x 12 image (H, W): touches the right edge
    masks = paste_masks(np.ones((1, 4, 4)), np.array([box], np.float32), (6, 12))
    assert masks.shape == (1, 6, 12)
    expected = np.zeros((6, 12), bool)
    expected[1:5, 6:12] = True
    np.testing.assert_array_equal(masks[0], expected)
