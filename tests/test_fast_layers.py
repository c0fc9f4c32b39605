"""The fused kernels behind GroupNorm, ReLU and Linear, against their readable references."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minimaskrcnn.nn import numerical_gradient, rel_error
from minimaskrcnn.ops import tiles
from minimaskrcnn.ops.group_norm import (group_norm_backward, group_norm_backward_naive, group_norm_forward,
                                         group_norm_forward_naive)
from minimaskrcnn.ops.linear import linear_backward, linear_forward
from minimaskrcnn.ops.relu import relu_backward, relu_backward_naive, relu_forward, relu_forward_naive

GN_CASES = [((8, 16, 32, 32), 8), ((3, 8, 5, 7), 2), ((128, 16, 14, 14), 4), ((4, 12), 3), ((2, 6, 3), 6),
            ((0, 8, 4, 4), 2), ((1, 4, 1, 1), 1)]


@pytest.mark.parametrize("shape, G", GN_CASES)
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_group_norm_kernel_equals_reference(shape, G, dtype, tol):
    rng = np.random.default_rng(sum(shape) + G)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    gamma, beta = rng.standard_normal(shape[1]).astype(dtype), rng.standard_normal(shape[1]).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out_ref, cache_ref = group_norm_forward_naive(x, gamma, beta, G, 1e-5)
    out, cache = group_norm_forward(x, gamma, beta, G, 1e-5)
    assert out.dtype == dtype and out.shape == shape and cache[1].shape == (shape[0], G)
    np.testing.assert_allclose(out, out_ref, atol=tol * 10, rtol=tol)
    np.testing.assert_allclose(cache[1], cache_ref[1], rtol=tol)
    for got, want in zip(group_norm_backward(dout, cache, gamma, G), group_norm_backward_naive(dout, cache_ref, gamma, G)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, atol=tol * 100, rtol=tol * 10)


def test_group_norm_kernel_gradient_check_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 3, 4))
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    dout = rng.standard_normal(x.shape)
    _, cache = group_norm_forward(x, gamma, beta, 3, 1e-5)
    dx, dgamma, dbeta = group_norm_backward(dout, cache, gamma, 3)
    f = lambda: group_norm_forward(x, gamma, beta, 3, 1e-5)[0]  # noqa: E731
    assert rel_error(dx, numerical_gradient(lambda v: group_norm_forward(v, gamma, beta, 3, 1e-5)[0], x, dout)) < 1e-6
    assert rel_error(dgamma, numerical_gradient(lambda _: f(), gamma, dout)) < 1e-6
    assert rel_error(dbeta, numerical_gradient(lambda _: f(), beta, dout)) < 1e-6


def test_group_norm_kernel_is_the_same_on_one_thread_or_many(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
    gamma, beta = np.ones(16, np.float32), np.zeros(16, np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    many = group_norm_forward(x, gamma, beta, 8, 1e-5)
    many_b = group_norm_backward(dout, many[1], gamma, 8)
    monkeypatch.setattr(tiles, "num_threads", lambda: 1)
    one = group_norm_forward(x, gamma, beta, 8, 1e-5)
    one_b = group_norm_backward(dout, one[1], gamma, 8)
    assert many[0].tobytes() == one[0].tobytes()
    for a, b in zip(many_b, one_b):
        assert a.tobytes() == b.tobytes()


def test_group_norm_of_a_constant_group_is_zero_not_nan():
    x = np.full((1, 4, 3, 3), 5.0, np.float32)
    out, _ = group_norm_forward(x, np.ones(4, np.float32), np.zeros(4, np.float32), 2, 1e-5)
    assert np.isfinite(out).all() and np.abs(out).max() == 0


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=1, max_size=200))
@settings(max_examples=50, deadline=None)
def test_relu_kernels_equal_reference(values):
    x = np.array(values, dtype=np.float32)
    d = np.arange(len(values), dtype=np.float32) - 3
    out = relu_forward(x)
    assert out.dtype == np.float32
    assert np.array_equal(out, relu_forward_naive(x))  # (0 and -0 are equal)
    assert np.array_equal(relu_backward(d, out), relu_backward_naive(d, out))


def test_relu_edges_nan_zero_and_shape():
    x = np.array([[np.nan, -0.0, 0.0, -1.0, 2.0]], dtype=np.float64)
    out = relu_forward(x)
    assert out.shape == x.shape and np.isnan(out[0, 0]) and out[0, 1:].tolist() == [0, 0, 0, 2]
    # the gradient passes only where the output is positive (not at 0, not at NaN)
    assert relu_backward(np.ones_like(x), out).tolist() == [[0, 0, 0, 0, 1]]
    assert relu_forward(np.zeros((0, 3), np.float32)).shape == (0, 3)


@pytest.mark.parametrize("n, k, f", [(512, 300, 40), (7, 5, 3), (0, 4, 2), (1, 1, 1)])
def test_linear_kernels_equal_numpy(n, k, f):
    rng = np.random.default_rng(n + k + f)
    x, w = rng.standard_normal((n, k)).astype(np.float32), rng.standard_normal((f, k)).astype(np.float32)
    dout = rng.standard_normal((n, f)).astype(np.float32)
    np.testing.assert_allclose(linear_forward(x, w), x @ w.T, rtol=1e-5, atol=1e-4)
    dx, dw = linear_backward(dout, x, w)
    np.testing.assert_allclose(dx, dout @ w, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dw, dout.T @ x, rtol=1e-5, atol=1e-3)
    assert dx.shape == x.shape and dw.shape == w.shape


def test_linear_blocks_do_not_depend_on_threads(monkeypatch):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((600, 700)).astype(np.float32), rng.standard_normal((90, 700)).astype(np.float32)
    dout = rng.standard_normal((600, 90)).astype(np.float32)
    many = linear_backward(dout, x, w)
    monkeypatch.setattr(tiles, "num_threads", lambda: 1)
    one = linear_backward(dout, x, w)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(many, one))
