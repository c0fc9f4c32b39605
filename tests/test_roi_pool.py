import numpy as np
import pytest

import minimaskrcnn.ops._roi_inputs as roi_inputs
from minimaskrcnn.grading.properties import ROI_POOL_EXAMPLES
from minimaskrcnn.nn import numerical_gradient, rel_error
from minimaskrcnn.ops import (
    roi_pool,
    roi_pool_backward,
    roi_pool_backward_naive,
    roi_pool_bins,
    roi_pool_naive,
)

ARANGE = np.arange(25.0).reshape(1, 1, 5, 5)  # f[y, x] = 5y + x


# Hand-worked on f[y, x] = 5y + x: the max of a bin is its bottom-right pixel. The table is
# shared with the exercises (minimaskrcnn/grading/properties.py). torchvision 0.29 agrees.
@pytest.mark.parametrize("box, out, scale, expected, why", ROI_POOL_EXAMPLES)
def test_exact_values_on_arange(box, out, scale, expected, why):
    rois = np.array([[0.0, *box]])
    for fn in (roi_pool, roi_pool_naive):
        np.testing.assert_allclose(fn(ARANGE, rois, out, scale)[0, 0], expected)


def test_bins_count_the_end_pixel():
    h0, h1, w0, w1 = roi_pool_bins((1, 0, 3, 3), 2, (5, 5))
    # x 1..3 inclusive is 3 pixels: bins [1, 3) and [2, 4) (overlapping on column 2)
    np.testing.assert_array_equal(w0, [1, 2])
    np.testing.assert_array_equal(w1, [3, 4])
    np.testing.assert_array_equal(h0, [0, 2])
    np.testing.assert_array_equal(h1, [2, 4])
    # clipped to the map
    h0, h1, w0, w1 = roi_pool_bins((-4, 3, 8, 9), 2, (5, 5))
    assert w0.min() >= 0 and w1.max() <= 5 and h1.max() <= 5


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_naive_with_ties(dtype):
    rng = np.random.default_rng(0)
    for trial in range(6):
        f = rng.normal(size=(2, 3, 8, 9))
        if trial % 2:
            f = np.round(f)  # many ties: the gradient must go to the first maximum
        f = f.astype(dtype)
        scale = float(rng.choice([1.0, 0.5, 0.3]))
        x1 = rng.uniform(-4, 10, 8) / scale
        y1 = rng.uniform(-4, 9, 8) / scale
        rois = np.stack([rng.integers(0, 2, 8), x1, y1,
                         x1 + rng.exponential(4, 8) / scale, y1 + rng.exponential(4, 8) / scale], axis=1)
        rois[::3, 3] = rois[::3, 1]  # zero width
        out = roi_pool(f, rois, (3, 2), scale)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, roi_pool_naive(f, rois, (3, 2), scale))
        g = rng.normal(size=out.shape).astype(dtype)
        np.testing.assert_array_equal(roi_pool_backward(g, f, rois, (3, 2), scale),
                                      roi_pool_backward_naive(g, f, rois, (3, 2), scale))


def test_parallel_and_single_thread_results_are_identical(monkeypatch):
    rng = np.random.default_rng(5)
    f = rng.normal(size=(2, 8, 12, 12)).astype(np.float32)
    rois = np.array([[b, 1, 2, 9, 11] for b in (0, 1)] * 10, dtype=np.float32)
    g = rng.normal(size=(20, 8, 3, 3)).astype(np.float32)
    results = []
    for threshold in (0, 10**18):
        monkeypatch.setattr(roi_inputs, "PARALLEL_MIN_WORK", threshold)
        results.append((roi_pool(f, rois, 3), roi_pool_backward(g, f, rois, 3)))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_gradient_routes_to_the_argmax():
    g = np.ones((1, 1, 2, 2))
    grad = roi_pool_backward(g, ARANGE, np.array([[0.0, 0, 0, 3, 3]]), 2)
    expected = np.zeros((5, 5))
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = 1
    np.testing.assert_array_equal(grad[0, 0], expected)


def test_gradient_check_away_from_ties():
    rng = np.random.default_rng(1)
    f = rng.permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) / 10.0  # distinct values, gaps 0.1
    f += rng.uniform(0, 0.01, size=f.shape)
    rois = np.array([[0, 0.4, 1.1, 5.3, 4.8], [1, -1.5, 2.0, 3.0, 7.5], [1, 2.2, 0.3, 6.6, 3.9]])
    g = rng.normal(size=(3, 2, 3, 2))
    num = numerical_gradient(lambda x: roi_pool(x, rois, (3, 2)), f, g)
    assert rel_error(num, roi_pool_backward(g, f, rois, (3, 2))) <= 1e-6


