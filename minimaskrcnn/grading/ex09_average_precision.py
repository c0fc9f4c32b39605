"""Exercise 09: average precision for one class, checked against the evaluator.

The student writes::

    match_detections(ious, iou_threshold) -> (D,) int: matched ground truth or -1
    precision_recall(is_tp, num_gt) -> (precision (N,), recall (N,))
    interpolated_ap(precision, recall) -> float          (COCO: envelope, 101 recall points)
    average_precision(detections, ground_truths, iou_threshold=0.5) -> float

``ious`` (D, G) has its rows in descending score order; each detection takes
the best still-free ground truth with IoU >= threshold. ``detections`` is a
list with one ``(boxes (D, 4), scores (D,))`` pair per image, ``ground_truths``
one (G, 4) array per image. The AP must equal ``minimaskrcnn.evaluation``'s
(COCO's) AP at that IoU threshold for a single class with no crowd regions.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, agree, as_array, expect_close, explain, falsify
from minimaskrcnn.evaluation import match_naive

RECALL_POINTS = np.linspace(0.0, 1.0, 101)


def reference_match(ious, iou_threshold):
    G = ious.shape[1]
    return np.array(match_naive(ious, np.zeros(G, bool), np.zeros(G, bool), iou_threshold), dtype=np.int64)


def reference_precision_recall(is_tp, num_gt):
    is_tp = np.asarray(is_tp, bool)
    tp = np.cumsum(is_tp).astype(float)
    fp = np.cumsum(~is_tp).astype(float)
    return tp / np.maximum(tp + fp, 1), tp / num_gt


def reference_interpolated_ap(precision, recall):
    n = len(precision)
    if n == 0:
        return 0.0
    envelope = np.maximum.accumulate(np.asarray(precision, float)[::-1])[::-1]  # best precision at >= recall
    at = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.where(at < n, envelope[np.minimum(at, n - 1)], 0.0).mean())


def evaluator_ap(detections, ground_truths, iou_threshold=0.5):
    """The package's COCO evaluator on one class: AP at ``iou_threshold`` (area "all", 100 detections)."""
    from minimaskrcnn.evaluation import evaluate

    samples, predictions = [], []
    for i, ((boxes, scores), gt) in enumerate(zip(detections, ground_truths)):
        gt = np.asarray(gt, float).reshape(-1, 4)
        samples.append({"image": np.zeros((1, 1, 3), np.uint8), "boxes": gt, "labels": np.ones(len(gt), np.int64),
                        "image_id": i})
        predictions.append({"boxes": np.asarray(boxes, float).reshape(-1, 4), "scores": np.asarray(scores, float),
                            "labels": np.ones(len(scores), np.int64)})
    result = evaluate(samples, predictions, iou_types=("bbox",), class_names=["thing"])["bbox"]
    return result.average_precision(iou=iou_threshold)


# --------------------------------------------------------------------------- worked example
WORKED_GT = [np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])]
WORKED_DETS = [(np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [0, 1, 10, 11], [40, 0, 50, 10], [60, 0, 70, 10]]),
                np.array([0.9, 0.8, 0.7, 0.6, 0.5]))]


def check_worked_example(s):
    """Ranked: hit, hit, duplicate (false positive), hit, miss; 3 objects.

    precision 1, 1, 2/3, 3/4, 3/5; recall 1/3, 2/3, 2/3, 1, 1; envelope 1, 1, 3/4, 3/4, 3/5.
    Recall points 0.00..0.33 read 1 (34 points), 0.34..0.66 read 1 (33), 0.67..1.00 read 3/4 (34):
    AP = (34 + 33 + 34 * 0.75) / 101 = 92.5 / 101.
    """
    with explain("worked example: 3 objects; detections ranked hit, hit, duplicate, hit, miss"):
        got = float(as_array(s.average_precision(WORKED_DETS, WORKED_GT, 0.5), "average_precision", ()))
    if not np.isclose(got, 92.5 / 101, rtol=1e-9):
        raise CheckFailed(
            "worked example: 3 objects; detections ranked hit, hit, duplicate of the first (a false positive), "
            "hit, miss\nprecision 1, 1, 2/3, 3/4, 3/5 and recall 1/3, 2/3, 2/3, 1, 1; the envelope (best precision "
            "at this recall or more) is 1, 1, 3/4, 3/4, 3/5; read at the 101 recall points 0, 0.01, ..., 1: "
            f"AP = (34 * 1 + 33 * 1 + 34 * 0.75) / 101 = {92.5 / 101:.6f}\ngot {got:.6f}\n"
            f"detections = {[(b.tolist(), sc.tolist()) for b, sc in WORKED_DETS]}\n"
            f"ground_truths = {[g.tolist() for g in WORKED_GT]}")


