"""A second toy dataset, unlike the shapes: thin, concave and holed objects on textured backgrounds.

The shapes are convex blobs on flat colours in square images. A user's own toy
dataset rarely is, so the settings that work for shapes (image size, anchors,
schedule) say little about it. This generator makes the harder kind of case:

* four classes of other geometry: ``ring`` (a hole in the middle), ``star``
  (five sharp concave corners), ``cross`` (a plus sign: concave), ``bar`` (a thin,
  long rectangle at any angle: extreme aspect ratios);
* textured backgrounds (gradients, blotches, stripes) with noise;
* images of mixed, non-square sizes (``width_range`` x ``height_range``);
* objects from ``size_range`` pixels (10-100 by default: small ones are tiny
  next to the image), 1-6 per image, overlapping;
* written as a COCO folder the way annotation tools write them: JPEG images,
  polygons for whole objects, compressed RLE for holed or occluded ones, and
  category ids that are not 1..K (``CATEGORY_IDS``).

``python -m minimaskrcnn make-objects DIR`` writes a folder (``write_objects_folder``).
Sample ``i`` comes from ``(seed, i)`` alone, like every generator here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from minimaskrcnn.datasets import rle
from minimaskrcnn.datasets.augment import _texture
from minimaskrcnn.datasets.coco_write import ANNOTATIONS_FILE, IMAGES_DIR, xyxy_to_xywh
from minimaskrcnn.datasets.generated import GeneratedDataset
from minimaskrcnn.datasets.polygon import polygons_to_mask
from minimaskrcnn.datasets.shapes import masks_to_boxes

CLASSES = ("ring", "star", "cross", "bar")
CATEGORY_IDS = (4, 9, 13, 21)  # the dataset's own ids, as an annotation tool would number them


@dataclass(frozen=True)
class ObjectsConfig:
    width_range: tuple[int, int] = (200, 360)
    height_range: tuple[int, int] = (150, 300)
    size_range: tuple[float, float] = (10.0, 100.0)  # object size in pixels (log-uniform)
    min_instances: int = 1
    max_instances: int = 6
    noise_std: float = 6.0
    min_visible_area: int = 30

    def __post_init__(self) -> None:
        for name in ("width_range", "height_range", "size_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name}: expected (low, high) with 0 < low <= high, got {(lo, hi)}")
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError(f"min_instances, max_instances: expected 1 <= min <= max, got "
                             f"{self.min_instances}, {self.max_instances}")


def _polygon(name: str, rng, cx: float, cy: float, size: float) -> list[tuple[float, float]]:
    """Outline of a star, cross or bar centred at (cx, cy), about ``size`` px across, turned at random."""
    t = rng.uniform(0, 2 * np.pi)
    if name == "star":
        k = np.arange(10)
        r = np.where(k % 2 == 0, 0.5, 0.5 * rng.uniform(0.35, 0.5)) * size
        pts = np.stack([r * np.cos(np.pi * k / 5), r * np.sin(np.pi * k / 5)], axis=1)
    elif name == "cross":
        a, b = 0.5 * size, 0.5 * size * rng.uniform(0.25, 0.4)
        pts = np.array([[b, a], [b, b], [a, b], [a, -b], [b, -b], [b, -a],
                        [-b, -a], [-b, -b], [-a, -b], [-a, b], [-b, b], [-b, a]])
    else:  # bar: long and thin
        a, b = 0.5 * size, 0.5 * size * rng.uniform(0.08, 0.2)
        pts = np.array([[-a, -b], [a, -b], [a, b], [-a, b]])
    c, s = np.cos(t), np.sin(t)
    pts = pts @ np.array([[c, s], [-s, c]])
    return [(float(cx + x), float(cy + y)) for x, y in pts]


def generate_objects_sample(rng: np.random.Generator, config: ObjectsConfig = ObjectsConfig(),
                            image_id: int = 0) -> dict:
    """One sample in the common format (``shapes.py``), with ``polygons`` (list per instance or None)."""
    W = int(rng.integers(config.width_range[0], config.width_range[1] + 1))
    H = int(rng.integers(config.height_range[0], config.height_range[1] + 1))
    n = int(rng.integers(config.min_instances, config.max_instances + 1))
    names = rng.integers(0, len(CLASSES), size=n)
    image = _texture(rng, H, W).transpose(1, 2, 0).astype(np.float32)  # (H, W, 3)
    full = np.zeros((n, H, W), dtype=bool)
    polygons = []
    lo, hi = np.log(config.size_range[0]), np.log(config.size_range[1])
    for j, c in enumerate(names):
        size = float(np.exp(rng.uniform(lo, hi)))
        cx, cy = rng.uniform(size / 2, max(W - size / 2, size / 2 + 1)), rng.uniform(size / 2, max(H - size / 2, size / 2 + 1))
        if CLASSES[c] == "ring":
            canvas = Image.new("L", (W, H), 0)
            draw = ImageDraw.Draw(canvas)
            r, inner = size / 2, size / 2 * rng.uniform(0.45, 0.7)
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
            draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=0)
            full[j] = np.asarray(canvas, dtype=bool)
            polygons.append(None)  # a hole: no single polygon describes it
        else:  # rasterised as COCO rasterises polygons, so the written polygon is exactly this mask
            pts = _polygon(CLASSES[c], rng, cx, cy, size)
            full[j] = polygons_to_mask([[v for xy in pts for v in xy]], H, W)
            polygons.append(pts)
        color = rng.uniform(0, 255, size=3).astype(np.float32)
        image[full[j]] = color + rng.uniform(-15, 15, size=(int(full[j].sum()), 3))  # a little texture
    image += rng.normal(0, config.noise_std, size=image.shape).astype(np.float32)
    covered_later = np.zeros((H, W), dtype=bool)
    visible = np.empty_like(full)
    for j in range(n - 1, -1, -1):
        visible[j] = full[j] & ~covered_later
        covered_later |= full[j]
    keep = visible.sum(axis=(1, 2)) >= config.min_visible_area
    whole = [(visible[j] == full[j]).all() for j in range(n)]  # not occluded: its polygon still holds
    return {
        "image": np.clip(image, 0, 255).astype(np.uint8),
        "masks": visible[keep],
        "boxes": masks_to_boxes(visible[keep]),
        "labels": (names[keep] + 1).astype(np.int64),
        "iscrowd": np.zeros(int(keep.sum()), dtype=bool),
        "image_id": int(image_id),
        "polygons": [polygons[j] if whole[j] else None for j in range(n) if keep[j]],
    }


class ObjectsDataset(GeneratedDataset):
    """``num_images`` samples of rings, stars, crosses and bars; labels 1..4 follow ``CLASSES``."""

    config_type = ObjectsConfig
    sample_fn = staticmethod(generate_objects_sample)

    def __init__(self, num_images: int, seed: int = 0, config: ObjectsConfig = ObjectsConfig()) -> None:
        super().__init__(num_images, seed, config)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES


def write_objects_folder(out_dir, num_images: int, seed: int = 0, config: ObjectsConfig = ObjectsConfig(),
                         first_image_id: int = 1, jpeg_quality: int = 90) -> Path:
    """Write ``num_images`` samples as a COCO folder: OUT/images/*.jpg + OUT/annotations.json.

    Image ids start at ``first_image_id``; category ids are ``CATEGORY_IDS``.
    Whole objects are written as polygons, holed or occluded ones as compressed
    RLE; ``bbox`` is the visible mask's box and ``area`` its pixel count.
    """
    out_dir = Path(out_dir)
    (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    ds = ObjectsDataset(num_images, seed=seed, config=config)
    images, annotations = [], []
    for i in range(num_images):
        s = ds[i]
        image_id = first_image_id + i
        H, W = s["image"].shape[:2]
        name = f"img_{image_id:05d}.jpg"
        Image.fromarray(s["image"]).save(out_dir / IMAGES_DIR / name, quality=jpeg_quality)
        images.append({"id": image_id, "file_name": name, "height": H, "width": W})
        for m, box, label, poly in zip(s["masks"], xyxy_to_xywh(s["boxes"]), s["labels"], s["polygons"]):
            seg = [[round(v, 2) for xy in poly for v in xy]] if poly is not None else rle.encode(m)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                                "category_id": CATEGORY_IDS[int(label) - 1], "segmentation": seg,
                                "area": int(m.sum()), "bbox": [round(float(v), 2) for v in box], "iscrowd": 0})
    categories = [{"id": cid, "name": name, "supercategory": "toy"} for cid, name in zip(CATEGORY_IDS, CLASSES)]
    path = out_dir / ANNOTATIONS_FILE
    with open(path, "w") as f:
        json.dump({"info": {"description": "minimaskrcnn toy objects (make-objects)"}, "images": images,
                   "annotations": annotations, "categories": categories}, f)
    return path
