"""Grade notebooks in a subprocess, so that nothing a student writes can stop the grader.

``grade_notebook(path)`` runs the notebook's code and then every check of its
exercise in a worker process (``worker.py``). Each check has a time limit:
the worker stops a Python loop by itself (a signal), and if it does not
answer within the limit plus ``GRACE`` seconds (a hung C call, a swallowed
signal, a crash) it is killed, the check is recorded as a timeout or an
error, and a fresh worker grades the remaining checks. A notebook cell that
raises is noted and the next cell runs, as in "Run All" with errors allowed.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from minimaskrcnn.grading.core import CheckResult

GRACE = 15.0  # seconds past a check's own limit before its worker is killed
STARTUP = 60.0  # seconds for a worker to import numpy, numba and the package
CELL_TIMEOUT = 120.0  # seconds per notebook cell


@dataclass
class NotebookReport:
    path: str
    exercise: str | None
    title: str = ""
    results: list[CheckResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # cell errors, skipped notebooks, crashes

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> int:
        return sum(r.max_points for r in self.results)

    @property
    def full_marks(self) -> bool:
        return self.exercise is not None and self.points == self.max_points

    def to_dict(self) -> dict:
        return {"path": self.path, "exercise": self.exercise, "title": self.title, "points": self.points,
                "max_points": self.max_points, "notes": self.notes, "checks": [r.to_dict() for r in self.results]}


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


class _Worker:
    """One grading subprocess and its event pipe."""

    def __init__(self, request: dict, cwd: Path, log):
        read_fd, write_fd = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_package_root()] + [p for p in [env.get("PYTHONPATH")] if p])
        env.setdefault("MPLBACKEND", "Agg")
        self.process = subprocess.Popen([sys.executable, "-m", "minimaskrcnn.grading.worker", str(write_fd)],
                                        stdin=subprocess.PIPE, stdout=log, stderr=log, cwd=str(cwd), env=env,
                                        pass_fds=(write_fd,))
        os.close(write_fd)
        self.fd = read_fd
        self.buffer = ""
        self.process.stdin.write(json.dumps(request).encode())
        self.process.stdin.close()

    def next_event(self, deadline: float) -> dict | None:
        """The next event, or None on a timeout or when the worker has gone."""
        while "\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.fd, 65536).decode(errors="replace")
            if not chunk:
                return None  # the worker exited
            self.buffer += chunk
        line, self.buffer = self.buffer.split("\n", 1)
        return json.loads(line)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        os.close(self.fd)
        return self.process.returncode


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return "\n".join(lines[-8:])


def grade_notebook(path, timeout_scale: float = 1.0, cell_timeout: float = CELL_TIMEOUT,
                   effort: dict | None = None, keys=None) -> NotebookReport:
    """Grade one notebook: every check of its exercise (or those in ``keys``)."""
    from minimaskrcnn.grading import exercise
    from minimaskrcnn.grading.notebook import exercise_id, graded_code, read_notebook

    path = Path(path)
    try:
        nb = read_notebook(path)
    except (OSError, ValueError) as e:
        return NotebookReport(str(path), None, notes=[f"skipped: {e}"])
    ex_id = exercise_id(nb, path)
    if ex_id is None:
        return NotebookReport(str(path), None, notes=["skipped: not an exercise notebook (no 'minimaskrcnn' "
                                                      "metadata and no exercise name in the file name)"])
    ex = exercise(ex_id)
    report = NotebookReport(str(path), ex.id, ex.title)
    cells = graded_code(nb)
    remaining = [c.key for c in ex.checks] if keys is None else list(keys)
    done: dict[str, CheckResult] = {}

    def lost(key: str, status: str, message: str) -> CheckResult:
        c = ex.check(key)
        return CheckResult(ex.id, key, c.title, status, 0, c.points, message, 0.0)

    with tempfile.TemporaryFile() as log:
        first_run = True
        while remaining:
            request = {"cells": cells, "exercise": ex.id, "checks": remaining, "cell_timeout": cell_timeout,
                       "timeout_scale": timeout_scale, "effort": effort or {}}
            worker = _Worker(request, path.parent, log)
            deadline = time.monotonic() + STARTUP + cell_timeout
            current, phase = None, "cells"
            while True:
                event = worker.next_event(deadline)
                if event is None:
                    break
                kind = event["event"]
                if kind == "cell":
                    deadline = time.monotonic() + cell_timeout + GRACE
                    current = event["index"]
                elif kind == "cell_error":
                    if first_run:
                        report.notes.append(event["error"])
                elif kind == "cells_done":
                    phase = "checks"
                elif kind == "start":
                    current = event["key"]
                    deadline = time.monotonic() + ex.check(current).timeout * timeout_scale + GRACE
                elif kind == "result":
                    result = CheckResult(**{k: v for k, v in event.items() if k != "event"})
                    done[result.key] = result
                    remaining.remove(result.key)
                    current = None
                elif kind == "done":
                    break
            timed_out = worker.process.poll() is None
            code = worker.stop()
            first_run = False
            if not remaining:
                break
            if phase == "cells":  # the notebook's own code never finished: nothing can be graded
                why = (f"cell {current} did not finish within {cell_timeout:g} s" if timed_out and current is not None
                       else f"the notebook's process stopped (exit code {code}) while running cell {current}:\n"
                            f"{_tail(log)}")
                for key in remaining:
                    done[key] = lost(key, "error", f"not graded: {why}")
                break
            key = current if current in remaining else remaining[0]
            limit = ex.check(key).timeout * timeout_scale
            done[key] = (lost(key, "timeout", f"time limit of {limit:g} s exceeded (an infinite loop?); the "
                                               f"grader stopped the process")
                         if timed_out else
                         lost(key, "error", f"the process running this check died (exit code {code}):\n{_tail(log)}"))
            remaining.remove(key)
    report.results = [done[c.key] for c in ex.checks if c.key in done]
    return report


def notebooks_under(path) -> list[Path]:
    """A notebook, or every notebook below a folder (checkpoints skipped), sorted."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def grade_paths(paths, progress=None, **kwargs) -> list[NotebookReport]:
    reports = []
    for p in paths:
        for nb in notebooks_under(p):
            if progress is not None:
                progress(nb)
            reports.append(grade_notebook(nb, **kwargs))
    return reports
