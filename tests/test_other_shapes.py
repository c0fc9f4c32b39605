"""The second shapes generator (another drawing style): format, determinism, occlusion, anti-aliasing."""
import numpy as np
import pytest

from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, masks_to_boxes
from minimaskrcnn.datasets.other_shapes import OtherShapesConfig, OtherShapesDataset


def test_format_labels_and_boxes():
    ds = OtherShapesDataset(12, seed=0)
    assert ds.class_names == ("circle", "square", "triangle") and len(ds) == 12
    for i, s in enumerate(ds):
        K = len(s["labels"])
        assert s["image"].shape == (128, 128, 3) and s["image"].dtype == np.uint8
        assert s["masks"].shape == (K, 128, 128) and 1 <= K <= 4 and s["image_id"] == i
        assert ((s["labels"] >= 1) & (s["labels"] <= 3)).all()
        np.testing.assert_array_equal(s["boxes"], masks_to_boxes(s["masks"]))
        assert (s["masks"].sum(axis=0) <= 1).all()  # visible parts never overlap
        assert (s["masks"].sum(axis=(1, 2)) >= 40).all()


def test_deterministic_per_seed_and_index():
    a, b = OtherShapesDataset(4, seed=3), OtherShapesDataset(4, seed=3)
    assert all(a[i]["image"].tobytes() == b[i]["image"].tobytes() for i in range(4))
    assert a[0]["image"].tobytes() != OtherShapesDataset(4, seed=4)[0]["image"].tobytes()


def test_edges_are_anti_aliased_and_there_is_no_noise():
    s = OtherShapesDataset(1, seed=1)[0]
    image = s["image"].astype(int)
    background = ~s["masks"].any(axis=0)
    # away from the objects the background is one flat colour (no noise)...
    far = background.copy()
    for m in s["masks"]:
        grown = np.zeros_like(m)
        ys, xs = np.nonzero(m)
        grown[max(ys.min() - 3, 0):ys.max() + 4, max(xs.min() - 3, 0):xs.max() + 4] = True
        far &= ~grown
    assert len(np.unique(image[far].reshape(-1, 3), axis=0)) == 1
    # ...while edge pixels mix two colours: more distinct colours than the objects alone have
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > len(s["labels"]) + 1


def test_it_differs_from_the_main_generator():
    other = np.stack([OtherShapesDataset(20, seed=0)[i]["image"] for i in range(20)]).astype(float)
    main = np.stack([ShapesDataset(20, seed=0, config=ShapesConfig())[i]["image"] for i in range(20)]).astype(float)
    noise = lambda ims: np.abs(np.diff(ims, axis=2)).mean()  # noqa: E731 - pixel-to-pixel jitter
    assert noise(main) > 2 * noise(other)


@pytest.mark.parametrize("kwargs", [dict(image_size=8), dict(min_instances=3, max_instances=2),
                                    dict(size_range=(0.5, 0.2))])
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        OtherShapesConfig(**kwargs)
