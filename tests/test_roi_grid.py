import matplotlib
import numpy as np
import pytest

from minimaskrcnn.visualize import (
    draw_bilinear_weights,
    draw_feature_grid,
    draw_roi_align,
    draw_roi_comparison,
    draw_roi_pool,
)

F = np.arange(48.0).reshape(6, 8)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_roi_align_picture_has_bins_and_sampling_points():
    fig = draw_roi_align(F, (1.2, 0.7, 6.4, 5.1), (2, 3), sampling_ratio=2, aligned=True)
    ax = fig.axes[0]
    assert len(ax.patches) == 1 + 2 * 3  # the RoI and its bins
    points = ax.collections[-1].get_offsets()
    assert len(points) == (2 * 2) * (3 * 2)
    # aligned: the first sample sits a quarter bin inside the box, in the index frame
    assert points[:, 0].min() == pytest.approx(1.2 - 0.5 + (6.4 - 1.2) / 3 / 4)


def test_roi_pool_picture_marks_one_max_per_non_empty_bin():
    fig = draw_roi_pool(F, (0.6, 0.4, 3.4, 2.6), 2)
    ax = fig.axes[0]
    stars = np.array([c.get_offsets()[0] for c in ax.collections])
    # the max of every bin of an increasing map is its bottom-right pixel (x, y)
    np.testing.assert_array_equal(stars, [[2, 1], [3, 1], [2, 3], [3, 3]])


def test_comparison_and_grid_and_bilinear_return_figures():
    assert len(draw_roi_comparison(F, (1, 1, 6, 5), 2).axes) == 4
    assert draw_feature_grid(F, values=False).axes[0].images
    fig = draw_bilinear_weights(F[:4, :4], 1.25, 2.5)
    labels = sorted(t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("w="))
    assert labels == ["w=0.125", "w=0.125", "w=0.375", "w=0.375"]
    assert "outside" in draw_bilinear_weights(F, 9.0, 1.0).axes[0].get_title()


def test_bad_feature_shape():
    with pytest.raises(ValueError, match="feature must be a 2-D map"):
        draw_roi_align(np.zeros((1, 4, 4)), (0, 0, 2, 2), 2)
