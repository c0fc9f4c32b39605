"""One evaluation semantics: ``evaluate`` (in memory) == ``evaluate_coco`` / evaluate-results == pycocotools.

The detections are built so that a mask's pixel count and its box's w * h lie in
different COCO size ranges (hollow frames, thin diagonals): pycocotools sizes a
result that has a bbox by the box, so an evaluation that sized it by its mask
would differ in APs/APm/APl (checked below, so the comparison can fail).
"""
import json

import numpy as np
import pytest
from oracles import pycocotools
from PIL import Image
from test_evaluation import pycocotools_eval

from minimaskrcnn.cli import main
from minimaskrcnn.datasets import ShapesConfig, ShapesDataset, write_coco_dataset
from minimaskrcnn.datasets.coco import CocoDataset, coco_results
from minimaskrcnn.datasets.polygon import polygons_to_mask
from minimaskrcnn.datasets.shapes import masks_to_boxes
from minimaskrcnn.evaluation import STAT_KEYS, evaluate, evaluate_coco

SMALL, MEDIUM = 32 ** 2, 96 ** 2


def size_range(area):
    return 0 if area < SMALL else 1 if area < MEDIUM else 2


def frame(h, w, x1, y1, x2, y2, thickness=1):
    """A hollow rectangle: its box is large, its pixel count small."""
    m = np.zeros((h, w), bool)
    m[y1:y2, x1:x2] = True
    m[y1 + thickness:y2 - thickness, x1 + thickness:x2 - thickness] = False
    return m


def detections(samples, seed):
    """Shifted copies of the ground truths, hollow frames around them, and noise; labels 1..3."""
    rng = np.random.default_rng(seed)
    preds = []
    for s in samples:
        H, W = s["image"].shape[:2]
        masks = [np.roll(m, tuple(rng.integers(-2, 3, 2)), (0, 1)) for m in s["masks"]]
        labels = list(s["labels"])
        for m in s["masks"]:  # a frame on the object's box: matches it by box, poorly by mask
            ys, xs = np.nonzero(m)
            masks.append(frame(H, W, xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, int(rng.integers(1, 4))))
            labels.append(int(rng.integers(1, 4)))
        for _ in range(3):  # frames and diagonals anywhere, crossing the 32**2 boundary
            x1, y1 = (int(v) for v in rng.integers(0, 24, 2))
            x2, y2 = x1 + int(rng.integers(30, 41)), y1 + int(rng.integers(30, 41))
            masks.append(frame(H, W, x1, y1, min(x2, W), min(y2, H), int(rng.integers(1, 6))))
            labels.append(int(rng.integers(1, 4)))
        masks = np.array(masks, bool)
        preds.append({"boxes": masks_to_boxes(masks), "labels": np.array(labels, np.int64),
                      "scores": np.round(rng.uniform(size=len(masks)), 2), "masks": masks})
    return preds


def assert_stats_equal(a, b, atol=0.0):
    np.testing.assert_allclose([a[k] for k in STAT_KEYS], [b[k] for k in STAT_KEYS], rtol=0, atol=atol)


@pytest.fixture(scope="module")
def shapes_case(tmp_path_factory):
    samples = list(ShapesDataset(10, seed=4, config=ShapesConfig(image_size=112, min_visible_area=20)))
    preds = detections(samples, seed=1)
    folder = tmp_path_factory.mktemp("shapes")
    write_coco_dataset(samples, folder, class_names=("circle", "square", "triangle"))
    results = coco_results(preds, [s["image_id"] for s in samples])
    return samples, preds, folder, results


