import numpy as np
import pytest
from model_fixtures import check_coordinates, tiny_batch, tiny_config

from minimaskrcnn.boxes import box_iou, decode_boxes
from minimaskrcnn.config import Config
from minimaskrcnn.datasets import ShapesDataset
from minimaskrcnn.model.anchors import anchors_for_config
from minimaskrcnn.model.backbone import Backbone
from minimaskrcnn.model.mask_rcnn import MaskRCNN
from minimaskrcnn.model.rpn import RPN, generate_proposals, rpn_losses, rpn_targets
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
    """40 anchors match a ground truth, 40 do not: a batch of 16 takes exactly 8 of each."""
    cfg = tiny_config(rpn_batch_per_image=16, rpn_positive_fraction=0.5)
    gt = np.array([[0, 0, 16, 16]], np.float32)
    rng = np.random.default_rng(0)
    near = gt + rng.uniform(-0.5, 0.5, (40, 4)).astype(np.float32)  # IoU > 0.88
    far = np.array([[40, 40, 56, 56]] * 40, np.float32)
    anchors = np.concatenate([near, far])
    labels, targets = rpn_targets(anchors, gt, cfg, np.random.default_rng(1))
    assert (labels == 1).sum() == 8 and (labels == 0).sum() == 8 and (labels >= 0).sum() == 16
    iou = box_iou(gt, anchors).max(axis=0)
    assert (iou[labels == 1] >= cfg.rpn_fg_iou).all() and (iou[labels == 0] < cfg.rpn_bg_iou).all()
    pos = labels == 1
    np.testing.assert_allclose(decode_boxes(targets[pos], anchors[pos]), np.repeat(gt, 8, 0), atol=1e-4)
    assert not targets[~pos].any()


def test_targets_take_every_positive_when_there_are_few():
    cfg = tiny_config(rpn_batch_per_image=16, rpn_positive_fraction=0.5)
    gt = np.array([[0, 0, 16, 16]], np.float32)
    anchors = np.array([[0, 0, 16, 16], [1, 1, 17, 17]] + [[40, 40, 56, 56]] * 30, np.float32)
    labels, _ = rpn_targets(anchors, gt, cfg, np.random.default_rng(0))
    assert (labels[:2] == 1).all() and (labels == 1).sum() == 2 and (labels == 0).sum() == 14


def test_generate_proposals_runs_nms_within_each_level_not_across():
    anchors = np.array([[0, 0, 10, 10], [1, 1, 11, 11],  # level 0: two near-duplicates
                        [0, 0, 10, 10], [30, 5, 60, 15]], np.float32)  # level 1: level 0's box again, one wide box
    logits = np.array([[3.0, 2.0, 1.0, 0.0]], np.float32)
    deltas = np.zeros((1, 4, 4), np.float32)
    (boxes, scores), = generate_proposals(logits, deltas, anchors, [2, 2], (20, 50), 10, 10, 0.5, 1e-3)
    # level 0 keeps anchor 0 and suppresses anchor 1 (IoU 0.68); level 1 keeps its copy of anchor 0
    # (NMS across levels would drop it) and the wide box, clipped to the 50-pixel-wide, 20-high image
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10], [0, 0, 10, 10], [30, 5, 50, 15]])
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-np.array([3.0, 1.0, 0.0]))), rtol=1e-6)
    assert boxes.dtype == scores.dtype == np.float32


def test_generate_proposals_top_k_per_level_then_per_image():
    anchors = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [0, 20, 10, 30], [20, 20, 30, 30]], np.float32)
    logits = np.array([[0.0, 1.0, 5.0, 4.0]], np.float32)
    deltas = np.zeros((1, 4, 4), np.float32)
    (boxes, scores), = generate_proposals(logits, deltas, anchors, [2, 2], (40, 40), 1, 10, 0.7, 1e-3)
    # pre-NMS top-1 of each level: anchor 1 (level 0) and anchor 2 (level 1), best first
    np.testing.assert_array_equal(boxes, anchors[[2, 1]])
    (boxes, _), = generate_proposals(logits, deltas, anchors, [2, 2], (40, 40), 10, 3, 0.7, 1e-3)
    np.testing.assert_array_equal(boxes, anchors[[2, 3, 1]])  # post-NMS top 3 over the image


def test_generate_proposals_ties_keep_the_first_anchor_and_deltas_move_boxes():
    anchors = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], np.float32)
    deltas = np.array([[[0.5, 0, 0, 0], [0, 0, 0, 0]]], np.float32)  # anchor 0 moves right by half its width
    (boxes, _), = generate_proposals(np.zeros((1, 2), np.float32), deltas, anchors, [2], (40, 40), 1, 10, 0.7, 1e-3)
    np.testing.assert_allclose(boxes, [[5, 0, 15, 10]])


def test_generate_proposals_drops_tiny_boxes_and_handles_two_images():
    anchors = np.array([[0, 0, 10, 10], [5, 5, 5.0005, 30]], np.float32)  # the second is 0.0005 wide
    logits = np.array([[0.0, 9.0], [2.0, 1.0]], np.float32)
    out = generate_proposals(logits, np.zeros((2, 2, 4), np.float32), anchors, [2], (40, 40), 10, 10, 0.7, 1e-3)
    assert len(out) == 2
    np.testing.assert_array_equal(out[0][0], anchors[:1])
    np.testing.assert_array_equal(out[1][0], anchors[:1])


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


def test_rpn_head_backward_accumulates_into_grads():
    from model_fixtures import assert_backward_accumulates

    from minimaskrcnn.model.rpn import RPNHead

    rng = np.random.default_rng(0)
    head = RPNHead(4, 6, 3, rng=rng)
    assert_backward_accumulates(head, rng.normal(size=(2, 4, 5, 6)).astype(np.float32))
