"""The toy shapes generator: format, determinism, occlusion, masks vs boxes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, masks_to_boxes


def check_sample(sample, config):
    S = config.image_size
    K = len(sample["labels"])
    assert sample["image"].shape == (S, S, 3) and sample["image"].dtype == np.uint8
    assert sample["masks"].shape == (K, S, S) and sample["masks"].dtype == bool
    assert sample["boxes"].shape == (K, 4) and sample["boxes"].dtype == np.float32
    assert sample["labels"].dtype == np.int64 and sample["iscrowd"].dtype == bool
    assert sample["iscrowd"].shape == (K,) and not sample["iscrowd"].any()
    assert isinstance(sample["image_id"], int)
    assert ((sample["labels"] >= 1) & (sample["labels"] <= len(config.class_names))).all()
    assert 0 <= K <= config.max_instances


def test_default_sample_format():
    ds = ShapesDataset(10, seed=0)
    assert len(ds) == 10 and ds.class_names == ("circle", "square", "triangle") and ds.num_classes == 3
    for i in range(10):
        sample = ds[i]
        check_sample(sample, ds.config)
        assert 1 <= len(sample["labels"]) <= 4  # the top shape is always fully visible
        assert sample["image_id"] == i


def test_same_seed_gives_identical_bytes_in_any_order():
    a, b = ShapesDataset(20, seed=7), ShapesDataset(20, seed=7)
    forward = [a[i] for i in range(20)]
    backward = [b[i] for i in reversed(range(20))][::-1]
    for x, y in zip(forward, backward):
        for key in ("image", "masks", "boxes", "labels", "iscrowd"):
            assert x[key].tobytes() == y[key].tobytes()


def test_different_seeds_and_indices_differ():
    a, b = ShapesDataset(5, seed=0), ShapesDataset(5, seed=1)
    assert a[0]["image"].tobytes() != b[0]["image"].tobytes()
    assert a[0]["image"].tobytes() != a[1]["image"].tobytes()


def test_generate_past_the_end_and_indexing():
    ds = ShapesDataset(3, seed=0)
    assert ds.generate(2)["image"].tobytes() == ds[2]["image"].tobytes() == ds[-1]["image"].tobytes()
    assert ds.generate(1000)["image_id"] == 1000
    with pytest.raises(IndexError):
        ds[3]
    assert len(list(ds)) == 3


def test_masks_are_visible_parts_disjoint_and_large_enough():
    ds = ShapesDataset(50, seed=3)
    for sample in ds:
        masks = sample["masks"]
        assert (masks.sum(axis=0) <= 1).all()  # occlusion: visible parts never overlap
        assert (masks.sum(axis=(1, 2)) >= ds.config.min_visible_area).all()


def test_boxes_are_tight_boxes_of_masks():
    ds = ShapesDataset(30, seed=4)
    for sample in ds:
        for mask, box in zip(sample["masks"], sample["boxes"]):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            assert box.tolist() == [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]


def test_occlusion_drops_hidden_instances():
    """Somewhere in a few hundred images, a drawn shape must have been dropped."""
    config = ShapesConfig(min_instances=4, max_instances=4, size_range=(0.4, 0.6))
    counts = [len(s["labels"]) for s in ShapesDataset(100, seed=0, config=config)]
    assert min(counts) < 4


def test_pixels_of_visible_mask_have_one_colour_up_to_noise():
    config = ShapesConfig(noise_level=3)
    sample = ShapesDataset(1, seed=5, config=config)[0]
    image = sample["image"].astype(int)
    for mask in sample["masks"]:
        pixels = image[mask]  # (n, 3)
        assert (pixels.max(axis=0) - pixels.min(axis=0) <= 2 * config.noise_level).all()


def test_config_changes_size_classes_and_counts():
    config = ShapesConfig(image_size=64, class_names=("triangle", "circle"), min_instances=2,
                          max_instances=2, noise_level=0, min_visible_area=10)
    ds = ShapesDataset(20, seed=0, config=config)
    for sample in ds:
        check_sample(sample, config)
        assert set(sample["labels"]) <= {1, 2}
    assert ds.class_names == ("triangle", "circle")


@given(st.integers(0, 2**32), st.integers(0, 10**6))
def test_any_seed_and_index_gives_a_valid_sample(seed, index):
    ds = ShapesDataset(1, seed=seed)
    check_sample(ds.generate(index), ds.config)


def test_masks_to_boxes_handles_empty_masks():
    masks = np.zeros((2, 5, 6), bool)
    masks[1, 2:4, 1] = True
    assert masks_to_boxes(masks).tolist() == [[0, 0, 0, 0], [1, 2, 2, 4]]


@pytest.mark.parametrize("kwargs", [
    {"image_size": 8}, {"min_instances": 0}, {"min_instances": 3, "max_instances": 2},
    {"size_range": (0.5, 0.2)}, {"class_names": ("hexagon",)}, {"class_names": ()},
    {"noise_level": -1}, {"min_visible_area": 0},
])
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        ShapesConfig(**kwargs)


def test_bad_dataset_arguments():
    with pytest.raises(ValueError, match="num_images"):
        ShapesDataset(-1)
    with pytest.raises(ValueError, match="seed"):
        ShapesDataset(1, seed=-3)
    with pytest.raises(TypeError, match="config"):
        ShapesDataset(1, config={"image_size": 64})