def test_detections_cross_size_ranges_by_box_and_by_mask(shapes_case):
    """The fixture can tell the two rules apart: box and mask put some detections in different ranges."""
    _, preds, _, _ = shapes_case
    boxes = np.concatenate([p["boxes"] for p in preds])
    box_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    mask_area = np.concatenate([p["masks"].sum(axis=(1, 2)) for p in preds])
    crossing = np.array([size_range(b) != size_range(m) for b, m in zip(box_area, mask_area)])
    assert crossing.sum() >= 10


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_evaluate_equals_evaluate_coco_equals_pycocotools(shapes_case):
    pycocotools("pycocotools")
    samples, preds, folder, results = shapes_case
    in_memory = evaluate(samples, preds)
    from_file = evaluate_coco(folder, results)
    gt = json.loads((folder / "annotations.json").read_text())
    for iou_type in ("bbox", "segm"):
        E = pycocotools_eval(gt, results, iou_type)
        assert in_memory[iou_type].stats == from_file[iou_type].stats  # the same code path: exactly
        np.testing.assert_array_equal(in_memory[iou_type].precision, from_file[iou_type].precision)
        np.testing.assert_allclose([in_memory[iou_type].stats[k] for k in STAT_KEYS], E.stats, rtol=0, atol=1e-12)
        np.testing.assert_allclose(in_memory[iou_type].precision, E.eval["precision"], rtol=0, atol=1e-12)
    assert min(in_memory["segm"].stats[k] for k in ("APs", "APm", "ARs", "ARm")) > 0  # both size ranges are scored


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sizing_detections_by_their_masks_would_disagree(shapes_case):
    """pycocotools on the same detections without boxes (then sized by mask) gives other APs/APm/APl."""
    pycocotools("pycocotools")
    _, _, folder, results = shapes_case
    gt = json.loads((folder / "annotations.json").read_text())
    by_box = pycocotools_eval(gt, results, "segm").stats
    by_mask = pycocotools_eval(gt, [{k: v for k, v in r.items() if k != "bbox"} for r in results], "segm").stats
    assert by_box[0] == by_mask[0]  # AP over all sizes does not depend on the rule ...
    assert not np.allclose(by_box[3:6], by_mask[3:6])  # ... the size ranges do


def write_polygon_folder(root, seed=0):
    """A COCO folder as an annotation tool writes it: polygons, 'area' = the polygon's area (not its
    pixel count), images of mixed sizes, non-contiguous category ids in shuffled order, odd image ids."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    categories = [{"id": 20, "name": "star"}, {"id": 3, "name": "ring"}, {"id": 11, "name": "key"}]
    images, annotations = [], []
    for n in range(6):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        image_id = 1000 + 37 * n
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / "images" / f"im{n}.png")
        images.append({"id": image_id, "file_name": f"im{n}.png", "height": h, "width": w})
        for _ in range(int(rng.integers(1, 4))):
            k = int(rng.integers(3, 9))
            angles = np.sort(rng.uniform(0, 2 * np.pi, k))
            r = rng.uniform(5, 30, k)  # a star-like polygon: its area and its pixel count differ
            cx, cy = rng.uniform(15, w - 15), rng.uniform(15, h - 15)
            xy = np.clip(np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1), 0, [w, h])
            x, y = xy[:, 0], xy[:, 1]
            area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
            if polygons_to_mask([xy.ravel().tolist()], h, w).sum() == 0:
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(rng.choice([3, 11, 20])), "segmentation": [xy.ravel().tolist()],
                                "area": float(area), "iscrowd": 0,
                                "bbox": [float(x.min()), float(y.min()), float(np.ptp(x)), float(np.ptp(y))]})
    (root / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                       "categories": categories}))
    return root


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_coco_folder_is_scored_by_its_own_annotations(tmp_path, capsys):
    """evaluate(CocoDataset) == evaluate-results == pycocotools, the file's areas and ids included."""
    pycocotools("pycocotools")
    folder = write_polygon_folder(tmp_path / "data")
    dataset = CocoDataset(folder)
    assert dataset.category_ids == {1: 3, 2: 11, 3: 20} and dataset.class_names == ("ring", "key", "star")
    ann = json.loads((folder / "annotations.json").read_text())
    pixel_counts = [dataset[i]["masks"].sum(axis=(1, 2)) for i in range(len(dataset))]
    assert not np.allclose(np.concatenate(pixel_counts), [a["area"] for a in ann["annotations"]])
    preds = detections(list(dataset), seed=2)
    in_memory = evaluate(dataset, preds)
    results = coco_results(preds, dataset.image_ids, dataset.category_ids)
    (tmp_path / "r.json").write_text(json.dumps(results))
    assert main(["evaluate-results", str(folder), str(tmp_path / "r.json"), "--json", str(tmp_path / "s.json")]) == 0
    assert "warning" not in capsys.readouterr().err
    cli = json.loads((tmp_path / "s.json").read_text())
    for iou_type in ("bbox", "segm"):
        E = pycocotools_eval(ann, results, iou_type)
        assert in_memory[iou_type].stats == cli[iou_type]
        np.testing.assert_allclose([cli[iou_type][k] for k in STAT_KEYS], E.stats, rtol=0, atol=1e-12)
    assert in_memory["segm"].category_ids == [3, 11, 20]  # the dataset's ids, named by its names
    assert in_memory["segm"].class_names == ["ring", "key", "star"]
