"""COCO evaluation: protocol cases worked by hand, kernel vs naive, pycocotools as oracle."""
import contextlib
import copy
import io

import numpy as np
import pytest
from oracles import pycocotools

from minimaskrcnn.datasets import ShapesDataset, coco_results, masks_to_boxes, rle, write_coco_dataset
from minimaskrcnn.datasets.polygon import polygons_to_mask
from minimaskrcnn.evaluation import (STAT_KEYS, box_iou, evaluate, evaluate_block_naive, evaluate_coco,
                                     match_naive)
from minimaskrcnn.evaluation.matching import match_blocks

# -- small COCO cases built by hand ---------------------------------------------

ONE = pytest.approx(1.0, abs=1e-12)  # COCO's precision is TP / (TP + FP + 2.2e-16)


def gt_file(boxes, crowd=(), areas=None, size=(200, 200), categories=(1,), labels=None):
    """One image; box-only ground truths (x, y, w, h); area = w * h unless given."""
    anns = []
    for i, box in enumerate(boxes):
        anns.append({"id": i + 1, "image_id": 1, "category_id": labels[i] if labels else 1,
                     "bbox": list(box), "area": areas[i] if areas else box[2] * box[3],
                     "iscrowd": int(i in crowd)})
    return {"images": [{"id": 1, "height": size[0], "width": size[1]}], "annotations": anns,
            "categories": [{"id": c, "name": f"c{c}"} for c in categories]}


def dets(*rows, image_id=1):
    """rows of (x, y, w, h, score[, category])."""
    return [{"image_id": image_id, "category_id": r[5] if len(r) > 5 else 1, "bbox": list(r[:4]),
             "score": r[4]} for r in rows]


def bbox_stats(gt, results):
    return evaluate_coco(gt, results, "bbox")["bbox"].stats


def test_box_iou_worked_example():
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10]]).tolist() == [[1 / 3]]
    assert box_iou([[0, 0, 10, 10]], [[5, 0, 10, 10]], iscrowd=[True]).tolist() == [[0.5]]
    assert box_iou([[0, 0, 10, 10]], [[10, 0, 5, 5]]).tolist() == [[0.0]]  # touching edges


def test_perfect_detection_scores_one():
    stats = bbox_stats(gt_file([(10, 10, 50, 50)]), dets((10, 10, 50, 50, 0.9)))
    for key in ("AP", "AP50", "AP75", "APm", "AR1", "AR100", "ARm"):
        assert stats[key] == ONE
    assert stats["APs"] == stats["APl"] == stats["ARs"] == -1.0  # no small / large objects


def test_duplicate_is_a_false_positive():
    # det 1 -> gt A (TP), det 2 duplicates A (FP), det 3 -> gt B (TP):
    # recall 0.5, 0.5, 1; precision 1, 1/2, 2/3; envelope 1, 2/3, 2/3
    # -> 51 recall points (0..0.50) at 1 and 50 points at 2/3
    gt = gt_file([(0, 0, 40, 40), (100, 100, 40, 40)])
    stats = bbox_stats(gt, dets((0, 0, 40, 40, 0.9), (1, 1, 40, 40, 0.8), (100, 100, 40, 40, 0.7)))
    assert stats["AP"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)
    without_duplicate = bbox_stats(gt, dets((0, 0, 40, 40, 0.9), (100, 100, 40, 40, 0.7)))
    assert without_duplicate["AP"] == ONE


def test_crowd_region_absorbs_detections():
    boxes = [(0, 0, 40, 40), (100, 0, 100, 100)]  # a regular object and a crowd region
    results = dets((0, 0, 40, 40, 0.5), (110, 10, 20, 20, 0.9), (150, 50, 30, 30, 0.8), (120, 60, 10, 10, 0.7))
    assert bbox_stats(gt_file(boxes, crowd=[1]), results)["AP"] == ONE  # inside the crowd: ignored
    assert bbox_stats(gt_file(boxes), results)["AP"] < 0.5  # the same region as a regular object


