"""Exercise 05: non-maximum suppression (greedy, the tie rule) and per-class NMS.

The student writes::

    nms(boxes, scores, iou_threshold) -> kept indices, best first
    batched_nms(boxes, scores, idxs, iou_threshold) -> kept indices over all classes, best first

Suppress when IoU > threshold (strict); equal scores keep their input order.
Reference: ``minimaskrcnn.ops.nms_naive`` / ``batched_nms_naive``.
"""
from __future__ import annotations

import numpy as np

from minimaskrcnn.grading import properties as P
from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, agree, expect_equal_indices, explain, falsify
from minimaskrcnn.ops import batched_nms_naive, nms, nms_naive

WORKED_BOXES = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]], dtype=np.float64)
WORKED_SCORES = np.array([0.9, 0.8, 0.7, 0.95])


def _indices(name):
    def compare(got, expected, _name):
        expect_equal_indices(got, expected, name)
    return compare


def check_worked_example(s):
    with explain("worked example (threshold 0.5): order by score 3, 0, 1, 2; keep 3; IoU(3, 0) = 0.9 and "
                 "IoU(3, 1) = 0.61 suppress 0 and 1; IoU(3, 2) = 0; keep 2 -> [3, 2]\n"
                 f"boxes = {WORKED_BOXES.tolist()}, scores = {WORKED_SCORES.tolist()}"):
        expect_equal_indices(s.nms(WORKED_BOXES, WORKED_SCORES, 0.5), [3, 2], "nms")
    expect_equal_indices(s.nms(WORKED_BOXES, WORKED_SCORES, 0.95), [3, 0, 1, 2],
                         "nms(same boxes, iou_threshold=0.95) (no pair is that close: all kept, best first)")
    # torchvision.ops.nms on these boxes, threshold 0.3
    boxes = np.array([[10, 10, 50, 50], [12, 14, 48, 52], [40, 40, 90, 80], [45, 38, 95, 85],
                      [0, 0, 20, 20], [100, 100, 120, 130], [102, 98, 118, 128]], dtype=np.float64)
    scores = np.array([0.6, 0.9, 0.75, 0.5, 0.3, 0.8, 0.85])
    expect_equal_indices(s.nms(boxes, scores, 0.3), [1, 6, 2, 4], "nms (torchvision's result on 7 boxes, 0.3)")


def check_strict(s):
    boxes = np.array([[0.0, 0, 4, 3], [0.0, 0, 2, 3]])  # intersection 6, union 12: IoU exactly 0.5
    scores = np.array([1.0, 0.5])
    with explain("suppression is strict: a box is suppressed only when IoU > iou_threshold.\n"
                 "boxes [[0, 0, 4, 3], [0, 0, 2, 3]] have IoU exactly 6 / 12 = 0.5; with iou_threshold=0.5 both stay"):
        expect_equal_indices(s.nms(boxes, scores, 0.5), [0, 1], "nms")
    expect_equal_indices(s.nms(boxes, scores, 0.49), [0], "nms(same boxes, iou_threshold=0.49)")


def check_ties(s):
    boxes = np.array([[0.0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [50, 50, 60, 60], [80, 0, 90, 5]])
    scores = np.array([0.5, 0.5, 0.7, 0.7, 0.5])
    with explain("the tie rule: boxes with equal scores keep their input order (sort with "
                 "np.argsort(-scores, kind='stable')), so of two identical boxes with equal scores the first is kept\n"
                 f"boxes = {boxes.tolist()}\nscores = {scores.tolist()}"):
        expect_equal_indices(s.nms(boxes, scores, 0.5), [2, 0, 4], "nms")


def check_degenerate_and_empty(s):
    keep = s.nms(np.zeros((0, 4)), np.zeros(0), 0.5)
    if keep is None or np.asarray(keep).shape != (0,):
        raise CheckFailed(f"nms of no boxes must return an empty array of shape (0,), got {keep!r}")
    with explain("two zero-area boxes (union 0) have IoU 0 and never suppress each other, even with "
                 "iou_threshold=0"):
        expect_equal_indices(s.nms(np.array([[5.0, 5, 5, 5], [5.0, 5, 5, 5]]), np.array([0.9, 0.8]), 0.0),
                             [0, 1], "nms")
    keep = s.batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), 0.5)
    if keep is None or np.asarray(keep).shape != (0,):
        raise CheckFailed(f"batched_nms of no boxes must return an empty array of shape (0,), got {keep!r}")


