"""The exercises' grading can fail, and cannot fail wrongly (in-process, fast).

* the source solutions score full marks and equal the package's reference implementations;
* planted bugs of the kind students make lose points, with a message naming the broken property;
* correct implementations written differently (vectorised, another loop order) score full marks;
* the notebooks' nbgrader metadata states the same points as the grader.

The capstone's training run and nbgrader's own release step are in test_exercises_slow.py;
the grader as a subprocess (stubs, infinite loops, crashes) in test_exercises_grader.py.
"""
import numpy as np
import pytest
from exercise_variants import ALTERNATIVES, BUGS

from minimaskrcnn.grading import EXERCISES, grade_namespace, search_effort
from minimaskrcnn.grading.notebook import (BEGIN_HIDDEN, BEGIN_SOLUTION, SOURCE_DIR, nbgrader_meta, read_notebook,
                                           release_notebook, source_text, test_cells)

IDS = list(EXERCISES)
SLOW_CHECKS = {("10_capstone", "trains")}  # a training run: test_exercises_slow.py
TIMEOUT_SCALE = 10  # the time limits are wall-clock: keep a busy test machine from failing correct code
_namespaces = {}


def solution_namespace(ex_id: str) -> dict:
    """The source notebook's imports and solution cells, executed (the 'try it' cells are skipped)."""
    if ex_id not in _namespaces:
        nb = read_notebook(SOURCE_DIR / f"{ex_id}.ipynb")
        ns = {"__name__": "__main__"}
        for cell in nb["cells"]:
            meta = nbgrader_meta(cell)
            if cell["cell_type"] == "code" and (meta.get("solution") or meta.get("grade_id") == "imports"):
                exec(compile(source_text(cell), f"<{ex_id} cell>", "exec"), ns)  # noqa: S102
        _namespaces[ex_id] = ns
    return _namespaces[ex_id]


def fast_keys(ex_id):
    return [c.key for c in EXERCISES[ex_id].checks if (ex_id, c.key) not in SLOW_CHECKS]


def assert_full_marks(results):
    lost = [f"{r.key}: {r.status}\n{r.message}" for r in results if not r.passed]
    assert not lost, "\n\n".join(lost)


# --------------------------------------------------------------------------- the notebooks
@pytest.mark.parametrize("ex_id", IDS)
def test_notebook_metadata_matches_the_grader(ex_id):
    nb = read_notebook(SOURCE_DIR / f"{ex_id}.ipynb")
    ex = EXERCISES[ex_id]
    assert nb["metadata"]["minimaskrcnn"]["exercise"] == ex_id
    cells = test_cells(nb)
    # one locked test cell per check, with the check's points, calling that check
    assert [nbgrader_meta(c)["grade_id"] for c in cells] == [f"check_{c.key}" for c in ex.checks]
    assert [nbgrader_meta(c)["points"] for c in cells] == [c.points for c in ex.checks]
    for cell, check in zip(cells, ex.checks):
        assert nbgrader_meta(cell)["locked"] and f'check(EXERCISE, "{check.key}", globals())' in source_text(cell)
        assert (BEGIN_HIDDEN in source_text(cell)) == check.hidden
    ids = [nbgrader_meta(c).get("grade_id") for c in nb["cells"] if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade ids must be unique"
    solutions = [c for c in nb["cells"] if nbgrader_meta(c).get("solution")]
    assert solutions and all(BEGIN_SOLUTION in source_text(c) for c in solutions)
    text = "".join(source_text(c) for c in nb["cells"])
    assert f"../notebooks/{ex.lecture}" in text, "the recap links the lecture notebook"
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), "outputs stripped"


