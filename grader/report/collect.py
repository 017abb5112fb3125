"""Read a class's results back from reports/students/*/results.json: the class summary and the
gradebook are made from these files alone, so regrading one student and rerunning the
summary is enough. A file that cannot be read is reported, never fatal: one broken
student must not hide the rest of the class."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.results import STUDENTS_DIR, UNNAMED_ASSIGNMENT


@dataclass(frozen=True)
class Student:
    folder: str
    results: dict[str, Any]

    @property
    def extra(self) -> dict[str, Any]:
        return self.results.get("extra_data") or {}

    @property
    def name(self) -> str:
        return str(self.extra.get("student") or self.folder)

    @property
    def score(self) -> float:
        return float(self.results["score"])

    @property
    def max_score(self) -> float:
        return float(self.results["max_score"])

    @property
    def tests(self) -> list[dict[str, Any]]:
        return self.results["tests"]

    def category_score(self, category: str, key: str = "score") -> float | None:
        """A category's score (or, with key="max_score", its maximum); None when not graded."""
        entry = (self.extra.get("categories") or {}).get(category)
        return float(entry[key]) if isinstance(entry, dict) and _is_number(entry.get(key)) else None

    @property
    def complete(self) -> bool:
        """False when some checks have not run yet (a partial run without earlier results)."""
        return self.extra.get("complete") is not False

    @property
    def notes(self) -> list[str]:
        notes = self.extra.get("notes") or []
        return [str(n) for n in notes] if isinstance(notes, list) else [str(notes)]

    @property
    def crashes(self) -> list[dict[str, Any]]:
        """Checks where the student's code crashed, hung or the grader failed (status "error")."""
        found = []
        for test in self.tests:
            extra = test.get("extra_data") or {}
            if extra.get("status") == "error":
                details = extra.get("details") if isinstance(extra.get("details"), dict) else {}
                found.append({"check": str(extra.get("id", test.get("name", "?"))),
                              "message": str(extra.get("message", "")),
                              "timed_out": details.get("status") == "timeout"})
        return found


def assignment_of(student: Student) -> str:
    """The assignment a student's results were graded as (the default for results written
    before results named it)."""
    return str(student.extra.get("assignment") or UNNAMED_ASSIGNMENT)


@dataclass(frozen=True)
class Unreadable:
    folder: str
    reason: str


def _validated(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for key in ("score", "max_score"):
        if not _is_number(data.get(key)):
            raise ValueError(f"{key!r} is missing or not a number")
    if not isinstance(data.get("tests"), list) or not all(isinstance(t, dict) for t in data["tests"]):
        raise ValueError("'tests' is missing or not a list of objects")
    for i, test in enumerate(data["tests"]):
        if not _is_number(test.get("score", 0)) or not isinstance(test.get("extra_data", {}), dict):
            raise ValueError(f"test {i} has a score that is not a number or extra_data that is not an object")
    categories = (data.get("extra_data") or {}).get("categories") or {}
    if not isinstance(categories, dict) or not all(
            isinstance(c, dict) and _is_number(c.get("score", 0)) for c in categories.values()):
        raise ValueError("extra_data.categories is not a mapping of category to {score, max_score}")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_class(reports_dir: Path) -> tuple[list[Student], list[Unreadable]]:
    """Every reports/students/<folder>/results.json, students sorted by name."""
    students, unreadable = [], []
    for path in sorted((Path(reports_dir) / STUDENTS_DIR).glob("*/results.json")):
        try:
            students.append(Student(path.parent.name, _validated(json.loads(path.read_text(encoding="utf-8")))))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            unreadable.append(Unreadable(path.parent.name, f"{type(exc).__name__}: {exc}"[:300]))
    students.sort(key=lambda s: (s.name.casefold(), s.name))
    return students, unreadable
