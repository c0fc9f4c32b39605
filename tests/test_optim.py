import io

import numpy as np
import pytest

from minimaskrcnn.nn import (
    SGD, Conv2d, Flatten, GroupNorm, Linear, MaxPool2d, Module, ReLU, Sequential, WarmupStepLR, clip_grad_norm,
    softmax_cross_entropy,
)


class Params(Module):
    """A bare module holding one parameter vector, for hand-computed optimizer steps."""

    def __init__(self, values):
        super().__init__()
        self.add_param("p", np.array(values, dtype=np.float64))


def test_sgd_three_steps_match_torch():
    # Reference: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01), grad fixed at [0.5, 0.25].
    m = Params([1.0, -2.0])
    opt = SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(3):
        m.grads["p"][:] = [0.5, 0.25]
        opt.step()
    np.testing.assert_allclose(m.params["p"], [0.714134749, -2.1289196230000003], rtol=1e-12)


def test_sgd_first_step_by_hand_and_lr_override():
    m = Params([1.0])
    opt = SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01)
    m.grads["p"][:] = 0.5
    opt.step(lr=1.0)  # buf = 0.5 + 0.01 * 1; p = 1 - 1.0 * 0.51
    np.testing.assert_allclose(m.params["p"], [0.49])
    assert opt.lr == 0.1


def test_sgd_accepts_named_param_triples():
    p, g = np.array([1.0]), np.array([2.0])
    SGD([("p", p, g)], lr=0.5, momentum=0.0, weight_decay=0.0).step()
    np.testing.assert_allclose(p, [0.0])
    with pytest.raises(TypeError, match="triples"):
        SGD([p], lr=0.1)


def _tiny_regression(seed):
    rng = np.random.default_rng(seed)
    net = Sequential(Linear(3, 8, rng=rng), ReLU(), Linear(8, 1, rng=rng)).astype(np.float64)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))

    def train_step(opt):
        net.zero_grad()
        out, cache = net.forward(x)
        net.backward(2 * (out - y) / len(x), cache)
        opt.step()

    return net, train_step


def test_sgd_state_dict_resumes_exactly():
    net_a, step_a = _tiny_regression(0)
    opt_a = SGD(net_a, lr=0.05)
    for _ in range(5):
        step_a(opt_a)
    model_state, opt_state = net_a.state_dict(), opt_a.state_dict()
    assert all(isinstance(v, np.ndarray) for v in opt_state.values())  # flat: fits np.savez
    assert "momentum_buffer.layers.0.weight" in opt_state
    file = io.BytesIO()
    np.savez(file, **opt_state)
    file.seek(0)
    with np.load(file, allow_pickle=False) as npz:
        opt_state = dict(npz)
    for _ in range(5):
        step_a(opt_a)

    net_b, step_b = _tiny_regression(0)
    net_b.load_state_dict(model_state)
    opt_b = SGD(net_b, lr=0.05)
    opt_b.load_state_dict(opt_state)
    for _ in range(5):
        step_b(opt_b)
    for (name, pa, _), (_, pb, _) in zip(net_a.named_parameters(), net_b.named_parameters()):
        np.testing.assert_array_equal(pa, pb, err_msg=name)
    assert opt_b.steps == opt_a.steps == 10
    with pytest.raises(ValueError, match="unknown parameters"):
        opt_b.load_state_dict({**opt_state, "momentum_buffer.nope": np.zeros(1)})

    net_c, step_c = _tiny_regression(0)  # without the momentum buffers the run diverges from A
    net_c.load_state_dict(model_state)
    opt_c = SGD(net_c, lr=0.05)
    for _ in range(5):
        step_c(opt_c)
    assert not np.array_equal(net_c.layers[0].params["weight"], net_a.layers[0].params["weight"])