@pytest.mark.parametrize("ex_id", IDS)
def test_release_strips_solutions_and_hidden_tests(ex_id):
    source = read_notebook(SOURCE_DIR / f"{ex_id}.ipynb")
    released = release_notebook(source)
    text = "".join(source_text(c) for c in released["cells"])
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text and "HIDDEN TESTS" not in text
    solutions = [c for c in released["cells"] if nbgrader_meta(c).get("solution")]
    assert all("raise NotImplementedError()" in source_text(c) for c in solutions)
    for name in EXERCISES[ex_id].functions:  # the stubs keep their signatures
        assert f"def {name}(" in text
    assert [nbgrader_meta(c)["points"] for c in test_cells(released)] == [c.points for c in EXERCISES[ex_id].checks]
    assert source == read_notebook(SOURCE_DIR / f"{ex_id}.ipynb"), "the source is not modified"


# --------------------------------------------------------------------------- full marks
@pytest.mark.parametrize("ex_id", IDS)
def test_source_solutions_score_full_marks(ex_id):
    with search_effort(timeout_scale=TIMEOUT_SCALE):
        assert_full_marks(grade_namespace(ex_id, solution_namespace(ex_id), keys=fast_keys(ex_id)))


@pytest.mark.parametrize("ex_id, alt", [(ex, n) for ex in IDS for n in range(len(ALTERNATIVES[ex]))],
                         ids=[f"{ex}-{name}" for ex in IDS for name, _ in ALTERNATIVES[ex]])
def test_alternative_correct_implementations_score_full_marks(ex_id, alt):
    _, functions = ALTERNATIVES[ex_id][alt]
    namespace = {**solution_namespace(ex_id), **functions}
    if ex_id == "10_capstone":  # the optional ops stay the solution's: only the RoIAlign is the alternative
        assert set(functions) == {"roi_align", "roi_align_backward"}
    with search_effort(max_examples=25, shrink_seconds=2, timeout_scale=TIMEOUT_SCALE):
        assert_full_marks(grade_namespace(ex_id, namespace, keys=fast_keys(ex_id)))


def test_every_exercise_has_bugs_and_alternatives():
    for ex_id in IDS:
        assert len(BUGS[ex_id]) >= 3 and len(ALTERNATIVES[ex_id]) >= 2, ex_id


# --------------------------------------------------------------------------- planted bugs
@pytest.mark.parametrize("ex_id, n", [(ex, n) for ex in IDS for n in range(len(BUGS[ex]))],
                         ids=[f"{ex}-{b.name}" for ex in IDS for b in BUGS[ex]])
def test_planted_bug_loses_points_with_a_message_naming_the_property(ex_id, n):
    bug = BUGS[ex_id][n]
    namespace = {**solution_namespace(ex_id), **bug.functions}
    keys = [k for k in bug.checks if (ex_id, k) not in SLOW_CHECKS]
    with search_effort(max_examples=25, shrink_seconds=2, timeout_scale=TIMEOUT_SCALE):
        results = grade_namespace(ex_id, namespace, keys=keys)
    for r in results:
        assert r.status in ("failed", "error") and r.points == 0, f"{bug.name}: {r.key} {r.status}\n{r.message}"
    assert bug.phrase in results[0].message, f"{bug.name}: {results[0].key}:\n{results[0].message}"


def test_a_broken_property_prints_the_smallest_counterexample():
    """RoIAlign without the half-pixel shift: hypothesis shrinks the failure to a tiny map and box."""
    bug = next(b for b in BUGS["04_roi_align"] if "half-pixel" in b.name)
    namespace = {**solution_namespace("04_roi_align"), **bug.functions}
    r = grade_namespace("04_roi_align", namespace, keys=["affine"])[0]
    assert r.status == "failed"
    msg = r.message
    assert msg.startswith("property broken: on an affine map")
    assert "smallest counterexample hypothesis found:" in msg and "your function was called as:" in msg
    assert "roi_align(np.array(" in msg and "expected:" in msg and "got:" in msg
    features = msg.split("features = ")[1].split("\n    rois")[0]
    assert features.count(",") <= 8, f"not shrunk to a small map:\n{msg}"  # at most a 3 x 3 map


