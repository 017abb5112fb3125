"""reports/grades.csv: one row per student, for upload to a gradebook or a spreadsheet.
Columns are fixed (student, assignment, total, max_total, then each category of
grader.spec.CATEGORIES with its maximum) so a TA's import mapping keeps working across runs.
A student some of whose checks have not run yet (a partial run without earlier results) is
left out: a gradebook gets grades, never half of one."""

from __future__ import annotations

import csv
from pathlib import Path

from grader import spec
from grader.report import fmt
from grader.report.collect import assignment_of, load_class

FILENAME = "grades.csv"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(text: str) -> str:
    """A name that a spreadsheet would run as a formula (OWASP CSV injection) gets a quote."""
    return "'" + text if text.startswith(FORMULA_START) else text


def write_gradebook_csv(reports_dir: Path) -> Path:
    """Students whose results.json cannot be read are left out (the class summary lists them)."""
    reports_dir = Path(reports_dir)
    students, _ = load_class(reports_dir)
    target = reports_dir / FILENAME
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["student", "assignment", "total", "max_total",
                         *(column for c in spec.CATEGORIES for column in (c, f"{c}_max"))])
        for s in students:
            if not s.complete:
                continue
            writer.writerow([cell(s.name), cell(assignment_of(s)), fmt.points(s.score), fmt.points(s.max_score),
                             *(fmt.points(s.category_score(c, key)) for c in spec.CATEGORIES
                               for key in ("score", "max_score"))])
    return target
