"""Slow checks of the exercises (``python -m pytest -m slow``; .ci/run runs them, the default run skips them).

* nbgrader's own release step on the sources: solutions gone, stubs in place, points as stated,
  and the same student notebooks as ``python -m minimaskrcnn exercises --release``;
* the capstone: Mask R-CNN trained with the source solution's RoIAlign, NMS and mask loss reaches the
  stated mask AP, through the grader end to end; and with the alternative implementations.
"""
import shutil
import subprocess

import pytest
from exercise_variants import ALTERNATIVES
from test_exercises import solution_namespace

from minimaskrcnn.grading import EXERCISES, grade_namespace, runner, search_effort
from minimaskrcnn.grading.notebook import (BEGIN_SOLUTION, SOURCE_DIR, nbgrader_meta, read_notebook,
                                           release_notebook, source_text, test_cells, write_nbgrader_source)

pytestmark = pytest.mark.slow


def test_nbgrader_generate_assignment_releases_the_sources(tmp_path):
    if shutil.which("nbgrader") is None:
        pytest.skip("nbgrader is not installed (pip install -r requirements.txt)")
    write_nbgrader_source(tmp_path)
    done = subprocess.run(["nbgrader", "generate_assignment", "*", "--force"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    for ex_id, ex in EXERCISES.items():
        released = read_notebook(tmp_path / "release" / ex_id / f"{ex_id}.ipynb")
        text = "".join(source_text(c) for c in released["cells"])
        assert BEGIN_SOLUTION not in text and "HIDDEN TESTS" not in text, ex_id
        solutions = [c for c in released["cells"] if nbgrader_meta(c).get("solution")]
        assert solutions and all("raise NotImplementedError()" in source_text(c) for c in solutions), ex_id
        assert [nbgrader_meta(c)["points"] for c in test_cells(released)] == [c.points for c in ex.checks]
        assert sum(nbgrader_meta(c)["points"] for c in test_cells(released)) == ex.max_points
        ours = release_notebook(read_notebook(SOURCE_DIR / f"{ex_id}.ipynb"))
        assert [source_text(c).rstrip() for c in released["cells"]] == \
            [source_text(c).rstrip() for c in ours["cells"]], f"{ex_id}: our release differs from nbgrader's"


def test_the_capstone_source_trains_to_the_stated_ap_through_the_grader():
    report = runner.grade_notebook(SOURCE_DIR / "10_capstone.ipynb", keys=["trains"], timeout_scale=5)
    r = report.results[0]
    print(r.message)
    assert r.passed, r.message


@pytest.mark.parametrize("name, functions", ALTERNATIVES["10_capstone"],
                         ids=[n for n, _ in ALTERNATIVES["10_capstone"]])
def test_the_capstone_trains_with_alternative_implementations(name, functions):
    with search_effort(timeout_scale=5):
        r = grade_namespace("10_capstone", {**solution_namespace("10_capstone"), **functions}, keys=["trains"])[0]
    assert r.passed, r.message
