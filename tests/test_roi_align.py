import itertools

import numpy as np
import pytest

import minimaskrcnn.ops._roi_inputs as roi_inputs
from minimaskrcnn.grading.properties import ROI_ALIGN_EXAMPLES, ROI_ALIGN_MAX_EXAMPLE
from minimaskrcnn.grading.roi_cases import random_rois  # the same random RoIs as the exercises' checks
from minimaskrcnn.nn import numerical_gradient, rel_error
from minimaskrcnn.ops import (
    bilinear_interpolate,
    roi_align,
    roi_align_backward,
    roi_align_backward_naive,
    roi_align_bin_edges,
    roi_align_naive,
    roi_align_sampling_points,
)

ARANGE = np.arange(25.0).reshape(1, 1, 5, 5)  # f[y, x] = 5y + x


# --------------------------------------------------------------------------- exact values
# Hand-worked on f = arange(25).reshape(5, 5), f[y, x] = 5y + x; the table is shared with the
# exercises' worked-example checks (minimaskrcnn/grading/properties.py). torchvision 0.29 agrees.
@pytest.mark.parametrize("box, out, ratio, aligned, scale, expected, why", ROI_ALIGN_EXAMPLES)
def test_exact_values_on_arange(box, out, ratio, aligned, scale, expected, why):
    rois = np.array([[0.0, *box]])
    for fn in (roi_align, roi_align_naive):
        np.testing.assert_allclose(fn(ARANGE, rois, out, scale, ratio, aligned)[0, 0], expected)


def test_exact_values_max_mode():
    # aligned box (0, 0, 4, 4), 2x2 samples per bin at pixel centres: the max is the
    # bottom-right pixel of each 2x2 block (the lecture's variant)
    box, out, ratio, aligned, scale, expected, _ = ROI_ALIGN_MAX_EXAMPLE
    rois = np.array([[0.0, *box]])
    for fn in (roi_align, roi_align_naive):
        np.testing.assert_allclose(fn(ARANGE, rois, out, scale, ratio, aligned, "max")[0, 0], expected)


def test_avg_and_max_pool_the_bilinear_samples_at_the_sampling_points():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(1, 1, 9, 11))
    roi = (1.3, 0.7, 8.2, 6.9)
    ys, xs = roi_align_sampling_points(roi, (3, 2), 1.0, 2, True)
    assert ys.shape == (3, 2) and xs.shape == (2, 2)
    samples = bilinear_interpolate(f[0, 0], ys[:, None, :, None], xs[None, :, None, :]).value  # (3, 2, 2, 2)
    out = roi_align(f, np.array([[0.0, *roi]]), (3, 2), 1.0, 2, True)[0, 0]
    np.testing.assert_allclose(out, samples.mean(axis=(2, 3)), rtol=1e-12)
    out_max = roi_align(f, np.array([[0.0, *roi]]), (3, 2), 1.0, 2, True, "max")[0, 0]
    np.testing.assert_allclose(out_max, samples.max(axis=(2, 3)), rtol=1e-12)


def test_bin_edges_and_sampling_points_agree():
    y_edges, x_edges = roi_align_bin_edges((2.0, 4.0, 10.0, 8.0), (2, 4), 0.5, aligned=True)
    np.testing.assert_allclose(y_edges, [1.5, 2.5, 3.5])  # 4 * 0.5 - 0.5 = 1.5, bins of 1
    np.testing.assert_allclose(x_edges, [0.5, 1.5, 2.5, 3.5, 4.5])
    ys, xs = roi_align_sampling_points((2.0, 4.0, 10.0, 8.0), (2, 4), 0.5, 2, aligned=True)
    np.testing.assert_allclose(ys, [[1.75, 2.25], [2.75, 3.25]])  # sub-cell centres
    np.testing.assert_allclose(xs[0], [0.75, 1.25])


# --------------------------------------------------------------------------- kernel vs reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aligned", [False, True])
def test_kernel_matches_naive_forward_and_backward(dtype, aligned):
    rng = np.random.default_rng(int(aligned) + 10 * (dtype == np.float32))
    for ratio, mode in itertools.product([-1, 0, 1, 2, 3], ["avg", "max"]):
        f = rng.normal(size=(2, 3, 7, 9)).astype(dtype)
        scale = float(rng.choice([1.0, 0.5, 0.7]))
        rois = random_rois(rng, 6, 2, 7, 9, scale)
        args = ((3, 2), scale, ratio, aligned, mode)
        out = roi_align(f, rois, *args)
        assert out.dtype == dtype and out.shape == (6, 3, 3, 2)
        np.testing.assert_array_equal(out, roi_align_naive(f, rois, *args))  # same arithmetic
        g = rng.normal(size=out.shape).astype(dtype)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(roi_align_backward(g, f, rois, *args),
                                   roi_align_backward_naive(g, f, rois, *args), rtol=tol, atol=tol)


