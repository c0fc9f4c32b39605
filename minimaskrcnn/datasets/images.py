"""Reading an image file as the model sees it: (H, W, 3) uint8 RGB, whatever the file's mode.

Pillow's ``convert("RGB")`` handles the 8-bit modes (grey, palette, RGBA whose
alpha is dropped, CMYK, ...), but it *clips* 16-bit grey to 255: a 16-bit
grayscale PNG, where 255 is nearly black, comes back all white. So 16-bit
grey (modes ``I;16``, ``I;16B``, ``I;16L``, and ``I`` holding values 0..65535)
is scaled to 0..255 here instead (``round(v * 255 / 65535)``), then repeated
into three channels. Floating-point images (mode ``F``) and 32-bit integer
images beyond 16 bits have no agreed 0..255 scale and are refused.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from minimaskrcnn import checks

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def to_rgb(im: Image.Image, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 of an open Pillow image (see the module docstring for the modes)."""
    checks.image_size(name, im.height, im.width)
    if im.mode in SIXTEEN_BIT_MODES or im.mode == "I":
        grey = np.asarray(im).astype(np.int64)  # (H, W)
        if grey.size and (grey.min() < 0 or grey.max() > 65535):
            raise ValueError(f"{name}: a 32-bit integer image (values {grey.min()}..{grey.max()}) has no "
                             f"0..255 scale; convert it to 8 or 16 bits first")
        grey = ((grey * 255 + 32767) // 65535).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if im.mode == "F":
        raise ValueError(f"{name}: a floating-point image (mode F) has no 0..255 scale; "
                         f"convert it to 8 or 16 bits first")
    return np.asarray(im.convert("RGB"))


def read_rgb(path, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB of the image file ``path``; errors name ``name`` and the path.

    Unreadable, truncated or oversized files raise ``ValueError`` (never a
    Pillow exception type a caller would not expect).
    """
    try:
        with Image.open(path) as im:
            return to_rgb(im, f"{name} {path}")
    except FileNotFoundError:
        raise FileNotFoundError(f"{name} {path}: no such file") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:  # not an image, truncated, too big
        raise ValueError(f"{name} {path}: cannot read it as an image ({e})") from None
