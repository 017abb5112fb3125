"""reports/index.html, the class summary a TA opens first: every student's scores in a
sortable table, the score distribution, which checks most of the class fails, and the
students whose grading crashed, timed out or carries a note, so they get looked at."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader import spec
from grader.report import fmt, svg
from grader.report.collect import Student, assignment_of, load_class
from grader.report.gradebook import FILENAME
from grader.report.html import render
from grader.results import STUDENTS_DIR


def student_row(s: Student) -> dict[str, Any]:
    crashes = s.crashes
    flag = ("timed out" if any(c["timed_out"] for c in crashes) else "crashed") if crashes else None
    return {
        "name": s.name, "href": f"{STUDENTS_DIR}/{quote(s.folder)}/index.html",
        "score": fmt.points(s.score), "max_score": fmt.points(s.max_score), "value": s.score,
        "percent": fmt.percent(s.score, s.max_score),
        "categories": [{"text": fmt.points(v), "value": "" if v is None else v}
                       for v in (s.category_score(c) for c in spec.CATEGORIES)],
        "flag": flag, "crashes": crashes, "notes": s.notes,
    }


def pass_rates(students: list[Student]) -> list[dict[str, Any]]:
    """Per check of each assignment: how many of the students it ran for earned full
    points; worst first. Checks that ran for nobody (skipped everywhere) go last. In a
    class that answered several assignments, a check of one is not merged with the
    same-named check of another: their maths differ."""
    order = {(name, c.id): i for name, rubric in class_rubrics(students).items() for i, c in enumerate(rubric.checks)}
    stats: dict[tuple[str, str], dict[str, Any]] = {}
    for s in students:
        assignment = assignment_of(s)
        for test in s.tests:
            extra = test.get("extra_data") or {}
            check_id = str(extra.get("id") or test.get("name", "?"))
            entry = stats.setdefault((assignment, check_id), {
                                                "id": check_id, "assignment": assignment, "title": extra.get("title", ""),
                                                "category": extra.get("category", ""),
                                                "passed": 0, "ran": 0, "errors": 0, "points": 0.0,
                                                "max_score": test.get("max_score", 0)})
            status = extra.get("status", test.get("status"))
            if status == "skipped":
                continue
            entry["ran"] += 1
            entry["passed"] += status == "passed"
            entry["errors"] += status == "error"
            entry["points"] += float(test.get("score") or 0)
    rows = []
    for entry in stats.values():
        ran = entry["ran"]
        rate = 100.0 * entry["passed"] / ran if ran else None
        rows.append({**entry, "rate": rate, "rate_text": "n/a" if rate is None else f"{rate:.0f}%",
                     "mean": "" if not ran else fmt.points(entry["points"] / ran),
                     "max_score": fmt.points(entry["max_score"])})
    rows.sort(key=lambda r: (r["rate"] is None, r["rate"] or 0.0, order.get((r["assignment"], r["id"]), len(order)),
                             r["id"], r["assignment"]))
    return rows


def check_tables(rows: list[dict[str, Any]], mixed: bool) -> list[dict[str, Any]]:
    """One table of checks per assignment (most failed first in each): a check of one
    assignment is never compared with another's in the same table."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["assignment"], []).append(row)
    return [{"assignment": name, "id": f"pass-rates-{name}" if mixed else "pass-rates", "rows": groups[name]}
            for name in sorted(groups)]


def class_rubrics(students: list[Student]) -> dict[str, spec.Rubric]:
    """The rubric of every assignment the class answered (an unknown name: the default's)."""
    names = sorted({assignment_of(s) for s in students}) or [spec.DEFAULT]
    return {name: spec.assignment(name if name in spec.names() else spec.DEFAULT).rubric for name in names}


def category_points(students: list[Student]) -> dict[str, str]:
    """Each category's points, or "varies by assignment" where the class's rubrics differ."""
    points: dict[str, set[float]] = {}
    for rubric in class_rubrics(students).values():
        for category, value in rubric.category_points().items():
            points.setdefault(category, set()).add(value)
    return {c: fmt.points(next(iter(v))) if len(v) == 1 else "varies by assignment" for c, v in points.items()}


def class_stats(students: list[Student]) -> dict[str, str]:
    scores = [s.score for s in students]
    if not scores:
        return {}
    return {"mean": fmt.points(statistics.fmean(scores)), "median": fmt.points(statistics.median(scores)),
            "min": fmt.points(min(scores)), "max": fmt.points(max(scores))}


def summary_view(reports_dir: Path) -> dict[str, Any]:
    students, unreadable = load_class(reports_dir)
    rubrics = class_rubrics(students)
    max_score = max((s.max_score for s in students), default=next(iter(rubrics.values())).total)
    rows = [student_row(s) for s in students]
    return {
        "assignment": ", ".join(rubrics),
        "mixed": len(rubrics) > 1,
        "categories": list(spec.CATEGORIES),
        "category_points": category_points(students),
        "students": rows, "max_score": fmt.points(max_score),
        "stats": class_stats(students),
        "histogram": svg.histogram([s.score for s in students], max_score,
                                   title=f"how many students scored how many of the {fmt.points(max_score)} points",
                                   width=980),
        "check_tables": check_tables(pass_rates(students), len(rubrics) > 1),
        "attention": [r for r in rows if r["flag"] or r["notes"]],
        "unreadable": unreadable,
        "gradebook": (reports_dir / FILENAME).is_file() and FILENAME,
    }


def render_summary(reports_dir: Path) -> Path:
    """Write reports/index.html from every reports/students/*/results.json."""
    reports_dir = Path(reports_dir)
    return render("summary.html.j2", reports_dir / "index.html", page=summary_view(reports_dir))
