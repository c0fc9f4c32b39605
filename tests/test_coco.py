"""COCO-format reading and writing: round trips, every segmentation kind, bad files."""
import copy
import json

import numpy as np
import pytest
from PIL import Image
from oracles import pycocotools

from minimaskrcnn.datasets import (CocoDataset, ShapesDataset, coco_results, load_annotations, rle,
                                   write_coco_dataset, write_coco_results)


def test_shapes_round_trip_through_coco_folder(tmp_path):
    ds = ShapesDataset(8, seed=1)
    path = write_coco_dataset(ds, tmp_path)
    assert path == tmp_path / "annotations.json" and (tmp_path / "images" / "000000.png").is_file()
    back = CocoDataset(tmp_path)
    assert len(back) == 8 and back.class_names == ds.class_names
    assert back.category_ids == {1: 1, 2: 2, 3: 3}
    for a, b in zip(ds, back):
        for key in ("image", "masks", "boxes", "labels", "iscrowd"):
            assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
        assert a["image_id"] == b["image_id"]


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def mixed_dataset(tmp_path):
    """Two images of different sizes; polygon, uncompressed RLE (crowd), compressed RLE; ids 7 and 3."""
    write_png(tmp_path / "images" / "a.png", np.full((6, 8, 3), 50, np.uint8))
    write_png(tmp_path / "images" / "b.png", np.full((5, 4), 200, np.uint8))  # grayscale
    crowd = np.zeros((6, 8), bool)
    crowd[4:, :] = True
    square = np.zeros((5, 4), bool)
    square[1:3, 2:4] = True
    data = {
        "images": [{"id": 10, "file_name": "a.png", "height": 6, "width": 8},
                   {"id": 20, "file_name": "b.png", "height": 5, "width": 4}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]],
             "bbox": [1, 1, 2, 2], "area": 4, "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "iscrowd": 1,
             "segmentation": {"size": [6, 8], "counts": rle.mask_to_counts(crowd).tolist()}},
            {"id": 3, "image_id": 20, "category_id": 7, "segmentation": rle.encode(square)},
        ],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(data))
    return tmp_path, data


def test_reads_every_segmentation_kind(mixed_dataset):
    folder, _ = mixed_dataset
    ds = CocoDataset(folder / "annotations.json")
    assert ds.class_names == ("dog", "cat")  # sorted by id: 3 -> label 1, 7 -> label 2
    assert ds.category_ids == {1: 3, 2: 7}
    a, b = ds[0], ds[1]
    assert a["image"].shape == (6, 8, 3) and b["image"].shape == (5, 4, 3)  # grayscale -> RGB
    assert a["labels"].tolist() == [2, 1] and a["iscrowd"].tolist() == [False, True]
    expected = np.zeros((6, 8), bool)
    expected[1:3, 1:3] = True
    assert np.array_equal(a["masks"][0], expected)  # polygon, rasterised like COCO
    assert a["masks"][1].sum() == 16 and a["boxes"][1].tolist() == [0, 4, 8, 6]  # box from the mask
    assert a["boxes"][0].tolist() == [1, 1, 3, 3]  # COCO xywh -> xyxy
    assert b["boxes"].tolist() == [[2, 1, 4, 3]] and b["image_id"] == 20


def test_degenerate_boxes_are_dropped(mixed_dataset):
    folder, data = mixed_dataset
    data["annotations"][0]["bbox"] = [1, 1, 0, 2]
    (folder / "annotations.json").write_text(json.dumps(data))
    assert CocoDataset(folder)[0]["labels"].tolist() == [1]


BAD_FILES = [
    (lambda d: d.pop("categories"), "missing key 'categories'"),
    (lambda d: d["annotations"][0].update(segmentation=[[1, 1, 3, 1]]), "annotation id 1 .image id 10.: bad polygon"),
    (lambda d: d["annotations"][0].update(segmentation=[[1, 1, "x", 1, 3, 3]]), "annotation id 1 .*polygon"),
    (lambda d: d["annotations"][2]["segmentation"].update(size=[4, 4]), "annotation id 3 .image id 20.: RLE size"),
    (lambda d: d["annotations"][1]["segmentation"].update(counts=[3, 3]), "annotation id 2 .*sum to 6"),
    (lambda d: d["annotations"][0].update(category_id=99), "annotation id 1 .*unknown category id 99"),
    (lambda d: d["annotations"][0].update(image_id=99), "annotation id 1 .*unknown image id 99"),
    (lambda d: d["annotations"][1].update(id=1), "annotation id 1 appears twice"),
    (lambda d: d["annotations"][0].pop("segmentation"), "annotation id 1 .*missing 'segmentation'"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, -1, 2]), "annotation id 1 .*'bbox'"),
    (lambda d: d["images"][0].pop("height"), "image id 10: 'height'"),
    (lambda d: d["images"].append(dict(d["images"][0])), "image id 10 appears twice"),
]


