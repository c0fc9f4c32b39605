"""COCO format: read any instance-segmentation dataset; write datasets and results.

On disk, a dataset is a folder::

    DIR/annotations.json
    DIR/images/<file_name>          (PNG, JPEG, ... anything Pillow reads)

and ``annotations.json`` holds three lists (COCO's "instances" format)::

    "images":      [{"id": 7, "file_name": "000007.png", "height": 128, "width": 128}, ...]
    "categories":  [{"id": 1, "name": "circle"}, ...]      ids need not be contiguous
    "annotations": [{"id": 1, "image_id": 7, "category_id": 1,
                     "segmentation": ..., "bbox": [x, y, w, h], "area": 412, "iscrowd": 0}, ...]

``segmentation`` is one of: polygons ``[[x1, y1, x2, y2, ...], ...]`` (parts of
one object), an uncompressed RLE ``{"size": [H, W], "counts": [ints]}`` (COCO
uses it for crowd regions), or a compressed RLE ``{"size": [H, W], "counts":
str}`` (see ``rle.py``). ``bbox`` is (x, y, width, height), not (x1, y1, x2, y2).

Category ids are mapped to contiguous labels 1..K in increasing id order (0 is
background): ``dataset.category_ids[label]`` gives the original id back.

A results file (what a detector outputs for COCO evaluation) is a list::

    [{"image_id": 7, "category_id": 1, "bbox": [x, y, w, h], "score": 0.93,
      "segmentation": {"size": [H, W], "counts": str}}, ...]     segmentation optional

Public API: ``CocoDataset(annotations_path, images_dir=None)``,
``write_coco_dataset(dataset_or_samples, out_dir, class_names=None)``,
``coco_results(predictions, image_ids, category_ids=None)``,
``write_coco_results(predictions, image_ids, path, category_ids=None)``,
``load_annotations(path_or_dict) -> CocoAnnotations`` (validated index), and
``segmentation_to_counts``/``xyxy_to_xywh`` helpers used by the evaluator.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minimaskrcnn import checks
from minimaskrcnn.datasets import rle
from minimaskrcnn.datasets.coco_write import (ANNOTATIONS_FILE, IMAGES_DIR, check_prediction,  # noqa: F401
                                              coco_results, write_coco_dataset, write_coco_results,
                                              xyxy_to_xywh)
from minimaskrcnn.datasets.images import read_rgb
from minimaskrcnn.datasets.polygon import _check_polygon, _polygon_kernel
from minimaskrcnn.datasets.shapes import masks_to_boxes


_is_int, _is_number = checks.is_int, checks.is_number  # JSON values: ints / finite numbers, never bools


def read_json(source, what: str):
    """Parse a JSON file (``what`` names it in errors); dicts and lists pass through."""
    if isinstance(source, (dict, list)):
        return source
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{what}: expected a JSON file, got the directory {path}")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (JSON) file") from None


# ---------------------------------------------------------------------------
# Validated index of an annotations file
# ---------------------------------------------------------------------------


@dataclass
class CocoAnnotations:
    """A checked COCO annotations file. ``source`` names it in error messages."""

    source: str
    images: list[dict]  # in file order
    categories: list[dict]  # sorted by id; label = position + 1
    annotations: list[dict]  # in file order
    image_by_id: dict = field(default_factory=dict)
    annotations_by_image: dict = field(default_factory=dict)  # image id -> [ann, ...] in file order

    @property
    def category_ids(self) -> list[int]:
        return [c["id"] for c in self.categories]

    def where(self, ann: dict) -> str:
        return f"{self.source}: annotation id {ann.get('id')} (image id {ann.get('image_id')})"


def load_annotations(source, require_segmentation: bool = False) -> CocoAnnotations:
    """Read and check a COCO annotations file (path, DIR containing annotations.json, or dict).

    Raises ValueError naming the file and the image/annotation id on: missing
    keys, duplicate ids, unknown image or category id, bad bbox/area/iscrowd,
    malformed segmentation (bad polygon, RLE whose size disagrees with its image).
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        source = Path(source) / ANNOTATIONS_FILE
    name = "<annotations dict>" if isinstance(source, dict) else str(source)
    data = read_json(source, "annotations")
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object with 'images', 'annotations' and "
                         f"'categories', got a {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ValueError(f"{name}: missing key '{key}' (a list)" if key not in data
                             else f"{name}: '{key}' must be a list")
    index = CocoAnnotations(name, data["images"], [], data["annotations"])

    for img in data["images"]:
        if not isinstance(img, dict) or not _is_int(img.get("id")):
            raise ValueError(f"{name}: every image needs an integer 'id', got {img!r:.80}")
        for key in ("height", "width"):
            if not _is_int(img.get(key)) or img[key] <= 0:
                raise ValueError(f"{name}: image id {img['id']}: '{key}' must be a positive int, "
                                 f"got {img.get(key)!r}")
        checks.image_size(f"{name}: image id {img['id']}", img["height"], img["width"])
        if img["id"] in index.image_by_id:
            raise ValueError(f"{name}: image id {img['id']} appears twice")
        index.image_by_id[img["id"]] = img
        index.annotations_by_image[img["id"]] = []

    for cat in data["categories"]:
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise ValueError(f"{name}: every category needs an integer 'id' and a 'name', got {cat!r:.80}")
    index.categories = sorted(data["categories"], key=lambda c: c["id"])
    known_categories = set(index.category_ids)
    if len(known_categories) != len(index.categories):
        raise ValueError(f"{name}: category ids must be unique, got {index.category_ids}")

    seen = set()
    for ann in data["annotations"]:
        if not isinstance(ann, dict):
            raise ValueError(f"{name}: every annotation must be an object, got {ann!r:.80}")
        where = index.where(ann)
        for key in ("id", "image_id", "category_id"):
            if not _is_int(ann.get(key)):
                raise ValueError(f"{where}: missing or non-integer '{key}'")
        if ann["id"] in seen:
            raise ValueError(f"{where}: annotation id {ann['id']} appears twice")
        seen.add(ann["id"])
        if ann["image_id"] not in index.image_by_id:
            raise ValueError(f"{where}: unknown image id {ann['image_id']}")
        if ann["category_id"] not in known_categories:
            raise ValueError(f"{where}: unknown category id {ann['category_id']} "
                             f"(known: {sorted(known_categories)})")
        _check_annotation_fields(ann, index.image_by_id[ann["image_id"]], where, require_segmentation)
        index.annotations_by_image[ann["image_id"]].append(ann)
    return index


