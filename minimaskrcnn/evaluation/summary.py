"""Reading an EvalResult: a plain-text table and precision-recall curves."""
from __future__ import annotations

import numpy as np

from minimaskrcnn.evaluation.result import EvalResult, stat_definitions


def format_summary(result: EvalResult, per_class: bool = True) -> str:
    """The twelve COCO figures in pycocotools' layout, then a per-class AP table."""
    lines = [f"{result.iou_type}: {result.num_images} images, {result.num_gt} ground truths, "
             f"{result.num_dt} detections (-1 = undefined: no ground truth)"]
    first, last = result.iou_thresholds[0], result.iou_thresholds[-1]
    for key, value in result.stats.items():
        kind, iou, area, max_dets = stat_definitions(result.iou_type)[key]
        title = "Average Precision  (AP)" if kind == "AP" else "Average Recall     (AR)"
        iou_text = f"{first:0.2f}:{last:0.2f}" if iou is None else f"{iou:0.2f}"
        lines.append(f" {title} @[ IoU={iou_text:<9} | area={area:>6s} | maxDets={max_dets:>3d} ] "
                     f"= {value:0.3f}   {key}")
    if per_class and result.class_names:
        width = max(8, *(len(n) for n in result.class_names))
        lines.append("")
        lines.append(f" {'class':<{width}}  {'AP':>6}  {'AP50':>6}  {'AP75':>6}")
        for name, row in result.per_class().items():
            cells = "  ".join(f"{row[k]:6.3f}" if row[k] > -1 else f"{'-':>6}" for k in ("AP", "AP50", "AP75"))
            lines.append(f" {name:<{width}}  {cells}")
    return "\n".join(lines)


def plot_precision_recall(result: EvalResult, category=None, iou_thresholds=(0.5, 0.75, None),
                          area: str = "all", max_dets: int | None = None, ax=None):
    """Interpolated precision against recall, one curve per IoU threshold.

    category: a class name or id, or None to average over classes with ground truth.
    iou_thresholds: thresholds to draw; None stands for the mean over 0.50:0.95.
    The area under each curve (mean of its 101 points) is its AP, shown in the legend.
    Returns the Figure (never calls plt.show()).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    max_dets = result.max_dets[-1] if max_dets is None else max_dets
    a, m = list(result.area_ranges).index(area), list(result.max_dets).index(max_dets)
    k = slice(None) if category is None else [result._category_index(category)]
    for iou in iou_thresholds:
        if iou is None:
            curves = result.precision[:, :, k, a, m]  # (T, R, K')
        else:
            t = np.flatnonzero(np.isclose(result.iou_thresholds, iou, rtol=0, atol=1e-9))
            curves = result.precision[t][:, :, k, a, m]
        curves = np.moveaxis(curves, 1, -1).reshape(-1, curves.shape[1])  # (T * K', R)
        curves = curves[(curves > -1).all(axis=1)]
        label = "IoU=.50:.95" if iou is None else f"IoU={iou:.2f}"
        if len(curves) == 0:
            continue
        mean_curve = curves.mean(axis=0)
        ax.plot(result.recall_thresholds, mean_curve, label=f"{label}  AP={mean_curve.mean():.3f}",
                linestyle="--" if iou is None else "-")
    what = "all classes" if category is None else str(category)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.05),
           title=f"{result.iou_type} precision-recall ({what}, area={area}, maxDets={max_dets})")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left")
    return fig
