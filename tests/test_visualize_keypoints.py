"""Smoke tests of the keypoint pictures: they draw what they are given and reject bad shapes."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from minimaskrcnn.datasets.keypoints import KeypointsDataset
from minimaskrcnn.model.keypoint_head import keypoint_targets
from minimaskrcnn.visualize.keypoints import draw_heatmaps, draw_keypoint_targets, draw_keypoints


@pytest.fixture
def sample():
    return KeypointsDataset(1, seed=0)[0]


def test_draw_keypoints_draws_one_marker_per_shown_keypoint_and_the_bones(sample):
    ds = KeypointsDataset(1)
    fig = draw_keypoints(sample["image"], sample["keypoints"], ds.skeleton, ds.keypoint_names, sample["boxes"])
    ax = fig.axes[0]
    kp = sample["keypoints"]
    shown = kp[..., 2] > 0
    bones = sum(int(shown[g, i] and shown[g, j]) for g in range(len(kp)) for i, j in ds.skeleton)
    assert len(ax.lines) == int(shown.sum()) + bones
    assert len(ax.patches) == len(kp)  # one box each
    plt.close(fig)
    preds = kp.copy()
    preds[..., 2] = 0.3
    preds[0, 0, 2] = 0.9
    fig = draw_keypoints(sample["image"], preds, scores=True, threshold=0.5)
    assert len(fig.axes[0].lines) == 1
    plt.close(fig)


def test_draw_targets_and_heatmaps(sample):
    targets, _ = keypoint_targets(sample["keypoints"], sample["boxes"][:1], np.array([0]), 8)
    fig = draw_keypoint_targets(sample["image"], sample["boxes"][0], targets[0], 8)
    assert len(fig.axes[0].patches) == 1 + int((targets[0] >= 0).sum())  # the RoI, then one cell each
    plt.close(fig)
    fig = draw_heatmaps(np.zeros((9, 8, 8)), targets=targets[0], ncols=4)
    assert len(fig.axes) == 12 and "p=0.02" in fig.axes[0].get_title()  # a flat softmax: 1/64 per cell
    plt.close(fig)


def test_keypoint_legend_names_every_colour():
    from minimaskrcnn.visualize.keypoints import SIDE_COLORS, keypoint_legend

    fig, ax = plt.subplots()
    legend = keypoint_legend(ax)
    assert [t.get_text() for t in legend.get_texts()] == ["left keypoint", "right keypoint", "centre keypoint",
                                                         "hidden (v = 1)"]
    assert [h.get_markerfacecolor() for h in legend.legend_handles[:3]] == [SIDE_COLORS[s] for s in
                                                                           ("left", "right", "centre")]
    plt.close(fig)


def test_bad_inputs(sample):
    with pytest.raises(ValueError, match="keypoints"):
        draw_keypoints(sample["image"], np.zeros((2, 9, 2)))
    with pytest.raises(ValueError, match="skeleton"):
        draw_keypoints(sample["image"], sample["keypoints"], skeleton=[(0, 9)])
    with pytest.raises(ValueError, match="keypoint_names"):
        draw_keypoints(sample["image"], sample["keypoints"], keypoint_names=["a"])
    with pytest.raises(ValueError, match="logits"):
        draw_heatmaps(np.zeros((9, 8, 7)))
