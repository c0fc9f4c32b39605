"""Entry points: evaluate samples + predictions in memory, or COCO JSON files.

Both build the flat ``Instances`` tables of ``cocoeval.py`` and run the same
protocol, so for the same data they give the same numbers.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from minimaskrcnn import checks
from minimaskrcnn.datasets import rle
from minimaskrcnn.datasets.coco import (CocoAnnotations, CocoDataset, check_prediction, coco_results,
                                        load_annotations, read_json, segmentations_to_counts, xyxy_to_xywh)
from minimaskrcnn.datasets.rle_iou import areas_from_counts, bboxes_from_counts
from minimaskrcnn.evaluation.cocoeval import Instances, evaluate_instances
from minimaskrcnn.evaluation.keypoints import keypoint_extent_areas, keypoint_table, resolve_sigmas
from minimaskrcnn.evaluation.result import EvalResult

IOU_TYPES = ("bbox", "segm")  # the default
ALL_IOU_TYPES = ("bbox", "segm", "keypoints")


def _check_iou_types(iou_types) -> tuple[str, ...]:
    if isinstance(iou_types, str):
        iou_types = (iou_types,)
    iou_types = tuple(iou_types)
    if not iou_types or any(t not in ALL_IOU_TYPES for t in iou_types):
        raise ValueError(f"iou_types: expected a non-empty subset of {ALL_IOU_TYPES}, got {iou_types}")
    return iou_types


def _keypoints(array, rows: int, num_keypoints, what: str) -> np.ndarray:
    """Check an (rows, K, 3) keypoint array (K = num_keypoints, or any K when None)."""
    kp = np.asarray(array, dtype=np.float64) if array is not None else None
    if kp is not None and rows == 0 and kp.size == 0:
        kp = kp.reshape(0, num_keypoints or 0, 3)
    if kp is None or kp.ndim != 3 or kp.shape[0] != rows or kp.shape[2] != 3 \
            or (num_keypoints is not None and kp.shape[1] != num_keypoints) or not np.isfinite(kp).all():
        raise ValueError(f"{what}: expected finite keypoints of shape ({rows}, {num_keypoints or 'K'}, 3), "
                         f"got {None if kp is None else kp.shape} (needed for iou_types 'keypoints')")
    return kp


def _concat_counts(pieces):
    """Join per-image (counts, offsets) pairs into one (counts, offsets)."""
    counts = np.concatenate([c for c, _ in pieces]) if pieces else np.zeros(0, np.uint32)
    lengths = np.concatenate([np.diff(o) for _, o in pieces]) if pieces else np.zeros(0, np.int64)
    return counts.astype(np.uint32), np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _check_sample(sample, i: int, need_masks: bool):
    """One ground-truth sample -> (image_id, (H, W), labels (G,), boxes (G, 4), masks (G, H, W) or None, crowd)."""
    name = f"samples[{i}]"
    checks.mapping(name, sample, ("image", "boxes", "labels"))
    image_id = sample.get("image_id", i)
    if not checks.is_int(image_id):
        raise ValueError(f"{name}['image_id']: expected an integer, got {checks.describe(image_id)}")
    image = np.asarray(sample["image"])
    if image.ndim not in (2, 3):
        raise ValueError(f"{name}['image']: expected (H, W, 3), got shape {image.shape}")
    H, W = image.shape[:2]
    labels = checks.real_array(f"{name}['labels']", sample["labels"]).reshape(-1)
    if labels.size and not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"{name}['labels']: expected integer labels, got {labels.tolist()[:5]}")
    G = len(labels)
    boxes = checks.real_array(f"{name}['boxes']", sample["boxes"], finite=True).astype(np.float64)
    boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
    if boxes.shape != (G, 4) or (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{name}['boxes']: expected ({G}, 4) rows (x1, y1, x2, y2) with x2 >= x1 and "
                         f"y2 >= y1, got shape {boxes.shape}")
    masks = sample.get("masks")
    if need_masks and masks is None:
        raise ValueError(f"samples[{i}]: no 'masks' (needed for segm)")
    if masks is not None:
        masks = checks.binary_masks(f"{name}['masks']", masks)
        masks = masks.reshape(0, H, W) if masks.size == 0 else masks
        if masks.shape != (G, H, W):
            raise ValueError(f"{name}['masks']: expected shape {(G, H, W)}, got {masks.shape}")
    crowd = checks.binary_masks(f"{name}['iscrowd']", sample.get("iscrowd", np.zeros(G, bool))).reshape(-1)
    if crowd.shape != (G,):
        raise ValueError(f"{name}['iscrowd']: expected shape ({G},), got {crowd.shape}")
    return int(image_id), (H, W), labels.astype(np.int64), boxes, masks, crowd


def evaluate(dataset, predictions, iou_types=IOU_TYPES, class_names=None,
             keypoint_sigmas=None) -> dict[str, EvalResult]:
    """COCO evaluation of predictions against samples, in memory.

    dataset: samples (any iterable of sample dicts: ShapesDataset, CocoDataset, list).
    predictions: one dict per sample, in the same order: "boxes" (D, 4) x1y1x2y2,
    "labels" (D,) in 1..K (0 is background, never predicted), "scores" (D,), and
    "masks" (D, H, W) bool for "segm". May be a generator (masks are encoded to
    RLE image by image, so all predictions never need to sit in memory at once).
    class_names: names of labels 1..K (default: ``dataset.class_names``).
    "keypoints" needs samples with "keypoints" (G, K, 3) [x, y, v], predictions
    with "keypoints" (D, K, 3) [x, y, score], and OKS sigmas: ``keypoint_sigmas``,
    else ``dataset.keypoint_sigmas``, else COCO's when K = 17 (see ``keypoints.py``).
    Returns {iou_type: EvalResult}.

    One semantics, pycocotools': the numbers are those ``evaluate_coco`` (and
    pycocotools' COCOeval) give for the same detections written with
    ``coco_results`` against the dataset written with ``write_coco_dataset``.
    Object sizes (the APs/APm/APl ranges): a ground truth's area is its mask
    pixel count (what ``write_coco_dataset`` stores); a detection's area is its
    box's w * h, for "segm" too, since pycocotools' ``loadRes`` sizes every
    result that has a bbox (ours always do) by its box, and by its mask only
    when it has none. A ``CocoDataset`` is scored against its own annotations
    file (``evaluate_coco``), so the file's "area" (e.g. a polygon's area),
    boxes and every annotation count exactly as in pycocotools; keypoints are
    then still scored here, in memory.
    """
    iou_types = _check_iou_types(iou_types)
    if isinstance(dataset, CocoDataset) and set(iou_types) & {"bbox", "segm"}:
        return _evaluate_coco_dataset(dataset, predictions, iou_types, keypoint_sigmas)
    need_masks, need_keypoints = "segm" in iou_types, "keypoints" in iou_types
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
    gt_rows, dt_rows, gt_rle, dt_rle, image_ids = [], [], [], [], []
    gt_kp, dt_kp, num_keypoints = [], [], None
    predictions = iter(predictions)
    for i, sample in enumerate(dataset):
        try:
            pred = next(predictions)
        except StopIteration:
            raise ValueError(f"predictions: fewer predictions than samples (ran out at {i})") from None
        image_id, (H, W), labels, boxes, masks, crowd = _check_sample(sample, i, need_masks)
        image_ids.append(image_id)
        gt_box = xyxy_to_xywh(boxes)
        gt_area = (masks.reshape(len(labels), H * W).sum(axis=1).astype(np.float64)  # G may be 0
                   if masks is not None else gt_box[:, 2] * gt_box[:, 3])
        gt_rows.append((np.full(len(labels), image_id), labels, gt_area, gt_box, crowd))
        p = check_prediction(pred, i, need_masks=need_masks, image_shape=(H, W))
        dt_box = xyxy_to_xywh(p["boxes"])
        dt_rows.append((np.full(len(p["labels"]), image_id), p["labels"], p["scores"], dt_box))
        if need_masks:
            gt_rle.append(rle.encode_counts_batch(masks))
            dt_rle.append(rle.encode_counts_batch(p["masks"]))
        if need_keypoints:
            gt_kp.append(_keypoints(sample.get("keypoints"), len(labels), num_keypoints, f"samples[{i}]"))
            num_keypoints = gt_kp[-1].shape[1]
            dt_kp.append(_keypoints(pred.get("keypoints"), len(p["labels"]), num_keypoints, f"predictions[{i}]"))
    if next(predictions, None) is not None:
        raise ValueError("predictions: more predictions than samples")
    if len(set(image_ids)) != len(image_ids):
        raise ValueError("dataset: image_id values must be unique")

    cat = lambda rows, j, dtype, shape=(0,): (np.concatenate([r[j] for r in rows]).astype(dtype)  # noqa: E731
                                              if rows else np.zeros(shape, dtype))
    labels_seen = np.concatenate([cat(gt_rows, 1, np.int64), cat(dt_rows, 1, np.int64)])
    if class_names is None:
        num_classes = int(labels_seen.max()) if labels_seen.size else 0
        class_names = [f"class {k}" for k in range(1, num_classes + 1)]
    class_names = list(class_names)
    if labels_seen.size and (labels_seen.min() < 1 or labels_seen.max() > len(class_names)):
        raise ValueError(f"labels must lie in 1..{len(class_names)} (one per class name; 0 is "
                         f"background), got {labels_seen.min()}..{labels_seen.max()}")
    gt = Instances(image_id=cat(gt_rows, 0, np.int64), category_id=cat(gt_rows, 1, np.int64),
                   area=cat(gt_rows, 2, np.float64), bbox=cat(gt_rows, 3, np.float64, (0, 4)),
                   iscrowd=cat(gt_rows, 4, bool))
    gt.ann_id = np.arange(1, len(gt) + 1)
    dt_box = cat(dt_rows, 3, np.float64, (0, 4))
    dt = Instances(image_id=cat(dt_rows, 0, np.int64), category_id=cat(dt_rows, 1, np.int64),
                   area=dt_box[:, 2] * dt_box[:, 3], bbox=dt_box, score=cat(dt_rows, 2, np.float64))
    if need_masks:
        gt.counts, gt.offsets = _concat_counts(gt_rle)
        dt.counts, dt.offsets = _concat_counts(dt_rle)
    sigmas = None
    if need_keypoints:
        K = num_keypoints or 0
        gt.keypoints = np.concatenate(gt_kp) if gt_kp else np.zeros((0, K, 3))
        dt.keypoints = np.concatenate(dt_kp) if dt_kp else np.zeros((0, K, 3))
        sigmas = resolve_sigmas(keypoint_sigmas, K, dataset)
    category_ids = list(range(1, len(class_names) + 1))
    results = {}
    for iou_type in iou_types:  # detection areas: box areas, for segm too (see the docstring)
        results[iou_type] = evaluate_instances(gt, dt, image_ids, category_ids, iou_type, class_names, sigmas)
    return results


def _evaluate_coco_dataset(dataset, predictions, iou_types, keypoint_sigmas) -> dict[str, EvalResult]:
    """``evaluate`` on a CocoDataset: bbox and segm against its annotations file, as pycocotools would."""
    predictions = list(predictions)
    if len(predictions) != len(dataset):
        raise ValueError(f"predictions: expected one per image of {dataset.annotations_path} ({len(dataset)}), "
                         f"got {len(predictions)}")
    need_masks = "segm" in iou_types
    checked = [check_prediction(p, i, need_masks, image_shape=(img["height"], img["width"]))
               for i, (p, img) in enumerate(zip(predictions, dataset.index.images))]
    results = coco_results(checked, dataset.image_ids, dataset.category_ids)
    coco_types = tuple(t for t in iou_types if t != "keypoints")
    out = evaluate_coco(dataset.index, results, coco_types)
    if "keypoints" in iou_types:
        out.update(evaluate(list(dataset), predictions, ("keypoints",), dataset.class_names,
                            keypoint_sigmas if keypoint_sigmas is not None else
                            getattr(dataset, "keypoint_sigmas", None)))
    return {t: out[t] for t in iou_types}


def _num_keypoints(index) -> int:
    """K: the length of the categories' ``keypoints`` name lists (which must agree)."""
    lengths = {len(c["keypoints"]) for c in index.categories if c.get("keypoints")}
    if len(lengths) != 1:
        raise ValueError(f"{index.source}: keypoints evaluation needs categories with 'keypoints' names "
                         f"(all of one length), got lengths {sorted(lengths)}")
    return lengths.pop()