@pytest.mark.parametrize("mutate, message", BAD_FILES)
def test_malformed_annotations_name_file_and_ids(mixed_dataset, mutate, message):
    folder, data = mixed_dataset
    data = copy.deepcopy(data)
    mutate(data)
    (folder / "annotations.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        CocoDataset(folder)[1]  # some problems surface only when the masks are decoded
        CocoDataset(folder)[0]
    assert "annotations.json" in str(info.value)


def test_missing_image_file_and_wrong_json(mixed_dataset):
    folder, data = mixed_dataset
    (folder / "images" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match="image id 20.*b.png"):
        CocoDataset(folder)
    (folder / "annotations.json").write_text("{not json")
    with pytest.raises(ValueError, match="annotations.json: not valid JSON"):
        CocoDataset(folder)
    (folder / "annotations.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        load_annotations(folder / "annotations.json")
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        CocoDataset(folder / "nowhere.json")


def test_image_size_disagreeing_with_json(mixed_dataset):
    folder, _ = mixed_dataset
    write_png(folder / "images" / "a.png", np.zeros((7, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="image id 10: .*7x8 but the annotations say 6x8"):
        CocoDataset(folder)[0]


def test_results_format_and_category_mapping(tmp_path):
    masks = np.zeros((2, 4, 5), bool)
    masks[0, 1:3, 1:4] = True
    pred = {"boxes": np.array([[1, 1, 4, 3], [0, 0, 2, 2]], np.float32), "labels": np.array([1, 2]),
            "scores": np.array([0.9, 0.25], np.float32), "masks": masks}
    results = write_coco_results([pred], [42], tmp_path / "r.json", category_ids={1: 3, 2: 7})
    assert json.loads((tmp_path / "r.json").read_text()) == results
    assert results[0] == {"image_id": 42, "category_id": 3, "bbox": [1.0, 1.0, 3.0, 2.0], "score": 0.8999999761581421,
                          "segmentation": rle.encode(masks[0])}
    assert [r["category_id"] for r in coco_results([pred], [42], category_ids=(3, 7))] == [3, 7]
    no_masks = coco_results([{k: v for k, v in pred.items() if k != "masks"}], [42])
    assert "segmentation" not in no_masks[0] and no_masks[1]["category_id"] == 2
    with pytest.raises(ValueError, match="label 2 has no entry"):
        coco_results([pred], [42], category_ids={1: 3})
    with pytest.raises(ValueError, match="lengths differ"):
        coco_results([pred], [1, 2])
    with pytest.raises(ValueError, match=r"predictions\[0\]: labels must be integers >= 1"):
        coco_results([{**pred, "labels": np.array([0, 1])}], [1])


def test_pycocotools_reads_what_we_write(tmp_path):
    coco_api = pycocotools("pycocotools.coco")
    ds = ShapesDataset(4, seed=2)
    coco = coco_api.COCO(str(write_coco_dataset(ds, tmp_path)))
    for sample in ds:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[sample["image_id"]]))
        for ann, mask in zip(anns, sample["masks"]):
            assert np.array_equal(coco.annToMask(ann).astype(bool), mask)
            assert ann["area"] == mask.sum()


def test_pycocotools_polygons_match(mixed_dataset):
    coco_api = pycocotools("pycocotools.coco")
    folder, data = mixed_dataset
    rng = np.random.default_rng(0)
    for ann in data["annotations"][:1]:
        ann["segmentation"] = [rng.uniform(-1, 9, 12).tolist(), rng.uniform(0, 6, 8).tolist()]
    (folder / "annotations.json").write_text(json.dumps(data))
    coco = coco_api.COCO(str(folder / "annotations.json"))
    ours = CocoDataset(folder)[0]["masks"][0]
    assert np.array_equal(coco.annToMask(coco.loadAnns([1])[0]).astype(bool), ours)
