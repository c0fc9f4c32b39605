"""Own data: the second toy dataset (objects.py), dataset statistics and the settings chosen from them."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minimaskrcnn.cli import main
from minimaskrcnn.config import Config
from minimaskrcnn.datasets import CocoDataset
from minimaskrcnn.datasets.objects import CATEGORY_IDS, CLASSES, ObjectsConfig, ObjectsDataset, write_objects_folder
from minimaskrcnn.datasets.statistics import (MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, DatasetStats, choose_settings,
                                              dataset_statistics, summary)


@pytest.fixture(scope="module")
def objects_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("objects")
    write_objects_folder(out, 12, seed=3, first_image_id=100)
    return out


# -- the generator -------------------------------------------------------------------------


def test_objects_are_deterministic_and_of_mixed_sizes():
    a, b = ObjectsDataset(6, seed=1), ObjectsDataset(6, seed=1)
    shapes = set()
    for i in range(6):
        sa, sb = a[i], b[i]
        assert sa["image"].tobytes() == sb["image"].tobytes() and sa["masks"].tobytes() == sb["masks"].tobytes()
        H, W = sa["image"].shape[:2]
        cfg = ObjectsConfig()
        assert cfg.height_range[0] <= H <= cfg.height_range[1] and cfg.width_range[0] <= W <= cfg.width_range[1]
        shapes.add((H, W))
        assert sa["masks"].shape == (len(sa["labels"]), H, W)
        assert set(sa["labels"].tolist()) <= {1, 2, 3, 4}
        for m, box in zip(sa["masks"], sa["boxes"]):  # each box is its visible mask's box
            ys, xs = np.nonzero(m)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    assert len(shapes) > 1  # not one square size


def test_rings_have_holes():
    ds = ObjectsDataset(20, seed=0)
    found = False
    for i in range(len(ds)):
        s = ds[i]
        for m, label in zip(s["masks"], s["labels"]):
            if CLASSES[label - 1] == "ring" and m.sum() > 200:
                ys, xs = np.nonzero(m)
                cy, cx = int(round(ys.mean())), int(round(xs.mean()))
                found |= not m[cy, cx]  # the centre of a whole ring is background
    assert found


def test_written_folder_reads_back_with_its_own_ids(objects_folder):
    data = json.loads((objects_folder / "annotations.json").read_text())
    assert sorted(c["id"] for c in data["categories"]) == sorted(CATEGORY_IDS)
    assert [im["id"] for im in data["images"]] == list(range(100, 112))
    assert all(im["file_name"].endswith(".jpg") for im in data["images"])
    kinds = {type(a["segmentation"]).__name__ for a in data["annotations"]}
    assert kinds == {"list", "dict"}  # polygons and RLE, as annotation tools write them
    ds, generated = CocoDataset(objects_folder), ObjectsDataset(12, seed=3)
    assert ds.class_names == CLASSES
    for i in range(len(ds)):
        s, g = ds[i], generated[i]
        assert s["image"].shape == g["image"].shape
        assert s["labels"].tolist() == g["labels"].tolist()
        for m, gm in zip(s["masks"], g["masks"]):  # RLE exact; polygons rounded to 0.01 px
            inter, union = (m & gm).sum(), (m | gm).sum()
            assert inter / union > 0.95


# -- statistics ----------------------------------------------------------------------------


def known_stats(image_hw, box_hw, box_image, labels, names=("a", "b")):
    return DatasetStats(np.array(image_hw, float), np.array(box_hw, float), np.array(box_image),
                        np.array(labels), names)


def test_statistics_of_a_folder_equal_those_of_its_samples(objects_folder):
    ds = CocoDataset(objects_folder)
    from_annotations = dataset_statistics(ds)  # annotations only
    samples = [ds[i] for i in range(len(ds))]

    class Samples(list):
        class_names = ds.class_names

    from_samples = dataset_statistics(Samples(samples))  # boxes of the decoded masks
    assert from_annotations.num_images == from_samples.num_images == 12
    np.testing.assert_array_equal(from_annotations.image_hw, from_samples.image_hw)
    np.testing.assert_array_equal(from_annotations.class_counts(), from_samples.class_counts())
    np.testing.assert_allclose(np.sort(from_annotations.object_sizes()), np.sort(from_samples.object_sizes()),
                               rtol=0.15, atol=1.5)
    assert from_annotations.category_ids == CATEGORY_IDS


def test_object_sizes_follow_the_resize():
    stats = known_stats([[100, 200], [300, 150]], [[10, 40], [30, 30]], [0, 1], [1, 2])
    np.testing.assert_allclose(stats.object_sizes(), [20, 30])
    np.testing.assert_allclose(stats.object_sizes(100), [20 * 100 / 200, 30 * 100 / 300])
    assert stats.instances_per_image.tolist() == [1, 1] and stats.class_counts().tolist() == [1, 1]


@settings(max_examples=40, deadline=None)
@given(longest=st.integers(60, 1200), small=st.floats(3, 200), spread=st.floats(1.0, 8.0),
       ratio=st.floats(0.1, 10))
def test_choices_are_valid_and_keep_small_objects_visible(longest, small, spread, ratio):
    rng = np.random.default_rng(0)
    sizes = small * np.exp(rng.uniform(0, np.log(spread), 50))
    h, w = sizes * np.sqrt(ratio), sizes / np.sqrt(ratio)
    stats = known_stats([[longest * 3 // 4, longest]] * 10, np.stack([h, w], 1), np.arange(50) % 10,
                        1 + np.arange(50) % 2)
    cfg = Config()
    chosen = choose_settings(stats, cfg)
    new = cfg.replace(**chosen.changes())  # valid, or this raises
    assert MIN_IMAGE_SIZE - 16 <= new.image_size <= MAX_IMAGE_SIZE and new.image_size % 32 == 0
    a = new.anchor_sizes
    assert len(a) == len(cfg.fpn_levels) and all(y >= 1.5 * x * 0.99 for x, y in zip(a, a[1:]))
    assert min(new.anchor_ratios) <= 1 <= max(new.anchor_ratios)
    kept = float(np.percentile(stats.object_sizes(new.image_size), 5))
    if new.image_size < min(MAX_IMAGE_SIZE, longest) - 32:  # not capped: small objects keep about 12 px
        assert kept >= 9
    assert all(c.reason for c in chosen.choices)


def test_tiny_objects_are_warned_about():
    stats = known_stats([[3000, 4000]] * 4, [[20, 20]] * 8, np.arange(8) % 4, [1] * 8)
    chosen = choose_settings(stats, Config())
    assert chosen.changes()["image_size"] == MAX_IMAGE_SIZE
    assert any("smaller than" in w for w in chosen.warnings)
    assert "warning" in summary(stats, chosen)


def test_empty_dataset_keeps_the_defaults():
    stats = known_stats(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, int), np.zeros(0, int))
    chosen = choose_settings(stats, Config())
    assert chosen.changes() == {} and chosen.warnings


# -- commands ------------------------------------------------------------------------------


def test_make_objects_and_inspect_data(tmp_path, capsys):
    assert main(["make-objects", str(tmp_path / "d"), "-n", "5", "--seed", "2"]) == 0
    assert main(["make-objects", str(tmp_path / "d"), "-n", "5"]) == 2  # no silent overwrite
    png = tmp_path / "sizes.png"
    capsys.readouterr()
    assert main(["inspect-data", str(tmp_path / "d"), "--out", str(png), "--set", "image_size=160"]) == 0
    printed = capsys.readouterr().out
    assert "ring [4]" in printed and "bar [21]" in printed
    assert "anchor_sizes =" in printed and "image_size = 160 is yours" in printed
    assert png.stat().st_size > 1000


def test_train_on_a_folder_prints_and_stores_its_choices(objects_folder, tmp_path, capsys):
    out = tmp_path / "run"
    tiny = {"stem_channels": 8, "stage_channels": [8, 8, 8], "stage_blocks": [1, 1, 1], "fpn_channels": 8,
            "rpn_channels": 8, "box_fc_dim": 16, "mask_conv_dim": 8, "num_groups": 4, "batch_size": 2}
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny))
    code = main(["train", "--data", str(objects_folder), "--out", str(out), "--config", str(config),
                 "--set", "image_size=96", "--steps", "2", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "chosen from the data" in printed and "image_size = 96 is yours" in printed
    stored = Config.from_json(str(np.load(out / "model_final.npz")["config"]))
    chosen = choose_settings(dataset_statistics(CocoDataset(objects_folder)), Config(image_size=96))
    assert stored.image_size == 96 and stored.steps == 2  # the user's
    assert stored.anchor_sizes == chosen.changes()["anchor_sizes"]  # the data's
    assert stored.class_names == CLASSES


def test_resuming_a_folder_run_without_its_data_is_refused(objects_folder, tmp_path, capsys):
    tiny = {"stem_channels": 8, "stage_channels": [8, 8, 8], "stage_blocks": [1, 1, 1], "fpn_channels": 8,
            "rpn_channels": 8, "box_fc_dim": 16, "mask_conv_dim": 8, "num_groups": 4, "batch_size": 2,
            "image_size": 96}
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(tiny))
    out = str(tmp_path / "run")
    assert main(["train", "--data", str(objects_folder), "--out", out, "--config", str(config), "--steps", "2",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--steps", "3", "--no-progress"]) == 2  # would train on shapes
    err = capsys.readouterr().err
    assert "trained on a COCO folder" in err and "--data" in err and "ring" in err
    assert main(["train", "--data", str(objects_folder), "--out", out, "--resume", "--steps", "3",
                 "--no-progress"]) == 0