def _gt_from_coco(index, need_masks: bool) -> Instances:
    anns = index.annotations
    sizes = [(index.image_by_id[a["image_id"]]["height"], index.image_by_id[a["image_id"]]["width"]) for a in anns]
    gt = Instances(image_id=np.array([a["image_id"] for a in anns], np.int64),
                   category_id=np.array([a["category_id"] for a in anns], np.int64),
                   area=np.zeros(len(anns)), bbox=np.zeros((len(anns), 4)),
                   iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in anns], bool),
                   ann_id=np.array([a["id"] for a in anns], np.int64))
    if need_masks:
        for a in anns:
            if a.get("segmentation") is None:
                raise ValueError(f"{index.where(a)}: no 'segmentation' (needed for segm)")
    # masks are needed for segm, and for any 'area' or 'bbox' missing from the file
    with_seg = [i for i, a in enumerate(anns) if a.get("segmentation") is not None
                and (need_masks or "area" not in a or a.get("bbox") is None)]
    counts, offsets = segmentations_to_counts([anns[i]["segmentation"] for i in with_seg],
                                              [sizes[i][0] for i in with_seg], [sizes[i][1] for i in with_seg],
                                              lambda j: index.where(anns[with_seg[j]]))
    seg_area = areas_from_counts(counts, offsets)
    seg_box = bboxes_from_counts(counts, offsets, [sizes[i][0] for i in with_seg])
    row_of = {i: j for j, i in enumerate(with_seg)}
    for i, a in enumerate(anns):  # COCO takes 'area' and 'bbox' from the file when present
        j = row_of.get(i)
        gt.bbox[i] = a["bbox"] if a.get("bbox") is not None else seg_box[j]
        gt.area[i] = a["area"] if "area" in a else (seg_area[j] if j is not None else gt.bbox[i, 2] * gt.bbox[i, 3])
    if need_masks:
        gt.counts, gt.offsets = counts, offsets
    return gt


