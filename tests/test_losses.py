import warnings

import numpy as np
import pytest

from minimaskrcnn.nn import numerical_gradient, rel_error, sigmoid_bce_with_logits, smooth_l1_loss, softmax_cross_entropy
from minimaskrcnn.nn.losses import sigmoid


# -- softmax cross-entropy ----------------------------------------------------
def test_cross_entropy_hand_computed():
    loss, grad = softmax_cross_entropy(np.array([[0.0, 0.0]]), np.array([1]))
    assert loss == pytest.approx(np.log(2))
    np.testing.assert_allclose(grad, [[0.5, -0.5]])
    # -log(e^1 / (e^1 + e^2 + e^3)) = log(1 + e + e^2)
    loss, _ = softmax_cross_entropy(np.array([[1.0, 2.0, 3.0]]), np.array([0]))
    assert loss == pytest.approx(np.log(1 + np.e + np.e**2))


def test_cross_entropy_ignore_index_matches_torch():
    # Reference values from torch.nn.functional.cross_entropy(ignore_index=-100), float64.
    logits = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [0.0, 0.0, 0.0]])
    loss, grad = softmax_cross_entropy(logits, np.array([0, 2, -100]))
    assert loss == pytest.approx(1.3244586305507688, rel=1e-12)
    np.testing.assert_allclose(grad, [[-0.4549847134148098, 0.12236423552739882, 0.3326204778874109],
                                      [0.08764519607001835, 0.019556286635343725, -0.10720148270536206],
                                      [0.0, 0.0, 0.0]], rtol=1e-10)


def test_cross_entropy_all_ignored_gives_zero():
    loss, grad = softmax_cross_entropy(np.ones((3, 4), dtype=np.float32), np.full(3, -1), ignore_index=-1)
    assert loss == 0.0 and grad.dtype == np.float32 and not grad.any()
    loss, grad = softmax_cross_entropy(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    assert loss == 0.0 and grad.shape == (0, 4)


def test_cross_entropy_gradient_check():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 5))
    labels = np.array([0, 4, -100, 2, 1, 0])
    _, grad = softmax_cross_entropy(logits, labels)
    num = numerical_gradient(lambda z: softmax_cross_entropy(z, labels)[0], logits)
    assert rel_error(grad, num) <= 1e-6


# -- smooth L1 ----------------------------------------------------------------
D = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])


@pytest.mark.parametrize("beta, loss, grad", [
    # by hand: quadratic 0.5 d^2 / beta inside |d| < beta, |d| - beta / 2 outside (torch agrees)
    (1.0, 1.5 + 0.125 + 0 + 0.045 + 1.0, [-1.0, -0.5, 0.0, 0.3, 1.0]),
    (1 / 9, (2 - 1 / 18) + (0.5 - 1 / 18) + 0 + (0.3 - 1 / 18) + (1.5 - 1 / 18), [-1, -1, 0, 1, 1]),
    (0.0, 4.3, [-1, -1, 0, 1, 1]),  # beta = 0 is L1
])
def test_smooth_l1_hand_computed(beta, loss, grad):
    got, dpred = smooth_l1_loss(D, np.zeros(5), beta=beta)
    assert got == pytest.approx(loss)
    np.testing.assert_allclose(dpred, grad)
    got_mean, dmean = smooth_l1_loss(D, np.zeros(5), beta=beta, reduction="mean")
    assert got_mean == pytest.approx(loss / 5)
    np.testing.assert_allclose(dmean, np.array(grad) / 5)


def test_smooth_l1_gradient_check_and_dtype():
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((7, 4)), rng.standard_normal((7, 4))
    for beta in (1.0, 1 / 9, 0.0):
        _, grad = smooth_l1_loss(pred, target, beta)
        num = numerical_gradient(lambda p: smooth_l1_loss(p, target, beta)[0], pred)
        assert rel_error(grad, num) <= 1e-6
    _, g32 = smooth_l1_loss(pred.astype(np.float32), target.astype(np.float32))
    assert g32.dtype == np.float32


