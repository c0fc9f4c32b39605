"""The keypoint branch inside Mask R-CNN: gradients, predictions, transforms, training, overfitting."""

import numpy as np
import pytest
from model_fixtures import check_coordinates, tiny_batch, tiny_config
from test_mask_rcnn import fixed_proposals

from minimaskrcnn.config import Config
from minimaskrcnn.datasets.keypoints import (CLASS_NAMES, KEYPOINT_NAMES, KeypointsConfig, KeypointsDataset,
                                             flip_permutation)
from minimaskrcnn.datasets.transforms import collate, hflip, resize_and_pad
from minimaskrcnn.evaluation import evaluate
from minimaskrcnn.evaluation.keypoints import percentage_correct_keypoints
from minimaskrcnn.inference import _to_original
from minimaskrcnn.model.mask_rcnn import MaskRCNN
from minimaskrcnn.nn import numerical_gradient_at, rel_error
from minimaskrcnn.nn.optim import SGD, WarmupStepLR, clip_grad_norm
from minimaskrcnn.train import train

NAMES = ("head", "left_hand", "right_hand")


def keypoint_config(**changes):
    return tiny_config(keypoint_on=True, keypoint_names=NAMES, keypoint_pool_size=4, keypoint_conv_dim=4,
                       keypoint_num_convs=2, **changes)


def keypoint_batch():
    """tiny_batch plus three keypoints per object: visible, hidden, unlabelled."""
    images, targets = tiny_batch()
    for t in targets:
        x1, y1, x2, y2 = t["boxes"].T
        kp = np.zeros((len(x1), 3, 3), np.float32)
        kp[:, 0] = np.stack([(x1 + x2) / 2, (y1 + y2) / 2, np.full_like(x1, 2)], 1)
        kp[:, 1] = np.stack([x1 + 1.3, y2 - 2.2, np.ones_like(x1)], 1)
        t["keypoints"] = kp
    return images, targets


@pytest.mark.parametrize("changes", [{}, {"use_fpn": True, "keypoint_upsample": False, "mask_on": False}])
def test_total_loss_gradient_check_through_the_keypoint_branch(changes):
    model = MaskRCNN(keypoint_config(**changes)).astype(np.float64)
    redraw = np.random.default_rng(2)
    for name, p, _ in model.named_parameters():  # as in test_mask_rcnn: away from tiny gradients and kinks
        if any(k in name for k in ("predictor", "cls.", "bbox.")):
            p[...] = redraw.normal(0, 0.2, p.shape)
        elif name.endswith("bias"):
            p[...] = redraw.normal(0, 0.1, p.shape)
    images, targets = keypoint_batch()
    props = fixed_proposals(targets)
    losses = model.forward(images, targets, np.random.default_rng(0), proposals=props)
    assert losses["loss_keypoint"] > 0
    model.zero_grad()
    model.backward()

    def total():
        return model.forward(images, targets, np.random.default_rng(0), proposals=props)["loss"]

    params = {n: (p, g) for n, p, g in model.named_parameters()}
    rng = np.random.default_rng(1)
    for name in ("keypoint_head.convs.0.weight", "keypoint_head.convs.1.bias", "keypoint_head.predictor.weight",
                 "backbone.body.stem.layers.0.weight"):
        p, g = params[name]
        idx = check_coordinates(g, rng)
        num = numerical_gradient_at(total, p, idx)
        assert rel_error(num, g.reshape(-1)[idx]) < 1e-6, (name, num, g.reshape(-1)[idx])


def test_keypoint_loss_weight_scales_loss_and_gradient():
    images, targets = keypoint_batch()
    grads = []
    for weight in (1.0, 3.0):
        model = MaskRCNN(keypoint_config(keypoint_loss_weight=weight))
        losses = model.forward(images, targets, np.random.default_rng(0))
        model.backward()
        grads.append((losses["loss_keypoint"], model.keypoint_head.predictor.grads["weight"].copy()))
    assert grads[1][0] == pytest.approx(3 * grads[0][0], rel=1e-6)
    np.testing.assert_allclose(grads[1][1], 3 * grads[0][1], rtol=1e-4, atol=1e-9)


def test_default_model_has_no_keypoint_branch():
    assert Config().keypoint_on is False
    model = MaskRCNN(tiny_config())
    assert not any("keypoint" in n for n, _, _ in model.named_parameters())
    images, targets = tiny_batch()
    assert "loss_keypoint" not in model.forward(images, targets, np.random.default_rng(0))
    assert "keypoints" not in model.predict(images)[0]


