"""Grade one submission without pytest: the same checks, through the same grading session
(grader/session.py) as the plugin.

The pytest plugin is the main way in; this is what the harness's own tests and the
benchmark call.
"""

from __future__ import annotations

from pathlib import Path

from grader import spec
from grader.results import SubmissionResult
from grader.worker.sandbox import Launcher
from grader.session import Grading


def check_ids(assignment: str) -> list[str]:
    """The assignment's checks in rubric order."""
    return [c.id for c in spec.assignment(assignment).rubric.checks]


def grade(path: Path, only: list[str] | None = None, launcher: Launcher | None = None) -> SubmissionResult:
    """Run `only` (in that order) or every check of the submission's rubric."""
    with Grading(Path(path), launcher) as grading:
        return grading.grade(only)
