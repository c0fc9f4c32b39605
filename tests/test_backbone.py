import numpy as np
import pytest

from minimaskrcnn.config import Config
from minimaskrcnn.model.backbone import Backbone, assign_fpn_levels
from minimaskrcnn.nn import numerical_gradient, rel_error

TINY = dict(stem_channels=4, stage_channels=(4, 8, 8), num_groups=2, image_size=32)


def _check_backbone_gradients(cfg, every=3):
    bb = Backbone(cfg, rng=np.random.default_rng(0)).astype(np.float64)
    x = np.random.default_rng(1).normal(size=(2, 3, 32, 32))
    feats, cache = bb.forward(x)
    douts = [np.random.default_rng(10 + i).normal(size=f.shape) for i, f in enumerate(feats)]
    bb.zero_grad()
    bb.backward(douts, cache)

    def loss(_):
        return sum(np.sum(f * d) for f, d in zip(bb.forward(x)[0], douts))

    checked = 0
    for name, p, g in list(bb.named_parameters())[::every]:
        assert rel_error(numerical_gradient(loss, p), g) < 1e-6, name
        checked += 1
    assert checked >= 4


def test_single_level_shapes_and_stride():
    cfg = Config(use_fpn=False)
    bb = Backbone(cfg, rng=np.random.default_rng(0))
    feats, _ = bb.forward(np.zeros((1, 3, 128, 128), np.float32))
    assert [f.shape for f in feats] == [(1, cfg.stage_channels[-1], 8, 8)]


def test_fpn_shapes():
    cfg = Config(use_fpn=True)
    bb = Backbone(cfg, rng=np.random.default_rng(0))
    feats, _ = bb.forward(np.zeros((1, 3, 128, 128), np.float32))
    C = cfg.fpn_channels
    assert [f.shape for f in feats] == [(1, C, 32, 32), (1, C, 16, 16), (1, C, 8, 8)]


def test_gradient_check_single_level():
    _check_backbone_gradients(Config(use_fpn=False, **TINY))


def test_gradient_check_fpn():
    _check_backbone_gradients(Config(use_fpn=True, fpn_channels=4, **TINY))


@pytest.mark.parametrize("side, expected", [(4, 0), (16, 0), (31, 0), (32, 1), (63, 1), (64, 2), (500, 2)])
def test_fpn_level_assignment(side, expected):
    boxes = np.array([[10, 10, 10 + side, 10 + side]], dtype=np.float32)
    assert assign_fpn_levels(boxes, [2, 3, 4], 32.0, 3)[0] == expected


def test_zero_area_box_goes_to_finest_level():
    assert assign_fpn_levels(np.array([[5.0, 5, 5, 5]]), [2, 3, 4], 32.0, 3)[0] == 0


@pytest.mark.parametrize("use_fpn", [False, True])
def test_backward_accumulates_into_grads(use_fpn):
    from model_fixtures import assert_backward_accumulates

    bb = Backbone(Config(use_fpn=use_fpn, fpn_channels=4, **TINY), rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(1, 3, 32, 32)).astype(np.float32)
    assert_backward_accumulates(bb, x)
