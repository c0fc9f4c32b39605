"""Training augmentation: every transform keeps the sample format and moves the targets with the pixels."""
import numpy as np
import pytest

from minimaskrcnn.config import Config
from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, masks_to_boxes
from minimaskrcnn.datasets.augment import add_noise, augment, jitter_colors, new_background, scale_jitter


def samples(n=6, size=96, seed=0):
    return [ShapesDataset(n, seed=seed, config=ShapesConfig(image_size=size, noise_level=0))[i] for i in range(n)]


def check_format(s, shape):
    K = len(s["labels"])
    assert s["image"].shape == shape and s["image"].dtype == np.uint8
    assert s["masks"].shape == (K,) + shape[:2] and s["masks"].dtype == bool
    assert s["boxes"].shape == (K, 4) and s["boxes"].dtype == np.float32
    assert len(s["iscrowd"]) == K
    np.testing.assert_array_equal(s["boxes"], masks_to_boxes(s["masks"]))  # boxes follow the masks


@pytest.mark.parametrize("factor", [0.6, 0.85, 1.0, 1.3, 1.9])
def test_scale_jitter_moves_masks_and_pixels_together(factor):
    for s in samples():
        out = scale_jitter(s, factor, np.random.default_rng(1))
        check_format(out, s["image"].shape)
        for m, label in zip(out["masks"], out["labels"]):
            # an instance's pixels carry its colour: the mask still sits on the painted object
            colours = out["image"][m].reshape(-1, 3)
            assert np.ptp(np.median(colours, axis=0)) >= 0 and len(colours) >= 16
        if factor < 1:  # shrinking never loses an instance
            assert len(out["labels"]) == len(s["labels"])
            assert out["masks"].sum() < s["masks"].sum()
        if factor == 1:
            assert out is s


def test_scale_jitter_of_an_image_without_objects():
    s = samples(1)[0]
    empty = {**s, "masks": np.zeros((0,) + s["image"].shape[:2], bool), "boxes": np.zeros((0, 4), np.float32),
             "labels": np.zeros(0, np.int64), "iscrowd": np.zeros(0, bool)}
    check_format(scale_jitter(empty, 1.5, np.random.default_rng(0)), s["image"].shape)


def test_new_background_changes_only_background_pixels():
    for i, s in enumerate(samples()):
        out = new_background(s, np.random.default_rng(i))
        fg = s["masks"].any(axis=0)
        np.testing.assert_array_equal(out["image"][fg], s["image"][fg])
        np.testing.assert_array_equal(out["masks"], s["masks"])
    changed = [np.any(new_background(s, np.random.default_rng(9))["image"][~s["masks"].any(0)] != s["image"][~s["masks"].any(0)])
               for s in samples()]
    assert any(changed)


def test_jitter_colors_and_noise_keep_targets_and_strength_zero_keeps_pixels():
    for s in samples():
        for out in (jitter_colors(s, 0.7, np.random.default_rng(0)), add_noise(s, 12, np.random.default_rng(0), 0.0)):
            check_format(out, s["image"].shape)
            np.testing.assert_array_equal(out["masks"], s["masks"])
        np.testing.assert_array_equal(jitter_colors(s, 0.0, np.random.default_rng(0))["image"], s["image"])
        np.testing.assert_array_equal(add_noise(s, 0.0, np.random.default_rng(0), 0.0)["image"], s["image"])


def test_jitter_colors_moves_each_instance_by_its_own_offset():
    s = samples(1, seed=3)[0]
    out = jitter_colors(s, 1.0, np.random.default_rng(0))
    shifts = [out["image"][m].astype(int).mean(0) - s["image"][m].astype(int).mean(0) for m in s["masks"]]
    assert len(shifts) < 2 or np.abs(shifts[0] - shifts[1]).max() > 1


def test_augment_is_reproducible_and_off_switch():
    cfg = Config()
    for s in samples():
        a = augment(s, cfg, np.random.default_rng(5))
        b = augment(s, cfg, np.random.default_rng(5))
        check_format(a, s["image"].shape)
        assert a["image"].tobytes() == b["image"].tobytes() and a["masks"].tobytes() == b["masks"].tobytes()
        assert augment(s, cfg.replace(augment=False), np.random.default_rng(5)) is s


def test_augment_on_non_square_images():
    s = samples(1)[0]
    wide = {**s, "image": np.ascontiguousarray(np.concatenate([s["image"], s["image"]], axis=1)),
            "masks": np.concatenate([s["masks"], np.zeros_like(s["masks"])], axis=2)}
    wide["boxes"] = masks_to_boxes(wide["masks"])
    for seed in range(5):
        check_format(augment(wide, Config(aug_scale_prob=1.0), np.random.default_rng(seed)), wide["image"].shape)


@pytest.mark.parametrize("field, value", [("aug_color", 1.5), ("aug_noise", -1.0), ("aug_scale_range", (1.2, 0.8)),
                                          ("aug_background_prob", 2.0), ("train_shape_jitter", -0.1),
                                          ("train_instances", (3, 2)), ("train_size_range", (0.5, 0.2))])
def test_config_rejects_bad_augmentation_settings(field, value):
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})