def test_clip_grad_norm():
    m1, m2 = Params([0.0]), Params([0.0])
    m1.grads["p"][:], m2.grads["p"][:] = 3.0, 4.0
    items = [("a", m1.params["p"], m1.grads["p"]), ("b", m2.params["p"], m2.grads["p"])]
    total = clip_grad_norm(items, 1.0)
    assert total == pytest.approx(5.0)
    # Reference: torch.nn.utils.clip_grad_norm_ gives 0.599999880000024, 0.799999840000032.
    assert m1.grads["p"][0] == pytest.approx(0.599999880000024, rel=1e-12)
    assert m2.grads["p"][0] == pytest.approx(0.799999840000032, rel=1e-12)
    assert clip_grad_norm(items, 10.0) == pytest.approx(1.0, rel=1e-5)  # below the limit: unchanged
    assert m1.grads["p"][0] == pytest.approx(0.599999880000024, rel=1e-12)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(items, 0.0)


def test_warmup_step_lr():
    sched = WarmupStepLR(0.02, warmup_steps=100, warmup_factor=0.001, milestones=(800, 1000), gamma=0.1)
    assert sched.lr_at(0) == pytest.approx(0.02 * 0.001)
    assert sched.lr_at(50) == pytest.approx(0.02 * (0.001 * 0.5 + 0.5))
    assert sched.lr_at(100) == pytest.approx(0.02)
    assert sched.lr_at(799) == pytest.approx(0.02)
    assert sched.lr_at(800) == pytest.approx(0.002)
    assert sched.lr_at(1000) == pytest.approx(0.0002)
    assert WarmupStepLR(0.1, warmup_steps=0).lr_at(0) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="milestones"):
        WarmupStepLR(0.1, 10, milestones=(5, 3))
    with pytest.raises(ValueError, match="base_lr"):
        WarmupStepLR(0.0, 10)


def _bars(rng, n):
    """8x8 images with one horizontal (label 1) or vertical (label 2) bar, plus noise."""
    labels = rng.integers(1, 3, size=n)
    images = 0.3 * rng.standard_normal((n, 1, 8, 8)).astype(np.float32)
    where = rng.integers(0, 8, size=n)
    for i in range(n):
        if labels[i] == 1:
            images[i, 0, where[i], :] += 1.0
        else:
            images[i, 0, :, where[i]] += 1.0
    return images, labels


def test_tiny_cnn_learns_bar_orientation():
    """Fails if any forward/backward/optimizer piece is broken: the net must learn the task."""
    rng = np.random.default_rng(0)
    net = Sequential(Conv2d(1, 8, 3, padding=1, rng=rng), GroupNorm(2, 8), ReLU(), MaxPool2d(2),
                     Flatten(), Linear(8 * 4 * 4, 3, init="normal", std=0.01, rng=rng))  # class 0 unused
    opt = SGD(net, lr=0.1, momentum=0.9, weight_decay=1e-4)
    sched = WarmupStepLR(0.1, warmup_steps=10, milestones=(120,))
    test_x, test_y = _bars(rng, 200)
    initial_loss = softmax_cross_entropy(net.forward(test_x)[0], test_y)[0]
    for step in range(150):
        x, y = _bars(rng, 32)
        net.zero_grad()
        logits, cache = net.forward(x)
        loss, dlogits = softmax_cross_entropy(logits, y)
        net.backward(dlogits, cache)
        clip_grad_norm(net, 10.0)
        opt.step(lr=sched.lr_at(step))
    logits, _ = net.forward(test_x)
    final_loss = softmax_cross_entropy(logits, test_y)[0]
    accuracy = np.mean(logits.argmax(axis=1) == test_y)
    assert initial_loss > 1.0 and final_loss < 0.2, (initial_loss, final_loss)
    assert accuracy >= 0.95


@pytest.mark.parametrize("kwargs, match", [({"lr": 0.0}, "lr"), ({"lr": 0.1, "momentum": 1.0}, "momentum"),
                                           ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay")])
def test_sgd_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD(Params([1.0]), **kwargs)
