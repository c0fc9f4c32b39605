"""Ablation plots: the bars carry our mean ± std and the paper's numbers; missing variants say so."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from minimaskrcnn.ablations import COMPARISONS
from minimaskrcnn.visualize.ablations import comparison_rows, plot_comparisons


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def run(variant, seed, ap, ap75=None):
    return {"variant": variant, "seed": seed, "seconds_per_step": 0.5,
            "metrics": {"segm": {"AP": ap, "AP50": ap, "AP75": ap if ap75 is None else ap75},
                        "bbox": {"AP": ap}}}


# baseline AP 0.60 / 0.70 (mean 65, std 7.07), RoIPool 0.50 / 0.60 (mean 55); nothing else was run
DATA = {"runs": [run("baseline", 0, 0.60, 0.9), run("baseline", 1, 0.70, 0.9),
                 run("roi_pool", 0, 0.50, 0.3), run("roi_pool", 1, 0.60, 0.3)]}


def bars(ax):
    """(x centre, height) of every bar in an axes, left to right."""
    out = [(p.get_x() + p.get_width() / 2, p.get_height()) for p in ax.patches]
    return sorted(out)


def test_rows_hold_our_mean_std_and_the_paper():
    groups = comparison_rows(DATA)
    assert [t for t, _ in groups] == [t for t, _ in COMPARISONS]
    rows = dict(groups)["(c) RoI op"]
    assert [r["variant"] for r in rows] == ["roi_pool", "align_max", "baseline"]
    assert rows[0]["mean"] == pytest.approx(55.0) and rows[0]["n"] == 2 and rows[0]["paper"] == 26.9
    assert rows[2]["std"] == pytest.approx(100 * np.std([0.6, 0.7], ddof=1))
    assert rows[1]["mean"] is None and rows[1]["std"] is None and rows[1]["n"] == 0
    assert dict(comparison_rows(DATA, ("segm", "AP75")))["(c) RoI op"][0]["mean"] == pytest.approx(30.0)


def test_absolute_bars_and_not_run_labels():
    fig = plot_comparisons(DATA)
    panels = fig.axes
    assert len(panels) == len(COMPARISONS)
    c = panels[1]  # (c): RoIPool ours + paper, RoIAlign max paper only, RoIAlign avg ours + paper
    heights = [h for _, h in bars(c)]
    assert heights == pytest.approx([55.0, 26.9, 30.2, 65.0, 30.3])
    assert [t.get_text() for t in c.texts] == ["not run"]
    b = panels[0]  # (b): softmax not run, sigmoid = baseline
    assert [h for _, h in bars(b)] == pytest.approx([24.8, 65.0, 30.3])
    assert {t.get_text() for t in b.texts} == {"not run"}
    # error bars: one per drawn bar of ours, half-length = std
    lengths = sorted(abs(seg[1][1] - seg[0][1]) / 2 for col in c.collections for seg in col.get_segments())
    assert lengths == pytest.approx(sorted([100 * np.std([0.5, 0.6], ddof=1), 100 * np.std([0.6, 0.7], ddof=1)]))


def test_relative_bars_subtract_the_reference_row():
    fig = plot_comparisons(DATA, relative=True)
    c = fig.axes[1]
    heights = [h for _, h in bars(c)]
    assert heights == pytest.approx([-10.0, 26.9 - 30.3, 30.2 - 30.3, 0.0, 0.0])
    # (d) has no run at all: only the paper's bars, every row of ours "not run"
    d = fig.axes[2]
    assert len(d.patches) == 2 and [t.get_text() for t in d.texts] == ["not run", "not run"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="metric"):
        comparison_rows(DATA, ("segm", "APxx"))
    with pytest.raises(ValueError, match="data"):
        plot_comparisons({"no runs": []})
