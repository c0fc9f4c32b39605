import numpy as np
import pytest

from minimaskrcnn.nn import (
    Conv2d, ConvTranspose2d, Flatten, GroupNorm, Linear, MaxPool2d, ReLU, Sequential, UpsampleNearest2d,
    numerical_gradient, rel_error,
)
from minimaskrcnn.nn.init import fans, kaiming_normal, normal


def check_layer_gradients(layer, x, seed=0):
    """Gradient-check dx and every parameter of ``layer`` in float64; rel error <= 1e-6."""
    rng = np.random.default_rng(seed)
    layer.astype(np.float64)
    out, cache = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    layer.zero_grad()
    dx = layer.backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, numerical_gradient(lambda v: layer.forward(v)[0], x, dout)) <= 1e-6
    for name, p, g in layer.named_parameters():
        num = numerical_gradient(lambda _: layer.forward(x)[0], p, dout)
        assert rel_error(g, num) <= 1e-6, name


def away_from_zero(rng, shape):
    """Random values with |v| >= 0.1, so a finite-difference step never crosses ReLU's kink."""
    v = rng.standard_normal(shape)
    return np.sign(v) * (0.1 + np.abs(v))


LAYERS = [
    (lambda rng: Conv2d(3, 4, 3, padding=1, rng=rng), (2, 3, 5, 6)),
    (lambda rng: Conv2d(2, 3, 3, stride=2, bias=False, rng=rng), (1, 2, 7, 7)),
    (lambda rng: Conv2d(3, 2, 1, rng=rng), (2, 3, 4, 4)),
    (lambda rng: Conv2d(2, 2, 3, padding=2, dilation=2, rng=rng), (1, 2, 6, 5)),
    (lambda rng: ConvTranspose2d(3, 2, 2, stride=2, rng=rng), (2, 3, 3, 4)),
    (lambda rng: Linear(5, 3, rng=rng), (4, 5)),
    (lambda rng: Linear(5, 3, bias=False, init="normal", std=0.5, rng=rng), (1, 5)),
    (lambda rng: GroupNorm(2, 4), (2, 4, 3, 3)),
    (lambda rng: GroupNorm(3, 6), (3, 6)),
    (lambda rng: MaxPool2d(2), (2, 3, 4, 6)),
    (lambda rng: MaxPool2d(3, stride=2, padding=1), (1, 2, 7, 6)),
    (lambda rng: ReLU(), (2, 3, 4)),
    (lambda rng: Flatten(), (2, 3, 2, 2)),
    (lambda rng: UpsampleNearest2d(2), (2, 2, 3, 4)),
    (lambda rng: UpsampleNearest2d(3), (1, 1, 2, 2)),
]
LAYER_IDS = ["conv", "conv-stride2-nobias", "conv1x1", "conv-dilated", "deconv", "linear", "linear-nobias",
             "groupnorm", "groupnorm-2d", "maxpool", "maxpool-padded", "relu", "flatten", "upsample2", "upsample3"]


@pytest.mark.parametrize("make_layer, x_shape", LAYERS, ids=LAYER_IDS)
def test_layer_gradients_match_numerical(make_layer, x_shape):
    rng = np.random.default_rng(len(x_shape) * 7 + sum(x_shape))
    layer = make_layer(rng)
    if isinstance(layer, GroupNorm):  # make the affine part non-trivial
        layer.params["weight"][:] = rng.uniform(0.5, 1.5, layer.params["weight"].shape)
        layer.params["bias"][:] = rng.standard_normal(layer.params["bias"].shape)
    check_layer_gradients(layer, away_from_zero(rng, x_shape))


