"""Exercise 07: mask targets and the mask loss with its gradient.

The student writes::

    mask_targets(gt_masks, rois, matched, mask_size) -> (P, m, m) float in {0, 1}
    mask_loss(logits, labels, targets) -> (loss, dlogits)

``mask_targets``: each RoI's matched ground-truth mask, cut out by the RoI and
resampled to m x m with RoIAlign (aligned=True, adaptive sampling, avg),
then ``>= 0.5``. ``mask_loss``: logits (R, K, m, m) of R sampled RoIs with
labels (R,) in 0..K (0 = background); per-pixel sigmoid binary cross-entropy
on the ground-truth class's channel (label - 1) only, on positive RoIs only,
averaged over their pixels. Reference: ``model/mask_head.mask_targets`` and
``nn.losses.sigmoid_bce_with_logits``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn.grading.core import (Check, CheckFailed, Exercise, agree, as_array, describe_case, expect_close,
                                       expect_gradient, explain, falsify)
from minimaskrcnn.grading.properties import eighths
from minimaskrcnn.nn import numerical_gradient
from minimaskrcnn.nn.losses import sigmoid_bce_with_logits
from minimaskrcnn.ops import roi_align


def reference_targets(gt_masks, rois, matched, mask_size):
    from minimaskrcnn.model.mask_head import mask_targets

    return mask_targets(np.asarray(gt_masks), np.asarray(rois, np.float32), np.asarray(matched), mask_size)


def soft_targets(gt_masks, rois, matched, mask_size):
    """The resampled masks before the 0.5 threshold, in float64."""
    if len(rois) == 0:
        return np.zeros((0, mask_size, mask_size))
    rois5 = np.concatenate([np.asarray(matched, float)[:, None], np.asarray(rois, float)], axis=1)
    return roi_align(np.asarray(gt_masks, float)[:, None], rois5, mask_size, 1.0, 0, True, "avg")[:, 0]


def reference_loss(logits, labels, targets):
    """(loss, dlogits): mean sigmoid BCE over the ground-truth channel of the positive RoIs."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    dlogits = np.zeros_like(logits)
    pos = np.flatnonzero(labels > 0)
    if pos.size == 0:
        return 0.0, dlogits
    chosen = logits[pos, labels[pos] - 1]  # (P, m, m): channel of class k is k - 1
    loss, d = sigmoid_bce_with_logits(chosen, np.asarray(targets, np.float64)[pos], reduction="mean")
    dlogits[pos, labels[pos] - 1] = d
    return float(loss), dlogits


def _loss_pair(got, name="mask_loss", shape=None):
    try:
        loss, dlogits = got
    except (TypeError, ValueError):
        raise CheckFailed(f"{name} must return (loss, dlogits), got {type(got).__name__}") from None
    return float(as_array(loss, f"{name}: loss", ())), as_array(dlogits, f"{name}: dlogits", shape)


def compare_loss(got, expected, name="mask_loss"):
    loss, dlogits = _loss_pair(got, name, np.shape(expected[1]))
    expect_close(loss, expected[0], f"{name}: loss", rtol=1e-9, atol=1e-12)
    expect_close(dlogits, expected[1], f"{name}: dlogits", rtol=1e-7, atol=1e-12)


# --------------------------------------------------------------------------- targets
def box_mask(box, H, W):
    x1, y1, x2, y2 = box
    m = np.zeros((H, W), bool)
    m[y1:y2, x1:x2] = True
    return m


