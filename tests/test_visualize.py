"""Drawing functions return figures with the expected artists; log prints one line."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb
from matplotlib.patches import Rectangle

from minimaskrcnn.datasets import ShapesDataset
from minimaskrcnn.visualize.style import class_color
from minimaskrcnn.visualize import (ROLE_STYLES, draw_anchors, draw_boxes, draw_instances, draw_mask_targets, draw_proposals,
                                    draw_sampled_rois, format_log, log, to_display_image)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sample():
    return ShapesDataset(1, seed=0)[0]


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_draw_instances(sample):
    K = len(sample["labels"])
    fig = draw_instances(sample["image"], sample["boxes"], sample["labels"], scores=np.linspace(0.9, 0.5, K),
                         masks=sample["masks"], class_names=("circle", "square", "triangle"))
    ax = fig.axes[0]
    assert len(rectangles(ax)) == K
    assert len(ax.images) == 2  # the image and one RGBA mask overlay
    overlay = ax.images[1].get_array()
    assert overlay.shape == sample["image"].shape[:2] + (4,)
    assert np.array_equal(overlay[..., 3] > 0, sample["masks"].any(axis=0))  # translucent exactly on masks
    texts = [t.get_text() for t in ax.texts]
    names = ("circle", "square", "triangle")
    assert texts[0] == f"{names[sample['labels'][0] - 1]} 0.90"
    x1, y1, x2, y2 = sample["boxes"][0]
    assert rectangles(ax)[0].get_bbox().bounds == pytest.approx((x1, y1, x2 - x1, y2 - y1))
    # coloured by class: two instances of one class share a colour, and so do masks and boxes
    for k, rect in enumerate(rectangles(ax)):
        assert rect.get_edgecolor()[:3] == pytest.approx(to_rgb(class_color(sample["labels"][k])))
        np.testing.assert_allclose(overlay[sample["masks"][k], :3], [to_rgb(class_color(sample["labels"][k]))] *
                                   int(sample["masks"][k].sum()))


def test_draw_instances_on_given_axes_without_masks_or_scores(sample):
    fig, ax = plt.subplots()
    assert draw_instances(sample["image"], sample["boxes"], sample["labels"], ax=ax) is fig
    assert ax.texts[0].get_text() == str(sample["labels"][0])  # no class names: the label number
    with pytest.raises(ValueError, match="expected"):
        draw_instances(sample["image"], sample["boxes"], sample["labels"][:-1])


def test_box_roles_and_stage_pictures(sample):
    image, gt = sample["image"], sample["boxes"]
    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 128, (30, 4)).reshape(30, 2, 2), axis=1).transpose(0, 2, 1).reshape(30, 4)
    fig = draw_boxes(image, boxes[:3], roles=["positive", "negative", "gt"])
    styles = [p.get_linestyle() for p in rectangles(fig.axes[0])]
    assert styles == ["-", "--", "-"]
    with pytest.raises(ValueError, match="unknown"):
        draw_boxes(image, boxes[:1], roles="banana")
    fig = draw_anchors(image, boxes, max_anchors=10, gt_boxes=gt)
    assert len(rectangles(fig.axes[0])) == 10 + len(gt) and "10 of 30" in fig.axes[0].get_title()
    fig = draw_proposals(image, boxes, scores=rng.uniform(size=30), gt_boxes=gt, top_k=5)
    assert len(rectangles(fig.axes[0])) == 5 + len(gt)
    rois = np.concatenate([np.zeros((30, 1)), boxes], axis=1)  # (K, 5) with batch index
    labels = np.array([0, 2] * 15)
    fig = draw_sampled_rois(image, rois, labels)
    assert "15 positive, 15 negative" in fig.axes[0].get_title()
    role_rgb = [to_rgb(ROLE_STYLES[r]["edgecolor"]) for r in ("negative", "positive")]
    assert [p.get_edgecolor()[:3] for p in rectangles(fig.axes[0])][:2] == role_rgb


def test_draw_cell_anchors_draws_every_centre_and_the_chosen_cells(sample):
    from minimaskrcnn.model.anchors import generate_anchors
    from minimaskrcnn.visualize import draw_cell_anchors

    anchors = generate_anchors((4, 5), 16, (32.0,), (0.5, 1.0, 2.0))  # (4 * 5 * 3, 4)
    fig = draw_cell_anchors(sample["image"], anchors, 3, (4, 5), [(0, 0), (3, 4)])
    ax = fig.axes[0]
    centres = ax.lines[0].get_xydata()
    assert len(centres) == 20 and tuple(centres[-1]) == (4 * 16, 3 * 16)  # (x, y) of cell (3, 4)
    drawn = np.array([r.get_bbox().bounds for r in rectangles(ax)])  # (x, y, w, h)
    chosen = np.concatenate([anchors[0:3], anchors[(3 * 5 + 4) * 3:(3 * 5 + 4) * 3 + 3]])
    np.testing.assert_allclose(drawn, np.c_[chosen[:, :2], chosen[:, 2:] - chosen[:, :2]], rtol=1e-6)
    with pytest.raises(ValueError, match="anchors"):
        draw_cell_anchors(sample["image"], anchors[:-1], 3, (4, 5), [(0, 0)])


def test_draw_mask_targets(sample):
    K = len(sample["boxes"])
    targets = np.random.default_rng(0).uniform(size=(K, 14, 14))
    fig = draw_mask_targets(sample["image"], sample["boxes"], targets, labels=sample["labels"], max_rois=2)
    assert len(fig.axes) == 2 * min(K, 2)
    assert np.array_equal(fig.axes[1].images[0].get_array(), targets[0])
    with pytest.raises(ValueError, match="mask_targets"):
        draw_mask_targets(sample["image"], sample["boxes"], targets[:, 0])


def test_display_image_conversions():
    chw = np.arange(2 * 4 * 3, dtype=np.float32).reshape(3, 2, 4)
    out = to_display_image(chw)
    assert out.shape == (2, 4, 3) and out.min() == 0 and out.max() == 1
    assert to_display_image(np.zeros((5, 5, 3), np.uint8)).dtype == np.uint8
    with pytest.raises(ValueError, match="image"):
        to_display_image(np.zeros(5))


def test_log_prints_shape_dtype_min_max(capsys):
    log("features", np.array([[-1.5, 2.0]], dtype=np.float32))
    line = capsys.readouterr().out.strip()
    assert line.startswith("features") and "shape: (1, 2)" in line and "dtype: float32" in line
    assert "min:   -1.50000" in line and "max:    2.00000" in line
    assert "min:          0  max:          3" in format_log("labels", np.arange(4))
    assert "min:          -" in format_log("empty", np.zeros((0, 3)))
    assert "1 NaN" in format_log("nan", np.array([np.nan, 1.0]))
    assert format_log("title") == "title"
