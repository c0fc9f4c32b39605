"""What a dataset looks like, and the settings that follow from it.

Before training on a folder of your own, answer the questions a detector's
settings depend on -- how large are the images, how large are the objects once
the images are resized, what shapes are their boxes, how many objects does an
image hold, how are the classes spread -- and choose from the answers what a
user would otherwise guess:

* ``image_size`` (the longer side the images are resized to): large enough that
  the small objects keep about ``SMALL_OBJECT`` pixels across, no larger than
  the images themselves or ``MAX_IMAGE_SIZE`` (every pixel costs time);
* ``anchor_sizes``: one per pyramid level, spread over the objects' sizes
  (their 10th, 50th and 90th percentiles after resizing, kept apart by at least
  a factor 1.5 so the levels do not duplicate each other);
* ``anchor_ratios``: height/width ratios that cover the boxes' shapes (1, and
  the 10th and 90th percentiles of the boxes' ratios when they are far from 1);
* ``steps``: enough passes over a small dataset, the default schedule for a
  large one, and fewer steps when large images make each step slower.

``dataset_statistics`` reads a COCO folder's annotations only (no image is
decoded), or any dataset's samples; ``choose_settings`` returns the chosen
``Config`` fields with one sentence each saying why; ``summary`` formats both
for the terminal; ``plot_object_sizes`` draws the objects' sizes against the
anchors. ``python -m minimaskrcnn inspect-data DIR`` prints and draws all of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SMALL_OBJECT = 12.0  # pixels across (sqrt of the box area) that the 5 % smallest objects should keep
TINY_OBJECT = 8.0  # below this, after resizing, an object is hard to detect at all: warn
MAX_IMAGE_SIZE = 320  # the longest side the chosen input size may reach
MIN_IMAGE_SIZE = 96


@dataclass
class DatasetStats:
    """Sizes and counts of a dataset, in its own pixels.

    image_hw: (N, 2) height, width of every image.
    box_hw: (M, 2) height, width of every object's box (crowd regions excluded).
    box_image: (M,) which image each box belongs to.
    labels: (M,) class label 1..K of each box.
    class_names: names of labels 1..K; category_ids: the dataset's id of each (COCO).
    """

    image_hw: np.ndarray
    box_hw: np.ndarray
    box_image: np.ndarray
    labels: np.ndarray
    class_names: tuple
    category_ids: tuple = ()
    source: str = ""

    @property
    def num_images(self) -> int:
        return len(self.image_hw)

    @property
    def instances_per_image(self) -> np.ndarray:
        return np.bincount(self.box_image, minlength=self.num_images)

    def object_sizes(self, image_size: int | None = None) -> np.ndarray:
        """sqrt(box area) of every object, after resizing its image to longer side ``image_size``."""
        size = np.sqrt(np.prod(self.box_hw, axis=1))
        if image_size is None:
            return size
        return size * image_size / self.image_hw.max(axis=1)[self.box_image]

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.class_names) + 1)[1:]


def dataset_statistics(dataset, max_images: int | None = None) -> DatasetStats:
    """Statistics of ``dataset``: a CocoDataset (annotations only, fast) or any dataset of samples."""
    index = getattr(dataset, "index", None)
    names = tuple(getattr(dataset, "class_names", ()))
    if hasattr(index, "annotations_by_image"):  # a COCO folder: everything is in the annotations file
        images = index.images[:max_images] if max_images else index.images
        row = {img["id"]: i for i, img in enumerate(images)}
        image_hw = np.array([[img["height"], img["width"]] for img in images], dtype=np.float64).reshape(-1, 2)
        boxes, owner, labels = [], [], []
        label_of = dataset.label_of_category
        for img in images:
            for a in index.annotations_by_image[img["id"]]:
                if a.get("iscrowd", 0) or a.get("bbox") is None:
                    continue
                x, y, w, h = a["bbox"]
                if w > 0 and h > 0:
                    boxes.append((h, w))
                    owner.append(row[img["id"]])
                    labels.append(label_of[a["category_id"]])
        ids = tuple(dataset.category_ids[k] for k in range(1, len(names) + 1))
        return DatasetStats(image_hw, np.array(boxes, np.float64).reshape(-1, 2), np.array(owner, np.int64),
                            np.array(labels, np.int64), names, ids, str(getattr(dataset, "annotations_path", "")))
    n = len(dataset) if max_images is None else min(len(dataset), max_images)
    image_hw, boxes, owner, labels = [], [], [], []
    for i in range(n):
        s = dataset[i]
        image_hw.append(s["image"].shape[:2])
        keep = ~np.asarray(s.get("iscrowd", np.zeros(len(s["labels"]), bool)), dtype=bool)
        b = np.asarray(s["boxes"], np.float64)[keep]
        hw = np.stack([b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], axis=1) if len(b) else np.zeros((0, 2))
        ok = (hw > 0).all(axis=1)
        boxes.append(hw[ok])
        owner.append(np.full(int(ok.sum()), i))
        labels.append(np.asarray(s["labels"], np.int64)[keep][ok])
    cat = lambda parts, shape, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)  # noqa: E731
    return DatasetStats(np.array(image_hw, np.float64).reshape(-1, 2), cat(boxes, (0, 2), np.float64),
                        cat(owner, (0,), np.int64), cat(labels, (0,), np.int64), names)


@dataclass
class Choice:
    """One chosen setting: the Config field, its value and why."""

    field: str
    value: object
    reason: str


@dataclass
class Settings:
    choices: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def changes(self) -> dict:
        return {c.field: c.value for c in self.choices}


def _round_to(value: float, multiple: int) -> int:
    return int(multiple * round(value / multiple))


def choose_settings(stats: DatasetStats, cfg) -> Settings:
    """The input size, anchors and schedule for ``stats``, starting from ``cfg`` (see the module docstring)."""
    out = Settings()
    if stats.num_images == 0 or len(stats.box_hw) == 0:
        out.warnings.append("the dataset has no objects: nothing to choose from, the defaults stay")
        return out
    longest = float(np.median(stats.image_hw.max(axis=1)))
    sizes = stats.object_sizes()  # original pixels
    small = float(np.percentile(sizes, 5))
    stride = cfg.backbone_stride
    # the resize factor that keeps the 5 % smallest objects SMALL_OBJECT px across, within limits
    wanted = longest * SMALL_OBJECT / max(small, 1e-6)
    image_size = int(min(max(wanted, MIN_IMAGE_SIZE), MAX_IMAGE_SIZE, max(longest, MIN_IMAGE_SIZE)))
    image_size = max(stride, _round_to(image_size, 32))
    why = (f"the images' longer side is {longest:.0f} px (median) and the 5 % smallest objects are "
           f"{small:.0f} px across; at {image_size} px they keep {small * image_size / longest:.0f} px")
    if image_size == MAX_IMAGE_SIZE:
        why += f" (capped at {MAX_IMAGE_SIZE}: larger inputs cost too much time)"
    out.choices.append(Choice("image_size", image_size, why))

    resized = stats.object_sizes(image_size)
    if cfg.use_fpn:
        q = np.percentile(resized, [10, 50, 90])
        anchors = []
        for v in np.interp(np.linspace(0, 2, len(cfg.fpn_levels)), [0, 1, 2], q):  # one per level
            v = max(4.0, float(v), anchors[-1] * 1.5 if anchors else 0.0)  # levels at least 1.5x apart
            anchors.append(float(2 * math.ceil(v / 2)))  # even pixels, rounded up: the spacing holds
        anchors = tuple(anchors)
        out.choices.append(Choice("anchor_sizes", anchors,
                                  f"objects are {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} px across after resizing "
                                  "(10th / 50th / 90th percentile): one anchor size per pyramid level"))
    ratio = stats.box_hw[:, 0] / stats.box_hw[:, 1]  # height / width
    lo, hi = np.percentile(ratio, [10, 90])
    ratios = sorted({1.0, round(float(min(lo, 0.5)), 2), round(float(max(hi, 2.0)), 2)})
    out.choices.append(Choice("anchor_ratios", tuple(ratios),
                              f"box height/width runs from {lo:.2f} to {hi:.2f} (10th-90th percentile)"))

    # schedule: the default number of steps costs about the same time as on 128-px shapes when
    # the images are no larger; larger images make every step slower, so fewer steps fit
    pixels = float(np.median(np.prod(stats.image_hw * (image_size / stats.image_hw.max(axis=1))[:, None], axis=1)))
    slowdown = max(1.0, pixels / 128.0 ** 2)
    steps = cfg.steps
    if slowdown > 1.2:  # share the extra time between more pixels and fewer steps
        steps = max(300, _round_to(cfg.steps / math.sqrt(slowdown), 50))
    out.choices.append(Choice("steps", int(steps),
                              f"{stats.num_images} images of about {pixels:.0f} px ({slowdown:.1f}x a 128x128 "
                              f"image): {steps * cfg.batch_size / stats.num_images:.1f} passes over the data"))
    tiny = float(np.mean(resized < TINY_OBJECT))
    if tiny > 0.02:
        out.warnings.append(f"{100 * tiny:.0f} % of the objects are smaller than {TINY_OBJECT:.0f} px after "
                            f"resizing to {image_size}: they will be hard to find (raise image_size with "
                            "--set image_size=N, at a cost in time)")
    return out


def summary(stats: DatasetStats, settings: Settings | None = None) -> str:
    """A short readable report of ``stats`` (and of the choices, if given)."""
    lines = [f"dataset {stats.source or ''}".rstrip()]
    hw = stats.image_hw
    lines.append(f"  {stats.num_images} images, {int(hw[:, 0].min())}-{int(hw[:, 0].max())} x "
                 f"{int(hw[:, 1].min())}-{int(hw[:, 1].max())} px (height x width)")
    per = stats.instances_per_image
    if len(per):
        lines.append(f"  {len(stats.box_hw)} objects, {per.min()}-{per.max()} per image (mean {per.mean():.1f})")
    sizes = stats.object_sizes()
    if len(sizes):
        lines.append(f"  object size (sqrt of box area): {sizes.min():.0f}-{sizes.max():.0f} px, "
                     f"median {np.median(sizes):.0f}")
    counts = stats.class_counts()
    ids = stats.category_ids or tuple(range(1, len(stats.class_names) + 1))
    lines.append("  classes (label: name [dataset id] objects):")
    for k, (name, cid) in enumerate(zip(stats.class_names, ids), start=1):
        lines.append(f"    {k}: {name} [{cid}] {counts[k - 1] if k - 1 < len(counts) else 0}")
    if settings is not None:
        lines.append("chosen from the data (override any with --set FIELD=VALUE):")
        for c in settings.choices:
            lines.append(f"  {c.field} = {c.value!r}: {c.reason}")
        for w in settings.warnings:
            lines.append(f"  warning: {w}")
    return "\n".join(lines)


def plot_object_sizes(stats: DatasetStats, image_size: int, anchor_sizes, ax=None):
    """Histogram of object sizes after resizing, with the anchor sizes marked. Returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(7, 3.5)) if ax is None else (ax.figure, ax))
    sizes = stats.object_sizes(image_size)
    bins = np.geomspace(max(1.0, sizes.min() * 0.8), sizes.max() * 1.25, 30) if len(sizes) else 10
    ax.hist(sizes, bins=bins, color="#0072B2", label="objects")
    ax.set_xscale("log")
    for i, a in enumerate(anchor_sizes):
        ax.axvline(a, color="#D55E00", linestyle="--", linewidth=2, label="anchor sizes" if i == 0 else None)
    ax.axvline(TINY_OBJECT, color="0.3", linestyle=":", linewidth=2, label=f"{TINY_OBJECT:.0f} px (tiny)")
    ax.set_xlabel(f"object size after resizing to {image_size} px (sqrt of box area, pixels)")
    ax.set_ylabel("objects")
    ax.legend()
    fig.tight_layout()
    return fig
