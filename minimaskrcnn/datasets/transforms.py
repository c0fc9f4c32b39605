"""Sample transforms used by training and inference: flip, resize, batching.

A sample is the dict every dataset returns: ``image`` (H, W, 3) uint8,
``masks`` (K, H, W) bool, ``boxes`` (K, 4) float32 (x1, y1, x2, y2),
``labels`` (K,) int64 in 1..num_classes (0 is background), ``iscrowd``
(K,) bool, ``image_id`` int; keypoint datasets add ``keypoints`` (K, P, 3)
[x, y, v] (see ``keypoints.py``), which every transform here carries along.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from minimaskrcnn import checks


def hflip(sample: dict, flip_perm=None) -> dict:
    """Mirror left-right. A box (x1, x2) becomes (W - x2, W - x1).

    Keypoints: x becomes W - x, and a mirrored left hand is a right hand, so
    the rows are reordered by ``flip_perm`` (P,) (``datasets.keypoints.flip_permutation``,
    required when the sample has keypoints); unlabelled rows stay [0, 0, 0].
    """
    W = sample["image"].shape[1]
    out = dict(sample)
    out["image"] = np.ascontiguousarray(sample["image"][:, ::-1])
    out["masks"] = np.ascontiguousarray(sample["masks"][:, :, ::-1])
    boxes = np.asarray(sample["boxes"], dtype=np.float32).copy()
    boxes[:, [0, 2]] = W - boxes[:, [2, 0]]
    out["boxes"] = boxes
    if sample.get("keypoints") is not None:
        kp = np.asarray(sample["keypoints"], dtype=np.float32)
        if flip_perm is None or len(flip_perm) != kp.shape[1]:
            raise ValueError(f"flip_perm: a sample with {kp.shape[1]} keypoints needs their left/right "
                             f"permutation (datasets.keypoints.flip_permutation), got {flip_perm}")
        kp = kp[:, np.asarray(flip_perm)].copy()  # (K, P, 3): left and right swapped
        kp[:, :, 0] = np.where(kp[:, :, 2] > 0, W - kp[:, :, 0], 0.0)
        out["keypoints"] = kp
    return out


def resize_longer(sample: dict, size: int) -> tuple[dict, float]:
    """Scale so the longer side is ``size`` pixels, keeping the aspect ratio (no padding).

    Returns the new sample and the scale factor (new pixels per old pixel):
    ``boxes_original = boxes / scale``. A sample whose longer side already is
    ``size`` is returned unchanged (scale 1). Masks are resized bilinearly and
    thresholded at one half; boxes and keypoints are scaled.
    """
    H, W = sample["image"].shape[:2]
    if max(H, W) == size:
        return sample, 1.0
    scale = size / max(H, W)
    h, w = max(1, round(H * scale)), max(1, round(W * scale))
    out = dict(sample)
    out["image"] = np.asarray(Image.fromarray(sample["image"]).resize((w, h), Image.BILINEAR))
    masks = np.zeros((len(sample["masks"]), h, w), dtype=bool)
    for i, m in enumerate(sample["masks"]):
        small = Image.fromarray(np.asarray(m, dtype=np.uint8) * 255).resize((w, h), Image.BILINEAR)
        masks[i] = np.asarray(small) >= 128
    out["masks"] = masks
    out["boxes"] = (np.asarray(sample["boxes"], dtype=np.float32) * scale).astype(np.float32)
    if sample.get("keypoints") is not None:
        kp = np.asarray(sample["keypoints"], dtype=np.float32).copy()
        kp[:, :, :2] *= scale  # unlabelled rows stay [0, 0, 0]
        out["keypoints"] = kp
    return out, scale


def resize_and_pad(sample: dict, size: int) -> tuple[dict, float]:
    """Scale so the longer side is ``size``, then pad right/bottom to size x size.

    Returns the new sample and the scale factor (new pixels per old pixel), so
    predictions can be mapped back: ``boxes_original = boxes / scale``. Samples
    that are already size x size are returned unchanged (scale 1).
    """
    checks.integer("size", size, 1)
    checks.mapping("sample", sample, ("image", "masks", "boxes"))
    H, W = sample["image"].shape[:2]
    if (H, W) == (size, size):
        return sample, 1.0
    sample = dict(sample, masks=checks.binary_masks("sample['masks']", sample["masks"]))
    scale = size / max(H, W)
    h, w = max(1, round(H * scale)), max(1, round(W * scale))
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[:h, :w] = np.asarray(Image.fromarray(sample["image"]).resize((w, h), Image.BILINEAR))
    masks = np.zeros((len(sample["masks"]), size, size), dtype=bool)
    for i, m in enumerate(sample["masks"]):
        small = Image.fromarray(m.astype(np.uint8) * 255).resize((w, h), Image.BILINEAR)
        masks[i, :h, :w] = np.asarray(small) >= 128
    out = dict(sample)
    out.update(image=image, masks=masks,
               boxes=(np.asarray(sample["boxes"], dtype=np.float32) * scale).astype(np.float32))
    if sample.get("keypoints") is not None:
        kp = np.asarray(sample["keypoints"], dtype=np.float32).copy()
        kp[:, :, :2] *= scale  # unlabelled rows stay [0, 0, 0]
        out["keypoints"] = kp
    return out, scale


PAD_VALUE = 128  # grey: the padding normalises to about 0 (Config.pixel_mean 0.5), like no signal


def batch_shape(sizes, size_divisible: int = 1) -> tuple[int, int]:
    """(H, W) of a batch holding images of ``sizes`` [(h, w), ...]: the largest, rounded up to a multiple."""
    H = max(h for h, _ in sizes)
    W = max(w for _, w in sizes)
    return -(-H // size_divisible) * size_divisible, -(-W // size_divisible) * size_divisible


def collate(samples: list[dict], size_divisible: int = 1):
    """Stack samples into images (N, H, W, 3) uint8 and training targets.

    Images of different sizes are padded at the right and bottom to the
    largest height and width in the batch, rounded up to a multiple of
    ``size_divisible`` (the backbone's stride), with ``PAD_VALUE``; their masks are
    padded with background. Each target records its image's own
    ``image_size`` (h, w), so the model clips boxes to the image, not the padding.

    Crowd instances (``iscrowd``) are left out of the targets: they mark regions
    the evaluator ignores, not objects to learn.
    """
    if not isinstance(samples, (list, tuple)) or len(samples) == 0:
        raise ValueError(f"samples: expected a non-empty list of sample dicts, got {checks.describe(samples)}")
    for i, s in enumerate(samples):
        checks.mapping(f"samples[{i}]", s, ("image", "boxes", "labels", "masks"))
    sizes = [tuple(np.shape(s["image"])[:2]) for s in samples]
    H, W = batch_shape(sizes, size_divisible)
    images = np.full((len(samples), H, W, 3), PAD_VALUE, dtype=np.uint8)
    targets = []
    for n, (s, (h, w)) in enumerate(zip(samples, sizes)):
        images[n, :h, :w] = s["image"]
        keep = ~checks.binary_masks(f"samples[{n}]['iscrowd']",
                                    s.get("iscrowd", np.zeros(len(s["labels"]), bool))).reshape(-1)
        masks = checks.binary_masks(f"samples[{n}]['masks']", s["masks"])[keep]
        if (h, w) != (H, W):
            padded = np.zeros((len(masks), H, W), dtype=bool)
            padded[:, :h, :w] = masks
            masks = padded
        targets.append({"boxes": np.asarray(s["boxes"], np.float32)[keep],
                        "labels": np.asarray(s["labels"], np.int64)[keep],
                        "masks": masks, "image_size": (h, w)})
        if s.get("keypoints") is not None:
            targets[-1]["keypoints"] = np.asarray(s["keypoints"], np.float32)[keep]
    return images, targets