def _check_annotation_fields(ann: dict, image: dict, where: str, require_segmentation: bool) -> None:
    bbox = ann.get("bbox")
    if bbox is not None and (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
                             or not all(_is_number(v) for v in bbox) or bbox[2] < 0 or bbox[3] < 0):
        raise ValueError(f"{where}: 'bbox' must be [x, y, width, height] with width, height >= 0, got {bbox!r}")
    if "area" in ann and (not _is_number(ann["area"]) or ann["area"] < 0):
        raise ValueError(f"{where}: 'area' must be a number >= 0, got {ann['area']!r}")
    if ann.get("iscrowd", 0) not in (0, 1, True, False):
        raise ValueError(f"{where}: 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r}")
    seg = ann.get("segmentation")
    if seg is None:
        if require_segmentation:
            raise ValueError(f"{where}: missing 'segmentation'")
        if bbox is None:
            raise ValueError(f"{where}: needs a 'segmentation' or a 'bbox'")
        return
    H, W = image["height"], image["width"]
    if isinstance(seg, list):
        if len(seg) == 0:
            raise ValueError(f"{where}: 'segmentation' is an empty list of polygons")
        for i, xy in enumerate(seg):
            try:
                _check_polygon(xy, f"polygon {i}", H, W)
            except ValueError as e:
                raise ValueError(f"{where}: bad polygon: {e}") from None
    elif isinstance(seg, dict):
        size = seg.get("size")
        if "counts" not in seg or size is None:
            raise ValueError(f"{where}: an RLE segmentation needs 'size' and 'counts'")
        if list(size) != [H, W]:
            raise ValueError(f"{where}: RLE size {list(size)} disagrees with the image's "
                             f"[height, width] = [{H}, {W}]")
    else:
        raise ValueError(f"{where}: 'segmentation' must be polygons (a list) or an RLE (a dict), "
                         f"got {type(seg).__name__}")


