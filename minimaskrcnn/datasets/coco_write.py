"""Writing COCO files: a dataset folder, and detection results (format: see ``coco.py``).

``write_coco_dataset(dataset_or_samples, out_dir, class_names=None) -> Path``
``coco_results(predictions, image_ids, category_ids=None) -> list[dict]``
``write_coco_results(predictions, image_ids, path, category_ids=None) -> list[dict]``
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from minimaskrcnn import checks
from minimaskrcnn.datasets import rle

ANNOTATIONS_FILE, IMAGES_DIR = "annotations.json", "images"


def xyxy_to_xywh(boxes) -> np.ndarray:
    """(K, 4) (x1, y1, x2, y2) -> (K, 4) float64 COCO (x, y, width, height)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


# ---------------------------------------------------------------------------


def write_coco_dataset(dataset_or_samples, out_dir, class_names=None) -> Path:
    """Write samples as OUT/images/<image_id>.png + OUT/annotations.json; returns the JSON path.

    class_names: names of labels 1..K (default: ``dataset.class_names``); category
    ids are the labels (0 is background and never written). Masks are stored as compressed RLE, areas as mask pixel
    counts, boxes as COCO [x, y, w, h] of the samples' boxes.
    """
    if class_names is None:
        class_names = getattr(dataset_or_samples, "class_names", None)
    if class_names is None:
        raise ValueError("class_names: required when the samples carry no .class_names")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out_dir: {out_dir} exists and is not a directory")
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    images, annotations, seen = [], [], set()
    for i, sample in enumerate(dataset_or_samples):
        image_id = int(sample.get("image_id", i))
        if image_id in seen:
            raise ValueError(f"samples: image_id {image_id} appears twice")
        seen.add(image_id)
        checks.mapping(f"samples[{i}]", sample, ("image", "masks", "labels", "boxes"))
        image = np.asarray(sample["image"])
        masks = checks.binary_masks(f"samples[{i}]['masks']", sample["masks"])
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"samples[{i}]['image']: expected a uint8 (H, W, 3) image, got "
                             f"{checks.describe(image)}")
        H, W = image.shape[:2]
        labels = np.asarray(sample["labels"])
        bad_labels = len(labels) and not 1 <= labels.min() <= labels.max() <= len(class_names)
        if masks.shape != (len(labels), H, W) or bad_labels:
            raise ValueError(f"samples[{i}]: expected masks (K, {H}, {W}) and labels in 1..{len(class_names)}, "
                             f"got masks {masks.shape} and labels {labels.tolist()}")
        file_name = f"{image_id:06d}.png"
        Image.fromarray(image).save(out_dir / IMAGES_DIR / file_name)
        images.append({"id": image_id, "file_name": file_name, "height": H, "width": W})
        crowd = np.asarray(sample.get("iscrowd", np.zeros(len(labels), bool)), dtype=bool)
        for k, (seg, box) in enumerate(zip(rle.encode_many(masks), xyxy_to_xywh(sample["boxes"]))):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": int(labels[k]), "segmentation": seg,
                                "area": int(masks[k].sum()), "bbox": box.tolist(),
                                "iscrowd": int(crowd[k])})
    categories = [{"id": label, "name": name, "supercategory": "object"}
                  for label, name in enumerate(class_names, start=1)]
    path = out_dir / ANNOTATIONS_FILE
    with open(path, "w") as f:
        json.dump({"info": {"description": "written by minimaskrcnn"}, "images": images,
                   "annotations": annotations, "categories": categories}, f)
    return path


