"""COCO keypoint evaluation: OKS by hand, vectorised vs naive, the protocol, pycocotools oracle."""
import contextlib
import io
import json

import numpy as np
import pytest
from oracles import pycocotools

from minimaskrcnn.datasets.coco_keypoints import write_coco_keypoint_results, write_coco_keypoints_dataset
from minimaskrcnn.datasets.keypoints import KEYPOINT_SIGMAS, KeypointsDataset
from minimaskrcnn.evaluation import KEYPOINT_STAT_KEYS, evaluate, evaluate_coco
from minimaskrcnn.evaluation.keypoints import COCO_PERSON_SIGMAS, oks_naive, oks_pairs, resolve_sigmas



def test_oks_worked_example():
    """s² = 400, σ = 0.1: a keypoint 4 px off scores exp(-16 / (2 · 400 · 0.04)) = exp(-0.5)."""
    gt = np.array([[[10.0, 10.0, 2], [20.0, 20.0, 1], [5.0, 5.0, 0]]])
    dt = np.array([[[14.0, 10.0, 0.9], [20.0, 20.0, 0.1], [90.0, 90.0, 0.3]]])  # the unlabelled one is ignored
    oks = oks_naive(dt, gt, np.array([400.0]), np.array([[0.0, 0.0, 30.0, 30.0]]), np.full(3, 0.1))
    assert oks[0, 0] == pytest.approx((np.exp(-0.5) + 1) / 2)


def test_oks_without_labelled_keypoints_measures_distance_to_the_grown_box():
    gt = np.zeros((1, 2, 3))  # nothing labelled; box x in [10, 20] -> grown to [0, 30]
    dt = np.array([[[15.0, 15.0, 1], [34.0, 15.0, 1]]])  # inside (d = 0) and 4 px right of it
    oks = oks_naive(dt, gt, np.array([400.0]), np.array([[10.0, 10.0, 10.0, 10.0]]), np.full(2, 0.1))
    assert oks[0, 0] == pytest.approx((1 + np.exp(-0.5)) / 2)


def test_oks_pairs_matches_naive():
    rng = np.random.default_rng(0)
    D, G, K = 6, 5, 7
    gt = np.concatenate([rng.uniform(0, 50, (G, K, 2)), rng.integers(0, 3, (G, K, 1))], axis=2)
    gt[0, :, 2] = 0  # one ground truth without labelled keypoints
    dt = np.concatenate([rng.uniform(0, 50, (D, K, 2)), rng.random((D, K, 1))], axis=2)
    area, box = rng.uniform(50, 900, G), np.concatenate([rng.uniform(0, 30, (G, 2)), rng.uniform(1, 20, (G, 2))], 1)
    sigmas = rng.uniform(0.02, 0.2, K)
    d, g = np.repeat(np.arange(D), G), np.tile(np.arange(G), D)
    fast = oks_pairs(dt[d], gt[g], area[g], box[g], sigmas).reshape(D, G)
    np.testing.assert_allclose(fast, oks_naive(dt, gt, area, box, sigmas), rtol=1e-14)
    assert oks_pairs(np.zeros((0, K, 3)), np.zeros((0, K, 3)), np.zeros(0), np.zeros((0, 4)), sigmas).shape == (0,)


def test_resolve_sigmas():
    assert np.array_equal(resolve_sigmas(None, 17), COCO_PERSON_SIGMAS)
    assert np.array_equal(resolve_sigmas(None, 9, KeypointsDataset(1)), KEYPOINT_SIGMAS)
    with pytest.raises(ValueError, match="keypoint_sigmas: needed for 9"):
        resolve_sigmas(None, 9)
    with pytest.raises(ValueError, match="keypoint_sigmas: expected 9 positive"):
        resolve_sigmas([0.1] * 8, 9)


# -- the protocol ----------------------------------------------------------------------------


def noisy_predictions(dataset, seed, noise=2.0, drop=0.15, extra=0.3):
    """Ground truth jittered, some instances missed, some false positives, random scores."""
    rng = np.random.default_rng(seed)
    preds = []
    for s in dataset:
        kp = s["keypoints"].astype(np.float64).copy()
        kp[..., :2] += rng.normal(0, noise, kp[..., :2].shape) * rng.uniform(0.2, 2.0, (len(kp), 1, 1))
        kp[..., 2] = rng.random(kp.shape[:2])
        boxes = s["boxes"] + rng.normal(0, 1, s["boxes"].shape)
        keep = rng.random(len(kp)) > drop
        kp, boxes = kp[keep], boxes[keep]
        n_extra = rng.binomial(2, extra)
        if n_extra:
            fake = rng.uniform(0, 128, (n_extra, kp.shape[1] if len(kp) else 9, 3))
            kp = np.concatenate([kp.reshape(-1, fake.shape[1], 3), fake])
            corner = rng.uniform(0, 90, (n_extra, 2))
            boxes = np.concatenate([boxes.reshape(-1, 4), np.concatenate([corner, corner + 30], 1)])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        preds.append({"boxes": boxes.astype(np.float32), "labels": np.ones(len(kp), np.int64),
                      "scores": rng.random(len(kp)), "keypoints": kp})
    return preds


