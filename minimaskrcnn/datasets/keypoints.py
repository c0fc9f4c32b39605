"""A toy pose-estimation dataset: stick figures with nine named keypoints.

Each image has a random background colour, 1-3 stick figures in random
colours, sizes, tilts and poses, and mild pixel noise. A figure is a head
(a disc), a neck-to-pelvis torso, two arms bent at the elbow and two straight
legs, all drawn as thick lines with round ends. Figures face the viewer, so
the figure's *left* arm and leg are on the image's right (larger x), as in
COCO's person annotations; a horizontal flip must therefore swap every
``left_*`` keypoint with its ``right_*`` twin (``flip_map``).

Keypoints, in this order (``KEYPOINT_NAMES``)::

    0 head        1 neck         2 pelvis
    3 left_elbow  4 right_elbow  5 left_hand  6 right_hand  7 left_foot  8 right_foot

``SKELETON`` lists the drawn bones as 0-based index pairs (COCO files store
them 1-based; ``coco_keypoints.py`` converts).

Visibility flags follow COCO:

* ``v = 2`` labelled and visible;
* ``v = 1`` labelled but hidden: a figure drawn later covers the keypoint's pixel;
* ``v = 0`` not labelled: the keypoint lies outside the image (figures may
  stick out of the image by up to ``max_outside`` of their size); its row is
  ``[0, 0, 0]``, as in COCO files.

Figures are painted in order, so a later figure hides what lies under it: the
mask of an instance is its *visible* part; an instance whose visible area
falls below ``min_visible_area`` pixels is dropped with its keypoints. Boxes
are the tight boxes of the visible masks, so a hidden (v = 1) keypoint may lie
outside its instance's box.

Sample format: the shapes dataset's (``shapes.py``) plus ``keypoints``::

    {"image": (H, W, 3) uint8, "masks": (G, H, W) bool, "boxes": (G, 4) float32,
     "labels": (G,) int64 (always 1 = "person"; 0 is background),
     "iscrowd": (G,) bool, "image_id": int,
     "keypoints": (G, K, 3) float32 rows [x, y, v] in continuous pixel
                  coordinates (pixel column c covers [c, c + 1))}

Determinism: sample ``i`` is drawn from ``np.random.default_rng([seed, i])``
and nothing else.

Example::

    >>> ds = KeypointsDataset(10, seed=0)
    >>> s = ds[0]
    >>> s["keypoints"].shape[1:], ds.keypoint_names[5], ds.flip_map[0]
    ((9, 3), 'left_hand', ('left_elbow', 'right_elbow'))

OKS sigmas (``KEYPOINT_SIGMAS``, for COCO keypoint AP): a keypoint predicted
``d`` pixels away scores ``exp(-d² / (2 s² (2σ)²))`` with ``s² = area`` of the
instance. In COCO, ``σ`` measures how far human annotators' clicks spread;
here there are no annotators, so the sigmas set the tolerance directly. A
stick figure's mask is thin, so ``s`` is only about 0.3 of its height (a COCO
person's is nearer 0.5): the sigmas are chosen so that an error of 5% of the
figure's height (4 px on an 80 px figure) scores 0.5 for keypoints that the
drawing pins down exactly (head centre, neck and pelvis where lines meet,
hands and feet at the dots: ``σ = 0.07``), and 7% for the elbows (``σ = 0.10``),
which slide along the arm when it is almost straight.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from minimaskrcnn.datasets.generated import GeneratedDataset

from minimaskrcnn.datasets.shapes import (MAX_IMAGE_SIZE, MAX_INSTANCES, _pick_colors, masks_to_boxes,
                                         paint_instances)

CLASS_NAMES = ("person",)
KEYPOINT_NAMES = ("head", "neck", "pelvis", "left_elbow", "right_elbow",
                  "left_hand", "right_hand", "left_foot", "right_foot")
SKELETON = ((0, 1), (1, 2), (1, 3), (3, 5), (1, 4), (4, 6), (2, 7), (2, 8))
FLIP_MAP = (("left_elbow", "right_elbow"), ("left_hand", "right_hand"), ("left_foot", "right_foot"))
KEYPOINT_SIGMAS = (0.07, 0.07, 0.07, 0.10, 0.10, 0.07, 0.07, 0.07, 0.07)


def flip_permutation(keypoint_names, flip_map=None) -> np.ndarray:
    """(K,) index array ``perm`` with ``flipped[k] = keypoints[perm[k]]`` after a horizontal flip.

    flip_map: pairs of names to swap; default: every ``left_X`` with ``right_X``
    (this also fits COCO's 17 person keypoints).
    """
    names = list(keypoint_names)
    if flip_map is None:
        flip_map = [(n, "right_" + n[5:]) for n in names if n.startswith("left_") and "right_" + n[5:] in names]
    perm = np.arange(len(names))
    for a, b in flip_map:
        if a not in names or b not in names:
            raise ValueError(f"flip_map: pair {(a, b)} names a keypoint not in {names}")
        i, j = names.index(a), names.index(b)
        perm[i], perm[j] = j, i
    return perm


@dataclass(frozen=True)
class KeypointsConfig:
    """Everything that controls the generator. Sizes are fractions of ``image_size``."""

    image_size: int = 128  # images are image_size x image_size
    min_instances: int = 1  # figures drawn per image (before hidden ones are dropped)
    max_instances: int = 3
    height_range: tuple[float, float] = (0.45, 0.8)  # figure height / image_size
    thickness_range: tuple[float, float] = (2.0, 4.0)  # line width in pixels
    max_tilt: float = 15.0  # degrees; the whole figure leans by up to this much
    max_outside: float = 0.15  # a figure may stick out of the image by this fraction of its size
    noise_level: int = 8  # each channel moves by a uniform random integer in [-level, level]
    min_visible_area: int = 40  # pixels; figures with a smaller visible part are dropped
    min_color_distance: float = 100.0  # RGB distance between any two colours in an image

    def __post_init__(self) -> None:
        for name in ("height_range", "thickness_range"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        if not isinstance(self.image_size, (int, np.integer)) or not 16 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ValueError(f"image_size: expected an int in [16, {MAX_IMAGE_SIZE}], got {self.image_size!r}")
        if not all(isinstance(v, (int, np.integer)) for v in (self.min_instances, self.max_instances)) \
                or not 1 <= self.min_instances <= self.max_instances <= MAX_INSTANCES:
            raise ValueError(f"min_instances, max_instances: expected integers 1 <= min <= max <= {MAX_INSTANCES}, "
                             f"got {self.min_instances}, {self.max_instances}")
        for name, top in (("height_range", 1.0), ("thickness_range", float(self.image_size))):
            r = getattr(self, name)
            if not (len(r) == 2 and 0 < r[0] <= r[1] <= top):
                raise ValueError(f"{name}: expected (lo, hi) with 0 < lo <= hi <= {top:g}, got {r}")
        if not 0 <= self.max_tilt <= 45 or not 0 <= self.max_outside <= 0.5:
            raise ValueError(f"max_tilt, max_outside: expected degrees in [0, 45] and a fraction in "
                             f"[0, 0.5], got {self.max_tilt}, {self.max_outside}")
        if not isinstance(self.noise_level, (int, np.integer)) or not 0 <= self.noise_level <= 127:
            raise ValueError(f"noise_level: expected an int in [0, 127], got {self.noise_level!r}")
        if self.min_visible_area < 1 or self.min_color_distance < 0:
            raise ValueError(f"min_visible_area, min_color_distance: expected >= 1 and >= 0, "
                             f"got {self.min_visible_area}, {self.min_color_distance}")


def _pose(rng: np.random.Generator, height: float) -> tuple[np.ndarray, float]:
    """(K, 2) keypoints of one upright figure centred on (0, 0), and its head radius.

    Proportions are fractions of the figure's height; angles are measured from
    "straight down", positive towards the image's right (the figure's left).
    """
    def limb(start, length, angle_deg):
        a = np.deg2rad(angle_deg)
        return start + length * np.array([np.sin(a), np.cos(a)])

    head_radius = 0.085 * height
    neck = np.array([0.0, -0.3 * height])
    head = neck - np.array([0.0, 0.13 * height])
    pelvis = neck + np.array([0.0, 0.32 * height])
    points = {"head": head, "neck": neck, "pelvis": pelvis}
    for side, sign in (("left", 1.0), ("right", -1.0)):
        upper = rng.uniform(20, 160)  # the upper arm swings from hanging down to raised
        lower = np.clip(upper + rng.uniform(-70, 70), 5, 175)  # the elbow bends either way
        points[f"{side}_elbow"] = limb(neck, 0.2 * height, sign * upper)
        points[f"{side}_hand"] = limb(points[f"{side}_elbow"], 0.18 * height, sign * lower)
        points[f"{side}_foot"] = limb(pelvis, 0.45 * height, sign * rng.uniform(5, 35))
    return np.stack([points[n] for n in KEYPOINT_NAMES]), head_radius


def _paint_segment(mask, a, b, radius) -> None:
    """Set the pixels of ``mask`` (S, S) whose centres lie within ``radius`` of the segment a-b.

    Only the segment's bounding window (grown by ``radius``) is computed.
    """
    S = mask.shape[0]
    c0, r0 = (max(int(np.floor(v - radius)), 0) for v in np.minimum(a, b))
    c1, r1 = (min(int(np.ceil(v + radius)) + 1, S) for v in np.maximum(a, b))
    if c1 <= c0 or r1 <= r0:
        return
    xs, ys = np.arange(c0, c1)[None, :] + 0.5, np.arange(r0, r1)[:, None] + 0.5  # pixel centres
    d = b - a
    length2 = max(float(d @ d), 1e-12)
    t = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2  # (h, w) position of the closest point
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    dx, dy = xs - a[0] - t * d[0], ys - a[1] - t * d[1]
    mask[r0:r1, c0:c1] |= dx * dx + dy * dy <= radius * radius


def _figure_mask(points, head_radius, thickness, size) -> np.ndarray:
    """(S, S) bool: the figure's pixels (bones as thick lines, a disc for the head, dots for hands and feet)."""
    mask = np.zeros((size, size), dtype=bool)
    _paint_segment(mask, points[0], points[0], head_radius)  # the head
    for i, j in SKELETON:  # the bones
        _paint_segment(mask, points[i], points[j], thickness / 2)
    for k in (5, 6, 7, 8):  # hands and feet: dots a little wider than the line
        _paint_segment(mask, points[k], points[k], thickness)
    return mask


