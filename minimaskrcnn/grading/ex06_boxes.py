"""Exercise 06: IoU of boxes, and encoding / decoding box deltas.

The student writes::

    box_iou(boxes1, boxes2) -> (K, M)
    encode_boxes(boxes, reference, weights=(1, 1, 1, 1)) -> (K, 4) deltas (dx, dy, dw, dh)
    decode_boxes(deltas, reference, weights=(1, 1, 1, 1), clamp=log(1000 / 16)) -> (K, 4) boxes

Boxes are (x1, y1, x2, y2) in continuous coordinates, width x2 - x1 (no +1);
two boxes whose union is empty have IoU 0. Reference: ``minimaskrcnn.boxes``.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn import boxes as package
from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, agree, as_array, expect_close, explain, falsify
from minimaskrcnn.grading.properties import eighths

CLAMP = math.log(1000.0 / 16)


def reference_iou(boxes1, boxes2):
    return package.box_iou(boxes1, boxes2)


def reference_encode(boxes, reference, weights=(1.0, 1.0, 1.0, 1.0)):
    return package.encode_boxes(boxes, reference, weights)


def reference_decode(deltas, reference, weights=(1.0, 1.0, 1.0, 1.0), clamp=CLAMP):
    return package.decode_boxes(deltas, reference, weights, clamp)


def check_iou_worked(s):
    cases = [([[0, 0, 10, 10]], [[5, 0, 15, 10]], [[1 / 3]], "a box and the same box moved half its width: "
              "intersection 50, union 150"),
             ([[0, 0, 2, 1]], [[0, 0, 2, 1], [2, 0, 3, 1], [1, 0, 3, 1]], [[1, 0, 1 / 3]],
              "the same box; a box touching it (IoU 0); half a pixel strip overlapping (no +1 in widths)"),
             ([[1, 1, 1, 1]], [[1, 1, 1, 1]], [[0]], "two zero-area boxes: union 0, IoU 0 by convention")]
    for b1, b2, expected, why in cases:
        with explain(f"worked example: {why}\nbox_iou({b1}, {b2})"):
            expect_close(s.box_iou(np.array(b1, float), np.array(b2, float)), expected, "box_iou")


def random_boxes(rng, n, zero_every=4):
    xy = rng.uniform(-5, 40, size=(n, 2))
    wh = rng.exponential(10, size=(n, 2))
    wh[::zero_every, rng.integers(0, 2)] = 0.0  # zero-area boxes
    return np.concatenate([xy, xy + wh], axis=1)


def iou_cases(seed):
    rng = np.random.default_rng(seed)
    cases = [(f"{k} x {m} random boxes (overlapping, nested, disjoint, zero-area)",
              dict(boxes1=random_boxes(rng, k), boxes2=random_boxes(rng, m)))
             for k, m in ((7, 9), (12, 5), (1, 20))]
    b = random_boxes(rng, 6)
    cases += [("identical boxes", dict(boxes1=b, boxes2=b.copy())),
              ("no boxes on one side", dict(boxes1=np.zeros((0, 4)), boxes2=random_boxes(rng, 3)))]
    return cases


@st.composite
def box_lists(draw, min_size=1, max_size=4, positive=False):
    n = draw(st.integers(min_size, max_size))
    lo = 1 if positive else 0
    rows = [(x, y, x + w, y + h) for x, y, w, h in draw(st.lists(
        st.tuples(eighths(-4, 4), eighths(-4, 4), eighths(lo / 8, 6), eighths(lo / 8, 6)),
        min_size=n, max_size=n))]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


@st.composite
def iou_property_cases(draw):
    return dict(boxes1=draw(box_lists()), boxes2=draw(box_lists()), scale=draw(st.sampled_from([2.0, 0.5, 8.0])),
                shift=(draw(eighths(-8, 8)), draw(eighths(-8, 8))))


def check_iou_properties(s):
    def prop(case):
        b1, b2 = case["boxes1"], case["boxes2"]
        iou = as_array(s.box_iou(b1, b2), "box_iou", (len(b1), len(b2)))
        if not np.all((iou >= 0) & (iou <= 1)):
            raise CheckFailed(f"box_iou must lie in [0, 1], got {iou.tolist()}")
        expect_close(s.box_iou(b2, b1), iou.T, "box_iou(boxes2, boxes1) (IoU is symmetric: the transpose)")
        area = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
        expect_close(np.diag(as_array(s.box_iou(b1, b1), "box_iou", (len(b1),) * 2)), (area > 0).astype(float),
                     "diagonal of box_iou(boxes1, boxes1) (1 for a box with an area, 0 for a zero-area box)")
        dx, dy = case["shift"]
        moved = lambda b: (b + np.array([dx, dy, dx, dy])) * case["scale"]  # noqa: E731
        expect_close(s.box_iou(moved(b1), moved(b2)), iou,
                     "box_iou after moving both sets and scaling them (IoU is invariant to both)", rtol=1e-9)

    falsify("IoU lies in [0, 1], is symmetric, is 1 between a box and itself (0 for zero area) and does not "
            "change when both boxes are moved or scaled together", iou_property_cases(), prop, s)


def check_iou_reference(s, seed=0):
    agree("box_iou", iou_cases(seed), s.box_iou, reference_iou)


def check_encode_worked(s):
    ref = np.array([[0.0, 0.0, 10.0, 20.0]])  # centre (5, 10), size 10 x 20
    gt = np.array([[5.0, 0.0, 25.0, 20.0]])  # centre (15, 10), size 20 x 20
    with explain("worked example: reference (0, 0, 10, 20) has centre (5, 10) and size 10 x 20; target "
                 "(5, 0, 25, 20) has centre (15, 10), size 20 x 20: dx = (15 - 5) / 10 = 1, dy = 0, "
                 "dw = log(20 / 10), dh = 0 (times the weights)"):
        expect_close(s.encode_boxes(gt, ref), [[1.0, 0.0, math.log(2), 0.0]], "encode_boxes")
        expect_close(s.encode_boxes(gt, ref, (10.0, 10.0, 5.0, 5.0)), [[10.0, 0.0, 5 * math.log(2), 0.0]],
                     "encode_boxes(weights=(10, 10, 5, 5))")


def coding_cases(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0), (2.0, 3.0, 0.5, 4.0)):
        n = 12
        ref = random_boxes(rng, n, zero_every=10**9) + np.array([0, 0, 0.5, 0.5])  # positive sizes
        gt = ref + rng.normal(0, 3, size=(n, 4))
        gt[:, 2:] = np.maximum(gt[:, 2:], gt[:, :2] + 0.25)
        cases.append((f"weights {weights}", dict(boxes=gt, reference=ref, weights=weights)))
    return cases


def check_encode_reference(s, seed=0):
    agree("encode_boxes", coding_cases(seed), s.encode_boxes, reference_encode)


@st.composite
def roundtrip_cases(draw):
    n = draw(st.integers(1, 4))
    return dict(boxes=draw(box_lists(n, n, positive=True)), reference=draw(box_lists(n, n, positive=True)),
                weights=draw(st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])))


def check_roundtrip(s):
    def prop(case):
        g, r, w = case["boxes"], case["reference"], case["weights"]
        deltas = as_array(s.encode_boxes(g, r, w), "encode_boxes", g.shape)
        expect_close(s.decode_boxes(deltas, r, w), g,
                     "decode_boxes(encode_boxes(boxes, reference), reference) (must give the boxes back)", rtol=1e-9,
                     atol=1e-9)

    falsify("decoding inverts encoding: decode_boxes(encode_boxes(boxes, reference, w), reference, w) == boxes",
            roundtrip_cases(), prop, s)


def decode_cases(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for weights, clamp in (((1.0, 1.0, 1.0, 1.0), CLAMP), ((10.0, 10.0, 5.0, 5.0), CLAMP),
                           ((1.0, 1.0, 1.0, 1.0), 1.0)):
        n = 10
        deltas = rng.normal(0, 1.5, size=(n, 4))
        big = (len(deltas[::3]), 2)
        deltas[::3, 2:] = rng.choice([-1, 1], size=big) * rng.uniform(4.5, 9, size=big)  # past the clamp
        ref = random_boxes(rng, n)  # zero-width or zero-height references decode too
        cases.append((f"weights {weights}, clamp {clamp:.4g}, large dw / dh in every third row",
                      dict(deltas=deltas * np.array(weights), reference=ref, weights=weights, clamp=clamp)))
    return cases


def check_decode_reference(s, seed=0):
    agree("decode_boxes", decode_cases(seed), s.decode_boxes, reference_decode)


def check_hidden(s):
    check_iou_reference(s, seed=100)
    check_encode_reference(s, seed=101)
    check_decode_reference(s, seed=102)


IOU = ("box_iou",)
CODE = ("encode_boxes", "decode_boxes")
EXERCISE = Exercise(
    id="06_boxes",
    title="IoU, and encoding / decoding box deltas",
    lecture="06_anchors_and_rpn.ipynb",
    functions=("box_iou", "encode_boxes", "decode_boxes"),
    minutes=40,
    teaches="The one box convention (continuous coordinates, width x2 - x1 with no +1), pairwise IoU with "
            "broadcasting and its zero-union case, and the regression targets every detector predicts: "
            "centre offsets over the reference size, log size ratios, the weights, and the clamp that "
            "keeps decoding finite.",
    checks=(
        Check("iou_worked", "IoU worked examples (no +1, zero union)", 1, IOU, check_iou_worked),
        Check("iou_properties", "property: IoU in [0, 1], symmetric, scale and shift invariant", 2, IOU,
              check_iou_properties),
        Check("iou_reference", "box_iou equals the package's reference", 2, IOU, check_iou_reference),
        Check("encode_worked", "encoding worked example", 1, ("encode_boxes",), check_encode_worked),
        Check("encode_reference", "encode_boxes equals the package's reference", 1, ("encode_boxes",),
              check_encode_reference),
        Check("roundtrip", "property: decoding inverts encoding", 2, CODE, check_roundtrip),
        Check("decode_reference", "decode_boxes equals the package's reference (with the clamp)", 2,
              ("decode_boxes",), check_decode_reference),
        Check("hidden", "hidden cases against the reference", 1, IOU + CODE, check_hidden, hidden=True),
    ),
)
