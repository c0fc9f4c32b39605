"""The grader's output: a per-check table with feedback, the total, and a JSON report."""
from __future__ import annotations

import json
import textwrap

from minimaskrcnn.grading.runner import NotebookReport

STATUS = {"passed": "passed", "failed": "FAILED", "error": "ERROR", "not implemented": "not implemented",
          "missing": "missing", "timeout": "TIMEOUT"}


def format_report(report: NotebookReport) -> str:
    """One notebook: a table of checks, the total, then the feedback of every check that lost points."""
    head = f"{report.path}"
    if report.exercise is None:
        return "\n".join([head] + [f"  {n}" for n in report.notes])
    lines = [f"{head}  --  {report.exercise}: {report.title}"]
    width = max([len(r.key) for r in report.results] + [5])
    for r in report.results:
        lines.append(f"  {r.points:>4g} / {r.max_points:<3d} {r.key:<{width}}  {STATUS.get(r.status, r.status):<15} "
                     f"{r.title}")
    lines.append(f"  {report.points:>4g} / {report.max_points:<3d} {'total':<{width}}")
    for note in report.notes:
        lines.append(textwrap.indent(f"note: {note}", "  "))
    stubs = [r.key for r in report.results if r.status in ("not implemented", "missing")]
    if stubs:
        reasons = sorted({r.message for r in report.results if r.status in ("not implemented", "missing")})
        lines += ["", f"  -- {', '.join(stubs)}: " + "; ".join(reasons)]
    for r in report.results:
        if r.status not in ("passed", "not implemented", "missing"):
            lines += ["", f"  -- {r.key} ({r.points:g} / {r.max_points}): {STATUS.get(r.status, r.status)}",
                      textwrap.indent(r.message, "     ")]
    return "\n".join(lines)


def format_reports(reports: list[NotebookReport]) -> str:
    blocks = [format_report(r) for r in reports]
    graded = [r for r in reports if r.exercise is not None]
    if len(graded) > 1:
        total = sum(r.points for r in graded)
        best = sum(r.max_points for r in graded)
        blocks.append("summary\n" + "\n".join(f"  {r.points:>4g} / {r.max_points:<3d} {r.path}" for r in graded)
                      + f"\n  {total:>4g} / {best:<3d} total over {len(graded)} notebooks")
    return "\n\n".join(blocks)


def reports_json(reports: list[NotebookReport]) -> dict:
    graded = [r for r in reports if r.exercise is not None]
    return {"points": sum(r.points for r in graded), "max_points": sum(r.max_points for r in graded),
            "full_marks": bool(graded) and all(r.full_marks for r in graded),
            "notebooks": [r.to_dict() for r in reports]}


def write_json(reports: list[NotebookReport], path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(reports_json(reports), f, indent=2)
        f.write("\n")
