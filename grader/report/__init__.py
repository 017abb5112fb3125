"""Everything written for people: results.json, the per-student HTML page, the class summary."""

from __future__ import annotations

from pathlib import Path

from grader import results
from grader.report.html import render_student


def write_reports(result: results.SubmissionResult, reports_dir: Path) -> Path:
    """Write reports/<name>/results.json and reports/<name>/index.html."""
    path = results.write(result, reports_dir)
    render_student(result.to_gradescope(), path.parent / "index.html")
    return path
