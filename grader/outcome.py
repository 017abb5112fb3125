"""What a check concludes: `Failed` while it runs, an `Outcome` when it is done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grader.spec import CheckSpec


class Failed(Exception):
    """A check found a problem. `earned` carries partial credit; `crashed` marks that the
    student's code crashed, hung or exited rather than returning a wrong value. `clues`
    name the diagnoses that may explain it (grader/diagnoses.py), each with what it needs
    (None: it probes the submission itself); they are never reported."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 earned: float = 0.0, crashed: bool = False, hint: str | None = None,
                 clues: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})
        self.earned = earned
        self.crashed = crashed
        self.hint = hint
        self.clues = dict(clues or {})


@dataclass
class Outcome:
    check: CheckSpec
    score: float
    status: str  # passed | partial | failed | error | skipped
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None
    output: str = ""
    seconds: float = 0.0
    student_seconds: float = 0.0

    @property
    def lost_points(self) -> bool:
        return self.score < self.check.points - 1e-9

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "category": self.check.category,
            "title": self.check.title,
            "visibility": self.check.visibility,
            "score": self.score,
            "max_score": self.check.points,
            "status": self.status,
            "message": self.message,
            "hint": self.hint,
            "details": self.details,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "student_seconds": round(self.student_seconds, 3),
        }

    @classmethod
    def from_json(cls, check: CheckSpec, data: dict[str, Any]) -> Outcome:
        """The outcome `to_json` wrote (passed from an xdist worker, or kept in results.json's
        extra_data), scored against `check`, the rubric's spec of that id."""
        return cls(check, float(data["score"]), data["status"], data["message"], data.get("details") or {},
                   data.get("hint"), data.get("output", ""), float(data.get("seconds", 0.0)),
                   float(data.get("student_seconds", 0.0)))
