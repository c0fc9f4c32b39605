"""Exercise 08: pasting an m x m mask into the image (resize to the box, threshold 0.5).

The student writes::

    paste_mask(mask, box, image_size, threshold=0.5) -> (H, W) bool

Image pixel ``p`` (centre ``p + 0.5``) sits at mask coordinate
``u = (p + 0.5 - x1) / (x2 - x1) * m - 0.5``; its value is the bilinear
interpolation of the mask there with zero padding outside it (weights
``max(0, 1 - |u - j|)``, separately along y and x); a pixel is in the mask
when its value is ``>= threshold``. Reference:
``minimaskrcnn.model.mask_head.paste_masks`` (one mask at a time).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minimaskrcnn.grading.core import Check, CheckFailed, Exercise, as_array, describe_case, falsify
from minimaskrcnn.grading.properties import eighths


def reference(mask, box, image_size, threshold=0.5):
    from minimaskrcnn.model.mask_head import paste_masks

    return paste_masks(np.asarray(mask, float)[None], np.asarray(box, float)[None], image_size, threshold)[0]


def soft_paste(mask, box, image_size):
    """The resized values before the threshold (the whole image), as the reference computes them."""
    from minimaskrcnn.model.mask_head import interpolation_matrix

    H, W = image_size
    m = mask.shape[0]
    x1, y1, x2, y2 = (float(v) for v in box)
    return interpolation_matrix(y1, y2, 0, H, m) @ np.asarray(mask, float) @ interpolation_matrix(x1, x2, 0, W, m).T


def _bool_image(got, image_size, name="paste_mask"):
    arr = as_array(got, name, tuple(image_size), dtype=None)
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise CheckFailed(f"{name} must return a boolean (H, W) mask, got values {np.unique(arr)[:5]}")
    return arr.astype(bool)


def _explain(got, expected, what):
    if (got != expected).any():
        i, j = (int(v) for v in np.argwhere(got != expected)[0])
        raise CheckFailed(f"{what}\npixel (row {i}, column {j}) should be {bool(expected[i, j])}, "
                          f"got {bool(got[i, j])}\nexpected:\n{expected.astype(int)}\ngot:\n{got.astype(int)}")


def centres_inside(box, image_size):
    yy, xx = np.mgrid[:image_size[0], :image_size[1]] + 0.5  # pixel centres
    x1, y1, x2, y2 = box
    return (xx >= x1) & (xx <= x2) & (yy >= y1) & (yy <= y2)


def check_box_filling(s):
    for box in ([3, 4, 20, 30], [0.0, 0.0, 31.0, 7.0], [10.5, 2.0, 11.5, 9.0]):
        got = _bool_image(s.paste_mask(np.ones((28, 28)), np.array(box, float), (32, 32)), (32, 32))
        _explain(got, centres_inside(box, (32, 32)),
                 f"a mask of ones pasted into box {box} of a 32 x 32 image must cover exactly the pixels whose "
                 f"centres (p + 0.5) lie in the box")


def check_half_mask(s):
    mask = np.zeros((4, 4))
    mask[:, :2] = 1
    got = _bool_image(s.paste_mask(mask, np.array([0.0, 0, 8, 8]), (8, 8)), (8, 8))
    _explain(got, np.repeat([[1, 1, 1, 1, 0, 0, 0, 0]], 8, 0).astype(bool),
             "a 4 x 4 mask whose left half is 1, pasted into the 8 x 8 box (0, 0, 8, 8), fills the left half")


def check_threshold(s):
    mask = np.full((4, 4), 0.5)
    got = _bool_image(s.paste_mask(mask, np.array([0.0, 0, 8, 8]), (8, 8)), (8, 8))
    _explain(got, reference(mask, [0.0, 0, 8, 8], (8, 8)),
             "the threshold is inclusive (value >= 0.5): a constant 0.5 mask keeps every pixel whose value is "
             "exactly 0.5; only the outermost ring, where zero padding pulls the value to 0.375, is dropped")
    got = _bool_image(s.paste_mask(np.full((4, 4), 0.8), np.array([0.0, 0, 8, 8]), (8, 8), threshold=0.9), (8, 8))
    _explain(got, np.zeros((8, 8), bool), "threshold=0.9 with a constant 0.8 mask: nothing is pasted")


def check_outside(s):
    for box, why in (([40.0, 40, 50, 50], "a box entirely outside the image pastes nothing"),
                     ([-10.0, -10, 5, 5], "a box partly outside: only its part inside the image is pasted"),
                     ([3.0, 3, 3, 9], "a box of zero width pastes nothing")):
        got = _bool_image(s.paste_mask(np.ones((14, 14)), np.array(box), (32, 32)), (32, 32))
        _explain(got, reference(np.ones((14, 14)), box, (32, 32)), f"{why}: box {box}, image 32 x 32")


def paste_cases(seed):
    rng = np.random.default_rng(seed)
    cases = []
    for n, m in enumerate((4, 7, 14, 28, 5, 9)):
        H, W = int(rng.integers(12, 30)), int(rng.integers(12, 30))
        x1, y1 = rng.uniform(-8, W), rng.uniform(-8, H)
        box = np.array([x1, y1, x1 + rng.uniform(1, 20), y1 + rng.uniform(1, 20)])
        probs = rng.random((m, m)) if n % 2 else (rng.random((m, m)) > 0.4).astype(float)
        cases.append((f"{m} x {m} {'probabilities' if n % 2 else 'binary mask'}, image {H} x {W}",
                      dict(mask=probs, box=box, image_size=(H, W))))
    return cases


def check_reference(s, seed=0):
    for n, (label, kw) in enumerate(paste_cases(seed)):
        expected = reference(**kw)
        got = _bool_image(s.paste_mask(*kw.values()), kw["image_size"])
        near = np.abs(soft_paste(**kw) - 0.5) < 1e-9  # within round-off of the threshold: either way
        bad = (got != expected) & ~near
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise CheckFailed(f"disagrees with the package's reference on case {n + 1} ({label}):\n"
                              f"pixel (row {i}, column {j}) should be {bool(expected[i, j])}, got {bool(got[i, j])}"
                              f" ({int(bad.sum())} pixels differ)\ninputs:\n"
                              + describe_case({k: v for k, v in kw.items() if k != "mask"})
                              + f"\n    mask: shape {kw['mask'].shape}")


@st.composite
def ones_cases(draw):
    H, W = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    x1, y1 = draw(eighths(-3, W + 1)), draw(eighths(-3, H + 1))
    box = np.array([x1, y1, x1 + draw(eighths(0.5, 8)), y1 + draw(eighths(0.5, 8))])
    return dict(mask=np.ones((draw(st.integers(1, 6)),) * 2), box=box, image_size=(H, W))


def check_property(s):
    def prop(case):
        got = _bool_image(s.paste_mask(*case.values()), case["image_size"])
        H, W = case["image_size"]
        x1, y1, x2, y2 = case["box"]
        m = case["mask"].shape[0]
        half_x, half_y = 0.5 * (x2 - x1) / m, 0.5 * (y2 - y1) / m  # half a mask cell, in image pixels
        outside = ~centres_inside(case["box"], (H, W))
        deep = centres_inside((x1 + half_x, y1 + half_y, x2 - half_x, y2 - half_y), (H, W))
        if (got & outside).any():
            i, j = (int(v) for v in np.argwhere(got & outside)[0])
            raise CheckFailed(f"pixel (row {i}, column {j}) is in the pasted mask, but its centre "
                              f"({j + 0.5}, {i + 0.5}) lies outside the box\ngot:\n{got.astype(int)}")
        if (deep & ~got).any():
            i, j = (int(v) for v in np.argwhere(deep & ~got)[0])
            raise CheckFailed(f"pixel (row {i}, column {j}) is missing: its centre ({j + 0.5}, {i + 0.5}) lies "
                              f"inside the box, at least half a mask cell from its edges, where the resized mask is "
                              f"exactly 1\ngot:\n{got.astype(int)}")

    falsify("a mask of ones pasted into any box covers no pixel whose centre (p + 0.5) lies outside the box, and "
            "every pixel whose centre lies inside it by at least half a mask cell (where the resized value is "
            "exactly 1)", ones_cases(), prop, s)


NEEDS = ("paste_mask",)
EXERCISE = Exercise(
    id="08_paste_masks",
    title="Pasting a mask into the image: resize to the box, threshold 0.5",
    lecture="08_mask_head_and_loss.ipynb",
    functions=NEEDS,
    minutes=35,
    teaches="The last step of inference: the m x m probability map of a detection is resized bilinearly to "
            "its (fractional) box, with pixel centres at p + 0.5 and zero padding outside the mask, and "
            "thresholded at 0.5 in the image. Catches the missing half-pixel, nearest-neighbour resizing, "
            "rounded boxes, edge padding and > instead of >=.",
    checks=(
        Check("box_filling", "a mask of ones lands exactly on the box's pixels", 2, NEEDS, check_box_filling),
        Check("half_mask", "a half mask is resized to half the box", 1, NEEDS, check_half_mask),
        Check("threshold", "the threshold is inclusive (>= 0.5)", 1, NEEDS, check_threshold),
        Check("outside", "boxes outside or partly outside the image, zero-size boxes", 1, NEEDS, check_outside),
        Check("property", "property: ones pasted into a box stay inside it and fill its interior", 2, NEEDS,
              check_property),
        Check("reference", "equals the package's paste_masks (random masks and boxes)", 3, NEEDS, check_reference),
        Check("hidden", "hidden cases against the reference", 1, NEEDS, lambda s: check_reference(s, seed=100),
              hidden=True),
    ),
)
