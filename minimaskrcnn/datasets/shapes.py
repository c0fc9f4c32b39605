"""A toy instance-segmentation dataset: circles, squares and triangles.

Each image has a random background colour, 1-4 shapes in random colours, sizes
and positions, and mild pixel noise. Shapes are painted in order, so a
later shape hides whatever lies under it: the mask of an instance is its
*visible* part, and an instance whose visible area falls below
``min_visible_area`` pixels is dropped (it is no longer an object anyone could
segment). Boxes are the tight boxes of the visible masks. With the default
settings the top shape is always large enough, so every image has at least one
instance; only a very small ``image_size`` can produce an image with none.

Labels: 0 is background; the classes are 1..K in the order of
``ShapesConfig.class_names`` (by default 1 = circle, 2 = square, 3 = triangle).

Sample format (shared by every dataset in the package)::

    {"image":    (H, W, 3) uint8,
     "masks":    (K, H, W) bool,
     "boxes":    (K, 4) float32 (x1, y1, x2, y2), continuous pixel coordinates:
                 a mask spanning columns c0..c1 has x1 = c0 and x2 = c1 + 1,
     "labels":   (K,) int64 in 1..num_classes (0 = background, never a target),
     "iscrowd":  (K,) bool (always False here),
     "image_id": int}

Determinism: sample ``i`` is drawn from ``np.random.default_rng([seed, i])`` and
nothing else, so any index can be generated on its own, in any order, and the
same (seed, i) always gives byte-identical arrays. ``ShapesDataset.generate(i)``
accepts any i >= 0, so a training loop can draw as many fresh images as it likes.

Example::

    >>> ds = ShapesDataset(num_images=100, seed=0)
    >>> s = ds[0]
    >>> s["image"].shape, s["masks"].shape[1:], ds.class_names
    ((128, 128, 3), (128, 128), ('circle', 'square', 'triangle'))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimaskrcnn.datasets.generated import GeneratedDataset

SHAPES = ("circle", "square", "triangle")
MAX_IMAGE_SIZE = 4096  # pixels per side: generating costs memory and time in image_size**2 per shape
MAX_INSTANCES = 100


@dataclass(frozen=True)
class ShapesConfig:
    """Everything that controls the generator. Labels follow ``class_names``: 1, 2, ..."""

    image_size: int = 128  # images are image_size x image_size
    min_instances: int = 1  # shapes drawn per image (before occluded ones are dropped)
    max_instances: int = 4
    size_range: tuple[float, float] = (0.15, 0.4)  # shape size / image_size (diameter or side)
    class_names: tuple[str, ...] = SHAPES  # any non-empty subset of SHAPES, in label order
    noise_level: int = 8  # each channel moves by a uniform random integer in [-level, level]
    min_visible_area: int = 40  # pixels; smaller visible parts are dropped
    min_color_distance: float = 100.0  # RGB distance between any two colours in an image
    # 0: upright equilateral triangles (the classic toy set). t > 0: triangles of random
    # proportions, apex shifted sideways by up to t/2 half-bases, height x (1 +- t/2). Training
    # draws t > 0 so the model learns "three corners", not one drawing of them.
    shape_jitter: float = 0.0
    # squares and triangles turned by up to this many degrees (0: upright, the classic set)
    shape_turn: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        object.__setattr__(self, "size_range", tuple(float(v) for v in self.size_range))
        if not isinstance(self.image_size, (int, np.integer)) or not 16 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size: expected an int in [16, {MAX_IMAGE_SIZE}], got {self.image_size!r}")
        if not all(isinstance(v, (int, np.integer)) for v in (self.min_instances, self.max_instances)) \
                or not 1 <= self.min_instances <= self.max_instances <= MAX_INSTANCES:
            raise ValueError(f"min_instances, max_instances: expected integers 1 <= min <= max <= {MAX_INSTANCES}, "
                             f"got {self.min_instances}, {self.max_instances}")
        lo, hi = self.size_range
        if not (len(self.size_range) == 2 and 0 < lo <= hi <= 1):
            raise ValueError(f"size_range: expected (lo, hi) with 0 < lo <= hi <= 1, got {self.size_range}")
        if not self.class_names or len(set(self.class_names)) != len(self.class_names) \
                or not set(self.class_names) <= set(SHAPES):
            raise ValueError(f"class_names: expected distinct names from {SHAPES}, got {self.class_names}")
        if not isinstance(self.noise_level, (int, np.integer)) or not 0 <= self.noise_level <= 127:
            raise ValueError(f"noise_level: expected an int in [0, 127], got {self.noise_level!r}")
        if not 0 <= self.shape_jitter <= 1:
            raise ValueError(f"shape_jitter: expected a value in [0, 1], got {self.shape_jitter!r}")
        if not 0 <= self.shape_turn <= 180:
            raise ValueError(f"shape_turn: expected degrees in [0, 180], got {self.shape_turn!r}")
        if self.min_visible_area < 1 or self.min_color_distance < 0:
            raise ValueError(f"min_visible_area, min_color_distance: expected >= 1 and >= 0, "
                             f"got {self.min_visible_area}, {self.min_color_distance}")


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight boxes (K, 4) float32 (x1, y1, x2, y2) of masks (K, H, W); empty mask -> zeros.

    Continuous coordinates: pixel column c covers [c, c + 1), so a mask spanning
    columns c0..c1 gives x1 = c0, x2 = c1 + 1 (width = number of columns).
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f"masks: expected (K, H, W), got shape {masks.shape}")
    K, H, W = masks.shape
    rows, cols = masks.any(axis=2), masks.any(axis=1)  # (K, H), (K, W)
    boxes = np.zeros((K, 4), dtype=np.float32)
    present = rows.any(axis=1)
    boxes[:, 0] = cols.argmax(axis=1)  # first column that is set
    boxes[:, 1] = rows.argmax(axis=1)
    boxes[:, 2] = W - cols[:, ::-1].argmax(axis=1)  # one past the last column
    boxes[:, 3] = H - rows[:, ::-1].argmax(axis=1)
    boxes[~present] = 0
    return boxes


def _shape_mask(name: str, cx: float, cy: float, size: float, ys: np.ndarray, xs: np.ndarray,
                pose=None) -> np.ndarray:
    """(H, W) bool: which pixel centres (xs, ys broadcast to a grid) lie inside the shape.

    ``pose`` = (angle in radians, apex shift, height factor) turns and reshapes
    squares and triangles (see ``ShapesConfig.shape_jitter``); ``None`` draws the
    classic upright shapes.
    """
    half = size / 2
    dx, dy = xs - cx, ys - cy  # (1, W), (H, 1)
    if name == "circle":
        return dx * dx + dy * dy <= half * half
    if pose is None:  # the classic upright shapes, exactly as before poses existed
        if name == "square":
            return (np.abs(dx) <= half) & (np.abs(dy) <= half)
        # upright equilateral triangle with side `size`, centred on its box
        height = size * np.sqrt(3) / 2
        depth = dy + height / 2  # distance below the apex
        return (depth >= 0) & (depth <= height) & (np.abs(dx) <= depth / np.sqrt(3))
    angle, shift, stretch = pose
    if name == "square":
        corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    else:  # base `size`, apex shifted sideways, height stretched
        height = size * np.sqrt(3) / 2 * stretch
        corners = np.array([[shift * half, -height / 2], [half, height / 2], [-half, height / 2]])
    c, s = np.cos(angle), np.sin(angle)
    corners = corners @ np.array([[c, s], [-s, c]])  # turned about the shape's centre
    return _inside_convex(corners, dx, dy)


def _inside_convex(corners: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Pixels on the inner side of every edge of a convex polygon (corners (V, 2), either winding)."""
    inside_pos = inside_neg = True
    for (x0, y0), (x1, y1) in zip(corners, np.roll(corners, -1, axis=0)):
        cross = (x1 - x0) * (dy - y0) - (y1 - y0) * (dx - x0)  # (H, W): which side of the edge
        inside_pos = inside_pos & (cross >= 0)
        inside_neg = inside_neg & (cross <= 0)
    return inside_pos | inside_neg