# --------------------------------------------------------------------------- solutions never drift
def test_solutions_equal_the_package_references():
    """Each source solution, called directly, gives the package's reference results."""
    from minimaskrcnn.boxes import box_iou, decode_boxes, encode_boxes
    from minimaskrcnn.grading import ex07_mask_loss, ex08_paste_masks, ex09_average_precision, roi_cases
    from minimaskrcnn.ops import (batched_nms, bilinear_interpolate_naive, conv2d_backward_naive,
                                  conv2d_forward_naive, nms, roi_align, roi_align_backward, roi_align_backward_naive,
                                  roi_align_naive, roi_pool_naive)

    rng = np.random.default_rng(2024)
    s = solution_namespace("01_convolution")
    x, w, b = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2)), rng.normal(size=4)
    out, cache = conv2d_forward_naive(x, w, b, 2, 1)
    np.testing.assert_allclose(s["conv_forward"](x, w, b, 2, 1), out, rtol=1e-12, atol=1e-12)
    dout = rng.normal(size=out.shape)
    for mine, ref in zip(s["conv_backward"](dout, x, w, b, 2, 1), conv2d_backward_naive(dout, cache)):
        np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-12)

    s = solution_namespace("02_bilinear_interpolation")
    f = rng.normal(size=(5, 7))
    for y, x_ in zip(rng.uniform(-2, 7, 100), rng.uniform(-2, 9, 100)):
        value, ys, xs, weights = s["bilinear_interpolate"](f, y, x_)
        ref = bilinear_interpolate_naive(f, y, x_)
        assert value == pytest.approx(float(ref.value), abs=1e-12)
        if ref.weights.any():
            np.testing.assert_array_equal(ys, ref.ys)
            np.testing.assert_array_equal(xs, ref.xs)
            np.testing.assert_allclose(weights, ref.weights, atol=1e-15)

    for label, kw in roi_cases.roi_pool_cases(7):
        np.testing.assert_array_equal(solution_namespace("03_roi_pool")["roi_pool"](**kw), roi_pool_naive(**kw))
    s = solution_namespace("04_roi_align")
    for label, kw in roi_cases.roi_align_cases(7):
        np.testing.assert_allclose(s["roi_align"](**kw), roi_align_naive(**kw), rtol=1e-12, atol=1e-12)
        g = rng.normal(size=(len(kw["rois"]), kw["features"].shape[1], *((kw["output_size"],) * 2 if np.isscalar(kw["output_size"])
                                                   else kw["output_size"])))
        np.testing.assert_allclose(s["roi_align_backward"](g, **kw), roi_align_backward_naive(g, **kw),
                                   rtol=1e-12, atol=1e-12)

    s = solution_namespace("05_nms")
    boxes = np.concatenate([rng.uniform(0, 50, (60, 2)), np.zeros((60, 2))], axis=1)
    boxes[:, 2:] = boxes[:, :2] + rng.exponential(15, (60, 2))
    scores, idxs = np.round(rng.random(60), 1), rng.integers(1, 4, 60)
    for t in (0.0, 0.3, 0.5, 0.8):
        np.testing.assert_array_equal(s["nms"](boxes, scores, t), nms(boxes, scores, t))
        np.testing.assert_array_equal(s["batched_nms"](boxes, scores, idxs, t), batched_nms(boxes, scores, idxs, t))
    s = solution_namespace("10_capstone")
    np.testing.assert_array_equal(s["nms"](boxes, scores, 0.5), nms(boxes, scores, 0.5))

    s = solution_namespace("06_boxes")
    np.testing.assert_allclose(s["box_iou"](boxes, boxes[:20]), box_iou(boxes, boxes[:20]), rtol=1e-12)
    ref = boxes + np.array([0, 0, 1, 1])
    for weights in ((1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)):
        d = encode_boxes(boxes + 0.5, ref, weights)
        np.testing.assert_allclose(s["encode_boxes"](boxes + 0.5, ref, weights), d, rtol=1e-12, atol=1e-12)
        d[::4, 2] = 9.0  # past the clamp
        np.testing.assert_allclose(s["decode_boxes"](d, ref, weights), decode_boxes(d, ref, weights), rtol=1e-12)

    for ex in ("07_mask_targets_and_loss", "10_capstone"):
        s = solution_namespace(ex)
        for label, kw in ex07_mask_loss.loss_cases_seeded(7):
            loss, d = s["mask_loss"](**kw)
            ref_loss, ref_d = ex07_mask_loss.reference_loss(**kw)
            assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-15)
            np.testing.assert_allclose(d, ref_d, rtol=1e-10, atol=1e-15)
    s = solution_namespace("07_mask_targets_and_loss")
    for label, kw in ex07_mask_loss.target_cases(7):
        np.testing.assert_array_equal(s["mask_targets"](**kw), ex07_mask_loss.reference_targets(**kw))
    s = solution_namespace("08_paste_masks")
    for label, kw in ex08_paste_masks.paste_cases(7):
        np.testing.assert_array_equal(s["paste_mask"](**kw), ex08_paste_masks.reference(**kw))
    s = solution_namespace("09_average_precision")
    for n in range(5):
        dets, gts = ex09_average_precision.random_scene(rng, images=3)
        for t in (0.5, 0.75):
            assert s["average_precision"](dets, gts, t) == pytest.approx(
                ex09_average_precision.evaluator_ap(dets, gts, t), abs=1e-12)
    s = solution_namespace("10_capstone")
    for label, kw in roi_cases.roi_align_cases(8, modes=("avg",)):
        np.testing.assert_allclose(s["roi_align"](**kw), roi_align(**kw), rtol=1e-9, atol=1e-12)
        g = rng.normal(size=np.shape(roi_align(**kw)))
        np.testing.assert_allclose(s["roi_align_backward"](g, **kw), roi_align_backward(g, **kw), rtol=1e-9,
                                   atol=1e-12)


