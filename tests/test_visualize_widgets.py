"""The notebooks' widgets: pure draw functions give the expected artists for given slider values,
and the wrapper shows the first frame at once and redraws the same display on every change."""
import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from minimaskrcnn.boxes import box_iou
from minimaskrcnn.datasets import ShapesDataset
from minimaskrcnn.model.anchors import generate_anchors
from minimaskrcnn.model.mask_head import paste_masks
from minimaskrcnn.model.matcher import POSITIVE, match_boxes
from minimaskrcnn.ops import batched_nms, bilinear_interpolate, roi_align, roi_pool
from minimaskrcnn.visualize import widgets
from minimaskrcnn.visualize.detection import match_detections, nms_states
from minimaskrcnn.visualize.instances import ROLE_STYLES
from minimaskrcnn.visualize.masks import ORDERS, mask_resize_orders, square_box
from minimaskrcnn.visualize.roi_grid import draw_roi_align_lecture
from minimaskrcnn.visualize.style import class_color, readability_problems

F = np.arange(48.0).reshape(6, 8)
NAMES = ("circle", "square", "triangle")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FakeDisplay:
    """Records what ``interact`` displays; ``display_id=True`` returns a handle recording updates."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, display_id=None):
        self.shown.append(obj)
        if display_id:
            outer = self

            class Handle:
                def update(self, new):
                    outer.updates.append(new)

            return Handle()
        return None


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def readable(fig):
    assert readability_problems(fig) == [], readability_problems(fig)


# --------------------------------------------------------------------------- the wrapper
def test_interact_shows_the_first_frame_then_redraws_the_same_display():
    calls = []

    def draw(a, b, c):
        calls.append((a, b, c))
        fig, ax = plt.subplots()
        ax.set_title(f"{a} {b} {c}")
        return fig

    slider = ipywidgets.FloatSlider(value=0.25, min=0, max=1)
    shown = FakeDisplay()
    live = widgets.interact(draw, dict(a=slider, b="fixed in controls"), display=shown, c=3)
    assert calls == [(0.25, "fixed in controls", 3)]
    assert isinstance(shown.shown[-1], matplotlib.figure.Figure)  # the picture, displayed at once
    assert "a = 0.25" in shown.shown[0]._repr_mimebundle_()["text/plain"]  # the controls' text stand-in
    assert plt.get_fignums() == []  # closed in pyplot: the inline backend will not show it twice
    slider.value = 0.75
    assert calls[-1] == (0.75, "fixed in controls", 3) and live.frames == 2
    assert shown.updates == [live.figure] and live.figure.axes[0].get_title() == "0.75 fixed in controls 3"


def test_interact_reports_a_bad_value_in_the_figure_instead_of_raising():
    def draw(x):
        raise ValueError(f"x: expected something else, got {x}")

    shown = FakeDisplay()
    live = widgets.interact(draw, dict(x=ipywidgets.IntSlider(value=1)), display=shown)
    assert "expected something else" in live.figure.axes[0].texts[0].get_text()


# --------------------------------------------------------------------------- 02
@pytest.mark.parametrize("y, x", [(1.25, 2.7), (0.0, 0.0), (2.5, 3.0), (-0.5, 4.2)])
def test_bilinear_frame_shades_the_four_weights_as_areas(y, x):
    fig = widgets.bilinear_point(F[:4, :5], y, x)
    ax = fig.axes[0]
    s = bilinear_interpolate(F[:4, :5], y, x)
    shaded = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
    areas = sorted(p.get_width() * p.get_height() for p in shaded)
    np.testing.assert_allclose(areas, sorted(s.weights), atol=1e-12)  # each weight is a rectangle's area
    labels = sorted(t.get_text() for t in ax.texts if t.get_text().startswith("w="))
    assert labels == sorted(f"w={w:.3f}" for w in s.weights)
    assert f"{float(s.value):.4g}" in ax.get_title()
    readable(fig)


def test_bilinear_widget_starts_at_the_given_point():
    shown = FakeDisplay()
    live = widgets.bilinear_widget(F, y=2.0, x=3.5, display=shown)
    assert live.values()["y"] == 2.0 and "f(2.00, 3.50)" in live.figure.axes[0].get_title()
    live.controls["x"].value = 4.5
    assert "f(2.00, 4.50)" in shown.updates[-1].axes[0].get_title()


# --------------------------------------------------------------------------- 03
@pytest.mark.parametrize("n, ratio, aligned, mode", [(2, 2, True, "avg"), (3, 1, False, "max"), (7, 2, True, "max")])
def test_roi_frame_shows_both_ops_with_their_outputs(n, ratio, aligned, mode):
    feature = np.random.default_rng(0).normal(size=(8, 10))
    fig = widgets.roi_ops(feature, 1.3, 0.8, 6.3, 5.3, n, ratio, aligned, mode)
    pool_ax, align_ax, pool_out, align_out = fig.axes
    rois = [[0, 1.3, 0.8, 7.6, 6.1]]
    np.testing.assert_allclose(pool_out.images[0].get_array(), roi_pool(feature[None, None], rois, n)[0, 0])
    expected = roi_align(feature[None, None], rois, n, 1.0, ratio, aligned, mode)[0, 0]
    np.testing.assert_allclose(align_out.images[0].get_array(), expected)
    assert [t.get_text() for t in align_out.texts] == [f"{v:.2f}" for v in expected.ravel()]
    points = [c for c in align_ax.collections if isinstance(c, PathCollection)][-1].get_offsets()
    bins_drawn = n * n if n * n <= 9 else 3  # a 7 x 7 grid draws the samples of three bins only
    assert len(points) == bins_drawn * ratio * ratio
    assert ("aligned=False" in align_ax.get_title()) == (not aligned) and mode in align_out.get_title()
    readable(fig)


def test_roi_widget_moves_the_box():
    feature = np.random.default_rng(1).normal(size=(8, 10))
    shown = FakeDisplay()
    live = widgets.roi_widget(feature, box=(1.0, 1.0, 5.0, 5.0), display=shown)
    before = live.figure.axes[1].patches[0].get_x()  # the RoI, in the index frame: x1 - 0.5
    live.controls["x1"].value = 2.0
    assert before == pytest.approx(0.5) and shown.updates[-1].axes[1].patches[0].get_x() == pytest.approx(1.5)


def test_lecture_picture_is_two_by_two_samples_then_max():
    feature = np.random.default_rng(2).normal(size=(8, 10))
    fig = draw_roi_align_lecture(feature, (1.3, 0.8, 7.6, 6.1), 2)
    assert len(fig.axes) == 6
    values = [float(t.get_text()) for t in fig.axes[3].texts]  # panel 4: one value per sample
    assert len(values) == 2 * 2 * 4
    rois = [[0, 1.3, 0.8, 7.6, 6.1]]
    out_max = roi_align(feature[None, None], rois, 2, 1.0, 2, True, "max")[0, 0]
    np.testing.assert_allclose(fig.axes[4].images[0].get_array(), out_max)
    np.testing.assert_allclose(fig.axes[5].images[0].get_array(),
                               roi_align(feature[None, None], rois, 2, 1.0, 2, True, "avg")[0, 0])
    bold = [float(t.get_text()) for t in fig.axes[3].texts if t.get_fontweight() == "bold"]
    np.testing.assert_allclose(sorted(bold), sorted(np.round(out_max.ravel(), 2)))  # the winners
    readable(fig)


# --------------------------------------------------------------------------- 04
BOXES = np.array([[10, 10, 50, 60], [14, 12, 52, 58], [8, 15, 47, 66], [60, 30, 110, 80],
                  [63, 28, 112, 76], [12, 12, 50, 60]], float)
SCORES = np.array([0.92, 0.85, 0.30, 0.88, 0.95, 0.70])
LABELS = np.array([1, 1, 1, 2, 2, 2])


@pytest.mark.parametrize("iou, score", [(0.5, 0.0), (0.9, 0.0), (0.5, 0.5), (0.1, 0.9)])
def test_nms_frame_keeps_what_batched_nms_keeps(iou, score):
    fig = widgets.nms_frame(BOXES, SCORES, LABELS, iou, score, NAMES)
    ax = fig.axes[0]
    ok = SCORES >= score
    kept = np.flatnonzero(ok)[batched_nms(BOXES[ok], SCORES[ok], LABELS[ok], iou)]
    solid = [p for p in rectangles(ax) if p.get_linestyle() == "-"]
    assert len(solid) == len(kept) == nms_states(BOXES, SCORES, LABELS, iou, score).count("kept")
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{k}: {SCORES[k]:.2f}" for k in kept)
    for p in solid:  # coloured by class
        x1, y1 = p.get_xy()
        k = int(np.flatnonzero((BOXES[:, 0] == x1) & (BOXES[:, 1] == y1))[0])
        assert p.get_edgecolor()[:3] == pytest.approx(to_rgb(class_color(LABELS[k])))
    assert sum(p.get_linestyle() == ":" for p in rectangles(ax)) == int((~ok).sum())  # below the threshold
    assert {"circle", "square"} <= {t.get_text() for t in ax.get_legend().get_texts()}
    readable(fig)


def test_nms_widget_threshold_changes_the_count():
    shown = FakeDisplay()
    live = widgets.nms_widget(BOXES, SCORES, LABELS, NAMES, iou_threshold=0.5, display=shown)
    assert "3 of 6 kept" in live.figure.axes[0].get_title()
    live.controls["iou_threshold"].value = 0.95
    assert "6 of 6 kept" in shown.updates[-1].axes[0].get_title()


# --------------------------------------------------------------------------- 06
@pytest.mark.parametrize("size, ratios, stride", [(32.0, "0.5, 1, 2", 8), (64.0, "1", 16), (16.0, "0.5, 1, 2", 4)])
def test_anchor_frame_labels_follow_match_boxes(size, ratios, stride):
    gt = np.array([[40.0, 30.0, 85.0, 75.0]])
    fig = widgets.anchor_frame(62.5, 52.5, 45.0, 45.0, size, ratios, stride)
    anchors = generate_anchors((128 // stride, 128 // stride), stride, (size,), widgets.RATIO_CHOICES[ratios])
    iou = box_iou(gt, anchors)
    _, labels = match_boxes(iou, 0.7, 0.3, allow_low_quality=True)
    left, right = fig.axes
    n_pos = int(np.sum(labels == POSITIVE))
    assert f"{n_pos} positive" in left.get_title() and f"{len(anchors)} anchors" in left.get_title()
    positive_color = to_rgb(ROLE_STYLES["positive"]["edgecolor"])
    drawn_pos = [p for p in rectangles(left) if p.get_edgecolor()[:3] == pytest.approx(positive_color)
                 and p.get_linewidth() == ROLE_STYLES["positive"]["linewidth"]]
    assert len(drawn_pos) == min(n_pos, 12)
    bars = sorted((p.get_width() for p in right.patches), reverse=True)
    np.testing.assert_allclose(bars, np.sort(iou[0])[::-1][:10], atol=1e-6)
    assert f"best IoU {iou.max():.2f}" in [t.get_text() for t in left.texts]
    readable(fig)


def test_anchor_widget_moving_the_box_changes_the_ious():
    shown = FakeDisplay()
    live = widgets.anchor_widget(display=shown)
    first = [p.get_width() for p in live.figure.axes[1].patches]
    live.controls["cx"].value = live.controls["cx"].value + 2  # not +3: 62.5 and 65.5 mirror about 64
    assert [p.get_width() for p in shown.updates[-1].axes[1].patches] != first


# --------------------------------------------------------------------------- 08
def disc(m=28):
    yy, xx = np.mgrid[:m, :m] + 0.5
    r = np.hypot(yy - m / 2, xx - m / 2)
    return 1 / (1 + np.exp(r - m / 3))  # a soft disc, p = 0.5 on the circle of radius m / 3


@pytest.mark.parametrize("threshold, order", [(0.5, ORDERS[0]), (0.3, ORDERS[1]), (0.8, ORDERS[0])])
def test_mask_resize_frame_shows_the_chosen_order_and_the_difference(threshold, order):
    probs = disc()
    fig = widgets.mask_resize_frame(probs, threshold, order, box_side=112)
    box, size = square_box(112, 3)
    soft_first = paste_masks(probs[None], box[None], size, threshold)[0]
    hard_first = paste_masks((probs >= threshold)[None].astype(float), box[None], size, 0.5)[0]
    shown = fig.axes[1].images[-1].get_array()
    expected = soft_first if order == ORDERS[0] else hard_first
    np.testing.assert_array_equal(~np.ma.getmaskarray(shown), expected)
    differ = int((soft_first != hard_first).sum())
    assert differ > 0 and fig.axes[2].get_title().startswith(f"{differ} pixels differ")
    readable(fig)


def test_mask_resize_orders_agree_on_a_one_to_one_paste():
    probs = disc()
    box, size = square_box(28, 0)  # the box is exactly the m x m grid: no resizing at all
    a, b = mask_resize_orders(probs, box, size, 0.5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="threshold"):
        mask_resize_orders(probs, box, size, 1.5)


# --------------------------------------------------------------------------- 09
def test_score_threshold_frame_counts_matches():
    s = ShapesDataset(1, seed=3)[0]
    G = len(s["labels"])
    pred = {"boxes": np.concatenate([s["boxes"], s["boxes"][:1] + 40]),  # every object, plus one miss
            "labels": np.concatenate([s["labels"], s["labels"][:1]]),
            "scores": np.concatenate([np.linspace(0.9, 0.6, G), [0.95]]),
            "masks": np.concatenate([s["masks"], s["masks"][:1]])}
    fig = widgets.score_threshold_frame(s, pred, 0.5, NAMES)
    assert f"{G + 1} shown" in fig.axes[1].get_title()
    assert fig.axes[1].get_title().endswith(f"{G} match an object, 1 do not; 0 objects missed")
    fig = widgets.score_threshold_frame(s, pred, 0.92, NAMES)
    assert fig.axes[1].get_title().endswith(f"0 match an object, 1 do not; {G} objects missed")
    # ground truth and prediction colour the same class alike
    gt_rect, pred_rect = rectangles(fig.axes[0])[0], rectangles(fig.axes[1])[0]
    assert gt_rect.get_edgecolor() == pred_rect.get_edgecolor()
    readable(fig)


def test_match_detections_is_greedy_by_score():
    gt = np.array([[0, 0, 10, 10]], float)
    dets = np.array([[0, 0, 10, 10], [1, 0, 11, 10]], float)
    assert match_detections(gt, [1], dets, [1, 1], [0.5, 0.9]).tolist() == [False, True]
    assert match_detections(gt, [1], dets, [2, 1], [0.9, 0.5]).tolist() == [False, True]  # wrong class


def test_draw_matches_separates_true_and_false_positives():
    from minimaskrcnn.visualize import draw_matches

    s = ShapesDataset(1, seed=3)[0]
    gt = s["boxes"]
    dets = np.concatenate([gt[:1], gt[:1] + 1, gt[1:2] + 60])  # a hit, its duplicate, a miss
    fig = draw_matches(s["image"], gt, dets, [0.9, 0.8, 0.7], [0, -1, -1])
    tp, fp = fig.axes
    assert tp.get_title() == "1 true positive" and fp.get_title() == "2 false positives"
    captions = [t.get_text() for t in fp.texts if "FP" in t.get_text()]
    iou = box_iou(dets[1:2], gt[:1])[0, 0]
    assert f"0.80 FP, IoU {iou:.2f} with g0" in captions and "0.90 TP g0" in [t.get_text() for t in tp.texts]
    readable(fig)