def _dt_from_coco(results, index, name: str, need_masks: bool, num_keypoints=None) -> Instances:
    """Detections as pycocotools' loadRes reads them (see ``evaluate_coco``)."""
    if not isinstance(results, list):
        raise ValueError(f"{name}: expected a JSON list of detections, got a {type(results).__name__}")
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            raise ValueError(f"{name}: result {i} is not an object")
        for key in ("image_id", "category_id", "score"):
            if key not in r:
                raise ValueError(f"{name}: result {i}: missing '{key}'")
        for key in ("image_id", "category_id"):
            if not checks.is_int(r[key]):
                hint = (" (a file name: `predict` writes the IMAGE paths when the images are not in a COCO "
                        "folder; give it --data DIR to write that folder's image ids)"
                        if key == "image_id" and isinstance(r[key], str) else "")
                raise ValueError(f"{name}: result {i}: '{key}' must be an integer, got "
                                 f"{checks.describe(r[key])}{hint}")
        if r["image_id"] not in index.image_by_id:
            raise ValueError(f"{name}: result {i}: image id {r['image_id']} is not in the annotations"
                             + _unknown_images_note(results, index))
        if not checks.is_number(r["score"]):
            raise ValueError(f"{name}: result {i} (image id {r['image_id']}): 'score' must be a finite number, "
                             f"got {checks.describe(r['score'])}")
        bbox = r.get("bbox")
        if bbox is not None and bbox != [] and (not isinstance(bbox, (list, tuple)) or len(bbox) != 4 or not all(
                checks.is_number(v) for v in bbox) or bbox[2] < 0 or bbox[3] < 0):
            raise ValueError(f"{name}: result {i} (image id {r['image_id']}): 'bbox' must be [x, y, w, h] of finite "
                             f"numbers with w, h >= 0, got {checks.describe(bbox)}")
    box_mode = bool(results) and bool(results[0].get("bbox"))  # decided by the first result, like loadRes
    keypoint_mode = bool(results) and not box_mode and "segmentation" not in results[0] \
        and "keypoints" in results[0]
    if results and not box_mode and not keypoint_mode and "segmentation" not in results[0]:
        raise ValueError(f"{name}: result 0 has neither 'bbox' nor 'segmentation' nor 'keypoints'")
    field = "bbox" if box_mode else "keypoints" if keypoint_mode else "segmentation"
    for i, r in enumerate(results):
        if r.get(field) is None:
            raise ValueError(f"{name}: result {i} (image id {r['image_id']}): missing '{field}' "
                             f"(result 0 has one, so every result needs one)")
        if box_mode and len(r["bbox"]) != 4:
            raise ValueError(f"{name}: result {i} (image id {r['image_id']}): 'bbox' must be [x, y, w, h]")
    sizes = [(index.image_by_id[r["image_id"]]["height"], index.image_by_id[r["image_id"]]["width"]) for r in results]
    where = lambda i: f"{name}: result {i} (image id {results[i]['image_id']})"  # noqa: E731
    dt = Instances(image_id=np.array([r["image_id"] for r in results], np.int64),
                   category_id=np.array([r["category_id"] for r in results], np.int64),
                   area=np.zeros(len(results)), bbox=np.zeros((len(results), 4)),
                   score=np.array([r["score"] for r in results], np.float64))
    if box_mode:
        dt.bbox[:] = [r["bbox"] for r in results] if results else np.zeros((0, 4))
        dt.area = dt.bbox[:, 2] * dt.bbox[:, 3]
    if num_keypoints is not None or keypoint_mode:
        K = num_keypoints if num_keypoints is not None else len(results[0]["keypoints"]) // 3
        dt.keypoints = keypoint_table(results, K, where, ground_truth=False)
    if keypoint_mode:  # loadRes: area and box of the keypoints' extent
        dt.area = keypoint_extent_areas(dt.keypoints)
        lo, hi = dt.keypoints[:, :, :2].min(axis=1), dt.keypoints[:, :, :2].max(axis=1)
        dt.bbox = np.concatenate([lo, hi - lo], axis=1)
    if need_masks or not (box_mode or keypoint_mode):
        def segmentation(r):
            if r.get("segmentation") is not None:
                return r["segmentation"]
            x, y, w, h = r["bbox"]  # a box-only result is a rectangle polygon, as in loadRes
            return [[x, y, x, y + h, x + w, y + h, x + w, y]]
        dt.counts, dt.offsets = segmentations_to_counts([segmentation(r) for r in results],
                                                        [s[0] for s in sizes], [s[1] for s in sizes], where)
    if not (box_mode or keypoint_mode):
        dt.area = areas_from_counts(dt.counts, dt.offsets).astype(np.float64)
        computed = bboxes_from_counts(dt.counts, dt.offsets, [s[0] for s in sizes])
        for i, r in enumerate(results):
            dt.bbox[i] = r["bbox"] if r.get("bbox") is not None else computed[i]
    return dt


