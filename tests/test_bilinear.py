import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minimaskrcnn.grading.properties import BILINEAR_BORDER_CASES
from minimaskrcnn.ops import bilinear_interpolate, bilinear_interpolate_naive, linear_weights

F = np.arange(25.0).reshape(5, 5)  # f[y, x] = 5y + x


def kernel_form(feature, y, x):
    """Value and weights assembled from the Numba kernel's 1-D rule, as RoIAlign uses it."""
    T = feature.dtype.type
    H, W = feature.shape
    y_low, y_high, hy, ly = linear_weights(T(y), H, T)
    x_low, x_high, hx, lx = linear_weights(T(x), W, T)
    if y_low < 0 or x_low < 0:
        return T(0), np.zeros(4, dtype=T)
    w = np.array([hy * hx, hy * lx, ly * hx, ly * lx], dtype=T)
    v = (w[0] * feature[y_low, x_low] + w[1] * feature[y_low, x_high]
         + w[2] * feature[y_high, x_low] + w[3] * feature[y_high, x_high])
    return v, w


def test_worked_example_area_weights():
    s = bilinear_interpolate_naive(F, 1.25, 2.5)
    assert s.value == 8.75
    assert s.ys.tolist() == [1, 1, 2, 2] and s.xs.tolist() == [2, 3, 2, 3]
    # each neighbour weighted by the area of the rectangle opposite it
    np.testing.assert_array_equal(s.weights, [0.75 * 0.5, 0.75 * 0.5, 0.25 * 0.5, 0.25 * 0.5])


def test_on_a_pixel_returns_the_pixel():
    s = bilinear_interpolate_naive(F, 3.0, 1.0)
    assert s.value == F[3, 1]
    assert s.weights[0] == 1.0 and s.weights[1:].sum() == 0.0


@pytest.mark.parametrize("y, x, expected, why", BILINEAR_BORDER_CASES)  # shared with the exercises
def test_border_rule(y, x, expected, why):
    assert bilinear_interpolate_naive(F, y, x).value == pytest.approx(expected)
    assert bilinear_interpolate(F, y, x).value == pytest.approx(expected)
    assert kernel_form(F, y, x)[0] == pytest.approx(expected)


def test_outside_point_has_no_neighbours():
    s = bilinear_interpolate_naive(F, 7.0, 1.0)
    assert s.value == 0 and s.ys.tolist() == [-1] * 4 and s.weights.sum() == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_three_implementations_agree(dtype):
    rng = np.random.default_rng(0)
    feature = rng.normal(size=(6, 9)).astype(dtype)
    ys = np.concatenate([rng.uniform(-2, 8, 300), [-1, 0, 5, 6, -1.5, 6.5]])
    xs = np.concatenate([rng.uniform(-2, 11, 300), [-1, 0, 8, 9, 9.5, -1.2]])
    vec = bilinear_interpolate(feature, ys, xs)
    assert vec.value.dtype == dtype and vec.weights.dtype == dtype
    for n, (y, x) in enumerate(zip(ys, xs)):
        ref = bilinear_interpolate_naive(feature, y, x)
        assert vec.value[n] == ref.value  # same arithmetic, bit for bit
        np.testing.assert_array_equal(vec.ys[n], ref.ys)
        np.testing.assert_array_equal(vec.xs[n], ref.xs)
        np.testing.assert_array_equal(vec.weights[n], ref.weights)
        value, weights = kernel_form(feature, y, x)
        assert value == ref.value
        np.testing.assert_array_equal(weights, ref.weights)


def test_vectorised_broadcasting_shapes():
    s = bilinear_interpolate(F, np.linspace(0, 4, 3)[:, None], np.linspace(0, 4, 4)[None, :])
    assert s.value.shape == (3, 4) and s.ys.shape == (3, 4, 4) and s.weights.shape == (3, 4, 4)
    np.testing.assert_allclose(s.value, 5 * np.linspace(0, 4, 3)[:, None] + np.linspace(0, 4, 4))


@given(
    st.floats(0, 4), st.floats(0, 6),
    st.floats(-3, 3), st.floats(-3, 3), st.floats(-10, 10),
)
def test_weights_sum_to_one_and_affine_maps_are_exact(y, x, a, b, c):
    yy, xx = np.mgrid[0:5, 0:7]
    feature = a * xx + b * yy + c  # affine in the pixel indices
    s = bilinear_interpolate(feature, y, x)
    assert (s.weights >= 0).all()
    assert s.weights.sum() == pytest.approx(1.0)
    assert s.value == pytest.approx(a * x + b * y + c, abs=1e-9)


def test_integer_feature_becomes_float64_and_float32_stays():
    assert bilinear_interpolate(np.arange(25).reshape(5, 5), 1.5, 1.5).value.dtype == np.float64
    assert bilinear_interpolate(F.astype(np.float32), 1.5, 1.5).value.dtype == np.float32


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="feature must be a non-empty 2-D map"):
        bilinear_interpolate(np.zeros((1, 5, 5)), 1.0, 1.0)
    with pytest.raises(ValueError, match="y and x must be finite"):
        bilinear_interpolate(F, np.nan, 1.0)
    with pytest.raises(ValueError, match="y and x must be finite"):
        bilinear_interpolate_naive(F, 1.0, np.inf)
    with pytest.raises(TypeError, match="feature must be a real-valued array"):
        bilinear_interpolate(np.array([["a"]]), 0.0, 0.0)