def segmentation_to_counts(seg, height: int, width: int, where: str) -> np.ndarray:
    """Run-length counts (uint32) of any COCO segmentation; polygon parts are united."""
    try:
        if isinstance(seg, list):
            if len(seg) == 1:
                return _polygon_kernel(_check_polygon(seg[0], "polygon 0", height, width), height, width)
            mask = np.zeros((height, width), dtype=bool)
            for i, xy in enumerate(seg):
                part = _polygon_kernel(_check_polygon(xy, f"polygon {i}", height, width), height, width)
                mask |= rle.counts_to_mask(part, height, width)
            return rle.mask_to_counts(mask)
        counts, H, W = rle.rle_counts(seg, "segmentation")
        if (H, W) != (height, width):
            raise ValueError(f"RLE size [{H}, {W}] disagrees with the image's [{height}, {width}]")
        return counts
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def segmentations_to_counts(segmentations, heights, widths, where) -> tuple[np.ndarray, np.ndarray]:
    """Counts of many segmentations: (flat uint32, offsets (N + 1,) int64).

    Compressed strings are decoded together in one fast call; ``where(i)``
    names item i in error messages (file, annotation id, image id).
    """
    n = len(segmentations)
    pieces = [None] * n
    compressed = [i for i, s in enumerate(segmentations)
                  if isinstance(s, dict) and isinstance(s.get("counts"), (str, bytes))]
    for i in compressed:
        size = segmentations[i].get("size")
        if not isinstance(size, (list, tuple)) or list(size) != [heights[i], widths[i]]:
            raise ValueError(f"{where(i)}: RLE size {size!r} disagrees with the image's "
                             f"[height, width] = [{heights[i]}, {widths[i]}]")
    try:
        flat, offsets = rle.counts_from_strings_batch([segmentations[i]["counts"] for i in compressed])
    except ValueError:  # find the culprit for a precise message
        for i in compressed:
            segmentation_to_counts(segmentations[i], heights[i], widths[i], where(i))
        raise
    for j, i in enumerate(compressed):
        pieces[i] = flat[offsets[j]:offsets[j + 1]]
        if int(pieces[i].sum(dtype=np.int64)) != heights[i] * widths[i]:
            raise ValueError(f"{where(i)}: RLE counts sum to {int(pieces[i].sum(dtype=np.int64))} "
                             f"but the image has {heights[i] * widths[i]} pixels")
    for i in range(n):
        if pieces[i] is None:
            pieces[i] = segmentation_to_counts(segmentations[i], heights[i], widths[i], where(i))
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(p) for p in pieces], out=offsets[1:])
    return (np.concatenate(pieces) if n else np.zeros(0, np.uint32)).astype(np.uint32), offsets


# ---------------------------------------------------------------------------
# Reading: CocoDataset
# ---------------------------------------------------------------------------


class CocoDataset:
    """A COCO instance-segmentation dataset, as samples in the package's format.

    annotations_path: the JSON file, or a directory DIR holding DIR/annotations.json.
    images_dir: where ``file_name`` is looked up; default: ``images/`` beside the JSON.
    Labels are 1..K in increasing category-id order (0 = background);
    ``class_names[label - 1]`` and ``category_ids[label]`` give name and original id.
    Boxes come from the annotations' ``bbox`` (clipped to the image; boxes with
    no area are dropped, as torchvision does), else from the mask.
    """

    def __init__(self, annotations_path, images_dir=None) -> None:
        path = Path(annotations_path)
        if path.is_dir():
            path = path / ANNOTATIONS_FILE
        self.annotations_path = path
        self.images_dir = Path(images_dir) if images_dir is not None else path.parent / IMAGES_DIR
        self.index = load_annotations(path, require_segmentation=True)
        self.class_names = tuple(c["name"] for c in self.index.categories)
        self.category_ids = {label: c["id"] for label, c in enumerate(self.index.categories, start=1)}
        self.label_of_category = {cid: label for label, cid in self.category_ids.items()}
        if not self.images_dir.is_dir():
            raise FileNotFoundError(f"{path}: images directory not found: {self.images_dir}")
        for img in self.index.images:
            if not isinstance(img.get("file_name"), str):
                raise ValueError(f"{path}: image id {img['id']}: missing 'file_name'")
            if not (self.images_dir / img["file_name"]).is_file():
                raise FileNotFoundError(f"{path}: image id {img['id']}: image file not found: "
                                        f"{self.images_dir / img['file_name']}")

    @property
    def image_ids(self) -> list[int]:
        return [img["id"] for img in self.index.images]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.index.images)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index: int) -> dict:
        if not _is_int(index):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        info = self.index.images[index]
        H, W = info["height"], info["width"]
        file = self.images_dir / info["file_name"]
        image = read_rgb(file, f"{self.annotations_path}: image id {info['id']}:")
        if image.shape[:2] != (H, W):
            raise ValueError(f"{self.annotations_path}: image id {info['id']}: {file} is "
                             f"{image.shape[0]}x{image.shape[1]} but the annotations say {H}x{W}")
        anns = self.index.annotations_by_image[info["id"]]
        masks = np.zeros((len(anns), H, W), dtype=bool)
        for k, ann in enumerate(anns):
            counts = segmentation_to_counts(ann["segmentation"], H, W, self.index.where(ann))
            masks[k] = rle.counts_to_mask(counts, H, W)
        boxes = masks_to_boxes(masks)
        for k, ann in enumerate(anns):
            if ann.get("bbox") is not None:
                x, y, w, h = ann["bbox"]
                boxes[k] = (x, y, x + w, y + h)
        boxes = np.clip(boxes, 0, [W, H, W, H]).astype(np.float32)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return {
            "image": image,
            "masks": masks[keep],
            "boxes": boxes[keep],
            "labels": np.array([self.label_of_category[a["category_id"]] for a in anns], np.int64)[keep],
            "iscrowd": np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)[keep],
            "image_id": int(info["id"]),
            **{k: v[keep] for k, v in self.extra_fields(anns).items()},
        }

    def extra_fields(self, anns: list[dict]) -> dict:
        """Per-annotation arrays (first axis len(anns)) a subclass adds to each sample; none here."""
        return {}