def check_properties(s):
    falsify("kept boxes overlap each other by at most iou_threshold; every suppressed box overlaps a kept box "
            "with at least its score by more than iou_threshold; kept indices come best first; NMS of the "
            "kept boxes keeps them all", P.nms_cases(), lambda case: P.check_nms(case, s.nms), s)


def random_cases(seed: int):
    """Clusters of near-duplicates (the case NMS is for), degenerate boxes, rounded scores (ties)."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, threshold in zip((60, 80, 40, 70, 50), (0.0, 0.3, 0.5, 0.7, 1.0)):
        xy = rng.uniform(0, 200, size=(n // 6 + 1, 2))
        wh = rng.exponential(40, size=(n // 6 + 1, 2))
        base = np.concatenate([xy, xy + wh], axis=1)
        boxes = np.repeat(base, 6, axis=0)[:n] + rng.normal(0, 3, size=(n, 4))
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        boxes[::17, 2:] = boxes[::17, :2]  # a few degenerate boxes
        scores = np.round(rng.random(n), 1)  # many ties
        cases.append((f"{n} clustered boxes, scores with ties, threshold {threshold}",
                      dict(boxes=boxes, scores=scores, idxs=rng.integers(1, 4, n), iou_threshold=threshold)))
    return cases


def check_reference(s, seed=0):
    cases = [(label, {k: v for k, v in kw.items() if k != "idxs"}) for label, kw in random_cases(seed)]
    agree("nms", cases, s.nms, nms_naive, _indices("nms"))


def check_batched_properties(s):
    falsify("batched_nms is NMS inside each class: its kept boxes of class c are exactly nms of class c "
            "alone, and boxes of different classes never suppress each other", P.nms_cases(),
            lambda case: P.check_batched_nms(case, s.batched_nms, nms), s)


def check_batched_reference(s, seed=1):
    agree("batched_nms", random_cases(seed), s.batched_nms, batched_nms_naive, _indices("batched_nms"))


def check_hidden(s):
    check_reference(s, seed=100)
    check_batched_reference(s, seed=101)


NMS = ("nms",)
BATCHED = ("batched_nms",)
EXERCISE = Exercise(
    id="05_nms",
    title="Non-maximum suppression: greedy, the tie rule, per class",
    lecture="04_nms.ipynb",
    functions=("nms", "batched_nms"),
    minutes=40,
    teaches="Greedy NMS as torchvision defines it: sort by score (stably), keep the best, suppress boxes with "
            "IoU strictly above the threshold, repeat; then per-class NMS, where classes never suppress "
            "each other. Catches >= instead of >, unstable or reversed sorting, suppressed boxes that still "
            "suppress, and class-blind batching.",
    checks=(
        Check("worked_example", "worked example and torchvision's result", 2, NMS, check_worked_example),
        Check("strict", "suppression is strict (IoU > threshold)", 1, NMS, check_strict),
        Check("ties", "the tie rule: equal scores keep input order", 1, NMS, check_ties),
        Check("degenerate_empty", "zero-area boxes and empty input", 1, ("nms", "batched_nms"),
              check_degenerate_and_empty),
        Check("properties", "property: what NMS keeps and suppresses", 2, NMS, check_properties),
        Check("reference", "nms equals the package's reference (clusters, ties, thresholds 0..1)", 2, NMS,
              check_reference),
        Check("batched_properties", "property: per-class NMS never crosses classes", 2, BATCHED,
              check_batched_properties),
        Check("batched_reference", "batched_nms equals the package's reference", 1, BATCHED,
              check_batched_reference),
        Check("hidden", "hidden cases against the reference", 1, ("nms", "batched_nms"), check_hidden,
              hidden=True),
    ),
)