def disc(cx, cy, r, H, W):
    yy, xx = np.mgrid[:H, :W] + 0.5
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def check_targets_worked(s):
    gt = box_mask((5, 7, 21, 19), 32, 32)[None]
    with explain("an RoI exactly on a box-shaped mask: every target pixel is 1"):
        got = s.mask_targets(gt, np.array([[5.0, 7, 21, 19]]), np.array([0]), 14)
        expect_close(got, np.ones((1, 14, 14)), "mask_targets")
    rng = np.random.default_rng(0)
    gt = np.stack([rng.random((24, 24)) > 0.5, disc(12, 12, 7, 24, 24)])
    rois = np.array([[2.0, 4, 18, 20], [4, 4, 20, 20]])
    expected = []
    for (x1, y1, x2, y2), j in zip(rois.astype(int), (1, 0)):
        blocks = gt[j, y1:y2, x1:x2].astype(float).reshape(8, 2, 8, 2).mean(axis=(1, 3))
        expected.append((blocks >= 0.5).astype(float))
    with explain("an RoI on whole pixels twice as large as m: with aligned=True and 2x2 samples per bin on pixel "
                 "centres, each target pixel is the mean of a 2x2 block of the matched mask, >= 0.5 "
                 "(note matched = [1, 0])"):
        expect_close(s.mask_targets(gt, rois, np.array([1, 0]), 8), np.array(expected), "mask_targets")
    half = np.zeros((1, 4, 4), bool)
    half[0, :, :2] = True  # left half
    with explain("the threshold is inclusive: RoI (1, 0, 3, 4) on a mask whose columns 0..1 are set samples pixel 1 "
                 "(1) and pixel 2 (0): mean exactly 0.5, and 0.5 >= 0.5 is foreground"):
        expect_close(s.mask_targets(half, np.array([[1.0, 0, 3, 4]]), np.array([0]), 1), [[[1.0]]], "mask_targets")


def target_cases(seed):
    rng = np.random.default_rng(seed)
    H, W = 30, 26
    gt = np.stack([disc(10, 12, 6, H, W), box_mask((3, 4, 17, 25), H, W), rng.random((H, W)) > 0.6])
    cases = []
    for m in (4, 7):
        x1, y1 = rng.uniform(-6, W, 8), rng.uniform(-6, H, 8)
        rois = np.stack([x1, y1, x1 + rng.uniform(0.5, 16, 8), y1 + rng.uniform(0.5, 16, 8)], axis=1)
        cases.append((f"8 RoIs (inside, on and past the border), mask_size {m}",
                      dict(gt_masks=gt, rois=rois, matched=rng.integers(0, 3, 8), mask_size=m)))
    cases.append(("no RoIs", dict(gt_masks=gt, rois=np.zeros((0, 4)), matched=np.zeros(0, np.int64), mask_size=5)))
    return cases


def check_targets_reference(s, seed=0):
    for n, (label, kw) in enumerate(target_cases(seed)):
        expected = reference_targets(**kw)
        got = as_array(s.mask_targets(*kw.values()), "mask_targets", expected.shape)
        # pixels whose resampled value is within round-off of 0.5 may go either way in float32 vs float64
        clear = np.abs(soft_targets(**kw) - 0.5) > 1e-4
        bad = clear & (got != expected)
        if bad.any():
            k, i, j = (int(v) for v in np.argwhere(bad)[0])
            raise CheckFailed(f"disagrees with the package's reference on case {n + 1} ({label}):\n"
                              f"RoI {k}: rois[{k}] = {kw['rois'][k].tolist()}, matched mask {kw['matched'][k]}: "
                              f"target pixel ({i}, {j}) should be {expected[k, i, j]:g}, got {got[k, i, j]:g}\n"
                              f"expected:\n{expected[k].astype(int)}\ngot:\n{got[k].astype(int)}")


# --------------------------------------------------------------------------- loss
def softplus(z):
    return np.log1p(np.exp(z))