def _id_list(ids, limit: int = 10) -> str:
    ids = sorted(ids)
    return ", ".join(map(str, ids[:limit])) + (f" ... ({len(ids)} in all)" if len(ids) > limit else "")


def _unknown_images_note(results, index) -> str:
    """All the image ids of ``results`` the annotations do not have, named (for the error message)."""
    unknown = {r.get("image_id") for r in results if isinstance(r, dict) and checks.is_int(r.get("image_id"))
               and r["image_id"] not in index.image_by_id}
    count = sum(1 for r in results if isinstance(r, dict) and r.get("image_id") in unknown)
    return (f" ({count} results name {len(unknown)} image ids it does not have: {_id_list(unknown)}; its image "
            f"ids: {_id_list(index.image_by_id)}. `predict --data DIR` writes a COCO folder's image ids)")


class UnknownCategoryWarning(UserWarning):
    """Results name category ids the annotations do not have: they are left out of the score."""


def warn_unknown_categories(results, index, name: str) -> None:
    """Warn, naming them, about result category ids that ``index`` lacks (COCO ignores such results)."""
    known = set(index.category_ids)
    unknown = {r["category_id"] for r in results if r["category_id"] not in known}
    if not unknown:
        return
    count = sum(1 for r in results if r["category_id"] in unknown)
    hint = ""
    if unknown <= set(range(1, len(known) + 1)) and known != set(range(1, len(known) + 1)):
        hint = (" They look like model labels 1..K: a checkpoint trained on this dataset stores its "
                "category ids, and `predict` / `evaluate` write them")
    warnings.warn(f"{name}: {count} of {len(results)} results have category ids that are not in the annotations: "
                  f"{_id_list(unknown)} (the annotations have {_id_list(known)}); they are left out of the "
                  f"score, as pycocotools does.{hint}", UnknownCategoryWarning, stacklevel=3)


