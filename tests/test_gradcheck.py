import numpy as np
import pytest

from minimaskrcnn.nn import numerical_gradient, rel_error


def test_numerical_gradient_matches_analytic_tanh():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    dout = rng.normal(size=(3, 4))
    num = numerical_gradient(np.tanh, x, dout)
    assert rel_error(num, dout * (1 - np.tanh(x) ** 2)) < 1e-8


def test_numerical_gradient_detects_a_wrong_gradient():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5,))
    num = numerical_gradient(lambda v: v**3, x, np.ones(5))
    assert rel_error(num, 3 * x**2) < 1e-8
    assert rel_error(num, 2 * x**2) > 1e-2  # a wrong backward is far off


def test_numerical_gradient_through_closure_restores_x():
    x = np.array([1.0, -2.0, 3.0])
    before = x.copy()
    num = numerical_gradient(lambda _: np.sum(x**2), x)
    np.testing.assert_array_equal(x, before)
    assert rel_error(num, 2 * x) < 1e-8


def test_numerical_gradient_rejects_float32():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.tanh, np.ones(3, dtype=np.float32))


def test_rel_error_properties():
    a = np.array([1.0, 2.0])
    assert rel_error(a, a) == 0.0
    assert rel_error(a, -a) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes"):
        rel_error(a, np.ones(3))


def test_numerical_gradient_at_selected_coordinates():
    from minimaskrcnn.nn import numerical_gradient_at

    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5))
    idx = [0, 7, 19]
    num = numerical_gradient_at(lambda: np.sum(np.sin(x)), x, idx)
    np.testing.assert_allclose(num, np.cos(x).reshape(-1)[idx], rtol=1e-7)
