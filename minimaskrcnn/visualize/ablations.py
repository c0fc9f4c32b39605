"""Ablation results as pictures: our mean ± std beside the paper's Table 2.

``data`` is the dict stored by ``minimaskrcnn.ablations.run_ablations`` (the
contents of ``data/ablations.json``): ``{"runs": [{"variant", "seed",
"metrics": {"segm": {"AP", ...}, "bbox": {...}}, ...}, ...], ...}``.

* ``comparison_rows``: the numbers behind the plot, one row per (comparison,
  variant), in AP points (x100), ``None`` where a variant was not run;
* ``plot_comparisons``: one column per comparison of ``COMPARISONS``; the top
  row holds our bars (mean ± std over seeds), the bottom row the paper's COCO
  mask AP, each row on its **own axis**: toy-shape AP and COCO AP are different
  quantities and are never drawn on one scale. ``relative=True`` plots each
  row minus its comparison's *reference* row (the paper's choice, listed last:
  sigmoid, RoIAlign-avg, FCN, class-specific), which is what an ablation
  claims: how much worse each alternative is — compare the *signs*, not the
  sizes. ``paper=False`` leaves out the paper's row;
* ``difference``: one variant minus the baseline in our runs, with the combined
  spread over seeds; ``verdict`` says in words how it compares with the paper's
  difference, so a notebook states a measured effect without hard-coding it.

The paper's figures are always *mask AP on COCO*; with another ``metric``
(e.g. AP75 or box AP) only our bars change.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.ablations import COMPARISONS, METRICS, summarize

OURS_COLOR, PAPER_COLOR = "#0072B2", "0.55"
FONT = 10


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


def difference(data: dict, variant: str, reference: str = "baseline", metric=("segm", "AP")):
    """``(ours - reference, spread)`` in AP points (x100), or ``None`` if either was not run.

    spread = sqrt(std_variant² + std_reference²), the combined standard
    deviation over seeds (0 with a single seed).
    """
    metric = _check_metric(metric)
    summary = summarize(data)
    if variant not in summary or reference not in summary:
        return None
    (a, sa), (b, sb) = summary[variant][metric], summary[reference][metric]
    return 100 * (a - b), 100 * float(np.hypot(sa, sb))


def verdict(ours: float, spread: float, paper: float) -> str:
    """A difference of ours against the paper's, in words.

    Clearly measured only when ``|ours| > 2 * spread`` (and there is a spread:
    a single seed gives none); then "same direction as the paper" (with
    "larger" / "smaller" than the paper's difference) or "OPPOSITE to the paper".
    """
    if spread == 0:
        return "a single seed: no spread to judge by"
    if abs(ours) <= 2 * spread:
        return "within the noise of the seeds"
    if np.sign(ours) != np.sign(paper):
        return "OPPOSITE to the paper"
    return f"same direction as the paper, {'larger' if abs(ours) > abs(paper) else 'smaller'} than its {paper:+.1f}"


def plot_comparisons(data: dict, metric=("segm", "AP"), relative: bool = False, title: str | None = None,
                     paper: bool = True):
    """One column per comparison: our mean ± std (blue) above, the paper's COCO mask AP (grey) below.

    The two rows have separate y axes (toy AP and COCO AP do not compare).
    ``relative=True``: every bar minus the same comparison's reference row
    (the last one), so the reference is 0 and an alternative that hurts is
    negative. A variant without runs gets no bar and the words "not run"
    (and, when relative, so does every row of a comparison whose reference
    is missing). Returns the figure (10 inches wide).
    """
    import matplotlib.pyplot as plt

    groups = comparison_rows(data, metric)
    nrows = 2 if paper else 1
    fig, axes = plt.subplots(nrows, len(groups), figsize=(10, 2.9 * nrows + 0.9), squeeze=False, sharey="row",
                             gridspec_kw=dict(width_ratios=[len(rows) for _, rows in groups]))
    width = 0.6
    iou_type, key = metric
    what = f"{'mask' if iou_type == 'segm' else 'box'} {key}"
    for col, (name, rows) in enumerate(groups):
        ours_ax = axes[0, col]
        ref_ours, ref_paper = rows[-1]["mean"], rows[-1]["paper"]
        for i, row in enumerate(rows):
            ours = row["mean"]
            if ours is not None and relative:
                ours = None if ref_ours is None else ours - ref_ours
            if ours is None:
                ours_ax.text(i, 0, "not run", rotation=90, ha="center", va="bottom", fontsize=FONT,
                             color=OURS_COLOR)
                continue
            ours_ax.bar(i, ours, width, yerr=row["std"], capsize=4, color=OURS_COLOR)
        ours_ax.set_title(name, fontsize=FONT + 1)
        if paper:
            paper_ax = axes[1, col]
            for i, row in enumerate(rows):
                paper_ax.bar(i, row["paper"] - ref_paper if relative else row["paper"], width, color=PAPER_COLOR)
        for ax in axes[:, col]:
            ax.axhline(0, color="black", lw=0.8)
            ax.set_xlim(-0.6, len(rows) - 0.4)
            ax.tick_params(labelsize=FONT)
            ax.set_xticks(range(len(rows)), [r["label"] for r in rows] if ax is axes[-1, col] else [],
                          rotation=30, ha="right", fontsize=FONT)
        if not relative:
            ours_ax.set_ylim(0, 100)
            if paper:
                axes[1, col].set_ylim(0, 40)
    n = sorted({r["n"] for _, rows in groups for r in rows if r["n"]})
    seeds = f"mean ± std, {'/'.join(map(str, n))} seed{'s' if n != [1] else ''}" if n else "no runs"
    minus = " − reference" if relative else ""
    axes[0, 0].set_ylabel(f"ours: toy {what}{minus}\n(points; {seeds})", fontsize=FONT)
    if paper:
        axes[1, 0].set_ylabel(f"paper: COCO mask AP{minus}\n(points)", fontsize=FONT)
    fig.suptitle(title or (f"{what}: each alternative relative to the paper's choice (0)" if relative
                           else f"{what}; the paper's COCO figures below, on their own axis"), fontsize=FONT + 2)
    fig.tight_layout()
    return fig