def evaluate_coco(annotations, results, iou_types=IOU_TYPES, keypoint_sigmas=None) -> dict[str, EvalResult]:
    """COCO evaluation of a results list against an annotations file, like pycocotools.

    annotations: path to a COCO annotations JSON (or a directory holding
    annotations.json), or the parsed dict. results: path to a results JSON or
    the parsed list ``[{"image_id", "category_id", "score", "bbox" and/or
    "segmentation"}, ...]``. Returns {iou_type: EvalResult}.

    Every image of the annotations file and every category is evaluated.
    Results are read as pycocotools' ``loadRes`` reads them: if the *first*
    result has a "bbox", detection areas are box areas (also for "segm") and a
    result without "segmentation" counts as its box; otherwise areas and boxes
    come from the masks. Results of unknown categories are ignored, as pycocotools
    does, with an ``UnknownCategoryWarning`` naming them; results of unknown
    images (all named in the message), malformed entries and an empty list are
    handled with an error / COCO's defined values rather than pycocotools' crash.
    ``annotations`` may also be an already loaded ``CocoAnnotations``.

    "keypoints": annotations and results carry flat ``keypoints`` lists (see
    ``datasets/coco_keypoints.py``), compared as stored. OKS sigmas:
    ``keypoint_sigmas``, else the category's ``keypoint_sigmas`` field (written
    by our writer), else COCO's for its 17 person keypoints. Results with
    neither "bbox" nor "segmentation" take area and box from their keypoints.
    """
    iou_types = _check_iou_types(iou_types)
    index = annotations if isinstance(annotations, CocoAnnotations) else load_annotations(annotations)
    name = str(results) if isinstance(results, (str, os.PathLike)) else "<results list>"
    results = read_json(results, "results")
    need_masks = "segm" in iou_types
    gt = _gt_from_coco(index, need_masks)
    K, sigmas = None, None
    if "keypoints" in iou_types:
        K = _num_keypoints(index)
        stored = next((c.get("keypoint_sigmas") for c in index.categories if c.get("keypoints")), None)
        sigmas = resolve_sigmas(keypoint_sigmas if keypoint_sigmas is not None else stored, K)
        gt.keypoints = keypoint_table(index.annotations, K, lambda i: index.where(index.annotations[i]),
                                      ground_truth=True)
    dt = _dt_from_coco(results, index, name, need_masks, K)
    warn_unknown_categories(results, index, name)
    image_ids = [img["id"] for img in index.images]
    names = [c["name"] for c in index.categories]
    return {t: evaluate_instances(gt, dt, image_ids, index.category_ids, t, names, sigmas) for t in iou_types}
