"""Exercise 10, the capstone: the student's RoIAlign trains the real Mask R-CNN.

The student writes a RoIAlign fast enough to train with (``mode="avg"``; the
model's settings are ``aligned=True, sampling_ratio=2``)::

    roi_align(features, rois, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False,
              mode="avg") -> (K, C, ph, pw)
    roi_align_backward(grad_output, features, rois, output_size, spatial_scale=1.0,
                       sampling_ratio=-1, aligned=False, mode="avg") -> (N, C, H, W)

and, if they like, ``nms(boxes, scores, iou_threshold)`` and
``mask_loss(logits, labels, targets)`` from exercises 05 and 07. The last
check trains Mask R-CNN with them inside (``minimaskrcnn.ops.use``) and
requires a stated mask AP (``capstone.REQUIRED_MASK_AP50``).
"""
from __future__ import annotations

import time

import numpy as np

from minimaskrcnn.grading import capstone, ex05_nms, ex07_mask_loss
from minimaskrcnn.grading.core import (Check, CheckFailed, Exercise, StubNotImplemented, StudentError, agree,
                                       expect_equal_indices)
from minimaskrcnn.grading.roi_cases import agree_rois, random_rois, roi_align_cases, with_grad_output
from minimaskrcnn.ops import roi_align as package_roi_align
from minimaskrcnn.ops import roi_align_backward as package_roi_align_backward

SPEED_LIMIT = 0.6  # CPU seconds for forward + backward of one training-sized call; the solution: ~0.1 s


def model_cases(seed: int) -> list:
    """What the model's poolers pass: float32 FPN maps, many RoIs, aligned=True, sampling_ratio=2, avg."""
    rng = np.random.default_rng(seed)
    cases = []
    for size, scale, (H, W) in ((7, 0.25, (16, 16)), (7, 0.125, (8, 8)), (14, 0.25, (16, 16))):
        f = rng.normal(size=(2, 8, H, W)).astype(np.float32)
        cases.append((f"float32 features (2, 8, {H}, {W}), output {size}, spatial_scale {scale}",
                      dict(features=f, rois=random_rois(rng, 20, 2, H, W, scale).astype(np.float32),
                           output_size=size, spatial_scale=scale, sampling_ratio=2, aligned=True, mode="avg")))
    return cases


def check_forward(s, seed=0):
    agree_rois("roi_align", model_cases(seed), s.roi_align, package_roi_align, rtol=1e-4, atol=1e-5)
    agree_rois("roi_align", roi_align_cases(seed + 1, modes=("avg",)), s.roi_align, package_roi_align)


def check_backward(s, seed=2):
    cases = with_grad_output(model_cases(seed), package_roi_align, seed)
    cases = [(label, {**kw, "grad_output": kw["grad_output"].astype(np.float32)}) for label, kw in cases]
    agree_rois("roi_align_backward", cases, s.roi_align_backward, package_roi_align_backward, rtol=1e-4,
               atol=1e-5, output="features")
    cases = with_grad_output(roi_align_cases(seed + 1, modes=("avg",)), package_roi_align, seed)
    agree_rois("roi_align_backward", cases, s.roi_align_backward, package_roi_align_backward, output="features")


def check_speed(s):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 32, 32, 32)).astype(np.float32)
    rois = random_rois(rng, 128, 4, 32, 32, 0.25).astype(np.float32)
    g = rng.normal(size=(128, 32, 7, 7)).astype(np.float32)
    what = ("forward + backward of one training-sized call (features (4, 32, 32, 32), 128 RoIs, output 7, "
            "sampling_ratio 2)")
    advice = (f"training makes about one such call per step, so it must stay under {SPEED_LIMIT} s (the solution "
              f"takes about 0.1 s). Loop over the "
              f"RoIs only, and do each RoI with array operations (hint: avg RoIAlign of one RoI is Ay @ f @ Ax.T)")
    # CPU time, robust to a busy machine. The first 8 RoIs alone: a loop-per-sample version stops here
    start = time.process_time()
    s.roi_align(f, rois[:8], 7, 0.25, 2, True, "avg")
    s.roi_align_backward(g[:8], f, rois[:8], 7, 0.25, 2, True, "avg")
    eight = time.process_time() - start
    if eight * 16 > 2 * SPEED_LIMIT:
        raise CheckFailed(f"{what} would take about {eight * 16:.0f} s (8 of the 128 RoIs took {eight:.2f} s); "
                          f"{advice}")
    start = time.process_time()
    s.roi_align(f, rois, 7, 0.25, 2, True, "avg")
    s.roi_align_backward(g, f, rois, 7, 0.25, 2, True, "avg")
    seconds = time.process_time() - start
    if seconds > SPEED_LIMIT:
        raise CheckFailed(f"{what} took {seconds:.2f} s; {advice}")
    return f"{seconds:.2f} s"