def test_area_ranges_are_inclusive():
    # an object of exactly 32**2 pixels is both small and medium
    stats = bbox_stats(gt_file([(0, 0, 32, 32)]), dets((0, 0, 32, 32, 0.9)))
    assert stats["APs"] == ONE and stats["APm"] == ONE and stats["APl"] == -1.0
    stats = bbox_stats(gt_file([(0, 0, 32, 32)], areas=[1024.5]), dets((0, 0, 32, 32, 0.9)))
    assert stats["APs"] == -1.0 and stats["APm"] == ONE


def test_unmatched_detection_outside_area_range_is_ignored():
    gt = gt_file([(0, 0, 20, 20)])  # small
    results = dets((0, 0, 20, 20, 0.5), (100, 100, 99, 99, 0.9))  # large false positive, higher score
    stats = bbox_stats(gt, results)
    assert stats["APs"] == ONE  # the large FP does not count against small objects
    assert stats["AP"] < 1.0


def test_max_dets_truncation():
    # the correct detection has the lowest of 11 scores: found only with 100 detections
    results = dets((0, 0, 50, 50, 0.05), *[(120, 120, 20 + i, 20, 0.5 + i / 100) for i in range(10)])
    stats = bbox_stats(gt_file([(0, 0, 50, 50)]), results)
    assert stats["AR1"] == stats["AR10"] == 0.0 and stats["AR100"] == ONE


def test_more_than_100_detections_per_image_and_category():
    results = dets(*[(120, 120, 20, 20, 0.9)] * 100, (0, 0, 50, 50, 0.1))
    assert bbox_stats(gt_file([(0, 0, 50, 50)]), results)["AR100"] == 0.0  # 101st never seen
    other_class = dets(*[(120, 120, 20, 20, 0.9, 2)] * 100, (0, 0, 50, 50, 0.1))
    assert bbox_stats(gt_file([(0, 0, 50, 50)], categories=(1, 2)), other_class)["AR100"] == ONE


def test_ties_in_score_keep_the_given_order():
    gt = gt_file([(0, 0, 50, 50)])
    wrong, right = (120, 120, 20, 20, 0.5), (0, 0, 50, 50, 0.5)
    assert bbox_stats(gt, dets(wrong, right))["AP"] == pytest.approx(0.5)  # FP first: precision 1/2
    assert bbox_stats(gt, dets(right, wrong))["AP"] == ONE


def test_category_without_ground_truth_is_left_out():
    gt = gt_file([(0, 0, 50, 50)], categories=(1, 5))
    result = evaluate_coco(gt, dets((0, 0, 50, 50, 0.9), (0, 0, 50, 50, 0.8, 5)), "bbox")["bbox"]
    assert result.stats["AP"] == ONE
    assert result.per_class_ap == {"c1": ONE, "c5": -1.0}
    assert (result.precision[:, :, 1] == -1).all()


def test_empty_inputs_give_coco_values():
    gt = gt_file([(0, 0, 50, 50)])
    no_dets = bbox_stats(gt, [])
    assert no_dets["AP"] == 0.0 and no_dets["AR100"] == 0.0 and no_dets["APl"] == -1.0
    no_gt = bbox_stats(gt_file([]), dets((0, 0, 5, 5, 0.5)))
    assert set(no_gt.values()) == {-1.0}
    empty = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "c1"}]}
    assert set(bbox_stats(empty, []).values()) == {-1.0}
    ds = ShapesDataset(2, seed=0)
    no_predictions = evaluate(ds, [{"boxes": [], "labels": [], "scores": [], "masks": []}] * 2)
    assert no_predictions["segm"].stats["AP"] == 0.0 and no_predictions["bbox"].stats["AR100"] == 0.0
    nothing = evaluate([], [], ("bbox", "segm"), class_names=["a"])
    assert set(nothing["segm"].stats.values()) == {-1.0}
    assert set(evaluate_coco({"images": [], "annotations": [], "categories": []}, [])["segm"].stats.values()) == {-1.0}


def test_gt_with_id_zero_never_counts_as_matched():
    """pycocotools records matches by annotation id and tests it for truth."""
    gt = gt_file([(0, 0, 50, 50)])
    gt["annotations"][0]["id"] = 0
    assert bbox_stats(gt, dets((0, 0, 50, 50, 0.9)))["AP"] == 0.0


