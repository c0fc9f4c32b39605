"""Exercise 01: convolution forward and backward, with loops.

The student writes::

    conv_forward(x, w, b, stride=1, padding=0) -> out              (N, F, Ho, Wo)
    conv_backward(dout, x, w, b, stride=1, padding=0) -> dx, dw, db

with x (N, C, H, W), w (F, C, kh, kw), b (F,): cross-correlation with zero
padding, as ``minimaskrcnn.ops.conv2d_forward_naive`` (the reference).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, agree, expect_close, expect_gradient, falsify
from minimaskrcnn.grading.properties import small_int_map
from minimaskrcnn.nn import numerical_gradient
from minimaskrcnn.ops import conv2d_backward_naive, conv2d_forward_naive


def reference_forward(x, w, b, stride=1, padding=0):
    return conv2d_forward_naive(x, w, b, stride, padding)[0]


def reference_backward(dout, x, w, b, stride=1, padding=0):
    return conv2d_backward_naive(dout, (x, w, b, stride, padding, 1))


def _random_case(rng, N, C, H, W, F, kh, kw, stride, padding):
    return dict(x=rng.normal(size=(N, C, H, W)), w=rng.normal(size=(F, C, kh, kw)), b=rng.normal(size=F),
                stride=stride, padding=padding)


def random_cases(seed: int, n: int = 8):
    """Shapes a loop gets wrong: 1x1 and non-square kernels, stride 2 with a ragged edge, padding 2."""
    rng = np.random.default_rng(seed)
    fixed = [("3x3 kernel, stride 1, padding 1", (2, 3, 5, 6, 4, 3, 3, 1, 1)),
             ("1x1 kernel", (1, 3, 4, 4, 2, 1, 1, 1, 0)),
             ("2x3 kernel, stride 2, ragged edge", (2, 2, 7, 6, 3, 2, 3, 2, 0)),
             ("padding 2, stride 2", (1, 2, 5, 5, 2, 3, 3, 2, 2)),
             ("one input channel, more filters", (1, 1, 6, 5, 4, 3, 2, 1, 1))]
    cases = [(label, _random_case(rng, *shape)) for label, shape in fixed]
    for _ in range(n - len(fixed)):
        kh, kw, stride, padding = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 3), rng.integers(0, 3)
        H, W = rng.integers(max(kh - 2 * padding, 1), 8), rng.integers(max(kw - 2 * padding, 1), 8)
        cases.append(("random shapes", _random_case(rng, rng.integers(1, 3), rng.integers(1, 4), H, W,
                                                    rng.integers(1, 4), kh, kw, stride, padding)))
    return cases


def _with_dout(cases, seed):
    rng = np.random.default_rng(seed)
    out = []
    for label, case in cases:
        y = reference_forward(**case)
        out.append((label, {"dout": rng.normal(size=y.shape), **case}))
    return out


def _compare_grads(got, expected, name):
    try:
        dx, dw, db = got
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} must return three arrays (dx, dw, db), got {type(got).__name__}") from None
    for label, g, e in zip(("dx", "dw", "db"), (dx, dw, db), expected):
        expect_close(g, e, f"{name}: {label}", rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- checks
def check_worked_example(s):
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # top-left minus bottom-right
    expect_close(s.conv_forward(x, w, np.zeros(1)), [[[[-4.0, -4.0], [-4.0, -4.0]]]],
                 "conv_forward(x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 0], [0, -1]], b = 0)")
    # stride 2, padding 1, a 3x3 kernel of ones: each output sums the window it sees
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    expect_close(s.conv_forward(x, np.ones((1, 1, 3, 3)), np.array([0.5]), stride=2, padding=1),
                 [[[[10.5, 24.5], [51.5, 90.5]]]],
                 "conv_forward(x = arange(16).reshape(4, 4), w = ones(3, 3), b = 0.5, stride=2, padding=1)")


@st.composite
def one_hot_cases(draw):
    """A kernel with a single 1 (filter f0, channel c0, tap (i, j)) and distinct biases."""
    kh, kw, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), \
        draw(st.integers(0, 2))
    H = draw(st.integers(max(kh - 2 * padding, 1), 4))
    W = draw(st.integers(max(kw - 2 * padding, 1), 4))
    N, C, F = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    f0, c0 = draw(st.integers(0, F - 1)), draw(st.integers(0, C - 1))
    i, j = draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1))
    x = np.concatenate([draw(small_int_map(H, W, C)) for _ in range(N)])
    w = np.zeros((F, C, kh, kw))
    w[f0, c0, i, j] = 1.0
    return dict(x=x, w=w, b=np.arange(F, dtype=np.float64) / 8, stride=stride, padding=padding)


def one_hot_expected(x, w, b, stride, padding):
    """out[:, f0] = b[f0] + the padded input's channel c0 read at (oh*stride + i, ow*stride + j)."""
    f0, c0, i, j = (int(v[0]) for v in np.nonzero(w))
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.broadcast_to(b[None, :, None, None], (N, F, Ho, Wo)).copy()
    out[:, f0] += xp[:, c0, i:i + stride * (Ho - 1) + 1:stride, j:j + stride * (Wo - 1) + 1:stride]
    return out


