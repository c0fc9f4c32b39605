"""Images of any size: kept aspect ratios, batches padded to their largest image, results in each image's own pixels."""
import numpy as np
import pytest
from model_fixtures import tiny_config

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, masks_to_boxes
from minimaskrcnn.datasets.transforms import PAD_VALUE, batch_shape, collate, resize_longer
from minimaskrcnn.inference import predict_images
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.model.rpn import generate_proposals


def crop(sample, h, w):
    masks = sample["masks"][:, :h, :w]
    keep = masks.sum(axis=(1, 2)) > 0
    return {**sample, "image": np.ascontiguousarray(sample["image"][:h, :w]), "masks": masks[keep],
            "boxes": masks_to_boxes(masks[keep]), "labels": sample["labels"][keep], "iscrowd": sample["iscrowd"][keep]}


def test_resize_longer_keeps_the_aspect_ratio():
    s = crop(ShapesDataset(1, seed=0)[0], 96, 128)
    out, scale = resize_longer(s, 64)
    assert out["image"].shape == (48, 64, 3) and scale == 0.5
    assert out["masks"].shape[1:] == (48, 64)
    np.testing.assert_allclose(out["boxes"], s["boxes"] * 0.5)
    same, one = resize_longer(s, 128)
    assert same is s and one == 1.0


def test_batch_shape_rounds_the_largest_image_up():
    assert batch_shape([(30, 50), (47, 20)], 16) == (48, 64)
    assert batch_shape([(32, 32)], 16) == (32, 32)


def test_collate_pads_images_and_masks_and_records_sizes():
    a, b = crop(ShapesDataset(2, seed=1)[0], 70, 100), crop(ShapesDataset(2, seed=1)[1], 128, 50)
    images, targets = collate([a, b], size_divisible=16)
    assert images.shape == (2, 128, 112, 3)
    assert [t["image_size"] for t in targets] == [(70, 100), (128, 50)]
    np.testing.assert_array_equal(images[0, :70, :100], a["image"])
    assert (images[0, 70:] == PAD_VALUE).all() and (images[1, :, 50:] == PAD_VALUE).all()
    assert targets[0]["masks"].shape[1:] == (128, 112) and not targets[0]["masks"][:, 70:].any()
    np.testing.assert_array_equal(targets[0]["masks"][:, :70, :100], a["masks"])


def test_proposals_are_clipped_to_each_image_not_the_padding():
    rng = np.random.default_rng(0)
    anchors = np.tile(np.array([[0, 0, 40, 40], [50, 20, 120, 90]], np.float32), (50, 1))
    logits = rng.standard_normal((2, 100)).astype(np.float32)
    deltas = rng.standard_normal((2, 100, 4)).astype(np.float32)
    props = generate_proposals(logits, deltas, anchors, [100], [(60, 90), (128, 128)], 50, 50, 0.7, 0.0)
    assert props[0][0][:, [0, 2]].max() <= 90 and props[0][0][:, [1, 3]].max() <= 60
    assert props[1][0][:, [0, 2]].max() > 90 or props[1][0][:, [1, 3]].max() > 60


@pytest.fixture(scope="module")
def model():
    return MaskRCNN(tiny_config(image_size=64, anchor_sizes=(12.0, 24.0, 48.0)))


def test_training_step_on_a_padded_batch(model):
    data = ShapesDataset(2, seed=2, config=ShapesConfig(image_size=64, min_visible_area=20))
    images, targets = collate([crop(data[0], 40, 64), data[1]], size_divisible=model.cfg.backbone_stride)
    assert images.shape == (2, 64, 64, 3)
    losses = model.forward(images, targets, np.random.default_rng(0))
    assert np.isfinite(losses["loss"])
    model.zero_grad()
    model.backward()


def test_predict_gives_each_image_its_own_size(model):
    images = np.full((2, 64, 64, 3), PAD_VALUE, np.uint8)
    out = model.predict(images, image_sizes=[(40, 64), (64, 48)])
    for r, (h, w) in zip(out, [(40, 64), (64, 48)]):
        assert r["masks"].shape[1:] == (h, w)
        if len(r["boxes"]):
            assert r["boxes"][:, [0, 2]].max() <= w and r["boxes"][:, [1, 3]].max() <= h
    with pytest.raises(ValueError, match="image_sizes"):
        model.predict(images, image_sizes=[(80, 64), (64, 64)])
    with pytest.raises(ValueError, match="image_sizes"):
        model.predict(images, image_sizes=[(40, 64)])


def test_predict_images_of_mixed_sizes_map_back_to_the_originals(model):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 255, size=shape, dtype=np.uint8) for shape in [(50, 90, 3), (120, 30, 3), (64, 64, 3)]]
    preds = predict_images(model, images, batch_size=2)
    for im, p in zip(images, preds):
        assert p["masks"].shape[1:] == im.shape[:2]
        if len(p["boxes"]):
            assert p["boxes"][:, [0, 2]].max() <= im.shape[1] and p["boxes"][:, [1, 3]].max() <= im.shape[0]