def test_segm_detections_and_box_area_rule():
    mask = np.zeros((60, 60), bool)
    mask[10:30, 10:30] = True
    gt = {"images": [{"id": 1, "height": 60, "width": 60}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": rle.encode(mask),
                           "area": 400, "bbox": [10, 10, 20, 20], "iscrowd": 0}]}
    segm_only = [{"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": rle.encode(mask)}]
    out = evaluate_coco(gt, segm_only)
    assert out["segm"].stats["AP"] == ONE and out["bbox"].stats["AP"] == ONE  # box from the mask
    box_only = [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [10, 10, 20, 20]}]
    assert evaluate_coco(gt, box_only, "segm")["segm"].stats["AP"] == ONE  # the box as a polygon


# -- the kernel against the readable loops ----------------------------------------


def test_match_naive_prefers_regular_and_best_iou():
    ious = np.array([[0.6, 0.8, 0.9],
                     [0.7, 0.75, 0.1]])
    # gt 2 is ignored: det 0 takes gt 1 (best regular), det 1 takes gt 0
    assert match_naive(ious, gt_ignore=[False, False, True], gt_crowd=[False] * 3, iou_threshold=0.5) == [1, 0]
    # at 0.72 det 1 can no longer reach gt 0, and gt 1 is taken: unmatched
    assert match_naive(ious, [False, False, True], [False] * 3, 0.72) == [1, -1]


def test_match_kernel_equals_naive_on_random_blocks():
    rng = np.random.default_rng(0)
    thresholds = np.linspace(0.5, 0.95, 10)
    areas = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
    blocks = []
    for _ in range(60):
        D, G = rng.integers(0, 7), rng.integers(0, 5)
        ious = np.round(rng.uniform(0, 1, (D, G)) * (rng.uniform(size=(D, G)) < 0.7), 1)
        blocks.append((ious, rng.choice([100, 1024, 5000, 20000], G).astype(float), rng.uniform(size=G) < 0.2,
                       rng.integers(0, 3, G), rng.choice([500, 1024, 30000], D).astype(float)))
    num_dt, num_gt = np.array([len(b[4]) for b in blocks]), np.array([len(b[1]) for b in blocks])
    dt_start = np.concatenate([[0], np.cumsum(num_dt)[:-1]])
    gt_start = np.concatenate([[0], np.cumsum(num_gt)[:-1]])
    pair_start = np.concatenate([[0], np.cumsum(num_dt * num_gt)[:-1]])
    cat = lambda j: np.concatenate([b[j].ravel() for b in blocks])  # noqa: E731
    matched, ignored, gt_ignored = match_blocks(dt_start, num_dt, gt_start, num_gt, pair_start, cat(0),
                                                cat(1), cat(2), cat(3), cat(4), areas, thresholds)
    for b, (ious, gt_area, crowd, gt_id, dt_area) in enumerate(blocks):
        d, g = slice(dt_start[b], dt_start[b] + num_dt[b]), slice(gt_start[b], gt_start[b] + num_gt[b])
        for a, area_range in enumerate(areas):
            m, i, gi = evaluate_block_naive(ious, gt_area, crowd, gt_id, dt_area, area_range, thresholds)
            assert np.array_equal(matched[a][:, d], m) and np.array_equal(ignored[a][:, d], i)
            assert np.array_equal(gt_ignored[a, g], gi)


# -- in memory vs JSON, summary, plot ----------------------------------------------


def shapes_predictions(dataset, seed=0):
    rng = np.random.default_rng(seed)
    preds = []
    for s in dataset:
        masks = np.array([np.roll(m, tuple(rng.integers(-2, 3, 2)), (0, 1)) for m in s["masks"] for _ in range(2)]
                         + [rng.uniform(size=s["masks"].shape[1:]) < 0.02], bool)
        D = len(masks)
        preds.append({"boxes": masks_to_boxes(masks), "labels": rng.integers(1, 4, D),
                      "scores": rng.uniform(size=D).astype(np.float32), "masks": masks})
    return preds