def test_parallel_and_single_thread_results_are_identical(monkeypatch):
    rng = np.random.default_rng(5)
    f = rng.normal(size=(2, 8, 12, 12)).astype(np.float32)
    rois = random_rois(rng, 40, 2, 12, 12)
    g = rng.normal(size=(40, 8, 7, 7)).astype(np.float32)
    results = []
    for threshold in (0, 10**18):  # always parallel, never parallel
        monkeypatch.setattr(roi_inputs, "PARALLEL_MIN_WORK", threshold)
        results.append([roi_align(f, rois, 7, 1.0, 2, True, mode) for mode in ("avg", "max")]
                       + [roi_align_backward(g, f, rois, 7, 1.0, 2, True, mode) for mode in ("avg", "max")])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [-1, 2])
def test_gradient_check_avg(aligned, ratio):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(2, 2, 6, 7))
    rois = np.array([[0, 0.4, 1.1, 5.3, 4.8], [1, -1.5, 2.0, 3.0, 7.5], [1, 2.2, 0.3, 6.6, 3.9]])
    g = rng.normal(size=(3, 2, 3, 3))
    num = numerical_gradient(lambda x: roi_align(x, rois, 3, 1.0, ratio, aligned), f, g)
    assert rel_error(num, roi_align_backward(g, f, rois, 3, 1.0, ratio, aligned)) <= 1e-6


@pytest.mark.parametrize("aligned", [False, True])
def test_gradient_check_max_away_from_ties(aligned):
    rng = np.random.default_rng(2)
    f = rng.normal(size=(1, 2, 6, 7))
    rois = np.array([[0, 0.4, 1.1, 5.3, 4.8], [0, 1.5, 2.0, 6.0, 5.5]])
    # the winner of every bin must beat the runner-up clearly (no tie under +-h)
    for roi in rois:
        ys, xs = roi_align_sampling_points(roi[1:], 2, 1.0, 2, aligned)
        for c in range(2):
            v = bilinear_interpolate(f[0, c], ys[:, None, :, None], xs[None, :, None, :]).value
            top2 = np.sort(v.reshape(2, 2, 4), axis=-1)[..., -2:]
            assert (top2[..., 1] - top2[..., 0]).min() > 1e-4
    g = rng.normal(size=(2, 2, 2, 2))
    num = numerical_gradient(lambda x: roi_align(x, rois, 2, 1.0, 2, aligned, "max"), f, g)
    assert rel_error(num, roi_align_backward(g, f, rois, 2, 1.0, 2, aligned, "max")) <= 1e-6


# --------------------------------------------------------------------------- edge cases, errors
def test_no_rois_gives_empty_output_of_the_right_shape():
    f = np.zeros((2, 3, 5, 5), dtype=np.float32)
    out = roi_align(f, np.zeros((0, 5)), (4, 2), 0.5, 2, True)
    assert out.shape == (0, 3, 4, 2) and out.dtype == np.float32
    grad = roi_align_backward(out, f, np.zeros((0, 5)), (4, 2), 0.5, 2, True)
    assert grad.shape == f.shape and grad.dtype == np.float32 and not grad.any()


def test_float64_rois_are_converted_to_float32_features():
    f = ARANGE.astype(np.float32)
    out = roi_align(f, np.array([[0, 1, 1, 3, 3]], dtype=np.float64), 2, 1.0, 1, True)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0], [[6, 7], [11, 12]])


def test_rois_entirely_outside_give_zeros():
    out = roi_align(ARANGE, np.array([[0, 20, 20, 30, 30], [0, -30, -30, -20, -20.0]]), 3, 1.0, 2, True)
    assert not out.any()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(rois=np.zeros((1, 4))), ValueError, r"rois must have shape \(K, 5\)"),
        (dict(rois=[[2, 0, 0, 1, 1]]), ValueError, r"rois\[:, 0\] must be integer batch indices in \[0, 2\)"),
        (dict(rois=[[0.5, 0, 0, 1, 1]]), ValueError, r"rois\[:, 0\] must be integer"),
        (dict(rois=[[0, 2, 0, 1, 1]]), ValueError, "rois must satisfy x2 >= x1"),
        (dict(rois=[[0, 0, 2, 1, 1]]), ValueError, "rois must satisfy x2 >= x1 and y2 >= y1"),
        (dict(rois=[[0, 0, 0, np.nan, 1]]), ValueError, "rois contains NaN"),
        (dict(features=np.zeros((2, 5, 5))), ValueError, r"features must have shape \(N, C, H, W\)"),
        (dict(features=np.zeros((2, 1, 0, 5))), ValueError, "features must have H >= 1"),
        (dict(features=np.array([[[["a"]]]])), TypeError, "features must be a real-valued array"),
        (dict(output_size=0), ValueError, "output_size must be positive"),
        (dict(output_size=(2, 2.5)), TypeError, "output_size must be an int or a pair"),
        (dict(spatial_scale=0.0), ValueError, "spatial_scale must be positive"),
        (dict(sampling_ratio=2.0), TypeError, "sampling_ratio must be an int"),
        (dict(aligned="yes"), TypeError, "aligned must be True or False"),
        (dict(mode="mean"), ValueError, "mode must be 'avg' or 'max'"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs, error, match):
    args = dict(features=np.zeros((2, 1, 5, 5)), rois=[[0, 0, 0, 1, 1]], output_size=2,
                spatial_scale=1.0, sampling_ratio=2, aligned=True, mode="avg")
    args.update(kwargs)
    with pytest.raises(error, match=match):
        roi_align(**args)
    with pytest.raises(error, match=match):
        roi_align_backward(np.zeros((1, 1, 2, 2)), **args)


