"""ops.use(): the model calls a replacement RoIAlign / NMS / mask loss inside the block, its own outside."""
import numpy as np
import pytest
from model_fixtures import tiny_batch, tiny_config

from minimaskrcnn import ops
from minimaskrcnn.config import Config
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.model.mask_head import mask_loss
from minimaskrcnn.model.poolers import RoIPooler
from minimaskrcnn.model.roi_heads import postprocess_detections
from minimaskrcnn.nn.losses import sigmoid_bce_with_logits


class Recorder:
    """Calls ``fn`` and counts the calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def test_the_model_trains_through_a_replaced_roi_align_and_only_inside_the_block():
    images, targets = tiny_batch()
    model = MaskRCNN(tiny_config())
    fwd, bwd = Recorder(ops.roi_align), Recorder(ops.roi_align_backward)
    losses = model.forward(images, targets, np.random.default_rng(0))
    model.zero_grad()
    model.backward()
    expected = {name: g.copy() for name, _, g in model.named_parameters()}
    with ops.use(roi_align=fwd, roi_align_backward=bwd):
        replaced = model.forward(images, targets, np.random.default_rng(0))
        model.zero_grad()
        model.backward()
    assert fwd.calls >= 2 and bwd.calls >= 2  # box and mask poolers
    assert replaced == losses  # the same op, so the same numbers
    for name, _, g in model.named_parameters():
        np.testing.assert_array_equal(g, expected[name])
    calls = fwd.calls
    model.forward(images, targets, np.random.default_rng(0))
    assert fwd.calls == calls  # outside the block: the package's op again


def test_a_replaced_forward_needs_a_replaced_backward():
    images, targets = tiny_batch()
    model = MaskRCNN(tiny_config())
    with ops.use(roi_align=ops.roi_align):
        model.forward(images, targets, np.random.default_rng(0))
        model.zero_grad()
        with pytest.raises(RuntimeError, match="roi_align_backward was not"):
            model.backward()


def test_the_replacement_is_looked_up_at_call_time_and_blocks_nest():
    pooler = RoIPooler(Config(use_fpn=False), 2)
    feats = [np.arange(2 * 8 * 8, dtype=np.float32).reshape(1, 2, 8, 8)]
    rois = np.array([[0, 0, 0, 64, 64]], np.float32)
    twice = lambda f, r, *a: 2 * ops.roi_align(f, r, *a)  # noqa: E731
    thrice = lambda f, r, *a: 3 * ops.roi_align(f, r, *a)  # noqa: E731
    base = pooler.forward(feats, rois)[0]
    with ops.use(roi_align=twice):
        np.testing.assert_array_equal(pooler.forward(feats, rois)[0], 2 * base)
        with ops.use(roi_align=thrice):
            np.testing.assert_array_equal(pooler.forward(feats, rois)[0], 3 * base)
        np.testing.assert_array_equal(pooler.forward(feats, rois)[0], 2 * base)
    np.testing.assert_array_equal(pooler.forward(feats, rois)[0], base)
    with ops.use(roi_align=lambda f, r, *a: np.zeros((1, 1))):
        with pytest.raises(ValueError, match=r"the replacement roi_align returned shape \(1, 1\), expected"):
            pooler.forward(feats, rois)


def test_nms_replacement_runs_once_per_class_in_the_detection_post_processing():
    rng = np.random.default_rng(0)
    P, K = 30, 3
    logits = rng.normal(0, 2, size=(P, K + 1))
    deltas = rng.normal(0, 0.5, size=(P, 4 * K))
    xy = rng.uniform(0, 40, size=(P, 2))
    proposals = np.concatenate([xy, xy + rng.uniform(5, 20, size=(P, 2))], axis=1)
    cfg = Config()
    expected = postprocess_detections(logits, deltas, proposals, (64, 64), cfg)
    nms = Recorder(ops.nms)
    with ops.use(nms=nms):
        got = postprocess_detections(logits, deltas, proposals, (64, 64), cfg)
    assert nms.calls == len(np.unique(expected[2]))  # once per class present
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_mask_loss_replacement_is_used_for_sigmoid_class_specific_masks():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(4, 3, 5, 5)), np.array([1, 3, 2, 2])
    targets = (rng.random((4, 5, 5)) > 0.5).astype(np.float64)
    expected = mask_loss(logits, labels, targets, Config())

    def mine(z, lab, t):
        d = np.zeros_like(z)
        loss, g = sigmoid_bce_with_logits(z[np.arange(len(lab)), lab - 1], t)
        d[np.arange(len(lab)), lab - 1] = g
        return 2 * loss, 2 * d  # twice the loss: visibly mine

    with ops.use(mask_loss=mine):
        loss, d, stats = mask_loss(logits, labels, targets, Config())
        agnostic = mask_loss(logits[:, :1], labels, targets, Config(class_agnostic_masks=True))
    assert loss == pytest.approx(2 * expected[0]) and stats == expected[2]
    np.testing.assert_allclose(d, 2 * expected[1])
    assert agnostic[0] == pytest.approx(mask_loss(logits[:, :1], labels, targets, Config(class_agnostic_masks=True))[0])


def test_use_rejects_unknown_names_and_non_functions():
    with pytest.raises(TypeError, match="unknown operation 'roi_pool'"):
        with ops.use(roi_pool=ops.roi_pool):
            pass
    with pytest.raises(TypeError, match="nms must be a function"):
        with ops.use(nms=3):
            pass