def test_in_memory_equals_json_path(tmp_path):
    ds = ShapesDataset(12, seed=5)
    preds = shapes_predictions(ds)
    in_memory = evaluate(ds, iter(preds))  # a generator works too
    path = write_coco_dataset(ds, tmp_path)
    results = coco_results(preds, [s["image_id"] for s in ds])  # boxes and masks, as we write them
    for iou_type in ("bbox", "segm"):  # detections sized by their boxes in both (pycocotools' loadRes)
        from_json = evaluate_coco(path, results, iou_type)[iou_type]
        assert np.array_equal(from_json.precision, in_memory[iou_type].precision)
        assert from_json.stats == in_memory[iou_type].stats
    boxes_only = [{k: v for k, v in r.items() if k != "segmentation"} for r in results]
    assert evaluate_coco(path, boxes_only, "bbox")["bbox"].stats == in_memory["bbox"].stats
    assert in_memory["segm"].class_names == ["circle", "square", "triangle"]


def test_summary_and_plot():
    ds = ShapesDataset(4, seed=6)
    result = evaluate(ds, shapes_predictions(ds), "segm")["segm"]
    text = result.summary()
    for key in STAT_KEYS:
        assert f"   {key}\n" in text + "\n"
    assert "circle" in text and "maxDets=100" in text
    assert set(result.to_dict()) == set(STAT_KEYS) | {"per_class_AP"}
    fig = result.plot_precision_recall()
    assert len(fig.axes[0].lines) == 3
    fig = result.plot_precision_recall(category="circle", iou_thresholds=(0.5,))
    assert len(fig.axes[0].lines) == 1


def test_bad_evaluation_inputs(tmp_path):
    ds = ShapesDataset(2, seed=0)
    preds = shapes_predictions(ds)
    with pytest.raises(ValueError, match="fewer predictions"):
        evaluate(ds, preds[:1])
    with pytest.raises(ValueError, match="more predictions"):
        evaluate(ds, preds + preds[:1])
    with pytest.raises(ValueError, match=r"predictions\[1\]: missing 'masks'"):
        evaluate(ds, [preds[0], {k: v for k, v in preds[1].items() if k != "masks"}])
    with pytest.raises(ValueError, match=r"predictions\[0\]: expected boxes \(D, 4\)"):
        evaluate(ds, [{**preds[0], "boxes": preds[0]["boxes"][:1]}, preds[1]])
    with pytest.raises(ValueError, match="labels must lie in 1..3"):
        evaluate(ds, [{**preds[0], "labels": preds[0]["labels"] + 5}, preds[1]])
    with pytest.raises(ValueError, match="iou_types"):
        evaluate(ds, preds, iou_types=("keypoints",))
    gt = gt_file([(0, 0, 50, 50)])
    with pytest.raises(ValueError, match="result 0: image id 7 is not in the annotations"):
        evaluate_coco(gt, dets((0, 0, 5, 5, 0.5), image_id=7), "bbox")
    with pytest.raises(ValueError, match="expected a JSON list"):
        evaluate_coco(gt, {"image_id": 1}, "bbox")
    with pytest.raises(ValueError, match="result 1 .*missing 'bbox'"):
        evaluate_coco(gt, dets((0, 0, 5, 5, 0.5)) + [{"image_id": 1, "category_id": 1, "score": 0.1}], "bbox")
    with pytest.raises(ValueError, match="annotation id 1 .*no 'segmentation'"):
        evaluate_coco(gt, dets((0, 0, 5, 5, 0.5)), "segm")
    with pytest.raises(FileNotFoundError, match="missing.json"):
        evaluate_coco(tmp_path / "missing.json", [])


# -- pycocotools as the oracle -----------------------------------------------------


