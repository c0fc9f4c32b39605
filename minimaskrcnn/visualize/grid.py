"""A grid of images: ground truth above, the model's predictions below."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from minimaskrcnn.visualize.instances import draw_instances


def draw_prediction_grid(samples, predictions, class_names, score_thresh: float = 0.5):
    """Two rows per set of images: ground-truth instances, then predictions scoring >= score_thresh.

    samples: dataset samples; predictions: one dict per sample (boxes, labels,
    scores, masks). Returns the figure.
    """
    n = len(samples)
    fig, axes = plt.subplots(2, n, figsize=(2.4 * n, 5.2), squeeze=False)
    for j, (s, p) in enumerate(zip(samples, predictions)):
        draw_instances(s["image"], s["boxes"], s["labels"], masks=s["masks"], class_names=class_names,
                       ax=axes[0, j], title="ground truth" if j == 0 else None)
        keep = np.asarray(p["scores"]) >= score_thresh
        draw_instances(s["image"], p["boxes"][keep], p["labels"][keep], p["scores"][keep],
                       p["masks"][keep] if "masks" in p else None, class_names, ax=axes[1, j],
                       title=f"predicted (score >= {score_thresh})" if j == 0 else None)
    fig.tight_layout()
    return fig