def test_predicted_keypoints_lie_in_their_boxes():
    model = MaskRCNN(keypoint_config(score_thresh=0.0, detections_per_image=5))
    images, _ = keypoint_batch()
    for r in model.predict(images):
        kp, boxes = r["keypoints"], r["boxes"]
        assert kp.shape == (len(boxes), 3, 3) and kp.dtype == np.float32 and len(boxes) > 0
        assert ((kp[..., 0] >= boxes[:, None, 0]) & (kp[..., 0] <= boxes[:, None, 2])).all()
        assert ((kp[..., 1] >= boxes[:, None, 1]) & (kp[..., 1] <= boxes[:, None, 3])).all()
        assert ((kp[..., 2] > 0) & (kp[..., 2] <= 1)).all()
    empty = MaskRCNN(keypoint_config(score_thresh=1.0)).predict(images)[0]["keypoints"]
    assert empty.shape == (0, 3, 3)


def test_unlabelled_keypoints_give_zero_loss_and_bad_targets_raise():
    model = MaskRCNN(keypoint_config())
    images, targets = keypoint_batch()
    for t in targets:
        t["keypoints"][..., 2] = 0
    losses = model.forward(images, targets, np.random.default_rng(0))
    assert losses["loss_keypoint"] == 0.0 and "keypoint_accuracy" not in losses
    model.backward()
    assert (model.keypoint_head.predictor.grads["weight"] == 0).all()
    del targets[0]["keypoints"]
    with pytest.raises(ValueError, match=r"targets\[0\]: missing key\(s\) \['keypoints'\]"):
        model.forward(images, targets, np.random.default_rng(0))


# -- transforms -----------------------------------------------------------------------------------


def test_hflip_mirrors_keypoints_and_swaps_left_and_right():
    sample = KeypointsDataset(1, seed=3)[0]
    perm = flip_permutation(KEYPOINT_NAMES)
    flipped = hflip(sample, perm)
    W = sample["image"].shape[1]
    left, right = KEYPOINT_NAMES.index("left_hand"), KEYPOINT_NAMES.index("right_hand")
    kp, fk = sample["keypoints"], flipped["keypoints"]
    labelled = kp[:, left, 2] > 0
    np.testing.assert_allclose(fk[labelled, right, 0], W - kp[labelled, left, 0])
    np.testing.assert_array_equal(fk[:, right, 1:], kp[:, left, 1:])
    assert (fk[fk[..., 2] == 0] == 0).all()  # unlabelled rows stay [0, 0, 0]
    twice = hflip(flipped, perm)
    np.testing.assert_allclose(twice["keypoints"], kp, atol=1e-5)
    with pytest.raises(ValueError, match="flip_perm"):
        hflip(sample)


def test_resize_and_collate_carry_keypoints():
    sample = KeypointsDataset(1, seed=4, config=KeypointsConfig(image_size=64))[0]
    big, scale = resize_and_pad(sample, 128)
    assert scale == 2.0
    labelled = sample["keypoints"][..., 2] > 0
    np.testing.assert_allclose(big["keypoints"][..., :2][labelled], 2 * sample["keypoints"][..., :2][labelled])
    crowd = dict(sample, iscrowd=np.arange(len(sample["labels"])) == 0)
    _, targets = collate([sample, crowd])
    np.testing.assert_array_equal(targets[0]["keypoints"], sample["keypoints"])
    np.testing.assert_array_equal(targets[1]["keypoints"], sample["keypoints"][1:])
    pred = {"boxes": np.array([[2, 2, 10, 10]], np.float32), "keypoints": np.array([[[4, 6, 0.5]]], np.float32)}
    back = _to_original(pred, 2.0, (64, 64))
    np.testing.assert_allclose(back["keypoints"], [[[2, 3, 0.5]]])


# -- training --------------------------------------------------------------------------------------


def test_train_on_generated_stick_figures_reports_keypoint_ap(tmp_path):
    cfg = tiny_config(image_size=64, class_names=CLASS_NAMES, keypoint_on=True, keypoint_pool_size=4,
                      keypoint_conv_dim=4, keypoint_num_convs=1, steps=2, warmup_steps=1, lr_milestones=(1,))
    val = KeypointsDataset(2, seed=9, config=KeypointsConfig(image_size=64))
    result = train(cfg, str(tmp_path), val_dataset=val, progress=False)
    assert "loss_keypoint" in result.history[0]
    assert set(result.evaluations[-1]["keypoints"]) >= {"AP", "AP50", "AR"}
    with pytest.raises(ValueError, match="class_names"):
        train(cfg.replace(class_names=("circle",)), str(tmp_path / "x"), progress=False)


