"""A grid of images: ground truth above, the model's predictions below, coloured by class."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from minimaskrcnn.visualize.instances import draw_instances
from minimaskrcnn.visualize.style import DISPLAY_WIDTH_IN, class_legend


def draw_prediction_grid(samples, predictions, class_names, score_thresh: float = 0.5, captions: bool = True):
    """Ground-truth instances above the predictions scoring >= score_thresh, one column per image.

    samples: dataset samples; predictions: one dict per sample (boxes, labels,
    scores, masks). At most four columns fit the notebook's width at a
    readable size, so more images wrap into further (ground truth, prediction)
    row pairs. A class has the same colour in both rows; one legend names them.
    Returns the figure.
    """
    n = len(samples)
    blocks = max(1, math.ceil(n / 4))
    ncols = max(1, math.ceil(n / blocks))
    side = DISPLAY_WIDTH_IN / ncols
    fig, axes = plt.subplots(2 * blocks, ncols, figsize=(DISPLAY_WIDTH_IN, 2 * blocks * side + 0.6), squeeze=False)
    for a in axes.ravel():
        a.set_axis_off()
    for j, (s, p) in enumerate(zip(samples, predictions)):
        row, col = 2 * (j // ncols), j % ncols
        draw_instances(s["image"], s["boxes"], s["labels"], masks=s["masks"], class_names=class_names,
                       ax=axes[row, col], title="ground truth" if col == 0 else None, captions=captions)
        keep = np.asarray(p["scores"]) >= score_thresh
        draw_instances(s["image"], p["boxes"][keep], p["labels"][keep], p["scores"][keep],
                       p["masks"][keep] if "masks" in p else None, class_names, ax=axes[row + 1, col],
                       title=f"predicted (score >= {score_thresh})" if col == 0 else None, captions=captions)
    class_legend(fig, class_names, loc="lower center", ncol=len(class_names), bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.5 / (2 * blocks * side + 0.6), 1, 1))
    return fig
