"""COCO-style evaluation of boxes ("bbox"), masks ("segm") and keypoints ("keypoints"), from scratch.

The numbers agree with pycocotools' COCOeval (to floating-point round-off, in
practice bit for bit): IoU thresholds 0.50:0.05:0.95, 101 recall points,
monotone precision envelope, maxDets 1/10/100 per image and category, inclusive
area ranges small/medium/large (32**2, 96**2), crowd regions, stable score
sort, -1 where a figure is undefined.

Public API
----------
``evaluate(dataset, predictions, iou_types=("bbox", "segm"), class_names=None)``
    In memory. dataset: iterable of samples (dicts with "image", "boxes",
    "labels", "masks", "iscrowd", "image_id"); predictions: one dict per sample,
    {"boxes" (D, 4) x1y1x2y2, "labels" (D,) in 1..K (0 = background),
    "scores" (D,), "masks" (D, H, W) bool (needed for "segm")}.
    Returns {iou_type: EvalResult}.

``evaluate_coco(annotations, results, iou_types=("bbox", "segm"))``
    From COCO JSON: annotations = path / directory / dict, results = path or
    list of {"image_id", "category_id", "score", "bbox" [x, y, w, h],
    "segmentation" (RLE or polygons)}. Returns {iou_type: EvalResult}.

``EvalResult``
    .stats -> {"AP", "AP50", "AP75", "APs", "APm", "APl",
               "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"} (floats, -1 = undefined)
    .per_class_ap -> {class name: AP}; .per_class() -> {name: {"AP", "AP50", "AP75"}}
    .average_precision(iou=None, area="all", max_dets=100, category=None)
    .average_recall(iou=None, area="all", max_dets=100, category=None)
    .precision (T=10, R=101, K, A=4, M=3); .recall (T, K, A, M); .scores (T, R, K, A, M)
    .iou_thresholds, .recall_thresholds, .area_ranges, .max_dets, .class_names, .category_ids
    .summary() -> str (plain-text table); .plot_precision_recall(...) -> Figure; .to_dict()

``plot_precision_recall(result, category=None, iou_thresholds=(0.5, 0.75, None), area="all",
max_dets=100, ax=None) -> Figure``;  ``format_summary(result) -> str``

Keypoints (``keypoints.py``): ``iou_types=("keypoints",)`` scores with OKS
(object keypoint similarity) instead of IoU, with per-keypoint sigmas
(``keypoint_sigmas=``, the dataset's ``keypoint_sigmas``, or COCO's for its 17
person keypoints), 20 detections per image and ten figures
``KEYPOINT_STAT_KEYS``; ``oks_naive`` / ``oks_pairs`` compute OKS.

Building blocks, for reading and teaching: ``box_iou`` (iou.py), ``match_naive``
(matching.py), ``Instances`` + ``evaluate_instances`` + ``accumulate`` (cocoeval.py).
Example::

    results = evaluate(dataset, predictions)
    print(results["segm"].summary())
    results["bbox"].stats["AP50"]
"""
from minimaskrcnn.evaluation.api import evaluate, evaluate_coco
from minimaskrcnn.evaluation.cocoeval import (AREA_RANGES, IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS,
                                              Instances, accumulate, evaluate_instances)
from minimaskrcnn.evaluation.iou import box_iou
from minimaskrcnn.evaluation.keypoints import COCO_PERSON_SIGMAS, oks_naive, oks_pairs
from minimaskrcnn.evaluation.matching import evaluate_block_naive, match_naive
from minimaskrcnn.evaluation.result import EvalResult
from minimaskrcnn.evaluation.summary import format_summary, plot_precision_recall

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
KEYPOINT_STAT_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