def test_short_overfit_reaches_high_keypoint_accuracy():
    """A small model memorises 4 images of stick figures in 150 steps: OKS AP >= 0.7 and PCK@0.1 >= 0.8."""
    S = 64
    cfg = Config(image_size=S, class_names=CLASS_NAMES, mask_on=False, keypoint_on=True, use_fpn=False,
                 stem_channels=16, stage_channels=(16, 32, 64), rpn_channels=64, anchor_sizes=(16.0, 32.0, 64.0),
                 box_fc_dim=128, keypoint_pool_size=7, keypoint_conv_dim=32, keypoint_num_convs=2,
                 base_lr=0.02, warmup_steps=20)
    ds = KeypointsDataset(4, seed=0, config=KeypointsConfig(image_size=S, max_instances=2))
    samples = list(ds)
    images, targets = collate(samples)
    model = MaskRCNN(cfg)
    optimizer = SGD(model, lr=cfg.base_lr, momentum=0.9, weight_decay=1e-4)
    schedule = WarmupStepLR(cfg.base_lr, cfg.warmup_steps, milestones=(120,), gamma=0.1)
    for step in range(150):
        model.forward(images, targets, np.random.default_rng([0, step]))
        model.zero_grad()
        model.backward()
        clip_grad_norm(model, 10.0)
        optimizer.step(lr=schedule.lr_at(step))
    preds = model.predict(images)
    ap = evaluate(samples, preds, iou_types="keypoints", class_names=CLASS_NAMES,
                  keypoint_sigmas=ds.keypoint_sigmas)["keypoints"].stats["AP"]
    pck = percentage_correct_keypoints(samples, preds, alpha=0.1)
    assert ap >= 0.7 and pck >= 0.8, (ap, pck)


# -- command line ---------------------------------------------------------------------------------


def test_keypoint_commands_end_to_end(tmp_path, capsys):
    import json

    from PIL import Image

    from minimaskrcnn.cli import main

    cfg = tiny_config(image_size=64, class_names=CLASS_NAMES, keypoint_on=True, keypoint_pool_size=4,
                      keypoint_conv_dim=4, keypoint_num_convs=1, steps=2, score_thresh=0.0, detections_per_image=5)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    assert main(["make-keypoints", str(tmp_path / "data"), "--num-images", "3", "--size", "64"]) == 0
    assert main(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "run"),
                 "--data", str(tmp_path / "data"), "--val-data", str(tmp_path / "data"), "--no-progress"]) == 0
    assert "keypoints AP" in capsys.readouterr().out
    ckpt = str(tmp_path / "run" / "model_final.npz")
    assert MaskRCNN.load(ckpt).cfg.keypoint_names == KEYPOINT_NAMES
    assert main(["evaluate", "--checkpoint", ckpt, "--data", str(tmp_path / "data"),
                 "--results", str(tmp_path / "r.json"), "--json", str(tmp_path / "s.json")]) == 0
    assert set(json.loads((tmp_path / "s.json").read_text())) == {"bbox", "segm", "keypoints"}
    results = json.loads((tmp_path / "r.json").read_text())
    assert results and len(results[0]["keypoints"]) == 27
    assert main(["evaluate-results", str(tmp_path / "data"), str(tmp_path / "r.json"),
                 "--json", str(tmp_path / "s2.json")]) == 0
    assert set(json.loads((tmp_path / "s2.json").read_text())) == {"bbox", "segm", "keypoints"}
    Image.fromarray(KeypointsDataset(1, seed=1)[0]["image"]).save(tmp_path / "in.png")
    assert main(["predict", str(tmp_path / "in.png"), "--checkpoint", ckpt, "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "in_pred.png").is_file()
    # generated stick figures: class and keypoint names are filled in
    assert main(["train", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "gen"),
                 "--set", "class_names=[\"circle\"]", "--num-images", "2", "--no-progress"]) == 2
    assert "class_names" in capsys.readouterr().err
    base = tiny_config(image_size=64, steps=1)
    (tmp_path / "base.json").write_text(base.to_json())
    assert main(["train", "--config", str(tmp_path / "base.json"), "--out", str(tmp_path / "gen"),
                 "--set", "keypoint_on=true", "--set", "keypoint_pool_size=4", "--num-images", "2",
                 "--no-progress"]) == 0
    assert MaskRCNN.load(str(tmp_path / "gen" / "model_final.npz")).cfg.class_names == CLASS_NAMES