def _pick_colors(rng: np.random.Generator, n: int, min_distance: float) -> np.ndarray:
    """n + 1 RGB colours (background first), pairwise at least min_distance apart if possible."""
    colors = [rng.integers(0, 256, size=3)]
    for _ in range(n):
        best, best_gap = None, -1.0
        for _attempt in range(30):  # rejection sampling; keep the best try as fallback
            c = rng.integers(0, 256, size=3)
            gap = min(float(np.linalg.norm(c - other)) for other in colors)
            if gap > best_gap:
                best, best_gap = c, gap
            if gap >= min_distance:
                break
        colors.append(best)
    return np.array(colors, dtype=np.int16)


def paint_instances(full: np.ndarray, colors: np.ndarray, noise_level: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Paint (n, S, S) full instance masks in order, later ones on top, over the background.

    ``colors`` is (n + 1, 3): the background first, then one colour per instance. Uniform integer
    noise in [-noise_level, noise_level] is added to every channel. Returns (S, S, 3) uint8.
    """
    n, S = full.shape[0], full.shape[1]
    top = np.zeros((S, S), dtype=np.int64)  # which colour is on top at each pixel (0 = background)
    for k in range(n):
        top[full[k]] = k + 1
    image = np.asarray(colors, dtype=np.int16)[top]  # (S, S, 3): one lookup instead of a masked write per shape
    if noise_level > 0:
        image += rng.integers(-noise_level, noise_level + 1, size=(S, S, 3), dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


def generate_sample(rng: np.random.Generator, config: ShapesConfig = ShapesConfig(), image_id: int = 0) -> dict:
    """Draw one sample (see the module docstring for the format) from ``rng``."""
    S = config.image_size
    n = int(rng.integers(config.min_instances, config.max_instances + 1))
    names = rng.integers(0, len(config.class_names), size=n)  # index into class_names
    sizes = rng.uniform(*config.size_range, size=n) * S
    centres = rng.uniform(0, 1, size=(n, 2)) * (S - sizes[:, None]) + sizes[:, None] / 2  # inside the image
    colors = _pick_colors(rng, n, config.min_color_distance)
    ys, xs = np.arange(S)[:, None] + 0.5, np.arange(S)[None, :] + 0.5  # pixel centres

    poses = [None] * n
    if config.shape_jitter > 0 or config.shape_turn > 0:  # drawn last: the classic set's stream is unchanged
        t, turn = config.shape_jitter, np.radians(config.shape_turn)
        for k in range(n):
            poses[k] = (rng.uniform(-turn, turn), rng.uniform(-t, t) / 2, 1 + rng.uniform(-t, t) / 2)
    full = np.stack([_shape_mask(config.class_names[k], cx, cy, size, ys, xs, pose)
                     for k, (cx, cy), size, pose in zip(names, centres, sizes, poses)])  # (n, S, S)
    # visible part = full shape minus everything painted later
    covered_later = np.zeros((S, S), dtype=bool)
    visible = np.empty_like(full)
    for k in range(n - 1, -1, -1):
        visible[k] = full[k] & ~covered_later
        covered_later |= full[k]

    image = paint_instances(full, colors, config.noise_level, rng)  # (S, S, 3) uint8

    keep = visible.sum(axis=(1, 2)) >= config.min_visible_area
    masks = visible[keep]
    return {
        "image": image,
        "masks": masks,
        "boxes": masks_to_boxes(masks),
        "labels": (names[keep] + 1).astype(np.int64),  # 0 is background
        "iscrowd": np.zeros(len(masks), dtype=bool),
        "image_id": int(image_id),
    }


class ShapesDataset(GeneratedDataset):
    """``num_images`` deterministic shapes samples; sample i comes from (seed, i) alone.

    ``dataset[i]`` for 0 <= i < len (negative indices count from the end);
    ``dataset.generate(i)`` for any i >= 0, past the end included (fresh images
    for training). ``class_names[label - 1]`` names a label; 0 is background.
    """

    config_type = ShapesConfig
    sample_fn = staticmethod(generate_sample)

    def __init__(self, num_images: int, seed: int = 0, config: ShapesConfig = ShapesConfig()) -> None:
        super().__init__(num_images, seed, config)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    @property
    def num_classes(self) -> int:
        """Foreground classes (labels 1..num_classes)."""
        return len(self.config.class_names)