def random_blob(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cy, cx, ry, rx = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(1, h / 2 + 1), rng.uniform(1, w / 2 + 1)
    if rng.uniform() < 0.5:
        return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    return (abs(yy - cy) <= ry) & (abs(xx - cx) <= rx)


def random_case(rng, box_mode):
    """Random images (some empty), crowds, polygons, odd areas, ties, >100 detections, unknown categories."""
    cat_ids = sorted(rng.choice(np.arange(1, 30), size=rng.integers(1, 5), replace=False).tolist())
    images, anns, results = [], [], []
    ann_id = int(rng.integers(0, 2))  # sometimes start at 0 (pycocotools' id quirk)
    for img_id in rng.permutation(np.arange(1, rng.integers(2, 7)) * 3).tolist():
        h, w = (int(v) for v in rng.integers(8, 160, size=2))
        images.append({"id": img_id, "height": h, "width": w})
        objects = []
        for _ in range(int(rng.integers(0, 6))):
            crowd = int(rng.uniform() < 0.15)
            cat = int(rng.choice(cat_ids[:-1] if len(cat_ids) > 1 and rng.uniform() < 0.7 else cat_ids))
            if not crowd and rng.uniform() < 0.3:
                angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 8)))
                r, cy, cx = rng.uniform(2, max(h, w) / 2), rng.uniform(0, h), rng.uniform(0, w)
                seg = [np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1).ravel().tolist()]
                mask = polygons_to_mask(seg, h, w)
            else:
                mask = random_blob(rng, h, w)
                seg = ({"size": [h, w], "counts": rle.mask_to_counts(mask).tolist()} if crowd else rle.encode(mask))
            if not mask.any():
                continue
            area = float(rng.choice([1024, 9216, 1024.5])) if rng.uniform() < 0.1 else float(mask.sum())
            anns.append({"id": ann_id, "image_id": img_id, "category_id": cat, "segmentation": seg,
                         "area": area, "bbox": rle.to_bbox(mask).tolist(), "iscrowd": crowd})
            ann_id += 1
            objects.append((mask, cat))
        for _ in range(int(rng.integers(0, 12)) if rng.uniform() < 0.85 else int(rng.integers(100, 130))):
            if objects and rng.uniform() < 0.6:
                mask, cat = objects[rng.integers(len(objects))]
                mask = np.roll(mask, tuple(rng.integers(-3, 4, size=2)), axis=(0, 1))
            else:
                mask, cat = random_blob(rng, h, w), int(rng.choice(cat_ids + [999]))
            score = float(np.round(rng.uniform(), 1))  # many ties
            result = {"image_id": img_id, "category_id": cat, "score": score, "segmentation": rle.encode(mask)}
            if box_mode:
                result["bbox"] = np.abs(rle.to_bbox(mask) + rng.uniform(-2, 2, 4)).tolist()
            results.append(result)
    gt = {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in cat_ids]}
    return gt, results