# --------------------------------------------------------------------------- the grading machinery
def test_check_in_a_notebook_prints_and_raises(capsys):
    from minimaskrcnn.grading import check

    ns = solution_namespace("05_nms")
    assert check("05_nms", "strict", ns).passed
    assert "[passed]" in capsys.readouterr().out
    bad = {**ns, **BUGS["05_nms"][0].functions}
    with pytest.raises(AssertionError, match="05_nms / strict: failed"):
        check("05_nms", "strict", bad)
    assert "suppression is strict" in capsys.readouterr().out


def test_a_stub_a_missing_function_a_wrong_shape_and_a_crash_each_lose_one_check():
    def stub(*args):
        raise NotImplementedError()

    def wrong_shape(features, rois, output_size, spatial_scale=1.0):
        return np.zeros((len(rois), 1))

    def crash(features, rois, output_size, spatial_scale=1.0):
        return features[0, 0, 99, 99]

    verdicts = {}
    for name, ns in (("stub", {"roi_pool": stub}), ("missing", {}), ("shape", {"roi_pool": wrong_shape}),
                     ("crash", {"roi_pool": crash})):
        verdicts[name] = grade_namespace("03_roi_pool", ns, keys=["worked_examples"])[0]
    assert verdicts["stub"].status == "not implemented" and "NotImplementedError" in verdicts["stub"].message
    assert verdicts["missing"].status == "missing" and "define roi_pool" in verdicts["missing"].message
    assert verdicts["shape"].status == "failed" and "wrong shape: expected (1, 1, 2, 2), got (1, 1)" in \
        verdicts["shape"].message
    assert verdicts["crash"].status == "error" and "roi_pool raised IndexError" in verdicts["crash"].message
    assert all(v.points == 0 for v in verdicts.values())


def test_an_infinite_python_loop_is_stopped_by_the_time_limit():
    from minimaskrcnn.grading.core import Check, run_check

    def forever(*args):
        while True:
            pass

    check = Check("loop", "an infinite loop", 1, ("nms",), lambda s: s.nms(np.zeros((1, 4)), np.zeros(1), 0.5),
                  timeout=0.5)
    r = run_check("05_nms", check, {"nms": forever})
    assert r.status == "timeout" and "time limit of 0.5 s" in r.message and r.seconds < 5