def test_no_rois_gives_empty_output_of_the_right_shape():
    f = np.zeros((2, 3, 5, 5), dtype=np.float32)
    out = roi_pool(f, np.zeros((0, 5)), (4, 2))
    assert out.shape == (0, 3, 4, 2) and out.dtype == np.float32
    assert not roi_pool_backward(out, f, np.zeros((0, 5)), (4, 2)).any()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rois=np.zeros((1, 6))), ValueError, r"rois must have shape \(K, 5\)"),
        (dict(rois=[[-1, 0, 0, 1, 1]]), ValueError, r"rois\[:, 0\] must be integer batch indices"),
        (dict(rois=[[0, 0, 3, 1, 1]]), ValueError, "rois must satisfy x2 >= x1"),
        (dict(rois=[[0, 0, 0, 1, np.inf]]), ValueError, "rois contains NaN or infinite"),
        (dict(output_size=(0, 2)), ValueError, "output_size must be positive"),
        (dict(spatial_scale=-1.0), ValueError, "spatial_scale must be positive"),
        (dict(features=np.zeros((5, 5))), ValueError, r"features must have shape \(N, C, H, W\)"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, error, match):
    args = dict(features=np.zeros((1, 1, 5, 5)), rois=[[0, 0, 0, 1, 1]], output_size=2, spatial_scale=1.0)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        roi_pool(**args)
    with pytest.raises(error, match=match):
        roi_pool_backward(np.zeros((1, 1, 2, 2)), **args)


# --------------------------------------------------------------------------- ties, NaN, -inf, huge boxes
def test_ties_send_the_gradient_to_the_first_pixel_of_the_bin():
    f = np.ones((1, 1, 4, 4))
    grad = roi_pool_backward(np.ones((1, 1, 2, 2)), f, np.array([[0.0, 0, 0, 3, 3]]), 2)
    expected = np.zeros((4, 4))
    expected[[0, 0, 2, 2], [0, 2, 0, 2]] = 1  # each bin's top-left pixel
    np.testing.assert_array_equal(grad[0, 0], expected)


@pytest.mark.parametrize("fill", [np.nan, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_minus_inf_kernel_equals_naive(fill, dtype):
    rng = np.random.default_rng(3)
    f = rng.normal(size=(2, 3, 8, 9)).astype(dtype)
    f[rng.random(f.shape) < 0.1] = fill
    f[1, 2] = fill  # a whole channel: every bin all NaN / all -inf
    rois = np.array([[0, 0, 0, 7, 7], [1, 1, 2, 8, 6], [1, 0.4, 0.4, 2.6, 2.6], [0, 3, 3, 3, 3]])
    out = roi_pool(f, rois, (3, 2))
    np.testing.assert_array_equal(out, roi_pool_naive(f, rois, (3, 2)))
    if np.isnan(fill):
        assert np.isnan(out[1:3, 2]).all()  # NaN propagates (roi_align does the same)
    else:
        assert (out[1:3, 2] == -np.inf).all()
    g = rng.normal(size=out.shape).astype(dtype)
    np.testing.assert_array_equal(roi_pool_backward(g, f, rois, (3, 2)), roi_pool_backward_naive(g, f, rois, (3, 2)))


def test_a_nan_after_the_maximum_still_wins():
    f = np.zeros((1, 1, 2, 2))
    f[0, 0, 0, 0], f[0, 0, 1, 1] = 5.0, np.nan  # the maximum first, the NaN last in the bin
    rois = np.array([[0.0, 0, 0, 1, 1]])
    assert np.isnan(roi_pool(f, rois, 1)[0, 0, 0, 0])
    grad = roi_pool_backward(np.ones((1, 1, 1, 1)), f, rois, 1)
    np.testing.assert_array_equal(grad[0, 0], [[0, 0], [0, 1]])  # to the NaN, as np.argmax picks it


def test_coordinates_up_to_the_bound_match_the_naive_reference():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(1, 2, 6, 6))
    big = 2.0**24
    rois = np.array([[0, -big, -big, big, big], [0, 2, -big, 4, 3], [0, -3.5, 1, big, 5]])
    np.testing.assert_array_equal(roi_pool(f, rois, 2), roi_pool_naive(f, rois, 2))
    np.testing.assert_array_equal(roi_pool(f, rois, 2, 0.5), roi_pool_naive(f, rois, 2, 0.5))
    with pytest.raises(ValueError, match=r"rois\[0\] = .*2\*\*24"):
        roi_pool(f, [[0, 0, 0, np.nextafter(big, np.inf), 1]], 2)


def test_the_kernel_runs_as_plain_python_for_float32():
    """NUMBA_DISABLE_JIT=1 runs the kernels as Python: float32 boxes must round there too."""
    from minimaskrcnn.ops.roi_pool import _bins_kernel

    roi = np.array([0, 0.6, 0.4, 3.4, 2.6], np.float32)
    python = _bins_kernel.py_func(roi, 2, 2, 1.0, 5, 5, np.float32)
    for a, b in zip(python, roi_pool_bins(roi[1:], 2, (5, 5), 1.0, np.float32)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(python[2], [1, 2])
