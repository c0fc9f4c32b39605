"""Training curves: the loss terms over steps, and AP at each evaluation."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

LOSS_KEYS = ("loss", "loss_objectness", "loss_rpn_box", "loss_cls", "loss_box", "loss_mask", "loss_keypoint")


def plot_history(history: list[dict], evaluations: list[dict] | None = None):
    """Loss curves (log scale) and, if given, box/mask AP per evaluation. Returns the figure."""
    evaluations = evaluations or []
    ncols = 2 if evaluations else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4), squeeze=False)  # at most 10 in: projector size
    ax = axes[0, 0]
    steps = np.array([row["step"] for row in history])
    for key in LOSS_KEYS:
        values = [row.get(key) for row in history]
        if any(v is not None for v in values):
            ax.plot(steps, [np.nan if v is None else v for v in values], label=key,
                    lw=2 if key == "loss" else 1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("training losses")
    ax.legend(fontsize=10)
    if evaluations:
        ax = axes[0, 1]
        es = [e["step"] for e in evaluations]
        for iou_type in ("bbox", "segm", "keypoints"):
            for key, style in (("AP", "-"), ("AP50", "--")):
                vals = [e[iou_type][key] for e in evaluations if iou_type in e]
                if vals:
                    ax.plot(es[: len(vals)], vals, style, marker="o", label=f"{iou_type} {key}")
        ax.set_ylim(0, 1)
        ax.set_xlabel("step")
        ax.set_title("validation AP")
        ax.legend(fontsize=10)
    fig.tight_layout()
    return fig