def match_cases(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for D, G, t in ((6, 4, 0.5), (10, 3, 0.5), (5, 5, 0.75), (4, 0, 0.5), (0, 3, 0.5)):
        ious = rng.uniform(0, 1, size=(D, G)) * (rng.random((D, G)) < 0.6)
        if D >= 2 and G:
            ious[1] = ious[0]  # a duplicate: the second must look for another object
        if D >= 3 and G >= 2:
            ious[:2, 1] = 0  # object 1 stays free for detection 2,
            ious[2] = 0
            ious[2, 1] = t  # whose only overlap is exactly at the threshold: a match (IoU >= threshold)
        cases.append((f"{D} detections x {G} objects, threshold {t}", dict(ious=ious, iou_threshold=t)))
    return cases


def _ints(got, expected, name):
    expect_close(as_array(got, name, np.shape(expected)), expected, name, exact=True)


MATCH_RULE = ("greedy matching: visiting the detections best first, each takes the best still-free object with "
              "IoU >= iou_threshold (a duplicate of a found object gets another one, or none)")


def check_matching(s):
    with explain(MATCH_RULE):
        agree("match_detections", match_cases(0), s.match_detections, reference_match, _ints)


def check_precision_recall(s):
    rng = np.random.default_rng(1)
    cases = [("worked example", dict(is_tp=np.array([True, True, False, True, False]), num_gt=3))]
    cases += [(f"{n} random detections", dict(is_tp=rng.random(n) < 0.5, num_gt=int(rng.integers(1, 9))))
              for n in (1, 7, 20)]

    def compare(got, expected, name):
        try:
            precision, recall = got
        except (TypeError, ValueError):
            raise CheckFailed(f"{name} must return (precision, recall), got {type(got).__name__}") from None
        expect_close(precision, expected[0], f"{name}: precision")
        expect_close(recall, expected[1], f"{name}: recall")

    agree("precision_recall", cases, s.precision_recall, reference_precision_recall, compare)


def check_interpolation(s):
    rng = np.random.default_rng(2)
    cases = [("worked example (envelope 1, 1, 3/4, 3/4, 3/5)",
              dict(precision=np.array([1, 1, 2 / 3, 3 / 4, 3 / 5]), recall=np.array([1 / 3, 2 / 3, 2 / 3, 1, 1]))),
             ("recall never reaches 1: 0 beyond the highest recall",
              dict(precision=np.array([1.0, 0.5, 2 / 3]), recall=np.array([0.25, 0.25, 0.5]))),
             ("no detections", dict(precision=np.zeros(0), recall=np.zeros(0)))]
    for n in (6, 15):
        is_tp = rng.random(n) < 0.6
        p, r = reference_precision_recall(is_tp, int(is_tp.sum()) + int(rng.integers(0, 3)))
        cases.append((f"{n} random detections", dict(precision=p, recall=r)))
    with explain("COCO's interpolation: the envelope (the best precision at this recall or more) read at the 101 "
                 "recall points 0, 0.01, ..., 1 (0 past the highest recall), averaged"):
        agree("interpolated_ap", cases, s.interpolated_ap, reference_interpolated_ap,
              lambda got, expected, name: expect_close(as_array(got, name, ()), expected, name, rtol=1e-12))


def random_scene(rng, images=4):
    """Objects, detections jittered from them (some twice, some missed), false alarms, scores with ties."""
    detections, ground_truths = [], []
    for _ in range(images):
        G = int(rng.integers(0, 6))
        xy = rng.uniform(0, 80, size=(G, 2))
        gt = np.concatenate([xy, xy + rng.uniform(5, 30, size=(G, 2))], axis=1)
        boxes = [g + rng.normal(0, 2.5, 4) for g in gt for _ in range(int(rng.choice([0, 1, 1, 1, 2])))]
        alarms = rng.uniform(0, 80, size=(int(rng.integers(0, 3)), 2))  # false alarms
        boxes += [np.concatenate([p, p + rng.uniform(5, 30, 2)]) for p in alarms]
        boxes = np.array(boxes, float).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        detections.append((boxes, np.round(rng.random(len(boxes)), 1)))  # rounded: ties across images
        ground_truths.append(gt)
    return detections, ground_truths


def check_evaluator(s, seed=0):
    rng = np.random.default_rng(seed)
    for n in range(8):
        detections, ground_truths = random_scene(rng, images=int(rng.integers(1, 6)))
        for t in (0.5, 0.75):
            expected = evaluator_ap(detections, ground_truths, t)
            got = float(as_array(s.average_precision(detections, ground_truths, t), "average_precision", ()))
            if not np.isclose(got, expected, rtol=1e-9, atol=1e-12):
                raise CheckFailed(
                    f"differs from the package's COCO evaluator on random scene {n + 1} (iou_threshold {t}): "
                    f"expected AP {expected:.6f}, got {got:.6f}\n"
                    f"{len(ground_truths)} images with {[len(g) for g in ground_truths]} objects and "
                    f"{[len(d[0]) for d in detections]} detections (scores rounded to 0.1: ties across images "
                    f"are broken by image order, then by order within the image)")
    none = [(np.array([[0.0, 0, 5, 5]]), np.array([0.5]))]
    got = float(as_array(s.average_precision(none, [np.zeros((0, 4))], 0.5), "average_precision", ()))
    if got != -1:
        raise CheckFailed(f"with no ground truth at all AP is undefined: COCO reports -1, got {got}")


@st.composite
def scenes(draw):
    """Integer boxes; each object detected 0-2 times with a shift of a pixel or two."""
    detections, ground_truths = [], []
    for _ in range(draw(st.integers(1, 3))):
        G = draw(st.integers(1, 3))
        gt = np.array([[x, y, x + w, y + h] for x, y, w, h in draw(st.lists(
            st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(4, 12), st.integers(4, 12)),
            min_size=G, max_size=G))], float)
        dets = [g + np.array(draw(st.tuples(*[st.integers(-2, 2)] * 4)), float)
                for g in gt for _ in range(draw(st.integers(0, 2)))]
        boxes = np.array(dets, float).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        scores = np.array(draw(st.lists(st.integers(1, 20), min_size=len(boxes), max_size=len(boxes))), float) / 20
        detections.append((boxes, scores))
        ground_truths.append(gt)
    return dict(detections=detections, ground_truths=ground_truths)