def check_loss_worked(s):
    logits = np.zeros((3, 3, 2, 2))
    logits[0, 1] = 2.0  # RoI 0 has label 2 -> channel 1
    logits[1, 2] = -1.0  # RoI 1 has label 3 -> channel 2
    logits[0, 0] = 50.0  # other channels must not matter
    logits[2] = 7.0  # RoI 2 is background (label 0): no mask loss at all
    targets = np.array([[[1, 1], [0, 0]], [[1, 0], [1, 0]], [[1, 1], [1, 1]]], np.float64)
    # BCE(z, t) = softplus(z) - t z; RoI 0: two pixels t=1 at z=2, two t=0; RoI 1: z=-1
    expected = (2 * softplus(-2.0) + 2 * softplus(2.0) + 2 * softplus(1.0) + 2 * softplus(-1.0)) / 8
    what = ("worked example: 3 RoIs, K = 3 classes, m = 2, labels [2, 3, 0] (RoI 2 is background); "
            "loss = mean over the 8 pixels of RoIs 0 and 1 of softplus(z) - t * z on channels 1 and 2")
    with explain(what):
        loss, d = _loss_pair(s.mask_loss(logits, np.array([2, 3, 0]), targets), shape=logits.shape)
        expect_close(loss, expected, "mask_loss: loss")
        expect_close(d, reference_loss(logits, np.array([2, 3, 0]), targets)[1], "mask_loss: dlogits")


@st.composite
def loss_cases(draw, need_positive=True):
    R, K, m = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    labels = draw(st.lists(st.integers(0, K), min_size=R, max_size=R))
    if need_positive and not any(labels):
        labels[draw(st.integers(0, R - 1))] = draw(st.integers(1, K))
    logits = np.array(draw(st.lists(eighths(-4, 4), min_size=R * K * m * m, max_size=R * K * m * m)))
    targets = np.array(draw(st.lists(st.integers(0, 1), min_size=R * m * m, max_size=R * m * m)), float)
    return dict(logits=logits.reshape(R, K, m, m), labels=np.array(labels, np.int64),
                targets=targets.reshape(R, m, m))


def check_gt_channel_only(s):
    def prop(case):
        logits, labels, targets = case["logits"], case["labels"], case["targets"]
        loss, d = _loss_pair(s.mask_loss(logits, labels, targets), shape=logits.shape)
        keep = np.zeros(logits.shape, bool)
        pos = np.flatnonzero(labels > 0)
        keep[pos, labels[pos] - 1] = True  # the ground-truth channel of each positive RoI
        if (d[~keep] != 0).any():
            r, c = (int(v) for v in np.argwhere(~keep & (d != 0))[0][:2])
            raise CheckFailed(f"dlogits[{r}, {c}] is non-zero, but RoI {r} has label {labels[r]}: only channel "
                              f"label - 1 of a positive RoI may get gradient")
        other = np.where(keep, logits, logits + 3.0)  # change every other channel
        loss2, _ = _loss_pair(s.mask_loss(other, labels, targets), shape=logits.shape)
        expect_close(loss2, loss, "mask_loss with every other channel changed by +3 (must not change)",
                     rtol=1e-12, atol=1e-12)

    falsify("only the ground-truth class's channel (label - 1) of each positive RoI enters the loss and gets "
            "gradient: the other K - 1 masks of an RoI are not trained (no competition between classes)",
            loss_cases(), prop, s)


def check_negatives_ignored(s):
    def prop(case):
        logits, labels, targets = case["logits"], case["labels"], case["targets"]
        loss, d = _loss_pair(s.mask_loss(logits, labels, targets), shape=logits.shape)
        neg = labels == 0
        if (d[neg] != 0).any():
            raise CheckFailed(f"dlogits of background RoIs (label 0: rows {np.flatnonzero(neg).tolist()}) must be 0")
        pos = ~neg
        alone, _ = _loss_pair(s.mask_loss(logits[pos], labels[pos], targets[pos]), shape=logits[pos].shape)
        expect_close(loss, alone, "mask_loss (must equal the loss of the positive RoIs alone)", rtol=1e-12,
                     atol=1e-12)

    falsify("background RoIs (label 0) have no mask loss and get no gradient; the loss is the mean over the "
            "pixels of the positive RoIs only", loss_cases(), prop, s)


