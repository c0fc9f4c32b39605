"""Exercise notebooks: nbgrader's format, the student release, and the code the grader runs.

The sources in ``exercises/`` follow nbgrader's conventions, so a course on
nbgrader uses them unchanged:

* the solution inside a stub is fenced by ``### BEGIN SOLUTION`` / ``### END SOLUTION``
  in a cell with metadata ``nbgrader: {solution: true, grade: false, ...}``;
* every graded check is a locked test cell ``nbgrader: {grade: true, solution: false,
  locked: true, points: P, grade_id: ID}`` that calls ``minimaskrcnn.grading.check``;
* hidden tests are fenced by ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``;
* the notebook's metadata names its exercise: ``{"minimaskrcnn": {"exercise": "04_roi_align"}}``.

``release_notebook`` does what ``nbgrader generate_assignment`` does to them
(solutions become ``raise NotImplementedError()``, hidden tests vanish, outputs
are cleared) without needing nbgrader. ``graded_code`` lists the code the
grader executes: every code cell except the test cells (the grader runs the
checks itself, with time limits).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]  # nbgrader's default stub for Python
TEXT_STUB = ["YOUR ANSWER HERE"]
SOURCE_DIR = Path(__file__).resolve().parents[2] / "exercises"  # the repository's exercises/


def read_notebook(path) -> dict:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a notebook (invalid JSON: {e})") from None
    if not isinstance(nb, dict) or "cells" not in nb:
        raise ValueError(f"{path}: not a notebook (no 'cells')")
    return nb


def write_notebook(nb: dict, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(nb, f, indent=1, ensure_ascii=False)
        f.write("\n")


def source_text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    lines = text.splitlines(keepends=True)
    cell["source"] = lines


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell: dict) -> bool:
    """An autograder test cell: graded, not a solution (the grader runs its check itself)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def exercise_id(nb: dict, path=None) -> str | None:
    """The exercise a notebook belongs to: its metadata, else its file name (``04_roi_align*.ipynb``)."""
    from minimaskrcnn.grading import EXERCISES

    named = nb.get("metadata", {}).get("minimaskrcnn", {}).get("exercise")
    if named:
        return named
    if path is not None:
        stem = Path(path).stem
        for ex_id in EXERCISES:
            if stem == ex_id or stem.startswith(ex_id):
                return ex_id
    return None


def replace_fenced(text: str, begin: str, end: str, stub: list[str] | None) -> str:
    """Replace every ``begin`` .. ``end`` block (marker lines included) by ``stub``, at the marker's indent."""
    out, inside, indent = [], False, ""
    for line in text.splitlines():
        if begin in line and not inside:
            inside, indent = True, re.match(r"\s*", line).group(0)
            out += [indent + s for s in (stub or [])]
        elif end in line and inside:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"'{begin}' without a matching '{end}'")
    return "\n".join(out)


def release_notebook(nb: dict) -> dict:
    """The student version: solutions replaced by stubs, hidden tests removed, outputs cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        meta = nbgrader_meta(cell)
        text = source_text(cell)
        if meta.get("solution") or BEGIN_SOLUTION in text:
            stub = CODE_STUB if cell.get("cell_type") == "code" else TEXT_STUB
            text = replace_fenced(text, BEGIN_SOLUTION, END_SOLUTION, stub) if BEGIN_SOLUTION in text \
                else "\n".join(stub)
        if BEGIN_HIDDEN in text:
            text = replace_fenced(text, BEGIN_HIDDEN, END_HIDDEN, None)
        _set_source(cell, text)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return nb


def graded_code(nb: dict) -> list[tuple[int, str]]:
    """(cell number, source) of every code cell the grader runs: all but the test cells."""
    return [(n, source_text(c)) for n, c in enumerate(nb["cells"])
            if c.get("cell_type") == "code" and not is_test_cell(c)]


def test_cells(nb: dict) -> list[dict]:
    """The graded test cells with their nbgrader metadata (grade_id, points)."""
    return [c for c in nb["cells"] if is_test_cell(c)]


test_cells.__test__ = False  # a helper named test_*: not a pytest test where it is imported

def source_notebooks(source_dir=SOURCE_DIR) -> list[Path]:
    """The exercise sources, in lecture order."""
    from minimaskrcnn.grading import EXERCISES

    source_dir = Path(source_dir)
    paths = [source_dir / f"{ex_id}.ipynb" for ex_id in EXERCISES]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"exercise sources not found: {', '.join(missing)}")
    return paths


def write_release(out_dir, source_dir=SOURCE_DIR) -> list[Path]:
    """Write the student version of every exercise to ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    written = []
    for src in source_notebooks(source_dir):
        dst = out_dir / src.name
        write_notebook(release_notebook(read_notebook(src)), dst)
        written.append(dst)
    return written


def write_nbgrader_source(course_dir, source_dir=SOURCE_DIR) -> list[Path]:
    """Lay the sources out as an nbgrader course: COURSE/source/<exercise>/<exercise>.ipynb."""
    written = []
    for src in source_notebooks(source_dir):
        dst = Path(course_dir) / "source" / src.stem / src.name
        write_notebook(read_notebook(src), dst)
        written.append(dst)
    return written
