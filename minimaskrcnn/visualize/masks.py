"""Pictures of how a predicted m x m mask becomes an image mask: threshold and resize order.

* ``mask_resize_orders``: the two orders side by side as arrays (resize then threshold, and
  threshold then resize), computed with the model's own ``paste_masks``
* ``draw_mask_resize``: the probabilities, the pasted mask in one order with the other order's
  outline, and the pixels on which the two orders disagree
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.model.mask_head import paste_masks
from minimaskrcnn.visualize.style import FONT, OKABE_ITO

ORDERS = ("resize, then threshold", "threshold, then resize")


def square_box(side: float, margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    """A square box of ``side`` pixels with ``margin`` pixels around it, and the image that holds it."""
    n = int(np.ceil(side + 2 * margin))
    return np.array([margin, margin, margin + side, margin + side], dtype=np.float64), (n, n)


def mask_resize_orders(probs, box, image_size, threshold: float = 0.5):
    """``(resize_first, threshold_first)``: two (H, W) bool masks from one (m, m) probability map.

    resize_first: ``paste_masks`` as the model does it (bilinear resize of the
    probabilities into ``box``, then ``>= threshold``); threshold_first: the
    m x m map thresholded first, the 0/1 mask resized and cut at 0.5.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != probs.shape[1]:
        raise ValueError(f"probs: expected one (m, m) probability map, got shape {probs.shape}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold: expected a value in (0, 1), got {threshold}")
    box = np.asarray(box, dtype=np.float64).reshape(1, 4)
    resize_first = paste_masks(probs[None], box, image_size, threshold)[0]
    threshold_first = paste_masks((probs >= threshold)[None].astype(np.float64), box, image_size, 0.5)[0]
    return resize_first, threshold_first


def draw_mask_resize(probs, box, image_size, threshold: float = 0.5, order: str = ORDERS[0], image=None):
    """Three panels: the m x m probabilities (threshold contour), the pasted mask, the disagreement.

    The middle panel shows the mask pasted in ``order`` (one of ``ORDERS``) in
    white, with the other order's outline in orange; the right panel marks
    every pixel where the two orders differ, and counts them. ``image``
    (optional, (H, W, 3)) is shown faintly under the middle panel.
    """
    import matplotlib.pyplot as plt

    if order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    probs = np.asarray(probs, dtype=np.float64)
    resize_first, threshold_first = mask_resize_orders(probs, box, image_size, threshold)
    shown, other = (resize_first, threshold_first) if order == ORDERS[0] else (threshold_first, resize_first)
    x1, y1, x2, y2 = np.asarray(box, dtype=np.float64).reshape(4)
    H, W = image_size
    view = (max(x1 - 2, 0) - 0.5, min(x2 + 2, W) - 0.5, min(y2 + 2, H) - 0.5, max(y1 - 2, 0) - 0.5)

    fig, axes = plt.subplots(1, 3, figsize=(10, 3.9))
    m = probs.shape[0]
    axes[0].imshow(probs, cmap="viridis", vmin=0, vmax=1)
    axes[0].contour(probs, levels=[threshold], colors="white", linewidths=2)
    axes[0].set_title(f"{m}x{m} probabilities, p = {threshold:.2f}", fontsize=FONT["title"])
    if image is not None:
        axes[1].imshow(np.asarray(image).mean(axis=2), cmap="gray", alpha=0.5)
    axes[1].imshow(np.ma.masked_where(~shown, shown.astype(float)), cmap="gray", vmin=0, vmax=1,
                   interpolation="nearest")
    axes[1].set_facecolor("0.2")
    if other.any():
        axes[1].contour(other, levels=[0.5], colors=OKABE_ITO[0], linewidths=2)
    axes[1].set_title(f"{order} (orange: the other)", fontsize=FONT["small"] + 1)
    differ = shown != other
    picture = np.zeros((H, W, 3))
    picture[resize_first] = 0.55
    picture[differ] = (0.84, 0.37, 0.0)  # vermillion
    axes[2].imshow(picture, interpolation="nearest")
    axes[2].set_title(f"{int(differ.sum())} pixels differ (of {int(resize_first.sum())})", fontsize=FONT["title"])
    for ax in axes[1:]:
        ax.set_xlim(view[0], view[1])
        ax.set_ylim(view[2], view[3])
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
