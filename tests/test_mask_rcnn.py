import numpy as np
import pytest
from model_fixtures import check_coordinates, tiny_batch, tiny_config

from minimaskrcnn.model.mask_rcnn import MaskRCNN
from minimaskrcnn.nn import numerical_gradient_at, rel_error

# A few parameters of every stage; the gradient check perturbs 4 coordinates of each.
STAGE_PARAMS = {
    "backbone": ["backbone.body.stem.layers.0.weight", "backbone.body.stages.2.layers.0.conv1.weight",
                 "backbone.body.stages.0.layers.0.norm2.bias"],
    "rpn": ["rpn.head.conv.weight", "rpn.head.cls.weight", "rpn.head.bbox.bias"],
    "box_head": ["box_head.fc1.weight", "box_head.cls.weight", "box_head.bbox.weight"],
    "mask_head": ["mask_head.convs.0.weight", "mask_head.deconv.weight", "mask_head.predictor.bias",
                  "mask_head.fc1.weight", "mask_head.predictor.weight"],
}


def fixed_proposals(targets, seed=0):
    """Jittered ground truth plus random boxes: the heads get positives and negatives."""
    rng = np.random.default_rng(seed)
    out = []
    for t in targets:
        jitter = t["boxes"] + rng.uniform(-2, 2, t["boxes"].shape)
        rand = np.sort(rng.uniform(0, 32, (6, 4)).reshape(6, 2, 2), axis=1).transpose(0, 2, 1)
        out.append(np.concatenate([jitter, rand.reshape(6, 4)[:, [0, 2, 1, 3]]]).astype(np.float32))
    return out


@pytest.mark.parametrize("changes", [
    {},
    {"use_fpn": False},
    {"roi_op": "align_max"},
    {"roi_op": "roi_pool"},
    {"mask_head": "mlp", "mask_loss": "softmax"},
    {"class_agnostic_masks": True},
])
def test_total_loss_gradient_check_every_stage(changes):
    cfg = tiny_config(**changes)
    model = MaskRCNN(cfg).astype(np.float64)
    # Predictors start near zero (std 0.001-0.01), which makes the gradients of earlier
    # layers tiny next to the loss's round-off; larger weights make the check meaningful.
    redraw = np.random.default_rng(2)
    for name, p, _ in model.named_parameters():
        if any(k in name for k in ("predictor", "cls.", "bbox.")):
            p[...] = redraw.normal(0, 0.2, p.shape)
        elif name.endswith("bias"):  # zero biases can put ReLU inputs exactly on the kink
            p[...] = redraw.normal(0, 0.1, p.shape)
    images, targets = tiny_batch()
    props = fixed_proposals(targets)
    losses = model.forward(images, targets, np.random.default_rng(0), proposals=props)
    assert losses["num_pos_rois"] > 0 and losses["loss_mask"] > 0
    model.zero_grad()
    model.backward()

    def total():
        return model.forward(images, targets, np.random.default_rng(0), proposals=props)["loss"]

    params = {n: (p, g) for n, p, g in model.named_parameters()}
    rng = np.random.default_rng(1)
    for stage, names in STAGE_PARAMS.items():
        names = [n for n in names if n in params]
        assert names, stage
        for name in names:
            p, g = params[name]
            idx = check_coordinates(g, rng)
            num = numerical_gradient_at(total, p, idx)
            assert rel_error(num, g.reshape(-1)[idx]) < 1e-6, (stage, name, num, g.reshape(-1)[idx])


def test_losses_are_positive_and_named():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    losses = model.forward(images, targets, np.random.default_rng(0))
    for key in ("loss_objectness", "loss_rpn_box", "loss_cls", "loss_box", "loss_mask"):
        assert np.isfinite(losses[key]) and losses[key] >= 0, key
    parts = sum(v for k, v in losses.items() if k.startswith("loss_"))
    assert losses["loss"] == pytest.approx(parts)


def test_faster_rcnn_without_mask_branch():
    model = MaskRCNN(tiny_config(mask_on=False))
    images, targets = tiny_batch()
    losses = model.forward(images, targets, np.random.default_rng(0))
    assert "loss_mask" not in losses
    model.backward()
    assert "masks" not in model.predict(images)[0]


def test_predict_with_no_detection_returns_empty_arrays():
    model = MaskRCNN(tiny_config(score_thresh=1.0))
    images, _ = tiny_batch()
    for r in model.predict(images):
        assert r["boxes"].shape == (0, 4) and r["scores"].shape == (0,) and r["labels"].shape == (0,)
        assert r["masks"].shape == (0, 32, 32) and r["masks"].dtype == bool


def test_predict_shapes():
    model = MaskRCNN(tiny_config(score_thresh=0.0, detections_per_image=7))
    images, _ = tiny_batch()
    for r in model.predict(images):
        D = len(r["boxes"])
        assert 0 < D <= 7
        assert r["masks"].shape == (D, 32, 32) and r["labels"].min() >= 1 and r["labels"].max() <= 3


def test_image_without_objects_trains():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64),
             "masks": np.zeros((0, 32, 32), bool)}
    losses = model.forward(images, [empty, empty], np.random.default_rng(0))
    assert losses["loss_mask"] == 0.0 and losses["loss_box"] == 0.0 and np.isfinite(losses["loss"])
    model.backward()