def test_bad_grad_output_shape():
    with pytest.raises(ValueError, match=r"grad_output must have the forward output's shape \(1, 1, 2, 2\)"):
        roi_align_backward(np.zeros((1, 1, 3, 3)), ARANGE, [[0, 0, 0, 2, 2]], 2)


# --------------------------------------------------------------------------- ties, NaN, caps
def test_max_mode_backward_sends_the_gradient_to_the_first_maximum_the_forward_picked():
    f = np.ones((1, 1, 6, 6))  # every sample ties
    roi = np.array([[0, 0, 0, 4, 4]])  # aligned, 1 bin, 2 x 2 samples at (0.5, 0.5), (0.5, 2.5), ...
    grad = roi_align_backward(np.ones((1, 1, 1, 1)), f, roi, 1, 1.0, 2, True, "max")
    expected = np.zeros((6, 6))
    expected[0:2, 0:2] = 0.25  # the first sample (0.5, 0.5): its four neighbours, a quarter each
    np.testing.assert_array_equal(grad[0, 0], expected)
    np.testing.assert_array_equal(roi_align_backward_naive(np.ones((1, 1, 1, 1)), f, roi, 1, 1.0, 2, True, "max"),
                                  grad)


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_features_kernel_equals_naive(mode, dtype):
    rng = np.random.default_rng(7)
    f = rng.normal(size=(2, 3, 7, 9)).astype(dtype)
    f[rng.random(f.shape) < 0.05] = np.nan
    f[0, 1] = np.nan  # a whole channel
    rois = random_rois(rng, 8, 2, 7, 9)
    out = roi_align(f, rois, (3, 2), 1.0, 2, True, mode)
    np.testing.assert_array_equal(out, roi_align_naive(f, rois, (3, 2), 1.0, 2, True, mode))
    on_map = (rois[:, 0] == 0) & (rois[:, 1] >= 0) & (rois[:, 2] >= 0) & (rois[:, 3] <= 9) & (rois[:, 4] <= 7)
    assert on_map.any() and np.isnan(out[on_map][:, 1]).all()  # the NaN channel, read inside the map
    off_map = (rois[:, 3] < -1) | (rois[:, 4] < -1) | (rois[:, 1] > 10) | (rois[:, 2] > 8)
    assert (out[off_map] == 0).all()  # samples outside the map read 0, NaN or not at its border
    g = rng.normal(size=out.shape).astype(dtype)
    np.testing.assert_allclose(roi_align_backward(g, f, rois, (3, 2), 1.0, 2, True, mode),
                               roi_align_backward_naive(g, f, rois, (3, 2), 1.0, 2, True, mode), rtol=1e-5)


def test_max_mode_a_nan_anywhere_in_the_bin_wins():
    for position in range(4):  # the NaN as the first, second, ... of the bin's 2 x 2 samples
        f = np.arange(36.0).reshape(1, 1, 6, 6)
        ys, xs = roi_align_sampling_points((0, 0, 4, 4), 1, 1.0, 2, True)
        f[0, 0, int(ys[0, position // 2]), int(xs[0, position % 2])] = np.nan
        assert np.isnan(roi_align(f, [[0, 0, 0, 4, 4]], 1, 1.0, 2, True, "max")).all(), position
        grad = roi_align_backward(np.ones((1, 1, 1, 1)), f, [[0, 0, 0, 4, 4]], 1, 1.0, 2, True, "max")
        assert grad.sum() == pytest.approx(1.0)  # all of it to the NaN sample's neighbours


def test_samples_per_bin_cap_is_exact():
    F64 = np.zeros((1, 1, 4, 4))
    assert roi_align(F64, [[0, 0, 0, 1, 1]], 1, 1.0, 64, True).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="4225 samples per bin"):
        roi_align(F64, [[0, 0, 0, 1, 1]], 1, 1.0, 65, True)
    # adaptive: a 64 x 64 box in one bin takes ceil(64) ** 2 = 4096 samples, one more pixel 65 ** 2
    assert roi_align(F64, [[0, 0, 0, 64, 64]], 1, 1.0, 0, False).shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match=r"rois\[1\] = .*4160 samples per bin"):
        roi_align(F64, [[0, 0, 0, 64, 64], [0, 0, 0, 65, 64]], 1, 1.0, 0, False)
