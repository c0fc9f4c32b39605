"""The notebooks' live experiments: fitting a copy of a mask head, and scoring its masks."""
import numpy as np
import pytest

from minimaskrcnn.config import Config
from minimaskrcnn.experiments import fit_mask_head, predicted_mask_ious
from minimaskrcnn.model.mask_head import build_mask_head

CFG = Config(mask_conv_dim=8, mask_num_convs=2)


def setup(R=6, C=4, seed=0):
    rng = np.random.default_rng(seed)
    head = build_mask_head(CFG, C, rng=rng)
    features = rng.normal(size=(R, C, CFG.mask_pool_size, CFG.mask_pool_size)).astype(np.float32)
    m = 2 * CFG.mask_pool_size
    targets = np.zeros((R, m, m), np.float32)
    targets[:, 4:20, 6:22] = 1
    labels = rng.integers(1, CFG.num_classes + 1, R)
    return head, features, labels, targets


def test_one_step_is_one_sgd_step_of_the_mask_loss_and_leaves_the_original_alone():
    from minimaskrcnn.model.mask_head import mask_loss

    head, features, labels, targets = setup()
    before = [v.copy() for _, v, _ in head.named_parameters()]
    trained, losses = fit_mask_head(head, features, labels, targets, CFG, steps=1, lr=0.1)
    logits, cache = head.forward(features)  # by hand: the first SGD step (momentum buffer = gradient)
    loss, dlogits, _ = mask_loss(logits, labels, targets, CFG)
    head.zero_grad()
    head.backward(dlogits, cache)
    assert losses == [pytest.approx(loss)]
    for (_, p0, g), p1, b in zip(head.named_parameters(), (v for _, v, _ in trained.named_parameters()), before):
        np.testing.assert_array_equal(p0, b)  # the original head is untouched
        np.testing.assert_allclose(p1, b - 0.1 * g, rtol=1e-5, atol=1e-7)


def test_fitting_lowers_the_loss_and_improves_the_masks():
    head, features, labels, targets = setup()
    trained, losses = fit_mask_head(head, features, labels, targets, CFG, steps=60, lr=1.0)
    assert losses[-1] < 0.8 * losses[0]
    ious, _ = predicted_mask_ious(trained, features, labels, targets, CFG)
    ious0, _ = predicted_mask_ious(head, features, labels, targets, CFG)
    assert ious.mean() > ious0.mean()


def test_mask_ious_by_hand():
    head, features, labels, targets = setup(R=2)
    logits, _ = head.forward(features)
    pred = logits[np.arange(2), labels - 1] > 0
    ious, ratios = predicted_mask_ious(head, features, labels, targets, CFG)
    t = targets > 0.5
    np.testing.assert_allclose(ious, [(p & q).sum() / (p | q).sum() for p, q in zip(pred, t)])
    np.testing.assert_allclose(ratios, pred.sum(axis=(1, 2)) / t.sum(axis=(1, 2)))


def test_bad_inputs():
    head, features, labels, targets = setup()
    with pytest.raises(ValueError, match="labels"):
        fit_mask_head(head, features, labels * 0, targets, CFG)
    with pytest.raises(ValueError, match="expected"):
        fit_mask_head(head, features[:2], labels, targets, CFG)
