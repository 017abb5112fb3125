"""A submission's graded result and its Gradescope-format ``results.json``.

Gradescope's format (score, max_score, execution_time, tests[] with name, score, max_score,
status, output, visibility, tags) is the one results file; the HTML report and the class
summary are made from it, so a regrade of one student only rewrites that student's file.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grader
from grader import spec
from grader.outcome import Outcome

# A check that did not run ("skipped": compared with the reference at grading time, in the
# student kit; "not_run": left out of a partial run) is neither passed nor failed, so it gets
# no status at all.
GRADESCOPE_STATUS = {"passed": "passed", "partial": "failed", "failed": "failed", "error": "failed"}
NOT_RUN = "not_run"
# Gradescope shows "hidden" tests to students never, "after_published" once the grades are
# published: a hidden check of the rubric is kept from students until then.
GRADESCOPE_VISIBILITY = {"visible": "visible", "hidden": "after_published"}
# reports/students/<name>/: the students' folders apart from the class files (index.html,
# grades.csv) that reports/ holds, so a student folder named like one cannot collide.
STUDENTS_DIR = "students"
# The assignment of a results.json that names none: those were written before the grader
# knew several assignments, and graded the default one.
UNNAMED_ASSIGNMENT = spec.DEFAULT


@dataclass
class SubmissionResult:
    name: str
    outcomes: list[Outcome]
    execution_time: float = 0.0
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assignment: str = field(kw_only=True)  # the name of the assignment graded
    node_path: str = ""  # how pytest names the folder, e.g. submissions/alice: <node_path>::<check>

    @property
    def rubric(self) -> spec.Rubric:
        return spec.assignment(self.assignment).rubric

    @property
    def score(self) -> float:
        return round(sum(o.score for o in self.outcomes), 2)

    @property
    def pending(self) -> list[Outcome]:
        """Checks that run only at grading time (in the student kit): not part of this score."""
        return [o for o in self.outcomes if o.status == "skipped"]

    @property
    def not_run(self) -> list[str]:
        return [o.check.id for o in self.outcomes if o.status == NOT_RUN]

    @property
    def complete(self) -> bool:
        """Every check of the rubric ran (in this run or, merged, in an earlier one)."""
        return not self.not_run

    @property
    def max_score(self) -> float:
        return round(self.rubric.total - sum(o.check.points for o in self.pending), 2)

    def category_scores(self) -> dict[str, dict[str, float]]:
        scores = {cat: {"score": 0.0, "max_score": pts} for cat, pts in self.rubric.category_points().items()}
        for outcome in self.outcomes:
            entry = scores[outcome.check.category]
            entry["score"] = round(entry["score"] + outcome.score, 2)
            if outcome.status == "skipped":
                entry["max_score"] = round(entry["max_score"] - outcome.check.points, 2)
        return scores

    def node_id(self, check_id: str) -> str:
        """The id pytest shows for a check and accepts to re-run it."""
        return f"{self.node_path}::{check_id}" if self.node_path else check_id

    def to_gradescope(self) -> dict[str, Any]:
        tests = []
        for o in self.outcomes:
            text = o.message
            if o.hint:
                text += f"\nHint: {o.hint}"
            if o.output:
                text += "\n--- your code printed ---\n" + o.output
            test = {
                "name": f"{o.check.id}: {o.check.title}",
                "score": o.score,
                "max_score": o.check.points,
                "status": GRADESCOPE_STATUS.get(o.status),
                "output": text or "passed",
                "visibility": GRADESCOPE_VISIBILITY.get(o.check.visibility, o.check.visibility),
                "tags": [o.check.category],
                "extra_data": {**o.to_json(), "node_id": self.node_id(o.check.id)},
            }
            if test["status"] is None:
                del test["status"]
            tests.append(test)
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 2),
            "output": "\n".join(self.notes),
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
            "extra_data": {
                "student": self.name,
                "categories": self.category_scores(),
                "grader_version": grader.__version__,
                "assignment": self.assignment,
                "started": self.started,
                "notes": self.notes,
                "node_path": self.node_path,
                "complete": self.complete,
                "not_run": self.not_run,
                "pending_points": round(sum(o.check.points for o in self.pending), 2),
            },
        }


def student_folder(reports_dir: Path, name: str) -> Path:
    return Path(reports_dir) / STUDENTS_DIR / name


def write(result: SubmissionResult, reports_dir: Path) -> Path:
    folder = student_folder(reports_dir, result.name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.json"
    path.write_text(json.dumps(_finite(result.to_gradescope()), indent=2, allow_nan=False, default=str))
    return path


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: a student's NaN is written as the string "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
