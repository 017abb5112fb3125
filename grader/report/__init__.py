"""Everything written for people: results.json, the per-student HTML page, the class summary
and the gradebook CSV."""

from __future__ import annotations

from pathlib import Path

from grader import results
from grader.report.gradebook import write_gradebook_csv
from grader.report.html import render_student
from grader.report.summary import render_summary

__all__ = ["render_student", "render_summary", "write_class_reports", "write_gradebook_csv", "write_reports"]


def write_reports(result: results.SubmissionResult, reports_dir: Path) -> Path:
    """Write reports/students/<name>/results.json and reports/students/<name>/index.html."""
    path = results.write(result, reports_dir)
    render_student(result.to_gradescope(), path.parent / "index.html")
    return path


def write_class_reports(reports_dir: Path) -> tuple[Path, Path]:
    """Write reports/index.html and reports/grades.csv from every reports/students/*/results.json:
    run once after a session has written its students (or by hand after a regrade)."""
    grades = write_gradebook_csv(Path(reports_dir))  # first, so that the summary links to it
    return render_summary(Path(reports_dir)), grades