def test_sequential_cnn_gradients_and_parameter_names():
    rng = np.random.default_rng(0)
    net = Sequential(Conv2d(2, 4, 3, padding=1, rng=rng), GroupNorm(2, 4), ReLU(), MaxPool2d(2),
                     Conv2d(4, 4, 3, padding=1, rng=rng), ReLU(), ConvTranspose2d(4, 2, 2, stride=2, rng=rng),
                     Flatten(), Linear(2 * 4 * 4, 3, rng=rng))
    names = [name for name, _, _ in net.named_parameters()]
    assert names[:4] == ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"]
    assert names[-1] == "layers.8.bias"
    check_layer_gradients(net, away_from_zero(rng, (2, 2, 4, 4)))


@pytest.mark.parametrize("make_layer, x_shape", LAYERS + [
    (lambda rng: Sequential(Conv2d(2, 4, 3, padding=1, rng=rng), GroupNorm(2, 4), ReLU(), Flatten(),
                            Linear(4 * 3 * 3, 2, rng=rng)), (2, 2, 3, 3))], ids=LAYER_IDS + ["sequential"])
def test_backward_accumulates_into_grads(make_layer, x_shape):
    """backward ADDS into grads (+=, never =), gives the same dx every time, and zero_grad clears."""
    rng = np.random.default_rng(1)
    layer = make_layer(rng)
    x = away_from_zero(rng, x_shape).astype(np.float32)
    out, cache = layer.forward(x)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    params_before = {k: p.copy() for k, p, _ in layer.named_parameters()}
    dx1 = layer.backward(dout, cache)
    once = {k: g.copy() for k, _, g in layer.named_parameters()}
    dx2 = layer.backward(dout, cache)
    np.testing.assert_array_equal(dx1, dx2)
    for k, _, g in layer.named_parameters():
        assert once[k].any(), k  # a real gradient, so that doubling it means something
        np.testing.assert_allclose(g, 2 * once[k], rtol=1e-5, atol=1e-7, err_msg=k)
    for k, p, _ in layer.named_parameters():
        np.testing.assert_array_equal(p, params_before[k])  # backward never touches the weights
    layer.zero_grad()
    assert all(not g.any() for _, _, g in layer.named_parameters())


def test_layers_default_to_float32_and_astype_converts():
    rng = np.random.default_rng(2)
    layer = Conv2d(2, 3, 3, rng=rng)
    assert layer.params["weight"].dtype == np.float32 and layer.grads["bias"].dtype == np.float32
    out, _ = layer.forward(np.zeros((1, 2, 5, 5), dtype=np.float32))
    assert out.dtype == np.float32
    with pytest.raises(TypeError, match="dtype"):
        layer.forward(np.zeros((1, 2, 5, 5)))  # float64 input, float32 weights
    layer.astype(np.float64)
    assert layer.forward(np.zeros((1, 2, 5, 5)))[0].dtype == np.float64


def test_kaiming_init_fan_out_statistics_and_rng_reproducibility():
    assert fans((64, 32, 3, 3)) == (32 * 9, 64 * 9)
    assert fans((10, 20)) == (20, 10)
    w = kaiming_normal((64, 32, 3, 3), np.random.default_rng(0))
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.01 and abs(w.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.03
    a = Conv2d(32, 64, 3, rng=np.random.default_rng(5))
    b = Conv2d(32, 64, 3, rng=np.random.default_rng(5))
    c = Conv2d(32, 64, 3, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(a.params["weight"], b.params["weight"])
    assert not np.array_equal(a.params["weight"], c.params["weight"])
    assert not a.params["bias"].any()
    p = normal((200, 100), np.random.default_rng(0), std=0.01)
    assert abs(p.std() / 0.01 - 1) < 0.03
    lin = Linear(100, 200, init="normal", std=0.001, rng=np.random.default_rng(0))
    assert abs(lin.params["weight"].std() / 0.001 - 1) < 0.03


def test_maxpool_values_with_padding_and_ties():
    x = np.array([[[[1.0, 5.0, 2.0], [4.0, 3.0, 9.0], [7.0, 8.0, 6.0]]]])
    out, cache = MaxPool2d(2, stride=1).forward(x)
    np.testing.assert_array_equal(out[0, 0], [[5, 9], [8, 9]])
    dx = MaxPool2d(2, stride=1).backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 1, 0], [0, 0, 2], [0, 1, 0]])  # 9 won two windows
    neg = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # padding is -inf, never zero
    out, _ = MaxPool2d(3, stride=2, padding=1).forward(neg)
    np.testing.assert_array_equal(out[0, 0], [[-1, -2], [-4, -5]])  # zero padding would give 0s
    ties = np.zeros((1, 1, 2, 2))
    out, cache = MaxPool2d(2).forward(ties)
    dx = MaxPool2d(2).backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])  # first maximum wins


