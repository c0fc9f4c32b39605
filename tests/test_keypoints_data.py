"""The toy keypoint dataset and the COCO keypoint format."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st
from oracles import pycocotools

from minimaskrcnn.datasets.coco_keypoints import (CocoKeypointsDataset, coco_keypoint_results,
                                                  keypoints_from_coco, keypoints_to_coco,
                                                  write_coco_keypoints_dataset)
from minimaskrcnn.datasets.keypoints import (FLIP_MAP, KEYPOINT_NAMES, SKELETON, KeypointsConfig,
                                             KeypointsDataset, flip_permutation)
from minimaskrcnn.evaluation.keypoints import COCO_PERSON_KEYPOINT_NAMES


def check_sample(sample, config):
    S, G, K = config.image_size, len(sample["labels"]), len(KEYPOINT_NAMES)
    assert sample["image"].shape == (S, S, 3) and sample["image"].dtype == np.uint8
    assert sample["masks"].shape == (G, S, S) and sample["masks"].dtype == bool
    assert sample["boxes"].shape == (G, 4) and sample["boxes"].dtype == np.float32
    assert sample["labels"].dtype == np.int64 and (sample["labels"] == 1).all()
    assert sample["keypoints"].shape == (G, K, 3) and sample["keypoints"].dtype == np.float32
    kp = sample["keypoints"]
    assert np.isin(kp[..., 2], (0, 1, 2)).all()
    labelled = kp[..., 2] > 0
    assert ((kp[..., :2] >= 0) & (kp[..., :2] < S)).all(axis=-1)[labelled].all()  # labelled = inside
    assert (kp[~labelled] == 0).all()  # unlabelled rows are [0, 0, 0], as in COCO
    assert (sample["masks"].sum(axis=(1, 2)) >= config.min_visible_area).all()


def test_default_samples_and_metadata():
    ds = KeypointsDataset(30, seed=0)
    assert ds.class_names == ("person",) and ds.num_keypoints == 9 and len(ds.keypoint_sigmas) == 9
    counts = np.zeros(3, int)
    for sample in ds:
        check_sample(sample, ds.config)
        counts += np.bincount(sample["keypoints"][..., 2].astype(int).ravel(), minlength=3)
    assert counts[2] > 10 * counts[1] > 0  # mostly visible, some hidden
    assert all(0 <= i < 9 and 0 <= j < 9 for i, j in SKELETON)


def test_same_seed_same_bytes_in_any_order_and_seeds_differ():
    a, b = KeypointsDataset(6, seed=7), KeypointsDataset(6, seed=7)
    for x, y in zip([a[i] for i in range(6)], [b[i] for i in reversed(range(6))][::-1]):
        for key in ("image", "masks", "boxes", "labels", "keypoints"):
            assert x[key].tobytes() == y[key].tobytes()
    assert KeypointsDataset(1, seed=8)[0]["image"].tobytes() != a[0]["image"].tobytes()
    assert a.generate(100)["image_id"] == 100 and a[-1]["image_id"] == 5
    with pytest.raises(IndexError):
        a[6]


def test_visible_keypoints_lie_on_their_own_figure_and_hidden_ones_under_another():
    for sample in KeypointsDataset(40, seed=1):
        union = sample["masks"].any(axis=0)
        for g, kp in enumerate(sample["keypoints"]):
            for x, y, v in kp:
                r, c = int(y), int(x)
                if v == 2:
                    assert sample["masks"][g, r, c]
                elif v == 1:
                    assert not sample["masks"][g, r, c] and union[r, c]


def test_left_limbs_are_on_the_image_right_of_the_torso():
    """Figures face the viewer: what the flip map swaps must be told apart by position."""
    names = list(KEYPOINT_NAMES)
    config = KeypointsConfig(max_tilt=0.0, max_outside=0.0)
    for sample in KeypointsDataset(20, seed=2, config=config):
        for kp in sample["keypoints"]:
            neck_x = kp[names.index("neck"), 0]
            for left, right in FLIP_MAP:
                l, r = kp[names.index(left)], kp[names.index(right)]
                if l[2] > 0 and r[2] > 0:
                    assert l[0] > neck_x > r[0]


def test_figures_may_leave_the_image_and_their_keypoints_become_unlabelled():
    config = KeypointsConfig(max_outside=0.5, height_range=(0.7, 0.9))
    v = np.concatenate([s["keypoints"][..., 2].ravel() for s in KeypointsDataset(30, seed=3, config=config)])
    assert (v == 0).sum() > 10


def test_flip_permutation():
    perm = flip_permutation(KEYPOINT_NAMES)
    assert [KEYPOINT_NAMES[i] for i in perm][:5] == ["head", "neck", "pelvis", "right_elbow", "left_elbow"]
    assert (perm[perm] == np.arange(9)).all()
    coco = flip_permutation(COCO_PERSON_KEYPOINT_NAMES)
    assert COCO_PERSON_KEYPOINT_NAMES[coco[1]] == "right_eye" and coco[0] == 0
    with pytest.raises(ValueError, match="flip_map"):
        flip_permutation(KEYPOINT_NAMES, [("left_elbow", "right_knee")])


@given(st.integers(0, 2**32), st.integers(0, 10**6))
def test_any_seed_and_index_gives_a_valid_sample(seed, index):
    ds = KeypointsDataset(1, seed=seed)
    check_sample(ds.generate(index), ds.config)


@pytest.mark.parametrize("kwargs", [
    {"image_size": 8}, {"min_instances": 0}, {"height_range": (0.5, 0.2)}, {"thickness_range": (0, 2)},
    {"max_tilt": 60}, {"noise_level": 200}, {"min_visible_area": 0},
])
def test_bad_config_raises(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        KeypointsConfig(**kwargs)


def test_bad_dataset_arguments():
    with pytest.raises(ValueError, match="num_images"):
        KeypointsDataset(-1)
    with pytest.raises(TypeError, match="config"):
        KeypointsDataset(1, config={"image_size": 64})


# -- COCO format ------------------------------------------------------------------------------


def test_keypoints_to_and_from_coco_shift_half_a_pixel():
    flat, n = keypoints_to_coco([[10.5, 20.5, 2], [3.0, 4.0, 1], [7.0, 8.0, 0]])
    assert flat == [10.0, 20.0, 2, 2.5, 3.5, 1, 0.0, 0.0, 0] and n == 2
    back = keypoints_from_coco(flat, 3, "here")
    np.testing.assert_array_equal(back, [[10.5, 20.5, 2], [3.0, 4.0, 1], [0, 0, 0]])
    with pytest.raises(ValueError, match="here: 'keypoints' must be a list of 3 x 3"):
        keypoints_from_coco(flat[:-1], 3, "here")
    with pytest.raises(ValueError, match="here: keypoint visibility"):
        keypoints_from_coco([1, 2, 3, 0, 0, 0, 0, 0, 0], 3, "here")


def test_round_trip_through_a_coco_folder(tmp_path):
    ds = KeypointsDataset(6, seed=5)
    path = write_coco_keypoints_dataset(ds, tmp_path)
    data = json.loads(path.read_text())
    cat = data["categories"][0]
    assert cat["keypoints"] == list(KEYPOINT_NAMES) and cat["skeleton"][0] == [1, 2]
    ann = data["annotations"][0]
    assert len(ann["keypoints"]) == 27 and ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
    back = CocoKeypointsDataset(tmp_path)
    assert back.keypoint_names == KEYPOINT_NAMES and back.skeleton == SKELETON
    assert back.flip_map == FLIP_MAP and back.keypoint_sigmas == ds.keypoint_sigmas
    for a, b in zip(ds, back):
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-5)
        np.testing.assert_array_equal(a["masks"], b["masks"])
        np.testing.assert_array_equal(a["boxes"], b["boxes"])


def test_pycocotools_reads_what_we_write(tmp_path):
    pycocotools("pycocotools")
    from pycocotools.coco import COCO

    ds = KeypointsDataset(3, seed=6)
    path = write_coco_keypoints_dataset(ds, tmp_path)
    coco = COCO(str(path))
    ann = coco.loadAnns(coco.getAnnIds(imgIds=[0]))[0]
    kp = np.array(ann["keypoints"]).reshape(9, 3)
    labelled = kp[:, 2] > 0
    np.testing.assert_allclose(kp[labelled, :2] + 0.5, ds[0]["keypoints"][0][labelled, :2], atol=1e-5)


def test_reader_errors_name_the_annotation(tmp_path):
    path = write_coco_keypoints_dataset(KeypointsDataset(2, seed=0), tmp_path)
    data = json.loads(path.read_text())
    data["annotations"][1]["keypoints"] = data["annotations"][1]["keypoints"][:-3]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="annotation id 2.*3 x 9"):
        CocoKeypointsDataset(tmp_path)
    for c in data["categories"]:
        del c["keypoints"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="not a keypoint dataset"):
        CocoKeypointsDataset(tmp_path)


def test_writer_and_results_errors(tmp_path):
    ds = KeypointsDataset(2, seed=0)
    samples = [dict(s) for s in ds]
    samples[1]["keypoints"] = samples[1]["keypoints"][:, :4]
    with pytest.raises(ValueError, match=r"samples\[1\].*keypoints"):
        write_coco_keypoints_dataset(samples, tmp_path, ("person",), KEYPOINT_NAMES)
    with pytest.raises(ValueError, match="keypoint_names"):
        write_coco_keypoints_dataset(list(ds), tmp_path, ("person",))
    with pytest.raises(ValueError, match="keypoint_sigmas"):
        write_coco_keypoints_dataset(ds, tmp_path, keypoint_sigmas=[0.1])
    pred = {"boxes": np.zeros((1, 4)), "labels": [1], "scores": [0.5]}
    with pytest.raises(ValueError, match=r"predictions\[0\].*keypoints"):
        coco_keypoint_results([pred], [0])
    results = coco_keypoint_results([{**pred, "keypoints": np.full((1, 2, 3), 1.5)}], [0])
    assert results[0]["keypoints"] == [1.0, 1.0, 1.5, 1.0, 1.0, 1.5]
