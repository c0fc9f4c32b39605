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


def test_ours_and_the_paper_sit_on_separate_axes():
    fig = plot_comparisons(DATA)
    n = len(COMPARISONS)
    assert len(fig.axes) == 2 * n  # a row of ours, a row of the paper's
    ours, paper = fig.axes[:n], fig.axes[n:]
    assert "toy" in ours[0].get_ylabel() and "COCO" in paper[0].get_ylabel()
    c_ours, c_paper = ours[1], paper[1]  # (c): RoIPool, RoIAlign max (not run), RoIAlign avg
    assert [h for _, h in bars(c_ours)] == pytest.approx([55.0, 65.0])
    assert [h for _, h in bars(c_paper)] == pytest.approx([26.9, 30.2, 30.3])
    assert [t.get_text() for t in c_ours.texts] == ["not run"] and not c_paper.texts
    assert c_ours.get_ylim() != c_paper.get_ylim()  # each on its own scale
    b = ours[0]  # (b): softmax not run, sigmoid = baseline
    assert [h for _, h in bars(b)] == pytest.approx([65.0]) and {t.get_text() for t in b.texts} == {"not run"}
    # error bars: one per drawn bar of ours, half-length = std
    lengths = sorted(abs(seg[1][1] - seg[0][1]) / 2 for col in c_ours.collections for seg in col.get_segments())
    assert lengths == pytest.approx(sorted([100 * np.std([0.5, 0.6], ddof=1), 100 * np.std([0.6, 0.7], ddof=1)]))
    assert len(plot_comparisons(DATA, paper=False).axes) == n


def test_relative_bars_subtract_the_reference_row():
    fig = plot_comparisons(DATA, relative=True)
    n = len(COMPARISONS)
    assert [h for _, h in bars(fig.axes[1])] == pytest.approx([-10.0, 0.0])
    assert [h for _, h in bars(fig.axes[n + 1])] == pytest.approx([26.9 - 30.3, 30.2 - 30.3, 0.0])
    # (d) has no run at all: only the paper's bars, every row of ours "not run"
    d = fig.axes[2]
    assert not d.patches and [t.get_text() for t in d.texts] == ["not run", "not run"]
    assert len(fig.axes[n + 2].patches) == 2


def test_difference_against_the_baseline():
    from minimaskrcnn.visualize.ablations import difference

    diff, spread = difference(DATA, "roi_pool")
    assert diff == pytest.approx(-10.0) and spread == pytest.approx(100 * np.hypot(np.std([0.5, 0.6], ddof=1),
                                                                                  np.std([0.6, 0.7], ddof=1)))
    assert difference(DATA, "softmax") is None
    assert difference(DATA, "roi_pool", metric=("segm", "AP75"))[0] == pytest.approx(-60.0)


def test_verdict_in_words():
    from minimaskrcnn.visualize.ablations import verdict

    assert verdict(-10.0, 2.0, -5.5) == "same direction as the paper, larger than its -5.5"
    assert verdict(-3.0, 2.0, -5.5) == "within the noise of the seeds"
    assert verdict(6.0, 1.0, -2.1) == "OPPOSITE to the paper"
    assert verdict(-1.0, 0.0, -2.1).startswith("a single seed")


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="metric"):
        comparison_rows(DATA, ("segm", "APxx"))
    with pytest.raises(ValueError, match="data"):
        plot_comparisons({"no runs": []})