def test_groupnorm_normalises_each_group():
    rng = np.random.default_rng(3)
    x = rng.normal(3.0, 2.0, size=(2, 6, 4, 4)).astype(np.float32)
    out, _ = GroupNorm(3, 6).forward(x)
    groups = out.reshape(2, 3, -1)
    np.testing.assert_allclose(groups.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(groups.var(axis=2), 1, atol=1e-3)
    xg = x.reshape(2, 3, -1).astype(np.float64)  # independent computation
    ref = (xg - xg.mean(2, keepdims=True)) / np.sqrt(xg.var(2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, ref.reshape(x.shape), rtol=1e-4, atol=1e-5)


def test_upsample_nearest_values():
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out, _ = UpsampleNearest2d(2).forward(x)
    np.testing.assert_array_equal(out[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_linear_and_relu_values():
    lin = Linear(2, 1, rng=np.random.default_rng(0))
    lin.params["weight"][:] = [[2.0, -1.0]]
    lin.params["bias"][:] = 0.5
    out, _ = lin.forward(np.array([[1.0, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[-0.5]])
    out, cache = ReLU().forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(out, [0, 0, 2])
    np.testing.assert_array_equal(ReLU().backward(np.ones(3), cache), [0, 0, 1])


@pytest.mark.parametrize("build, error, match", [
    (lambda rng: Conv2d(3, 4, 0, rng=rng), ValueError, "kernel_size"),
    (lambda rng: Conv2d(3, 4, 3, stride=0, rng=rng), ValueError, "stride"),
    (lambda rng: Conv2d(3, 4, 3, rng=rng, init="xavier"), ValueError, "init"),
    (lambda rng: Conv2d(3, 4, 3, rng=0), TypeError, "rng"),
    (lambda rng: Linear(0, 4, rng=rng), ValueError, "in_features"),
    (lambda rng: GroupNorm(3, 4), ValueError, "divisible"),
    (lambda rng: MaxPool2d(2, padding=2), ValueError, "padding"),
    (lambda rng: UpsampleNearest2d(1.5), ValueError, "scale_factor"),
    (lambda rng: Sequential(ReLU(), "relu"), TypeError, r"layers\[1\]"),
])
def test_bad_constructor_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build(np.random.default_rng(0))


def test_bad_forward_inputs():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="x has 4 features but the layer expects 5"):
        Linear(5, 2, rng=rng).forward(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="x must be a 2-d"):
        Linear(5, 2, rng=rng).forward(np.zeros((3, 5, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="channel mismatch"):
        Conv2d(3, 2, 3, rng=rng).forward(np.zeros((1, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 4, ...\)"):
        GroupNorm(2, 4).forward(np.zeros((1, 6, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="x must be a 4-d"):
        MaxPool2d(2).forward(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        MaxPool2d(3).forward(np.zeros((1, 1, 2, 2)))


def test_empty_batch_passes_through_every_layer():
    rng = np.random.default_rng(0)
    x = np.zeros((0, 8, 6, 6), np.float32)
    for layer in (Conv2d(8, 4, 3, padding=1, rng=rng), ConvTranspose2d(8, 4, 2, stride=2, rng=rng),
                  GroupNorm(2, 8), ReLU(), MaxPool2d(2), Flatten()):
        y, cache = layer.forward(x)
        assert y.shape[0] == 0
        assert layer.backward(np.zeros_like(y), cache).shape == x.shape
