"""Benchmark: COCO "segm" evaluation of 500 shapes images x 100 detections each.

Times three ways of evaluating the same detections:

1. ``evaluate_coco`` on COCO dicts (ground truth + results list with compressed
   RLE masks) - the same input pycocotools gets;
2. ``evaluate`` in memory, from dense (D, H, W) masks (includes RLE encoding;
   the time spent unpacking the stored masks is measured and subtracted);
3. pycocotools' COCO.loadRes + COCOeval.evaluate/accumulate/summarize, if installed.

Run:  python benchmarks/bench_eval.py [--images 500] [--dets 100]
Numba kernels are compiled (or loaded from cache) in a warm-up before timing.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import tempfile
import time

import numpy as np

from minimaskrcnn.datasets import ShapesDataset, coco_results, masks_to_boxes, write_coco_dataset
from minimaskrcnn.evaluation import STAT_KEYS, evaluate, evaluate_coco


def make_detections(sample, index: int, num_dets: int, num_classes: int):
    """num_dets detections: shifted copies of each object (some mislabelled) + shapes from elsewhere."""
    rng = np.random.default_rng([1, index])
    H, W = sample["image"].shape[:2]
    decoys = ShapesDataset(1, seed=2).generate(index)["masks"]  # shapes that are not in this image
    masks = np.zeros((num_dets, H, W), dtype=bool)
    labels = rng.integers(1, num_classes + 1, size=num_dets)
    for d in range(num_dets):
        if len(sample["masks"]) and rng.uniform() < 0.5:
            k = rng.integers(len(sample["masks"]))
            masks[d] = np.roll(sample["masks"][k], tuple(rng.integers(-4, 5, size=2)), axis=(0, 1))
            if rng.uniform() < 0.8:
                labels[d] = sample["labels"][k]
        elif len(decoys):
            masks[d] = decoys[rng.integers(len(decoys))]
    return {"boxes": masks_to_boxes(masks), "labels": labels, "scores": rng.uniform(size=num_dets),
            "masks": masks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500, help="number of shapes images (default 500)")
    parser.add_argument("--dets", type=int, default=100, help="detections per image (default 100)")
    args = parser.parse_args()

    print(f"building {args.images} images x {args.dets} detections ...", flush=True)
    dataset = ShapesDataset(args.images, seed=0)
    samples = list(dataset)
    packed, results = [], []
    for i, sample in enumerate(samples):
        pred = make_detections(sample, i, args.dets, dataset.num_classes)
        results += [{k: v for k, v in r.items() if k != "bbox"}  # segm results: areas from masks
                    for r in coco_results([pred], [sample["image_id"]])]
        packed.append({**pred, "masks": np.packbits(pred["masks"], axis=-1)})
    with tempfile.TemporaryDirectory() as tmp:
        with open(write_coco_dataset(samples, tmp, dataset.class_names)) as f:
            gt = json.load(f)

    def predictions():  # unpack the stored masks image by image
        for p in packed:
            yield {**p, "masks": np.unpackbits(p["masks"], axis=-1, count=128).astype(bool)}

    small_gt = {**gt, "images": gt["images"][:3], "annotations": [a for a in gt["annotations"] if a["image_id"] < 3]}
    evaluate_coco(small_gt, [r for r in results if r["image_id"] < 3], "segm")  # warm-up: compile / load kernels
    evaluate(samples[:3], list(predictions())[:3], "segm", dataset.class_names)

    t0 = time.perf_counter()
    ours_json = evaluate_coco(gt, results, "segm")["segm"]
    t_json = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in predictions():
        pass
    t_unpack = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours_mem = evaluate(samples, predictions(), "segm", dataset.class_names)["segm"]
    t_mem = time.perf_counter() - t0 - t_unpack

    print(f"detections: {len(results)}, ground truths: {len(gt['annotations'])}")
    print(f"minimaskrcnn evaluate_coco (COCO dicts, RLE strings): {t_json:7.2f} s")
    print(f"minimaskrcnn evaluate (dense masks, incl. RLE encode): {t_mem:7.2f} s"
          f"   (unpacking {t_unpack:.2f} s subtracted)")
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        print("pycocotools not installed: no comparison")
        return
    coco_results_bytes = copy.deepcopy(results)
    for r in coco_results_bytes:
        r["segmentation"]["counts"] = r["segmentation"]["counts"].encode()
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        t0 = time.perf_counter()
        coco_dt = coco_gt.loadRes(coco_results_bytes)
        E = COCOeval(coco_gt, coco_dt, "segm")
        E.evaluate()
        t_eval = time.perf_counter()
        E.accumulate()
        E.summarize()
        t_coco = time.perf_counter() - t0
    print(f"pycocotools loadRes+evaluate+accumulate+summarize:     {t_coco:7.2f} s"
          f"   (evaluate {t_eval - t0:.2f} s)")
    print(f"speed-up vs pycocotools: evaluate_coco {t_coco / t_json:.1f}x, evaluate {t_coco / t_mem:.1f}x")
    diff = max(abs(E.stats[i] - ours_json.stats[k]) for i, k in enumerate(STAT_KEYS))
    diff_mem = max(abs(E.stats[i] - ours_mem.stats[k]) for i, k in enumerate(STAT_KEYS))
    print(f"max |stat difference| vs pycocotools: {diff:.1e} (JSON), {diff_mem:.1e} (in memory); "
          f"max |precision difference|: {np.abs(E.eval['precision'] - ours_json.precision).max():.1e}")
    print(f"segm AP = {ours_json.stats['AP']:.4f}, AP50 = {ours_json.stats['AP50']:.4f}")


if __name__ == "__main__":
    main()
