import numpy as np
import pytest
from model_fixtures import check_coordinates, tiny_batch, tiny_config

from minimaskrcnn.boxes import box_iou
from minimaskrcnn.config import Config
from minimaskrcnn.datasets import ShapesDataset
from minimaskrcnn.model.anchors import anchors_for_config
from minimaskrcnn.model.backbone import Backbone
from minimaskrcnn.model.mask_rcnn import MaskRCNN
from minimaskrcnn.model.rpn import RPN, rpn_losses, rpn_targets
from minimaskrcnn.nn import SGD, numerical_gradient_at, rel_error


class BackboneRPN:
    """Backbone + RPN alone, as the RPN tests train and check them."""

    def __init__(self, cfg, dtype=np.float32):
        self.cfg = cfg
        self.model = MaskRCNN(cfg)  # for preprocess and anchors; we use only two stages
        self.model.astype(dtype)
        self.backbone, self.rpn = self.model.backbone, self.model.rpn

    def named_parameters(self):
        yield from self.backbone.named_parameters("backbone.")
        yield from self.rpn.named_parameters("rpn.")

    def forward(self, images, gt_boxes, seed, training=True):
        x = self.model.preprocess(images)
        feats, bcache = self.backbone.forward(x)
        anchors = self.model.anchors(feats)
        props, losses, rcache = self.rpn.forward(feats, anchors, x.shape[2:], gt_boxes,
                                                 np.random.default_rng(seed), training=training)
        return props, losses, (bcache, rcache)

    def backward(self, cache):
        bcache, rcache = cache
        self.backbone.backward(self.rpn.backward(rcache), bcache)


@pytest.mark.parametrize("use_fpn", [False, True])
def test_rpn_loss_gradient_check(use_fpn):
    cfg = tiny_config(use_fpn=use_fpn, anchor_sizes=(8.0, 16.0, 32.0) if use_fpn else (8.0, 16.0))
    net = BackboneRPN(cfg, np.float64)
    redraw = np.random.default_rng(2)
    for name, p, _ in net.named_parameters():  # larger than the 0.01 init: gradients well above round-off
        if name.startswith("rpn.head.") or name.endswith("bias"):
            p[...] = redraw.normal(0, 0.2, p.shape)
    images, targets = tiny_batch()
    gt = [t["boxes"] for t in targets]
    _, losses, cache = net.forward(images, gt, seed=0)
    assert losses["loss_objectness"] > 0 and losses["loss_rpn_box"] > 0
    for _, _, g in net.named_parameters():
        g.fill(0)
    net.backward(cache)

    def total():
        _, l, _ = net.forward(images, gt, seed=0)  # same seed: the same sampled anchors
        return l["loss_objectness"] + l["loss_rpn_box"]

    names = ["backbone.body.stem.layers.0.weight", "backbone.body.stages.1.layers.0.conv2.weight",
             "backbone.body.stages.2.layers.0.norm1.weight", "rpn.head.conv.weight",
             "rpn.head.cls.bias", "rpn.head.bbox.weight"]
    if use_fpn:
        names += ["backbone.fpn.lateral.0.weight", "backbone.fpn.output.2.weight"]
    params = {n: (p, g) for n, p, g in net.named_parameters()}
    rng = np.random.default_rng(1)
    for name in names:
        p, g = params[name]
        idx = check_coordinates(g, rng, k=3)
        num = numerical_gradient_at(total, p, idx)
        assert rel_error(num, g.reshape(-1)[idx]) < 1e-6, name


def test_rpn_losses_by_hand():
    logits = np.array([[0.0, 2.0, -1.0, 5.0]])
    deltas = np.zeros((1, 4, 4))
    targets = np.zeros((1, 4, 4))
    targets[0, 1] = [0.05, -1.0, 0.0, 0.0]
    labels = np.array([[0, 1, -1, 0]], dtype=np.int8)  # anchor 2 not sampled
    losses, (dl, dd) = rpn_losses(logits, deltas, labels, targets, beta=1 / 9)
    bce = np.log(2) + np.log1p(np.exp(-2.0)) + np.log1p(np.exp(5.0))
    assert losses["loss_objectness"] == pytest.approx(bce / 3)
    sl1 = 0.5 * 0.05**2 / (1 / 9) + (1.0 - 0.5 / 9)
    assert losses["loss_rpn_box"] == pytest.approx(sl1 / 3)
    assert dl[0, 2] == 0 and (dd[0, [0, 2, 3]] == 0).all()


def test_image_without_ground_truth_gives_defined_loss():
    cfg = tiny_config()
    net = BackboneRPN(cfg)
    images, _ = tiny_batch()
    _, losses, cache = net.forward(images, [np.zeros((0, 4), np.float32)] * 2, seed=0)
    assert np.isfinite(losses["loss_objectness"]) and losses["loss_objectness"] > 0
    assert losses["loss_rpn_box"] == 0.0
    net.backward(cache)
    assert all(np.isfinite(g).all() for _, _, g in net.named_parameters())


def test_targets_sample_at_most_half_positive():
    cfg = tiny_config(rpn_batch_per_image=16, use_fpn=False)
    anchors = anchors_for_config(cfg, [(2, 2)])[0]
    gt = np.array([[0, 0, 16, 16], [8, 8, 32, 32]], np.float32)
    labels, targets = rpn_targets(anchors, gt, cfg, np.random.default_rng(0))
    assert (labels == 1).sum() <= 8 and (labels >= 0).sum() <= 16
    assert (labels == 1).any()
    iou = box_iou(gt, anchors).max(axis=0)
    assert (iou[labels == 0] < cfg.rpn_bg_iou).all()


def test_image_size_not_divisible_by_stride_is_rejected():
    model = MaskRCNN(tiny_config())
    with pytest.raises(ValueError, match="multiples of the stride"):
        model.preprocess(np.zeros((1, 36, 32, 3), np.uint8))


def test_backbone_and_rpn_learn_to_propose_every_object():
    """Two shapes images, a few hundred steps: loss falls, top-50 proposals find every object."""
    cfg = Config(rpn_post_nms_topk_test=50)
    ds = ShapesDataset(2, seed=3)
    images = np.stack([ds[i]["image"] for i in range(2)])
    gt = [ds[i]["boxes"] for i in range(2)]
    net = BackboneRPN(cfg)
    opt = SGD(list(net.named_parameters()), lr=0.01, momentum=0.9, weight_decay=0.0)
    first = None
    for step in range(250):
        _, losses, cache = net.forward(images, gt, seed=step)
        loss = losses["loss_objectness"] + losses["loss_rpn_box"]
        first = loss if first is None else first
        for _, _, g in net.named_parameters():
            g.fill(0)
        net.backward(cache)
        opt.step()
    assert loss < 0.3 * first
    props, _, _ = net.forward(images, gt, seed=0, training=False)
    for (boxes, _), g in zip(props, gt):
        assert len(boxes) <= 50
        assert (box_iou(g, boxes).max(axis=1) >= 0.5).all()