# -- sigmoid binary cross-entropy ---------------------------------------------
def test_bce_hand_computed():
    loss, grad = sigmoid_bce_with_logits(np.array([0.0]), np.array([1.0]))
    assert loss == pytest.approx(np.log(2))
    np.testing.assert_allclose(grad, [-0.5])
    loss, grad = sigmoid_bce_with_logits(np.array([2.0]), np.array([0.0]), reduction="sum")
    assert loss == pytest.approx(np.log(1 + np.exp(2)))
    np.testing.assert_allclose(grad, [1 / (1 + np.exp(-2))])


def test_bce_weights_and_extreme_logits_match_torch():
    # Reference from torch.nn.functional.binary_cross_entropy_with_logits(weight=w, reduction="mean"), float64.
    z = np.array([0.0, 2.0, -3.0, 1e4, -1e4])
    t = np.array([1.0, 0.0, 0.25, 0.0, 0.0])
    w = np.array([1.0, 2.0, 0.5, 1.0, 1.0])
    loss, grad = sigmoid_bce_with_logits(z, t, weights=w)
    assert loss == pytest.approx(2001.0692593756867, rel=1e-12)
    np.testing.assert_allclose(grad, [-0.1, 0.3523188311911529, -0.020257412682243323, 0.2, 0.0], rtol=1e-10)


def test_bce_gradient_check():
    rng = np.random.default_rng(2)
    z, t = rng.standard_normal((3, 4, 4)), rng.uniform(0, 1, (3, 4, 4))
    w = rng.uniform(0, 2, (3, 1, 1))
    for reduction in ("mean", "sum"):
        _, grad = sigmoid_bce_with_logits(z, t, w, reduction)
        num = numerical_gradient(lambda v: sigmoid_bce_with_logits(v, t, w, reduction)[0], z)
        assert rel_error(grad, num) <= 1e-6


# -- stability and validation ---------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_give_finite_loss_and_gradient_without_warnings(dtype):
    big = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        loss, grad = softmax_cross_entropy(big, np.array([1, 0]))
        assert np.isfinite(loss) and np.isfinite(grad).all()
        assert loss == pytest.approx((2e4 + (2e4 + np.log(2))) / 2, rel=1e-5)
        loss, grad = sigmoid_bce_with_logits(big, np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 1.0]], dtype=dtype))
        assert np.isfinite(loss) and np.isfinite(grad).all()
        loss, grad = smooth_l1_loss(big, np.zeros_like(big), beta=1 / 9)
        assert np.isfinite(loss) and np.isfinite(grad).all()


@pytest.mark.parametrize("call, error, match", [
    (lambda: softmax_cross_entropy(np.zeros(3), np.zeros(3, dtype=int)), ValueError, "logits must be 2-d"),
    (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "labels must be in"),
    (lambda: softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])), ValueError, "labels must be an integer"),
    (lambda: softmax_cross_entropy(np.array([[np.nan, 0.0]]), np.array([0])), ValueError, "logits contains NaN"),
    (lambda: softmax_cross_entropy(np.zeros((1, 2), dtype=int), np.array([0])), TypeError, "logits must be float"),
    (lambda: smooth_l1_loss(np.zeros(3), np.zeros(4)), ValueError, "same shape"),
    (lambda: smooth_l1_loss(np.zeros(3), np.zeros(3), beta=-1), ValueError, "beta"),
    (lambda: smooth_l1_loss(np.zeros(3), np.zeros(3), reduction="none"), ValueError, "reduction"),
    (lambda: smooth_l1_loss(np.zeros(3), np.array([0, np.inf, 0])), ValueError, "target contains NaN"),
    (lambda: sigmoid_bce_with_logits(np.zeros(3), np.array([0, 2.0, 1])), ValueError, r"targets must lie in \[0, 1\]"),
    (lambda: sigmoid_bce_with_logits(np.zeros(3), np.zeros(2)), ValueError, "targets must have the shape"),
    (lambda: sigmoid_bce_with_logits(np.zeros(3), np.zeros(3), np.ones(2)), ValueError, "weights"),
])
def test_losses_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sigmoid_matches_the_formula_and_survives_extreme_logits():
    x = np.random.default_rng(0).normal(0, 10, size=200)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(np.array([-1e4, -800.0, -40.0, 0.0, 40.0, 800.0, 1e4], dtype=np.float32))
    assert out.dtype == np.float64 and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[[0, 1, 3, 5, 6]], [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(out[2], np.exp(-40.0), rtol=1e-12)  # small probabilities keep their digits
