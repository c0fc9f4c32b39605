"""The grader end to end: notebooks run in a subprocess; nothing a student writes stops it.

One test per exercise grades the source notebook (full marks) and its released stub
(zero, cleanly); the others feed it infinite loops, a process that ignores the
time-limit signal, a crash, broken cells, and a class folder through the CLI.
"""
import json

import pytest

from minimaskrcnn.cli import main
from minimaskrcnn.grading import EXERCISES, runner
from minimaskrcnn.grading.notebook import (SOURCE_DIR, read_notebook, release_notebook, source_text,
                                           write_notebook)
from minimaskrcnn.grading.report import format_report

EFFORT = {"max_examples": 15, "shrink_seconds": 2}
SCALE = 10  # wall-clock limits on a busy test machine


def grade(path, **kwargs):
    kwargs.setdefault("timeout_scale", SCALE)
    return runner.grade_notebook(path, effort=EFFORT, **kwargs)


@pytest.mark.parametrize("ex_id", list(EXERCISES))
def test_source_scores_full_marks_and_the_released_stub_zero(ex_id, tmp_path):
    keys = [c.key for c in EXERCISES[ex_id].checks if (ex_id, c.key) != ("10_capstone", "trains")]
    source = grade(SOURCE_DIR / f"{ex_id}.ipynb", keys=keys)
    lost = [f"{r.key}: {r.status}\n{r.message}" for r in source.results if not r.passed]
    assert not lost and [r.key for r in source.results] == keys, "\n".join(lost)
    assert source.notes == [], source.notes

    stub_path = tmp_path / f"{ex_id}.ipynb"
    write_notebook(release_notebook(read_notebook(SOURCE_DIR / f"{ex_id}.ipynb")), stub_path)
    stub = grade(stub_path)
    assert [r.key for r in stub.results] == [c.key for c in EXERCISES[ex_id].checks]
    assert stub.points == 0 and stub.max_points == EXERCISES[ex_id].max_points
    for r in stub.results:
        assert r.status == "not implemented" or (r.max_points == 0 and r.passed), (r.key, r.status, r.message)
    assert "not implemented" in format_report(stub)


def _notebook_with(tmp_path, ex_id, replacements, name=None):
    """The source notebook with text replaced in its cells (a student's edits)."""
    nb = read_notebook(SOURCE_DIR / f"{ex_id}.ipynb")
    for cell in nb["cells"]:
        text = source_text(cell)
        for old, new in replacements.items():
            text = text.replace(old, new)
        cell["source"] = text
    path = tmp_path / (name or f"{ex_id}.ipynb")
    write_notebook(nb, path)
    return path


def test_a_buggy_roi_align_gets_the_smallest_counterexample(tmp_path):
    path = _notebook_with(tmp_path, "04_roi_align", {"offset = 0.5 if aligned else 0.0": "offset = 0.0"},
                          "student.ipynb")
    report = grade(path, keys=["worked_examples", "affine", "reference_forward"])
    assert [r.status for r in report.results] == ["failed"] * 3
    text = format_report(report)
    print(text)  # the student's view (pytest -s shows it)
    affine = report.results[1].message
    assert "property broken: on an affine map" in affine and "smallest counterexample hypothesis found:" in affine
    assert "features = np.array(" in affine and "roi_align(np.array(" in affine and "expected:" in affine
    assert "0 / 2   affine" in text and "FAILED" in text


def test_infinite_loops_crashes_and_broken_cells_lose_only_their_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "GRACE", 6.0)  # short, with room for a busy machine
    path = _notebook_with(tmp_path, "05_nms", {
        "    order = np.argsort(-scores, kind=\"stable\")  # best first; ties keep their input order":
            "    if len(boxes) == 4:\n"
            "        while True:  # an infinite loop on the worked example\n"
            "            pass\n"
            "    if len(boxes) == 2 and scores[0] == 1.0:\n"
            "        import signal\n"
            "        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # ignores the soft time limit\n"
            "        while True:\n"
            "            pass\n"
            "    if len(boxes) == 5:\n"
            "        import os\n"
            "        os._exit(3)  # kills its own process\n"
            "    order = np.argsort(-scores, kind=\"stable\")",
    })
    nb = read_notebook(path)
    nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source": "this is not python(", "outputs": [],
                           "execution_count": None})
    nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "source": "1 / 0", "outputs": [],
                           "execution_count": None})
    nb["cells"].insert(4, {"cell_type": "code", "metadata": {}, "source": "while True:\n    pass", "outputs": [],
                           "execution_count": None})
    write_notebook(nb, path)
    report = runner.grade_notebook(path, keys=["worked_example", "strict", "ties", "degenerate_empty"],
                                   timeout_scale=0.2, cell_timeout=2, effort=EFFORT)  # short limits, with room for a busy machine
    status = {r.key: (r.status, r.message) for r in report.results}
    assert status["worked_example"][0] == "timeout"  # the signal stopped the Python loop
    assert status["strict"][0] == "timeout" and "stopped the process" in status["strict"][1]  # killed
    assert status["ties"][0] == "error" and "died (exit code 3)" in status["ties"][1]
    assert status["degenerate_empty"][0] == "passed"  # a fresh process graded the rest
    notes = "\n".join(report.notes)
    assert "SyntaxError" in notes and "ZeroDivisionError" in notes and "ran past its time limit" in notes


def test_cli_grades_a_class_folder_writes_json_and_exits_nonzero(tmp_path, capsys):
    class_dir = tmp_path / "submitted"
    for student, release in (("alice", False), ("bob", True)):
        nb = read_notebook(SOURCE_DIR / "06_boxes.ipynb")
        write_notebook(release_notebook(nb) if release else nb, class_dir / student / "06_boxes" / "06_boxes.ipynb")
    (class_dir / "bob" / "notes.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                               "nbformat_minor": 5}))
    out = tmp_path / "report.json"
    code = main(["grade", str(class_dir), "--json", str(out), "--timeout-scale", str(SCALE)])
    text = capsys.readouterr().out
    assert code == 1  # bob is below full marks
    report = json.loads(out.read_text())
    by_path = {nb["path"].split("submitted/")[1]: nb for nb in report["notebooks"]}
    assert by_path["alice/06_boxes/06_boxes.ipynb"]["points"] == EXERCISES["06_boxes"].max_points
    assert by_path["bob/06_boxes/06_boxes.ipynb"]["points"] == 0
    assert by_path["bob/notes.ipynb"]["exercise"] is None
    assert report["max_points"] == 2 * EXERCISES["06_boxes"].max_points and not report["full_marks"]
    assert "summary" in text and f"{EXERCISES['06_boxes'].max_points} / " in text


def test_cli_exercises_release_writes_stubs(tmp_path, capsys):
    assert main(["exercises", "--release", str(tmp_path / "release"), "--list"]) == 0
    out = capsys.readouterr().out
    assert "wrote 10 student notebooks" in out and "04_roi_align" in out
    text = (tmp_path / "release" / "04_roi_align.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text
    assert main(["exercises", "--release", str(SOURCE_DIR)]) == 2  # never over the sources
    assert main(["grade", str(tmp_path / "nothing_here")]) == 2
