"""A second shapes generator, drawn in another style: does the model know shapes, or one program?

``datasets/shapes.py`` paints upright equilateral triangles and axis-aligned
squares in random RGB colours on a flat background, with uniform pixel noise and
hard (aliased) edges. A model trained only on that can learn its habits instead
of the shapes. This generator keeps the three classes and changes everything
else, so that AP on it measures generalisation:

* anti-aliased edges: every image is drawn at 4x the size with Pillow and
  averaged down, so edge pixels mix the two colours (a mask keeps the pixels an
  object covers more than half of);
* other triangles: isosceles, apex up, with a height from 0.6 to 1.4 times the
  base (the main generator's are all equilateral); squares still axis-aligned;
* flat colours from an HSV palette (muted to saturated), no noise at all;
* objects from 12 % to 45 % of the image side (the main generator: 15-40 %),
  1-4 per image as there (``max_instances=6`` makes scenes with more overlap).

Same sample format, labels (1 = circle, 2 = square, 3 = triangle) and
determinism as ``ShapesDataset``: sample ``i`` comes from ``(seed, i)`` alone.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from minimaskrcnn.datasets.generated import GeneratedDataset
from minimaskrcnn.datasets.shapes import SHAPES, masks_to_boxes

SUPERSAMPLE = 4  # drawn at 4x, then averaged down: anti-aliased edges


@dataclass(frozen=True)
class OtherShapesConfig:
    image_size: int = 128
    min_instances: int = 1  # as many as the main generator: the same scenes, drawn another way
    max_instances: int = 4
    size_range: tuple[float, float] = (0.12, 0.45)  # shape size / image side
    min_visible_area: int = 40  # pixels; smaller visible parts are dropped
    triangle_height: tuple[float, float] = (0.6, 1.4)  # height / base of the isosceles triangles
    min_contrast: float = 60.0  # RGB distance of every object's colour from the background's

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, (int, np.integer)) or self.image_size < 16:
            raise ValueError(f"image_size: expected an int >= 16, got {self.image_size!r}")
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError(f"min_instances, max_instances: expected 1 <= min <= max, "
                             f"got {self.min_instances}, {self.max_instances}")
        lo, hi = self.size_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"size_range: expected (lo, hi) with 0 < lo <= hi <= 1, got {self.size_range}")

    @property
    def class_names(self) -> tuple[str, ...]:
        return SHAPES


def _hsv_color(rng, saturation, value) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value))
    return int(r * 255), int(g * 255), int(b * 255)


def _outline(name: str, rng, cx: float, cy: float, size: float, config) -> list:
    """Pillow polygon (or ellipse box) of one shape in supersampled pixels."""
    half = size / 2
    if name == "circle":
        return [cx - half, cy - half, cx + half, cy + half]
    if name == "square":
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
    else:  # apex up, base `size`, height drawn from triangle_height
        h = rng.uniform(*config.triangle_height) * size
        corners = np.array([[0, -h / 2], [half, h / 2], [-half, h / 2]])
    return [(cx + x, cy + y) for x, y in corners]


def generate_other_sample(rng: np.random.Generator, config: OtherShapesConfig = OtherShapesConfig(),
                          image_id: int = 0) -> dict:
    """One sample in the common format (see ``shapes.py``), drawn from ``rng``."""
    S, k = config.image_size, SUPERSAMPLE
    n = int(rng.integers(config.min_instances, config.max_instances + 1))
    names = rng.integers(0, 3, size=n)
    background = _hsv_color(rng, (0.0, 0.7), (0.25, 1.0))
    canvas = Image.new("RGB", (S * k, S * k), background)
    owner = Image.new("L", (S * k, S * k), 0)  # which instance (1..n) is on top at each subpixel
    draw, draw_owner = ImageDraw.Draw(canvas), ImageDraw.Draw(owner)
    for j, c in enumerate(names):
        size = rng.uniform(*config.size_range) * S * k
        cx, cy = rng.uniform(size / 2, S * k - size / 2, size=2)
        shape = _outline(SHAPES[c], rng, cx, cy, size, config)
        for _attempt in range(20):  # an object its own colour can hide is no test of shape
            color = _hsv_color(rng, (0.3, 1.0), (0.3, 1.0))
            if np.linalg.norm(np.subtract(color, background)) >= config.min_contrast:
                break
        if SHAPES[c] == "circle":
            draw.ellipse(shape, fill=color)
            draw_owner.ellipse(shape, fill=j + 1)
        else:
            draw.polygon(shape, fill=color)
            draw_owner.polygon(shape, fill=j + 1)
    image = np.asarray(canvas.resize((S, S), Image.BOX))  # (S, S, 3): averaged 4x4 blocks
    ids = np.asarray(owner, dtype=np.int32).reshape(S, k, S, k)
    # an object's mask: the pixels whose 4x4 subpixels it covers more than half of (so one object at most)
    visible = np.stack([(ids == j + 1).sum(axis=(1, 3)) * 2 > k * k for j in range(n)])  # (n, S, S)
    keep = visible.sum(axis=(1, 2)) >= config.min_visible_area
    masks = visible[keep]
    return {
        "image": np.ascontiguousarray(image),
        "masks": masks,
        "boxes": masks_to_boxes(masks),
        "labels": (names[keep] + 1).astype(np.int64),
        "iscrowd": np.zeros(len(masks), dtype=bool),
        "image_id": int(image_id),
    }


class OtherShapesDataset(GeneratedDataset):
    """``num_images`` samples of the second style; ``class_names[label - 1]`` names a label."""

    config_type = OtherShapesConfig
    sample_fn = staticmethod(generate_other_sample)

    def __init__(self, num_images: int, seed: int = 0, config: OtherShapesConfig = OtherShapesConfig()) -> None:
        super().__init__(num_images, seed, config)

    @property
    def class_names(self) -> tuple[str, ...]:
        return SHAPES

    @property
    def num_classes(self) -> int:
        return len(SHAPES)