def implemented(fn, *args) -> bool:
    """False if ``fn`` is still the stub (raises NotImplementedError on a tiny input)."""
    try:
        fn(*args)
    except StubNotImplemented:
        return False
    except StudentError:
        return True  # implemented, but broken: its own check says how
    return True


def _nms_probe(s):
    return hasattr(s, "nms") and implemented(s.nms, np.array([[0.0, 0, 1, 1]]), np.array([1.0]), 0.5)


def _loss_probe(s):
    return hasattr(s, "mask_loss") and implemented(s.mask_loss, np.zeros((1, 1, 2, 2)), np.array([1]),
                                                   np.zeros((1, 2, 2)))


def check_nms_optional(s):
    if not _nms_probe(s):
        return "not implemented: the model keeps the package's nms"
    agree("nms", [(label, {k: v for k, v in kw.items() if k != "idxs"}) for label, kw in ex05_nms.random_cases(0)],
          s.nms, ex05_nms.nms_naive, lambda got, expected, name: expect_equal_indices(got, expected, name))
    return "correct: the training run uses it"


def check_mask_loss_optional(s):
    if not _loss_probe(s):
        return "not implemented: the model keeps the package's mask loss"
    agree("mask_loss", ex07_mask_loss.loss_cases_seeded(0), s.mask_loss, ex07_mask_loss.reference_loss,
          ex07_mask_loss.compare_loss)
    return "correct: the training run uses it"


def check_trains(s):
    # a quick check first: a wrong RoIAlign would waste a minute of training
    try:
        check_forward(s, seed=5)
    except CheckFailed as e:
        raise CheckFailed(f"training skipped: fix roi_align first (see the forward check)\n{e}") from None
    ops = {"roi_align": s.roi_align, "roi_align_backward": s.roi_align_backward}
    used = ["roi_align", "roi_align_backward"]
    for name, probe, check in (("nms", _nms_probe, check_nms_optional),
                               ("mask_loss", _loss_probe, check_mask_loss_optional)):
        if probe(s):
            try:
                check(s)
            except (CheckFailed, StudentError):
                continue  # a wrong optional op is reported by its own check; train with the package's
            ops[name] = getattr(s, name)
            used.append(name)
    lines = []
    result = capstone.train_short(ops, progress=lambda step, loss: lines.append(f"step {step}: loss {loss:.3f}"))
    ap50, ap = result["segm"]["AP50"], result["segm"]["AP"]
    summary = (f"trained {capstone.STEPS} steps on {capstone.TRAIN_IMAGES} images with your {', '.join(used)} in "
               f"{result['seconds']:.0f} s: mask AP50 {ap50:.3f} (mask AP {ap:.3f}, box AP50 "
               f"{result['bbox']['AP50']:.3f}) on the training images")
    if not ap50 >= capstone.REQUIRED_MASK_AP50:
        raise CheckFailed(f"{summary}; required: mask AP50 >= {capstone.REQUIRED_MASK_AP50}\n" + "\n".join(lines))
    return summary


BOTH = ("roi_align", "roi_align_backward")
EXERCISE = Exercise(
    id="10_capstone",
    title="Capstone: your RoIAlign trains Mask R-CNN",
    lecture="11_training.ipynb",
    functions=("roi_align", "roi_align_backward", "nms", "mask_loss"),
    minutes=90,
    teaches="From loops to arrays: a RoIAlign (forward and backward) fast enough to train with, then the "
            "real model trained with it inside (minimaskrcnn.ops.use), optionally with the student's NMS and "
            "mask loss too. The student sees their own op train Mask R-CNN to a stated mask AP.",
    checks=(
        Check("forward", "forward equals the package's on the model's inputs (float32, many RoIs)", 2,
              ("roi_align",), check_forward),
        Check("backward", "backward equals the package's on the model's inputs", 2, BOTH, check_backward),
        Check("speed", f"fast enough to train with (< {SPEED_LIMIT} s for a training-sized call)", 1, BOTH,
              check_speed),
        Check("nms_optional", "optional (0 points): your nms from exercise 05, if given", 0, (),
              check_nms_optional, optional=("nms",)),
        Check("mask_loss_optional", "optional (0 points): your mask_loss from exercise 07, if given", 0, (),
              check_mask_loss_optional, optional=("mask_loss",)),
        Check("trains", f"Mask R-CNN trains with your ops to mask AP50 >= {capstone.REQUIRED_MASK_AP50}", 4, BOTH,
              check_trains, timeout=400, optional=("nms", "mask_loss")),
    ),
)
