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

GRADESCOPE_STATUS = {"passed": "passed", "partial": "failed", "failed": "failed", "error": "failed", "skipped": "passed"}


@dataclass
class SubmissionResult:
    name: str
    outcomes: list[Outcome]
    execution_time: float = 0.0
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    assignment: str = spec.DEFAULT

    @property
    def rubric(self) -> spec.Rubric:
        return spec.assignment(self.assignment).rubric

    @property
    def score(self) -> float:
        return round(sum(o.score for o in self.outcomes), 2)

    @property
    def max_score(self) -> float:
        return self.rubric.total

    def category_scores(self) -> dict[str, dict[str, float]]:
        scores = {cat: {"score": 0.0, "max_score": pts} for cat, pts in self.rubric.category_points().items()}
        for outcome in self.outcomes:
            scores[outcome.check.category]["score"] = round(scores[outcome.check.category]["score"] + outcome.score, 2)
        return scores

    def to_gradescope(self) -> dict[str, Any]:
        tests = []
        for o in self.outcomes:
            text = o.message
            if o.hint:
                text += f"\nHint: {o.hint}"
            if o.output:
                text += "\n--- your code printed ---\n" + o.output
            tests.append({
                "name": f"{o.check.id}: {o.check.title}",
                "score": o.score,
                "max_score": o.check.points,
                "status": GRADESCOPE_STATUS[o.status],
                "output": text or "passed",
                "visibility": o.check.visibility,
                "tags": [o.check.category],
                "extra_data": o.to_json(),
            })
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
            },
        }


def write(result: SubmissionResult, reports_dir: Path) -> Path:
    folder = reports_dir / result.name
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
