"""The capstone's short training run: Mask R-CNN with the student's RoIAlign inside.

``train_short(ops)`` builds a small Mask R-CNN from an explicit ``Config``
(so it does not depend on the package's default recipe), trains it on
``TRAIN_IMAGES`` fixed 64 x 64 toy-shapes images for ``STEPS`` steps inside
``ops.use(**ops)``, and evaluates box and mask AP on those same images.

This is a memorisation test, like tests/test_overfit.py: it shows that the
student's forward *and* backward pass let the whole detector learn (a wrong
gradient, a shifted box or a wrong shape stops it). Generalising to new
images needs the full run of notebooks/11_training.ipynb.

``benchmarks/capstone_ap.py`` verifies the stated AP with the package's ops
over several seeds (the figures are in exercises/README.md).
"""
from __future__ import annotations

import time

import numpy as np

IMAGE_SIZE = 64
TRAIN_IMAGES = 8
STEPS = 250
BATCH_SIZE = 4
DATA_SEED = 0
REQUIRED_MASK_AP50 = 0.5  # on the training images; the package's ops reach 0.78-0.85 (seeds 0-4)


def capstone_config(seed: int = 0):
    """A small model for 64 x 64 images: FPN over strides 4, 8, 16, narrow layers, 7 x 7 mask RoIs."""
    from minimaskrcnn.config import Config

    return Config(image_size=IMAGE_SIZE, stem_channels=16, stage_channels=(16, 32, 64), num_groups=4,
                  fpn_channels=32, anchor_sizes=(8.0, 16.0, 32.0), fpn_canonical_size=16.0, rpn_channels=32,
                  rpn_batch_per_image=128, roi_batch_per_image=32, box_fc_dim=64, mask_pool_size=7,
                  mask_conv_dim=8, mask_num_convs=2, batch_size=BATCH_SIZE, steps=STEPS, seed=seed,
                  warmup_steps=20, lr_milestones=(int(STEPS * 0.8),), base_lr=0.02, weight_decay=0.0,
                  roi_op="align_avg", roi_aligned=True, roi_sampling_ratio=2)


def train_short(ops: dict | None = None, seed: int = 0, steps: int = STEPS, progress=None) -> dict:
    """Train with ``ops.use(**ops)`` active; returns {"bbox": stats, "segm": stats, "seconds": float}.

    ``progress(step, loss)`` is called every 25 steps (e.g. to print).
    """
    from minimaskrcnn import ops as ops_module
    from minimaskrcnn.datasets import ShapesDataset
    from minimaskrcnn.datasets.shapes import ShapesConfig
    from minimaskrcnn.datasets.transforms import collate
    from minimaskrcnn.evaluation import evaluate
    from minimaskrcnn.model import MaskRCNN
    from minimaskrcnn.nn import SGD, WarmupStepLR, clip_grad_norm

    cfg = capstone_config(seed)
    samples = list(ShapesDataset(TRAIN_IMAGES, seed=DATA_SEED, config=ShapesConfig(image_size=IMAGE_SIZE)))
    start = time.perf_counter()
    with ops_module.use(**(ops or {})):
        model = MaskRCNN(cfg)
        optimizer = SGD(model, lr=cfg.base_lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        schedule = WarmupStepLR(cfg.base_lr, cfg.warmup_steps, milestones=cfg.lr_milestones, gamma=cfg.lr_gamma)
        for step in range(steps):
            batch = [samples[(step * BATCH_SIZE + i) % TRAIN_IMAGES] for i in range(BATCH_SIZE)]
            images, targets = collate(batch)
            losses = model.forward(images, targets, np.random.default_rng([seed, step]))
            if not np.isfinite(losses["loss"]):
                raise FloatingPointError(f"the loss became {losses['loss']} at step {step}")
            model.zero_grad()
            model.backward()
            clip_grad_norm(model, cfg.clip_grad_norm)
            optimizer.step(lr=schedule.lr_at(step))
            if progress is not None and (step % 25 == 0 or step == steps - 1):
                progress(step, losses["loss"])
        predictions = []
        for i in range(0, TRAIN_IMAGES, 8):
            images, _ = collate(samples[i:i + 8])
            predictions += model.predict(images)
    results = evaluate(samples, predictions)
    return {"bbox": results["bbox"].stats, "segm": results["segm"].stats,
            "seconds": time.perf_counter() - start}