def pycocotools_eval(gt, results, iou_type):
    coco_api = pycocotools("pycocotools.coco")
    cocoeval = pycocotools("pycocotools.cocoeval")
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = coco_api.COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        E = cocoeval.COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), iou_type)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", range(12))
def test_agrees_with_pycocotools_on_random_cases(seed):
    pycocotools("pycocotools")
    rng = np.random.default_rng(seed)
    gt, results = random_case(rng, box_mode=seed % 3 != 0)
    if not results:
        results = [{"image_id": gt["images"][0]["id"], "category_id": gt["categories"][0]["id"], "score": 0.5,
                    "segmentation": rle.encode(np.ones((gt["images"][0]["height"], gt["images"][0]["width"]), bool))}]
    ours = evaluate_coco(gt, results)
    for iou_type in ("bbox", "segm"):
        E = pycocotools_eval(gt, results, iou_type)
        mine = ours[iou_type]
        np.testing.assert_allclose(mine.precision, E.eval["precision"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(mine.recall, E.eval["recall"], rtol=0, atol=1e-6)
        np.testing.assert_allclose(mine.scores, E.eval["scores"], rtol=0, atol=1e-6)
        np.testing.assert_allclose([mine.stats[k] for k in STAT_KEYS], E.stats, rtol=0, atol=1e-6)


def test_image_without_ground_truth_keeps_the_protocol():
    # one image with a perfectly detected object, one with no object but a false detection
    sample = ShapesDataset(1, seed=3)[0]
    H, W = sample["image"].shape[:2]
    empty = {"image": sample["image"], "boxes": np.zeros((0, 4), np.float32), "labels": np.zeros(0, np.int64),
             "masks": np.zeros((0, H, W), bool), "image_id": 1}
    perfect = {"boxes": sample["boxes"], "labels": sample["labels"], "scores": np.ones(len(sample["labels"])),
               "masks": sample["masks"]}
    false = {"boxes": np.array([[0, 0, 20, 20]], np.float32), "labels": np.array([1]), "scores": np.array([0.1]),
             "masks": np.pad(np.ones((1, 20, 20), bool), ((0, 0), (0, H - 20), (0, W - 20)))}
    results = evaluate([dict(sample, image_id=0), empty], [perfect, false], class_names=["circle", "square", "triangle"])
    for r in results.values():
        assert r.stats["AP"] == 1.0  # the false positive ranks below every true one: precision stays 1
    only_empty = evaluate([empty], [false], class_names=["circle", "square", "triangle"])
    assert all(r.stats["AP"] == -1.0 for r in only_empty.values())  # no ground truth: undefined, as COCO


def test_result_queries_name_a_bad_argument():
    sample = ShapesDataset(1, seed=3)[0]
    pred = {"boxes": sample["boxes"], "labels": sample["labels"], "scores": np.ones(len(sample["labels"])),
            "masks": sample["masks"]}
    segm = evaluate([sample], [pred], class_names=["circle", "square", "triangle"])["segm"]
    assert segm.average_precision(iou=0.75) == 1.0
    for kwargs, name in [({"iou": 0.52}, "iou"), ({"area": "huge"}, "area"), ({"max_dets": 5}, "max_dets")]:
        with pytest.raises(ValueError, match=name):
            segm.average_precision(**kwargs)


# -- values exactly on a threshold ------------------------------------------------


def coco_iou_thresholds():
    """pycocotools' own thresholds (their float values depend on numpy's linspace: 0.6 may be 0.6000000000000001)."""
    try:
        from pycocotools.cocoeval import Params
    except ImportError:
        return np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
    return Params(iouType="bbox").iouThrs


@pytest.mark.parametrize("gt_box, det_box, iou", [
    ((0, 0, 10, 10), (0, 0, 5, 10), 0.5),  # IoU 0.5 exactly: matched at 0.50 (>=), not at 0.55
    ((0, 0, 10, 10), (0, 0, 6, 10), 0.6),  # matched at the third threshold only if it is not above 0.6
    ((0, 0, 100, 1), (0, 0, 85, 1), 0.85),  # likewise 0.85
    ((0, 0, 100, 1), (0, 0, 95, 1), 0.95),  # 0.95: matched at every threshold; the last is 0.95 exactly
])
def test_iou_exactly_on_a_threshold_follows_pycocotools(gt_box, det_box, iou):
    result = evaluate_coco(gt_file([gt_box]), dets((*det_box, 0.9)), "bbox")["bbox"]
    matched = result.recall[:, 0, 0, -1] == 1.0  # (T,): recall 1 where the detection matched
    assert matched.tolist() == [iou >= t for t in coco_iou_thresholds()]  # >=, on pycocotools' own values


def test_iou_thresholds_are_pycocotools_linspace():
    from minimaskrcnn.evaluation import IOU_THRESHOLDS

    assert IOU_THRESHOLDS.tolist() == np.asarray(coco_iou_thresholds()).tolist()
    assert IOU_THRESHOLDS[0] == 0.5 and IOU_THRESHOLDS[-1] == 0.95


def test_area_exactly_on_the_large_boundary_is_medium_and_large():
    stats = bbox_stats(gt_file([(0, 0, 96, 96)]), dets((0, 0, 96, 96, 0.9)))
    assert stats["APm"] == ONE and stats["APl"] == ONE and stats["APs"] == -1.0


def test_a_detection_on_a_non_square_image_is_scored_by_its_own_box():
    gt = gt_file([(150, 10, 40, 20)], size=(50, 200))  # H = 50, W = 200
    assert bbox_stats(gt, dets((150, 10, 40, 20, 0.9)))["AP"] == ONE
