"""Learning tests: Mask R-CNN must memorise four shapes images, with every ablation switch.

A model that cannot overfit four images has a broken loss, gradient or
target somewhere; these tests fail in that case (and take about a minute).
Score: for every ground-truth object, the best IoU between its mask and a
predicted mask of the same class with score >= 0.5; the mean must reach 0.8.
"""
import numpy as np
import pytest

from minimaskrcnn.config import Config
from minimaskrcnn.datasets import ShapesDataset
from minimaskrcnn.datasets.transforms import collate
from minimaskrcnn.model import MaskRCNN
from minimaskrcnn.nn import SGD, WarmupStepLR, clip_grad_norm


def mean_best_mask_iou(samples, predictions, min_score=0.5) -> float:
    ious = []
    for s, p in zip(samples, predictions):
        keep = p["scores"] >= min_score
        for gt_mask, gt_label in zip(s["masks"], s["labels"]):
            same = p["masks"][keep & (p["labels"] == gt_label)]  # (D, H, W)
            inter = (same & gt_mask).sum(axis=(1, 2))
            union = (same | gt_mask).sum(axis=(1, 2))
            ious.append(float((inter / union).max()) if len(same) else 0.0)
    return float(np.mean(ious))


def overfit(cfg: Config, steps: int, seed: int = 11):
    samples = list(ShapesDataset(4, seed=seed))
    images, targets = collate(samples)
    model = MaskRCNN(cfg)
    opt = SGD(model, lr=0.02, momentum=0.9, weight_decay=0.0)
    schedule = WarmupStepLR(0.02, 20, milestones=(int(steps * 0.8),))
    first = None
    for step in range(steps):
        losses = model.forward(images, targets, np.random.default_rng([0, step]))
        first = losses["loss"] if first is None else first
        model.zero_grad()
        model.backward()
        clip_grad_norm(model, 10.0)
        opt.step(lr=schedule.lr_at(step))
    return mean_best_mask_iou(samples, model.predict(images)), first, losses["loss"]


def test_default_model_overfits_four_images():
    iou, first, last = overfit(Config(), steps=150)
    assert last < 0.3 * first
    assert iou >= 0.8, iou


@pytest.mark.parametrize("changes, steps", [
    ({"roi_op": "roi_pool"}, 120), ({"roi_op": "align_max"}, 120), ({"mask_head": "mlp"}, 120),
    ({"class_agnostic_masks": True}, 120), ({"use_fpn": False}, 120),
    ({"mask_loss": "softmax"}, 150),  # K+1 classes compete per pixel: slower to pass 0.5
])
def test_every_ablation_switch_overfits(changes, steps):
    iou, _, _ = overfit(Config(**changes), steps=steps)
    assert iou >= 0.8, (changes, iou)


def test_score_is_zero_without_predictions():
    sample = ShapesDataset(1, seed=0)[0]
    H, W = sample["masks"].shape[1:]
    empty = {"masks": np.zeros((0, H, W), bool), "labels": np.zeros(0, int), "scores": np.zeros(0)}
    assert mean_best_mask_iou([sample], [empty]) == 0.0
    perfect = {"masks": sample["masks"], "labels": sample["labels"], "scores": np.ones(len(sample["labels"]))}
    assert mean_best_mask_iou([sample], [perfect]) == 1.0