def check_prediction(pred, i: int, need_masks: bool = False, image_shape=None) -> dict:
    """Validate one prediction dict; returns arrays (boxes float64, labels int64, scores float64[, masks]).

    labels are 1..K (0 is background and never a detection).
    """
    if not isinstance(pred, Mapping):
        raise TypeError(f"predictions[{i}]: expected a dict, got {type(pred).__name__}")
    for key in ("boxes", "labels", "scores"):
        if key not in pred:
            raise ValueError(f"predictions[{i}]: missing '{key}'")
    boxes = np.asarray(pred["boxes"], dtype=np.float64)
    labels, scores = np.asarray(pred["labels"]).reshape(-1), np.asarray(pred["scores"], dtype=np.float64)
    D = len(labels)
    if D == 0:  # accept [] or any empty array for "no detections"
        boxes, scores = boxes.reshape(0, 4), scores.reshape(0)
    if boxes.shape != (D, 4) or scores.shape != (D,) or labels.ndim != 1:
        raise ValueError(f"predictions[{i}]: expected boxes (D, 4), labels (D,), scores (D,), "
                         f"got {boxes.shape}, {labels.shape}, {scores.shape}")
    if D and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 1):
        raise ValueError(f"predictions[{i}]: labels must be integers >= 1 (0 is background), got {labels[:5]}")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise ValueError(f"predictions[{i}]: boxes and scores must be finite")
    out = {"boxes": boxes, "labels": labels.astype(np.int64), "scores": scores}
    if need_masks or pred.get("masks") is not None:
        if pred.get("masks") is None:
            raise ValueError(f"predictions[{i}]: missing 'masks' (needed for segm)")
        masks = np.asarray(pred["masks"])
        if D == 0 and masks.size == 0 and image_shape is not None:
            masks = np.zeros((0, *image_shape), dtype=bool)
        if masks.ndim != 3 or len(masks) != D or masks.dtype != bool \
                or (image_shape is not None and masks.shape[1:] != tuple(image_shape)):
            raise ValueError(f"predictions[{i}]: masks must be bool (D, H, W) = ({D}, *{image_shape}), "
                             f"got {masks.dtype} {masks.shape}")
        out["masks"] = masks
    return out


def _category_id(category_ids, label: int) -> int:
    if category_ids is None:
        return int(label)
    if isinstance(category_ids, Mapping):
        return int(category_ids[label])
    return int(category_ids[label - 1])


def coco_results(predictions, image_ids, category_ids=None) -> list[dict]:
    """COCO results list from per-image predictions.

    predictions[i] = {"boxes" (D, 4) x1y1x2y2, "labels" (D,) in 1..K (0 = background),
    "scores" (D,), "masks" (D, H, W) bool (optional)} for image ``image_ids[i]``.
    category_ids: label -> COCO id, a dict ``{label: id}`` or a sequence (index
    label - 1); default: the label itself.
    """
    predictions, image_ids = list(predictions), list(image_ids)
    if len(predictions) != len(image_ids):
        raise ValueError(f"predictions, image_ids: lengths differ ({len(predictions)} vs {len(image_ids)})")
    results = []
    for i, (pred, image_id) in enumerate(zip(predictions, image_ids)):
        if not checks.is_int(image_id):
            raise ValueError(f"image_ids[{i}]: expected an integer, got {checks.describe(image_id)}")
        p = check_prediction(pred, i)
        segs = rle.encode_many(p["masks"]) if "masks" in p else [None] * len(p["labels"])
        for box, label, score, seg in zip(xyxy_to_xywh(p["boxes"]).tolist(), p["labels"], p["scores"], segs):
            try:
                result = {"image_id": int(image_id), "category_id": _category_id(category_ids, label),
                          "bbox": box, "score": float(score)}
            except (KeyError, IndexError):
                raise ValueError(f"predictions[{i}]: label {label} has no entry in category_ids") from None
            if seg is not None:
                result["segmentation"] = seg
            results.append(result)
    return results


def write_coco_results(predictions, image_ids, path, category_ids=None) -> list[dict]:
    """Write ``coco_results(predictions, image_ids, category_ids)`` to a JSON file; returns the list."""
    results = coco_results(predictions, image_ids, category_ids)
    with open(path, "w") as f:
        json.dump(results, f)
    return results