def test_perfect_predictions_score_one_and_order_of_iou_types_does_not_matter():
    ds = KeypointsDataset(8, seed=1)
    preds = [{"boxes": s["boxes"], "labels": s["labels"], "scores": np.ones(len(s["labels"])),
              "masks": s["masks"], "keypoints": s["keypoints"]} for s in ds]
    a = evaluate(ds, preds, iou_types=("keypoints", "segm"))
    b = evaluate(ds, preds, iou_types=("segm", "keypoints"))
    assert a["keypoints"].stats["AP"] == pytest.approx(1.0) and a["keypoints"].stats["AR"] == pytest.approx(1.0)
    assert list(a["keypoints"].stats) == list(KEYPOINT_STAT_KEYS)
    assert a["keypoints"].stats == b["keypoints"].stats and a["segm"].stats == b["segm"].stats
    assert "keypoints" in a["keypoints"].summary() and "maxDets= 20" in a["keypoints"].summary()


def test_worse_keypoints_lower_the_ap_but_not_box_ap():
    ds = KeypointsDataset(10, seed=2)
    close = evaluate(ds, noisy_predictions(ds, 0, noise=0.5), iou_types=("bbox", "keypoints"))
    far = evaluate(ds, noisy_predictions(ds, 0, noise=4.0), iou_types=("bbox", "keypoints"))
    assert far["keypoints"].stats["AP"] < close["keypoints"].stats["AP"] - 0.1
    assert far["bbox"].stats == close["bbox"].stats


def _crowd_and_unlabelled(annotations_path):
    """Make one ground truth a crowd region and one keypoint-less, as COCO files have."""
    data = json.loads(annotations_path.read_text())
    data["annotations"][0]["iscrowd"] = 1
    data["annotations"][3]["keypoints"] = [0] * 27
    data["annotations"][3]["num_keypoints"] = 0
    annotations_path.write_text(json.dumps(data))


@pytest.mark.parametrize("with_boxes", [True, False])
def test_matches_pycocotools(tmp_path, with_boxes):
    pycocotools("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds = KeypointsDataset(40, seed=3)
    ann_path = write_coco_keypoints_dataset(ds, tmp_path / "data")
    _crowd_and_unlabelled(ann_path)
    preds = noisy_predictions(ds, 5)
    results = write_coco_keypoint_results(preds, range(len(ds)), tmp_path / "results.json")
    if not with_boxes:  # keypoints alone: area and box come from the keypoints' extent
        results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
        (tmp_path / "results.json").write_text(json.dumps(results))
    mine = evaluate_coco(ann_path, tmp_path / "results.json", iou_types=("keypoints",))["keypoints"]

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann_path))
        E = COCOeval(gt, gt.loadRes(str(tmp_path / "results.json")), iouType="keypoints")
        E.params.kpt_oks_sigmas = np.array(KEYPOINT_SIGMAS)
        E.evaluate()
        E.accumulate()
        E.summarize()
    np.testing.assert_allclose([mine.stats[k] for k in KEYPOINT_STAT_KEYS], E.stats, rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine.precision, E.eval["precision"], rtol=0, atol=1e-12)
    assert 0.2 < mine.stats["AP"] < 0.95  # a case where matching decisions matter


def test_in_memory_equals_coco_files(tmp_path):
    ds = KeypointsDataset(20, seed=4)
    preds = noisy_predictions(ds, 6)
    ann_path = write_coco_keypoints_dataset(ds, tmp_path / "data")
    write_coco_keypoint_results(preds, range(len(ds)), tmp_path / "results.json")
    a = evaluate(ds, preds, iou_types=("keypoints",))["keypoints"]
    b = evaluate_coco(ann_path, tmp_path / "results.json", iou_types=("keypoints",))["keypoints"]
    np.testing.assert_allclose(a.precision, b.precision, atol=1e-9)
    assert a.stats == pytest.approx(b.stats, abs=1e-9)


def test_bad_keypoint_inputs(tmp_path):
    ds = KeypointsDataset(3, seed=0)
    preds = noisy_predictions(ds, 0, drop=0, extra=0)
    with pytest.raises(ValueError, match=r"predictions\[1\].*keypoints"):
        evaluate(ds, [preds[0], {k: v for k, v in preds[1].items() if k != "keypoints"}, preds[2]],
                 iou_types="keypoints")
    with pytest.raises(ValueError, match=r"predictions\[0\].*\(\d+, 9, 3\)"):
        evaluate(ds, [{**preds[0], "keypoints": preds[0]["keypoints"][:, :5]}, *preds[1:]], iou_types="keypoints")
    with pytest.raises(ValueError, match="keypoint_sigmas"):
        evaluate(ds, preds, iou_types="keypoints", keypoint_sigmas=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"samples\[0\].*keypoints"):
        evaluate([{k: v for k, v in s.items() if k != "keypoints"} for s in ds], preds, iou_types="keypoints")

    ann_path = write_coco_keypoints_dataset(ds, tmp_path / "data")
    results = write_coco_keypoint_results(preds, range(3), tmp_path / "r.json")
    data = json.loads(ann_path.read_text())
    data["annotations"][0]["num_keypoints"] += 1
    with pytest.raises(ValueError, match="annotation id 1.*num_keypoints"):
        evaluate_coco(data, results, iou_types="keypoints")
    data = json.loads(ann_path.read_text())
    for c in data["categories"]:
        del c["keypoints"]
    with pytest.raises(ValueError, match="'keypoints' names"):
        evaluate_coco(data, results, iou_types="keypoints")
    results[1]["keypoints"] = results[1]["keypoints"][:-3]
    with pytest.raises(ValueError, match="result 1.*27 numbers"):
        evaluate_coco(ann_path, results, iou_types="keypoints")
