"""Training augmentation: teach the model shapes, not the one program that drew them.

A detector trained on a single generator learns its accidents too: its noise,
its palette, its object sizes, its background. Shown images from another
generator, it loses AP although the objects are the same. Augmentation
randomises exactly those accidents, sample by sample, so that the only thing
left constant is what the labels describe. Each transform below changes one of
them and updates the targets where the geometry moves:

* ``scale_jitter``: zoom the whole image in or out (objects change size; a
  zoom in crops, a zoom out pads), boxes recomputed from the moved masks;
* ``new_background``: paint the pixels outside every mask with a random flat
  colour, gradient or texture (the masks say which pixels are background);
* ``jitter_colors``: move each instance's colour and the image's brightness,
  contrast and saturation;
* ``add_noise``: Gaussian pixel noise of a random strength, sometimes a blur.

``augment(sample, cfg, rng)`` applies them with the probabilities and ranges of
``Config`` (fields ``aug_*``); everything random comes from ``rng``, so a
training step is reproducible from its seed. Every transform keeps the sample
format (``datasets/shapes.py``) and works on any image size.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

from minimaskrcnn.datasets.shapes import masks_to_boxes

__all__ = ["augment", "scale_jitter", "new_background", "jitter_colors", "add_noise"]


def _resize_masks(masks: np.ndarray, w: int, h: int) -> np.ndarray:
    """(K, H, W) bool -> (K, h, w) bool, bilinear then threshold at one half."""
    out = np.zeros((len(masks), h, w), dtype=bool)
    for i, m in enumerate(masks):
        out[i] = np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((w, h), Image.BILINEAR)) >= 128
    return out


def _keep_instances(sample: dict, masks: np.ndarray, before: np.ndarray, min_area: int) -> dict:
    """Targets for moved masks: drop instances cut down below ``min_area`` px or a third of their area."""
    area = masks.sum(axis=(1, 2))
    keep = (area >= min_area) & (area * 3 >= before)
    out = dict(sample)
    out["masks"] = masks[keep]
    out["boxes"] = masks_to_boxes(masks[keep])
    for key in ("labels", "iscrowd"):
        if key in sample:
            out[key] = np.asarray(sample[key])[keep]
    return out


def scale_jitter(sample: dict, factor: float, rng, min_area: int = 16) -> dict:
    """Zoom by ``factor`` about a random point, keeping the image size (H, W).

    ``factor > 1`` enlarges the objects and crops a random window; ``factor < 1``
    shrinks them and pastes the image at a random place on its own mean colour
    (``new_background`` may repaint that later). Masks move with the pixels.
    Keypoint samples are returned unchanged (their geometry would need moving too).
    """
    if sample.get("keypoints") is not None or factor == 1:
        return sample
    image, masks = sample["image"], np.asarray(sample["masks"], dtype=bool)
    H, W = image.shape[:2]
    h, w = max(1, round(H * factor)), max(1, round(W * factor))
    big = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))  # (h, w, 3)
    big_masks = _resize_masks(masks, w, h)  # (K, h, w)
    out_image = np.empty_like(image)
    out_image[:] = image.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    out_masks = np.zeros((len(masks), H, W), dtype=bool)
    # window of the zoomed image that lands in the output: offsets (oy, ox) of the zoomed
    # image's top-left corner in output coordinates, negative when it is larger
    oy = int(rng.integers(min(0, H - h), max(0, H - h) + 1))
    ox = int(rng.integers(min(0, W - w), max(0, W - w) + 1))
    ys, xs = slice(max(0, oy), min(H, oy + h)), slice(max(0, ox), min(W, ox + w))
    src_y, src_x = slice(ys.start - oy, ys.stop - oy), slice(xs.start - ox, xs.stop - ox)
    out_image[ys, xs] = big[src_y, src_x]
    out_masks[:, ys, xs] = big_masks[:, src_y, src_x]
    out = _keep_instances(sample, out_masks, big_masks.sum(axis=(1, 2)), min_area)
    out["image"] = out_image
    return out


def _texture(rng, H: int, W: int) -> np.ndarray:
    """A random background (3, H, W) float32: flat, a linear gradient, blotches or stripes."""
    kind = int(rng.integers(4))
    c0 = rng.uniform(0, 255, size=3).astype(np.float32)[:, None, None]  # (3, 1, 1)
    if kind == 0:
        return np.broadcast_to(c0, (3, H, W))
    c1 = rng.uniform(0, 255, size=3).astype(np.float32)[:, None, None]
    yy = np.arange(H, dtype=np.float32)[:, None]  # (H, 1)
    xx = np.arange(W, dtype=np.float32)[None, :]  # (1, W)
    if kind == 1:  # gradient along a random direction
        a = rng.uniform(0, 2 * np.pi)
        t = np.float32(np.cos(a) / W) * xx + np.float32(np.sin(a) / H) * yy  # (H, W)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    elif kind == 2:  # low-frequency blotches: a coarse random grid, upsampled
        cells = int(rng.integers(3, 9))
        coarse = (rng.uniform(0, 255, size=(cells, cells))).astype(np.uint8)
        t = np.asarray(Image.fromarray(coarse).resize((W, H), Image.BICUBIC), dtype=np.float32) / 255
    else:  # stripes of a random period and direction
        a, period = rng.uniform(0, np.pi), rng.uniform(6, 24)
        phase = np.float32(2 * np.pi * np.cos(a) / period) * xx + np.float32(2 * np.pi * np.sin(a) / period) * yy
        t = 0.5 + 0.5 * np.sin(phase)
    return c0 + (c1 - c0) * t[None]  # (3, H, W)


# The colour transforms work on the image as three planes (3, H, W) of float32: numpy is
# slow on (H, W, 3) arrays whenever a per-channel value is broadcast (its inner loop then
# runs over 3 values at a time). ``_planes`` and ``_interleave`` convert once each way.
def _planes(image: np.ndarray) -> np.ndarray:
    return image.transpose(2, 0, 1).astype(np.float32)  # (H, W, 3) uint8 -> (3, H, W) float32


def _interleave(planes: np.ndarray) -> np.ndarray:
    np.clip(planes, 0, 255, out=planes)
    return np.ascontiguousarray(planes.transpose(1, 2, 0)).astype(np.uint8)  # (H, W, 3) uint8


def _instance_map(masks: np.ndarray, H: int, W: int) -> np.ndarray:
    """(H, W) int: 1 + the index of the (last) instance covering each pixel, 0 for background."""
    ids = np.zeros((H, W), dtype=np.int32)
    for k, m in enumerate(masks):
        ids[m] = k + 1
    return ids


def _background_planes(planes, masks, rng) -> None:
    H, W = planes.shape[1:]
    background = ~masks.any(axis=0)  # (H, W)
    texture = _texture(rng, H, W)  # (3, H, W)
    for c in range(3):
        planes[c][background] = texture[c][background]


def _color_planes(planes, masks, strength, rng) -> None:
    H, W = planes.shape[1:]
    offsets = np.zeros((len(masks) + 1, 3), dtype=np.float32)  # row 0: the background keeps its colour
    offsets[1:] = rng.uniform(-80, 80, size=(len(masks), 3)) * strength
    ids = _instance_map(masks, H, W)
    contrast, saturation = (1 + rng.uniform(-0.5, 0.5, size=2) * strength).astype(np.float32)
    brightness = np.float32(rng.uniform(-40, 40) * strength)
    for c in range(3):
        planes[c] += offsets[:, c][ids]  # each instance moved by its own offset
        mean = np.float32(planes[c].mean())
        planes[c] -= mean  # contrast about the channel's mean
        planes[c] *= contrast
        planes[c] += mean
    gray = (planes[0] + planes[1] + planes[2]) / np.float32(3)  # (H, W)
    gray *= np.float32(1) - saturation
    gray += brightness
    planes *= saturation  # saturation: away from (or towards) the grey of each pixel
    planes += gray


def _noise_planes(planes, max_std, rng) -> None:
    noise = rng.standard_normal(planes.shape, dtype=np.float32)
    noise *= np.float32(rng.uniform(0, max_std))
    planes += noise


def _blur(image: np.ndarray, rng) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))))


def new_background(sample: dict, rng) -> dict:
    """Repaint every pixel outside the masks with a random flat colour, gradient, blotches or stripes."""
    planes = _planes(sample["image"])
    _background_planes(planes, np.asarray(sample["masks"], dtype=bool), rng)
    return {**sample, "image": _interleave(planes)}


def jitter_colors(sample: dict, strength: float, rng) -> dict:
    """Shift each instance's colour, then the image's brightness, contrast and saturation.

    ``strength`` in [0, 1] scales every range: per-instance RGB offsets up to
    ``strength * 80``, brightness +-``strength * 40``, contrast and saturation
    factors in ``1 +- strength * 0.5``.
    """
    planes = _planes(sample["image"])
    _color_planes(planes, np.asarray(sample["masks"], dtype=bool), strength, rng)
    return {**sample, "image": _interleave(planes)}


def add_noise(sample: dict, max_std: float, rng, blur_prob: float = 0.2) -> dict:
    """Gaussian noise with a standard deviation drawn from [0, max_std]; sometimes a slight blur first."""
    image = _blur(sample["image"], rng) if rng.random() < blur_prob else sample["image"]
    planes = _planes(image)
    _noise_planes(planes, max_std, rng)
    return {**sample, "image": _interleave(planes)}


def augment(sample: dict, cfg, rng) -> dict:
    """All of the above, each with its ``Config`` probability and range (``cfg.aug_*``).

    Order: geometry (scale), background, colours, blur and noise; the colour
    steps share one conversion to planes. With ``cfg.augment`` false the sample
    is returned as it is.
    """
    if not cfg.augment:
        return sample
    lo, hi = cfg.aug_scale_range
    if hi > lo and rng.random() < cfg.aug_scale_prob:
        sample = scale_jitter(sample, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), rng)
    masks = np.asarray(sample["masks"], dtype=bool)
    planes = _planes(sample["image"])
    if rng.random() < cfg.aug_background_prob:
        _background_planes(planes, masks, rng)
    if cfg.aug_color > 0:
        _color_planes(planes, masks, cfg.aug_color, rng)
    if cfg.aug_noise > 0:
        if rng.random() < 0.2:  # a slight blur before the noise, as a camera would
            planes = _planes(_blur(_interleave(planes), rng))
        _noise_planes(planes, cfg.aug_noise, rng)
    return {**sample, "image": _interleave(planes)}
