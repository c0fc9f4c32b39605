"""Ablation results as pictures: our mean ± std beside the paper's Table 2.

``data`` is the dict stored by ``minimaskrcnn.ablations.run_ablations`` (the
contents of ``data/ablations.json``): ``{"runs": [{"variant", "seed",
"metrics": {"segm": {"AP", ...}, "bbox": {...}}, ...}, ...], ...}``.

* ``comparison_rows``: the numbers behind the plot, one row per (comparison,
  variant), in AP points (x100), ``None`` where a variant was not run;
* ``plot_comparisons``: one panel per comparison of ``COMPARISONS``, two bars
  per row: ours (mean ± std over seeds) and the paper's COCO mask AP.
  ``relative=True`` plots each row minus its comparison's *reference* row (the
  paper's choice, listed last: sigmoid, RoIAlign-avg, FCN, class-specific),
  which is what an ablation claims: how much worse each alternative is.

The paper's figures are always *mask AP on COCO*; with another ``metric``
(e.g. AP75 or box AP) only our bars change.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ablations import COMPARISONS, METRICS, summarize

OURS_COLOR, PAPER_COLOR = "tab:blue", "0.65"


def _check_metric(metric) -> tuple[str, str]:
    metric = tuple(metric)
    if metric not in METRICS:
        raise ValueError(f"metric: expected one of {list(METRICS)}, got {metric!r}")
    return metric


def comparison_rows(data: dict, metric=("segm", "AP")) -> list[tuple[str, list[dict]]]:
    """``[(title, [row, ...]), ...]`` in ``COMPARISONS`` order.

    Each row: ``{"label", "variant", "paper", "mean", "std", "n"}`` with our
    mean and std over seeds of ``metric`` in AP points (x100); ``mean``/``std``
    are ``None`` and ``n`` is 0 for a variant with no stored run.
    """
    metric = _check_metric(metric)
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise ValueError("data: expected the dict stored by run_ablations, with a 'runs' list")
    summary = summarize(data)
    out = []
    for title, rows in COMPARISONS:
        table = []
        for label, variant, paper in rows:
            s = summary.get(variant)
            mean, std = (100 * s[metric][0], 100 * s[metric][1]) if s else (None, None)
            table.append(dict(label=label, variant=variant, paper=paper, mean=mean, std=std,
                              n=s["n"] if s else 0))
        out.append((title, table))
    return out


def plot_comparisons(data: dict, metric=("segm", "AP"), relative: bool = False, title: str | None = None):
    """One panel per comparison: our mean ± std (blue, x100) beside the paper's mask AP (grey).

    ``relative=True``: every bar minus the same comparison's reference row
    (the last one), so the reference is 0 and an alternative that hurts is
    negative. A variant without runs gets no bar and the words "not run"
    (and, when relative, so does every row of a comparison whose reference
    is missing). Returns the figure.
    """
    import matplotlib.pyplot as plt

    groups = comparison_rows(data, metric)
    fig, axes = plt.subplots(1, len(groups), figsize=(3.1 * len(groups), 3.6),
                             gridspec_kw=dict(width_ratios=[len(rows) for _, rows in groups]))
    width = 0.38
    for ax, (name, rows) in zip(np.atleast_1d(axes), groups):
        ref_ours, ref_paper = rows[-1]["mean"], rows[-1]["paper"]
        for i, row in enumerate(rows):
            paper = row["paper"] - ref_paper if relative else row["paper"]
            ax.bar(i + width / 2, paper, width, color=PAPER_COLOR, label="paper (COCO mask AP)")
            ours = row["mean"]
            if ours is not None and relative:
                ours = None if ref_ours is None else ours - ref_ours
            if ours is None:
                ax.text(i - width / 2, 0, "not run", rotation=90, ha="center", va="bottom", fontsize=8,
                        color=OURS_COLOR)
                continue
            ax.bar(i - width / 2, ours, width, yerr=row["std"], capsize=3, color=OURS_COLOR,
                   label=f"ours (mean ± std, {row['n']} seed{'s' if row['n'] != 1 else ''})")
        ax.set_xticks(range(len(rows)), [r["label"] for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.7, len(rows) - 0.3)
        ax.set_title(name, fontsize=10)
        ax.axhline(0, color="black", lw=0.8)
        if not relative:
            ax.set_ylim(0, 100)
    first = np.atleast_1d(axes)[0]
    iou_type, key = metric
    what = f"{'mask' if iou_type == 'segm' else 'box'} {key}"
    first.set_ylabel(f"{what} − reference row (points)" if relative else f"{what} (points, x100)")
    handles, labels = [], []
    for ax in np.atleast_1d(axes):  # one legend entry per distinct label, from whichever panel has it
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=max(len(labels), 1),
               fontsize=8, frameon=False)
    fig.suptitle(title or f"ours: {what}" + (", relative to the paper's choice" if relative else ""),
                 y=0.02, va="bottom", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.95))
    return fig