def generate_sample(rng: np.random.Generator, config: KeypointsConfig = KeypointsConfig(),
                    image_id: int = 0) -> dict:
    """Draw one sample (see the module docstring for the format) from ``rng``."""
    S, K = config.image_size, len(KEYPOINT_NAMES)
    n = int(rng.integers(config.min_instances, config.max_instances + 1))
    colors = _pick_colors(rng, n, config.min_color_distance)
    figures, full = [], np.zeros((n, S, S), dtype=bool)
    for k in range(n):
        height = rng.uniform(*config.height_range) * S
        points, head_radius = _pose(rng, height)
        tilt = np.deg2rad(rng.uniform(-config.max_tilt, config.max_tilt))
        rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
        points = points @ rotation.T  # (K, 2)
        thickness = rng.uniform(*config.thickness_range)
        pad = head_radius + thickness
        lo, hi = points.min(axis=0) - pad, points.max(axis=0) + pad  # the figure's extent
        margin = config.max_outside * (hi - lo)
        low, high = -lo - margin, S - hi + margin  # allowed shifts keep the extent within the margin
        shift = np.where(low <= high, rng.uniform(np.minimum(low, high), np.maximum(low, high)),
                         (low + high) / 2)
        points = points + shift
        full[k] = _figure_mask(points, head_radius, thickness, S)
        figures.append(points)

    covered_later = np.zeros((S, S), dtype=bool)
    visible = np.empty_like(full)
    keypoints = np.zeros((n, K, 3), dtype=np.float32)
    for k in range(n - 1, -1, -1):  # top figure first: what is drawn later hides what is below
        visible[k] = full[k] & ~covered_later
        xy = figures[k]
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < S) & (xy[:, 1] >= 0) & (xy[:, 1] < S)
        cols = np.clip(xy[:, 0].astype(int), 0, S - 1)
        rows = np.clip(xy[:, 1].astype(int), 0, S - 1)
        hidden = covered_later[rows, cols]
        keypoints[k, :, :2] = np.where(inside[:, None], xy, 0.0)
        keypoints[k, :, 2] = np.where(inside, np.where(hidden, 1, 2), 0)
        covered_later |= full[k]

    image = paint_instances(full, colors, config.noise_level, rng)  # (S, S, 3) uint8

    keep = visible.sum(axis=(1, 2)) >= config.min_visible_area
    masks = visible[keep]
    return {
        "image": image,
        "masks": masks,
        "boxes": masks_to_boxes(masks),
        "labels": np.ones(len(masks), dtype=np.int64),  # 1 = person; 0 is background
        "iscrowd": np.zeros(len(masks), dtype=bool),
        "image_id": int(image_id),
        "keypoints": keypoints[keep],
    }


class KeypointsDataset(GeneratedDataset):
    """``num_images`` deterministic stick-figure samples; sample i comes from (seed, i) alone.

    ``dataset[i]`` for 0 <= i < len (negative indices count from the end);
    ``dataset.generate(i)`` for any i >= 0. Label 1 is "person" (0 is
    background). Carries what keypoint training and evaluation need:
    ``keypoint_names``, ``skeleton`` (0-based pairs), ``flip_map`` (name pairs),
    ``keypoint_sigmas`` (OKS, see the module docstring).
    """

    class_names = CLASS_NAMES
    keypoint_names = KEYPOINT_NAMES
    skeleton = SKELETON
    flip_map = FLIP_MAP
    keypoint_sigmas = KEYPOINT_SIGMAS

    config_type = KeypointsConfig
    sample_fn = staticmethod(generate_sample)

    def __init__(self, num_images: int, seed: int = 0, config: KeypointsConfig = KeypointsConfig()) -> None:
        super().__init__(num_images, seed, config)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)
