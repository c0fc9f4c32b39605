"""Grading students' implementations of the lecture's operations (see exercises/README.md).

The exercises live in ``exercises/NN_name.ipynb``; each has a module here,
``exNN_name.py``, with its checks. Entry points:

* ``check(exercise_id, key, namespace)``: one check, from a notebook's test cell
  (prints the verdict; raises ``AssertionError`` if it fails, so nbgrader gives 0);
* ``grade_namespace(exercise_id, namespace)``: every check, in this process;
* ``grade_paths([...])`` (``runner.py``): notebooks run in a subprocess with time limits,
  the engine of ``python -m minimaskrcnn grade PATH``.

The checks reuse the project's own property tests (``properties.py``), and
print the smallest counterexample hypothesis finds when one fails.
"""
from __future__ import annotations

from minimaskrcnn.grading.core import Check, CheckFailed, CheckResult, Exercise, run_check, search_effort


def _load():
    from minimaskrcnn.grading import (ex01_convolution, ex02_bilinear, ex03_roi_pool, ex04_roi_align, ex05_nms,
                                      ex06_boxes, ex07_mask_loss, ex08_paste_masks, ex09_average_precision,
                                      ex10_capstone)

    modules = (ex01_convolution, ex02_bilinear, ex03_roi_pool, ex04_roi_align, ex05_nms, ex06_boxes,
               ex07_mask_loss, ex08_paste_masks, ex09_average_precision, ex10_capstone)
    return {m.EXERCISE.id: m.EXERCISE for m in modules}


EXERCISES: dict[str, Exercise] = _load()  # in lecture order


def exercise(exercise_id: str) -> Exercise:
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise ValueError(f"unknown exercise {exercise_id!r}; known: {', '.join(EXERCISES)}") from None


def grade_namespace(exercise_id: str, namespace: dict, keys=None) -> list[CheckResult]:
    """Run the checks of one exercise (all, or those in ``keys``) on the functions in ``namespace``."""
    ex = exercise(exercise_id)
    checks = ex.checks if keys is None else [ex.check(k) for k in keys]
    return [run_check(ex.id, c, namespace) for c in checks]


def check(exercise_id: str, key: str, namespace: dict) -> CheckResult:
    """Run one check from a notebook cell: prints the verdict, raises AssertionError if it failed."""
    __tracebackhide__ = True  # noqa: F841  (IPython and pytest hide this frame)
    result = run_check(exercise_id, exercise(exercise_id).check(key), namespace)
    mark = "passed" if result.passed else result.status.upper()
    print(f"[{mark}] {result.title}: {result.points:g} / {result.max_points} points ({result.seconds:.1f} s)")
    if result.message:
        print(result.message)
    if not result.passed:
        raise AssertionError(f"{exercise_id} / {key}: {result.status}")
    return result


__all__ = ["Check", "CheckFailed", "CheckResult", "EXERCISES", "Exercise", "check", "exercise", "grade_namespace",
           "run_check", "search_effort"]
