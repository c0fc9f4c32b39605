"""The grading subprocess: run a notebook's code, then its checks, reporting each as it ends.

Started by ``runner.py`` as ``python -m minimaskrcnn.grading.worker FD``. It
reads one JSON request from stdin (the code cells, the exercise, the check
keys, time limits) and writes one JSON line per event to file descriptor FD
(not stdout: the student's code may print anything there)::

    {"event": "cell", "index": 3}                    about to run cell 3
    {"event": "cell_error", "index": 3, "error": "..."}
    {"event": "cells_done"}
    {"event": "start", "key": "affine"}
    {"event": "result", ...CheckResult fields...}
    {"event": "done"}

Soft time limits (``core.time_limit``) stop a Python loop inside a cell or a
check; the parent kills this process if a limit is not honoured.
"""
from __future__ import annotations

import json
import linecache
import os
import sys
import traceback


def _strip_magics(source: str) -> str:
    """Comment out IPython magics and shell escapes (``%matplotlib``, ``!pip``): plain Python only."""
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _where(error: BaseException, filename: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    return f" (line {frames[-1].lineno}: {frames[-1].line.strip()})" if frames and frames[-1].line else ""


def run_cells(cells, namespace: dict, cell_timeout: float, emit) -> None:
    from minimaskrcnn.grading.core import CheckTimeout, time_limit

    for index, source in cells:
        filename = f"<cell {index}>"
        source = _strip_magics(source)
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        emit(event="cell", index=index)
        try:
            with time_limit(cell_timeout):
                exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - running the student's notebook
        except CheckTimeout:
            emit(event="cell_error", index=index,
                 error=f"cell {index} ran past its time limit of {cell_timeout:g} s and was stopped")
        except BaseException as e:  # SyntaxError, NotImplementedError from a stub call, SystemExit, ...
            stub = " (a stub not filled in yet)" if isinstance(e, NotImplementedError) else ""
            detail = f": {e}" if str(e) else stub
            emit(event="cell_error", index=index,
                 error=f"cell {index} raised {type(e).__name__}{detail}{_where(e, filename)}")


def main() -> int:
    protocol = os.fdopen(int(sys.argv[1]), "w", buffering=1)

    def emit(**event):
        protocol.write(json.dumps(event) + "\n")

    request = json.loads(sys.stdin.read())
    os.environ.setdefault("MPLBACKEND", "Agg")
    sys.path.insert(0, os.getcwd())  # the notebook's folder: its own helper modules import

    from minimaskrcnn.grading import exercise
    from minimaskrcnn.grading.core import run_check, search_effort

    namespace = {"__name__": "__main__", "display": print}
    run_cells(request["cells"], namespace, request["cell_timeout"], emit)
    emit(event="cells_done")
    ex = exercise(request["exercise"])
    with search_effort(**request.get("effort", {})):
        for key in request["checks"]:
            check = ex.check(key)
            emit(event="start", key=key)
            result = run_check(ex.id, check, namespace, timeout=check.timeout * request["timeout_scale"])
            emit(event="result", **result.to_dict())
    emit(event="done")
    protocol.flush()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: a student's thread or atexit hook must not hang us


if __name__ == "__main__":
    raise SystemExit(main())
