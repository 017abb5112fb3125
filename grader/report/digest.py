"""The grades a run gave, as one short digest: two runs that gave every student the same
results.json, times and dates aside, have the same digest, however long each took.

    python -m grader.report.digest reports/      # prints the digest and the number of students

A faster way of grading must leave it unchanged: bench/ prints it after every run, and
tests/test_digest.py compares a class graded by pytest-xdist with the same class graded
serially.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from grader.results import STUDENTS_DIR

# How long a run took and when, not what it gave: left out.
VOLATILE = frozenset({"execution_time", "seconds", "student_seconds", "started", "date"})


def graded_facts(value):
    """A results.json (or any part of it) without what legitimately changes between two
    runs of the same grading: times and dates."""
    if isinstance(value, dict):
        return {k: graded_facts(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [graded_facts(v) for v in value]
    return value


def digest_of(results: list[dict]) -> str:
    """One hash of every student's graded facts, in the order of their names."""
    facts = sorted((graded_facts(r) for r in results), key=lambda f: str(f.get("extra_data", {}).get("student")))
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_results(reports_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((Path(reports_dir) / STUDENTS_DIR).glob("*/results.json"))]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not (Path(argv[1]) / STUDENTS_DIR).is_dir():
        print(f"usage: python -m grader.report.digest REPORTS_DIR (a folder holding {STUDENTS_DIR}/*/results.json)",
              file=sys.stderr)
        return 2
    results = read_results(Path(argv[1]))
    print(f"{digest_of(results)}  ({len(results)} students)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