def test_save_load_round_trip(tmp_path):
    cfg = tiny_config(use_fpn=True)
    model = MaskRCNN(cfg)
    path = str(tmp_path / "m.npz")
    model.save(path)
    back = MaskRCNN.load(path)
    assert back.cfg == cfg
    for (n, p, _), (n2, p2, _) in zip(model.named_parameters(), back.named_parameters()):
        assert n == n2 and np.array_equal(p, p2)
    images, _ = tiny_batch()
    a, b = model.predict(images)[0], back.predict(images)[0]
    np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_load_errors_are_clear(tmp_path):
    model = MaskRCNN(tiny_config())
    path = str(tmp_path / "m.npz")
    model.save(path)
    with pytest.raises(ValueError, match="config differs"):
        MaskRCNN.load(path, tiny_config(use_fpn=False))
    arrays = dict(np.load(path))
    del arrays["param/rpn.head.conv.weight"]
    np.savez(tmp_path / "broken.npz", **arrays)
    with pytest.raises(ValueError, match="missing.*rpn.head.conv.weight"):
        MaskRCNN.load(str(tmp_path / "broken.npz"))
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="junk.npz"):
        MaskRCNN.load(str(tmp_path / "junk.npz"))
    with pytest.raises(ValueError, match="no such file"):
        MaskRCNN.load(str(tmp_path / "missing.npz"))


def test_bad_inputs():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    with pytest.raises(ValueError, match="images"):
        model.predict(images[..., :2])
    with pytest.raises(ValueError, match="targets"):
        model.forward(images, targets[:1], np.random.default_rng(0))
    bad = dict(targets[0], boxes=np.array([[5, 5, 2, 9], [0, 0, 4, 4]], np.float32))
    with pytest.raises(ValueError, match="boxes"):
        model.forward(images, [bad, targets[1]], np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="forward"):
        MaskRCNN(tiny_config()).backward()


def test_degenerate_ground_truth_boxes_are_dropped():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    t = targets[1]
    flat = {"boxes": np.concatenate([t["boxes"], [[5, 5, 5, 20]]]).astype(np.float32),
            "labels": np.concatenate([t["labels"], [1]]),
            "masks": np.concatenate([t["masks"], np.zeros((1, 32, 32), bool)])}
    losses = model.forward(images, [targets[0], flat], np.random.default_rng(0))
    assert np.isfinite(losses["loss"])
    model.backward()


@pytest.mark.parametrize("mask_head", ["fcn", "mlp"])
def test_no_roi_at_all_predicts_and_trains(mask_head):
    # rpn_min_size larger than the image removes every proposal: the heads see zero RoIs
    model = MaskRCNN(tiny_config(rpn_min_size=1000.0, mask_head=mask_head))
    images, _ = tiny_batch()
    for r in model.predict(images):
        assert r["boxes"].shape == (0, 4) and r["masks"].shape == (0, 32, 32)
    empty = {"boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64),
             "masks": np.zeros((0, 32, 32), bool)}
    none = [np.zeros((0, 4), np.float32)] * 2
    losses = model.forward(images, [empty, empty], np.random.default_rng(0), proposals=none)
    assert losses["loss_cls"] == 0.0 and losses["loss_mask"] == 0.0 and np.isfinite(losses["loss"])
    model.backward()


def test_targets_and_images_are_checked_for_type():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    with pytest.raises(TypeError, match="uint8"):
        model.predict(images / 255.0)
    with pytest.raises(ValueError, match="integer class labels"):
        model.forward(images, [dict(targets[0], labels=targets[0]["labels"] + 0.7), targets[1]],
                      np.random.default_rng(0))
    no_objects = {"boxes": [], "labels": [], "masks": np.zeros((0, 32, 32), bool)}
    assert np.isfinite(model.forward(images, [no_objects, targets[1]], np.random.default_rng(0))["loss"])


def test_predict_on_a_non_square_image_clips_every_box_to_it():
    """A 32 x 64 image (H x W): boxes reach past x = 32 but never past the image; masks are (D, 32, 64)."""
    model = MaskRCNN(tiny_config(score_thresh=0.0, detections_per_image=100))
    image = np.random.default_rng(3).integers(0, 255, (1, 32, 64, 3), dtype=np.uint8)
    r = model.predict(image)[0]
    boxes = r["boxes"]
    assert len(boxes) > 0 and r["masks"].shape == (len(boxes), 32, 64)
    assert boxes[:, [0, 2]].min() >= 0 and boxes[:, [0, 2]].max() <= 64
    assert boxes[:, [1, 3]].min() >= 0 and boxes[:, [1, 3]].max() <= 32
    assert boxes[:, 2].max() > 32  # width and height swapped would clip x to 32


def test_training_on_a_non_square_batch():
    model = MaskRCNN(tiny_config())
    images, targets = tiny_batch()
    wide = np.concatenate([images, images], axis=2)  # (2, 32, 64, 3)
    for t in targets:
        t["masks"] = np.concatenate([t["masks"], np.zeros_like(t["masks"])], axis=2)
    targets[0]["boxes"] = targets[0]["boxes"] + np.array([32, 0, 32, 0], np.float32)  # move to the right half
    targets[0]["masks"] = np.roll(targets[0]["masks"], 32, axis=2)
    losses = model.forward(wide, targets, np.random.default_rng(0))
    assert np.isfinite(losses["loss"]) and losses["num_pos_rois"] > 0
    model.backward()