def check_loss_gradient(s):
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, size=(5, 3, 3, 3))
    labels = np.array([1, 0, 3, 2, 0])
    targets = (rng.random((5, 3, 3)) > 0.5).astype(float)
    _, d = _loss_pair(s.mask_loss(logits.copy(), labels, targets), shape=logits.shape)
    num = numerical_gradient(lambda z: np.array(_loss_pair(s.mask_loss(z, labels, targets))[0]), logits)
    expect_gradient(d, num, "dlogits (5 RoIs, K = 3, m = 3, labels [1, 0, 3, 2, 0], float64)")


def check_stable(s):
    logits = np.array([[[[100.0, -100.0], [40.0, -40.0]]]])
    targets = np.array([[[0.0, 1.0], [1.0, 0.0]]])
    expected = reference_loss(logits, np.array([1]), targets)
    with np.errstate(all="ignore"):
        got = s.mask_loss(logits, np.array([1]), targets)
    loss, d = _loss_pair(got, shape=logits.shape)
    if not (np.isfinite(loss) and np.isfinite(d).all()):
        raise CheckFailed("mask_loss overflows for large logits (|z| = 100 gives inf or nan): write "
                          "BCE(z, t) = max(z, 0) - t * z + log(1 + exp(-|z|)) instead of log(sigmoid(z))\n"
                          + describe_case(dict(logits=logits, labels=np.array([1]), targets=targets)))
    compare_loss(got, expected)


def loss_cases_seeded(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for R, K, m in ((8, 3, 4), (5, 1, 6), (12, 4, 3)):
        labels = rng.integers(0, K + 1, R)
        labels[0] = 1
        cases.append((f"{R} RoIs, K = {K}, m = {m}", dict(logits=rng.normal(0, 3, (R, K, m, m)), labels=labels,
                                                         targets=(rng.random((R, m, m)) > 0.5).astype(float))))
    cases.append(("only background RoIs: loss 0, gradient 0",
                  dict(logits=rng.normal(size=(3, 2, 2, 2)), labels=np.zeros(3, np.int64),
                       targets=np.ones((3, 2, 2)))))
    return cases


def check_loss_reference(s, seed=0):
    agree("mask_loss", loss_cases_seeded(seed), s.mask_loss, reference_loss, compare_loss)


def check_hidden(s):
    check_targets_reference(s, seed=100)
    check_loss_reference(s, seed=101)


TARGETS = ("mask_targets",)
LOSS = ("mask_loss",)
EXERCISE = Exercise(
    id="07_mask_targets_and_loss",
    title="Mask targets, and the mask loss with its gradient",
    lecture="08_mask_head_and_loss.ipynb",
    functions=("mask_targets", "mask_loss"),
    minutes=50,
    teaches="What the mask head is trained to predict (the RoI's intersection with its ground-truth mask, "
            "resampled to m x m by RoIAlign and thresholded at 0.5) and the paper's decoupled loss: a "
            "per-pixel sigmoid on the ground-truth class's channel only, on positive RoIs only, written in "
            "the numerically stable form, with its gradient.",
    checks=(
        Check("targets_worked", "mask targets: worked examples (crop, 2x2 blocks, inclusive 0.5)", 2, TARGETS,
              check_targets_worked),
        Check("targets_reference", "mask targets equal the package's (RoIs past the border)", 2, TARGETS,
              check_targets_reference),
        Check("loss_worked", "mask loss: worked example with a background RoI", 2, LOSS, check_loss_worked),
        Check("gt_channel_only", "property: only the ground-truth class's channel is trained", 2, LOSS,
              check_gt_channel_only),
        Check("negatives_ignored", "property: background RoIs contribute nothing", 2, LOSS, check_negatives_ignored),
        Check("gradient_check", "float64 gradient check of dlogits", 2, LOSS, check_loss_gradient),
        Check("stable", "numerically stable for large logits", 1, LOSS, check_stable),
        Check("loss_reference", "loss and gradient equal the reference (seeded random)", 2, LOSS,
              check_loss_reference),
        Check("hidden", "hidden cases against the reference", 1, TARGETS + LOSS, check_hidden, hidden=True),
    ),
)