def check_property(s):
    def prop(case):
        dets, gts = case["detections"], case["ground_truths"]
        perfect = [(g, np.ones(len(g))) for g in gts]
        ap = float(as_array(s.average_precision(perfect, gts, 0.5), "average_precision", ()))
        if not np.isclose(ap, 1.0):
            raise CheckFailed(f"detecting every object exactly once (and nothing else) must give AP 1, got {ap}")
        ap = float(as_array(s.average_precision(dets, gts, 0.5), "average_precision", ()))
        far = np.array([[500.0, 500, 510, 510]])
        lowest = min([sc.min() for _, sc in dets if len(sc)] + [1.0])
        extra = [(np.concatenate([b, far]), np.concatenate([sc, [lowest / 2]])) for b, sc in dets]
        ap2 = float(as_array(s.average_precision(extra, gts, 0.5), "average_precision", ()))
        if not np.isclose(ap, ap2, rtol=1e-12):
            raise CheckFailed(f"adding a false positive below every other score changed AP from {ap} to {ap2}: it "
                              "comes after every true positive, so no precision at any reached recall changes")

    falsify("a detector that finds every object once gets AP 1, and false positives ranked below every other "
            "detection do not change AP", scenes(), prop, s, max_examples=25)


def check_hidden(s):
    with explain(MATCH_RULE):
        agree("match_detections", match_cases(100), s.match_detections, reference_match, _ints)
    check_evaluator(s, seed=101)


FUNCTIONS = ("match_detections", "precision_recall", "interpolated_ap", "average_precision")
EXERCISE = Exercise(
    id="09_average_precision",
    title="Average precision for one class: matching, precision-recall, interpolation",
    lecture="10_evaluation.ipynb",
    functions=FUNCTIONS,
    minutes=60,
    teaches="COCO's AP taken apart: greedy matching of score-ranked detections to objects (a duplicate is a "
            "false positive), precision and recall down the ranking across images, the monotone envelope and "
            "the 101-point interpolation; the result must equal the package's evaluator (which agrees with "
            "pycocotools).",
    checks=(
        Check("worked_example", "worked example: AP = 92.5 / 101 by hand", 2, ("average_precision",),
              check_worked_example),
        Check("matching", "greedy matching equals the reference (duplicates, IoU = threshold)", 2,
              ("match_detections",), check_matching),
        Check("precision_recall", "precision and recall down the ranking", 1, ("precision_recall",),
              check_precision_recall),
        Check("interpolation", "the envelope and the 101-point interpolation", 2, ("interpolated_ap",),
              check_interpolation),
        Check("evaluator", "AP equals the package's COCO evaluator (AP50 and AP75, random scenes)", 3,
              ("average_precision",), check_evaluator),
        Check("property", "property: perfect detections give 1; low-ranked false positives change nothing", 1,
              ("average_precision",), check_property),
        Check("hidden", "hidden cases: matching and the evaluator", 1, ("match_detections", "average_precision"),
              check_hidden, hidden=True),
    ),
)