def check_one_hot_kernel(s):
    def prop(case):
        expect_close(s.conv_forward(*case.values()), one_hot_expected(**case), "conv_forward", atol=1e-12)

    falsify("a kernel whose only non-zero is w[f0, c0, i, j] = 1 copies input channel c0, shifted by the tap "
            "(i, j) and strided, into output channel f0 (plus the bias b[f]); every other output channel is b[f]",
            one_hot_cases(), prop, s)


def check_reference_forward(s, seed=0):
    agree("conv_forward", random_cases(seed), s.conv_forward, reference_forward)


def check_gradient(s):
    rng = np.random.default_rng(7)
    x, w, b = rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(2, 2, 3, 2)), rng.normal(size=2)
    stride, padding = 2, 1
    dout = rng.normal(size=reference_forward(x, w, b, stride, padding).shape)
    got = s.conv_backward(dout, x.copy(), w.copy(), b.copy(), stride, padding)
    try:
        dx, dw, db = got
    except (TypeError, ValueError):
        raise CheckFailed(f"conv_backward must return three arrays (dx, dw, db), got {type(got).__name__}") from None
    what = "(x (2, 2, 4, 4), w (2, 2, 3, 2), stride 2, padding 1, float64)"
    expect_gradient(dx, numerical_gradient(lambda v: s.conv_forward(v, w, b, stride, padding), x, dout),
                    f"dx {what}")
    expect_gradient(dw, numerical_gradient(lambda v: s.conv_forward(x, v, b, stride, padding), w, dout),
                    f"dw {what}")
    expect_gradient(db, numerical_gradient(lambda v: s.conv_forward(x, w, v, stride, padding), b, dout),
                    f"db {what}")


def check_reference_backward(s, seed=1):
    agree("conv_backward", _with_dout(random_cases(seed, 6), seed), s.conv_backward, reference_backward,
          _compare_grads)


def check_hidden(s):
    check_reference_forward(s, seed=100)
    agree("conv_backward", _with_dout(random_cases(101, 6), 101), s.conv_backward, reference_backward,
          _compare_grads)


NEEDS = ("conv_forward",)
BOTH = ("conv_forward", "conv_backward")
EXERCISE = Exercise(
    id="01_convolution",
    title="Convolution forward and backward, with loops",
    lecture="01_convolution.ipynb",
    functions=BOTH,
    minutes=60,
    teaches="The definition of a 2-D convolution (cross-correlation with stride and zero padding) as "
            "loops, and its backward pass: where each output's gradient flows (dx), what each weight "
            "saw (dw), and the bias gradient (db). Checked by a one-hot-kernel property (catches flipped "
            "kernels, swapped filter/channel axes, padding on one side) and float64 gradient checks.",
    checks=(
        Check("worked_example", "worked examples (a 2x2 kernel; stride 2 with padding 1)", 2, NEEDS,
              check_worked_example),
        Check("one_hot_kernel", "property: a one-hot kernel copies a shifted channel", 3, NEEDS,
              check_one_hot_kernel),
        Check("reference_forward", "forward equals the package's reference (seeded random shapes)", 3, NEEDS,
              check_reference_forward),
        Check("gradient_check", "float64 gradient check of dx, dw, db", 3, BOTH, check_gradient),
        Check("reference_backward", "backward equals the package's reference (seeded random shapes)", 2, BOTH,
              check_reference_backward),
        Check("hidden", "hidden cases: forward and backward against the reference", 2, BOTH, check_hidden,
              hidden=True),
    ),
)
