"""Grade one submission without pytest: the same checks, in rubric order.

The pytest plugin is the main way in; this is what the harness's own tests and the
benchmark call, and what `grader` commands reuse.
"""

from __future__ import annotations

import time
from pathlib import Path

from grader import oracle
import grader.known_diagnoses  # noqa: F401 - registers the diagnoses (none in the student kit)
from grader.checks import run_check
from grader.context import Context
from grader.results import SubmissionResult
from grader.sandbox import Launcher, default_launcher
from grader.submission import Submission
from grader.worker.client import Worker


def submission_notes(submission: Submission, launcher: Launcher | None = None) -> list[str]:
    assignment, problem = submission.assignment()
    notes = [problem] if problem else []
    if not submission.code.is_file():
        notes.append(f"{submission.code.name} is missing: every check that runs code fails")
    notes += submission.conversion()
    foreign = submission.foreign_files()
    if foreign:
        notes.append("ignored (never loaded by the grader): " + ", ".join(foreign))
    if not oracle.available():
        hidden = [c for c in assignment.rubric.checks if c.visibility == "hidden"]
        notes.append(f"{len(hidden)} hidden checks ({sum(c.points for c in hidden):g} points) run at grading time")
    launcher = launcher or default_launcher()
    if not launcher.isolated:
        notes.append("reduced isolation: " + launcher.warning)
    return notes


def grade(path: Path, only: list[str] | None = None, launcher: Launcher | None = None) -> SubmissionResult:
    submission = Submission(Path(path))
    started = time.perf_counter()
    outcomes = []
    with Worker(submission.path, launcher) as worker:
        ctx = Context(submission, worker)
        ids = only or [c.id for c in ctx.assignment.rubric.checks]
        for check_id in ids:
            outcomes.append(run_check(check_id, ctx))
    notes = submission_notes(submission, worker.launcher)
    return SubmissionResult(submission.name, outcomes, time.perf_counter() - started, notes,
                            assignment=ctx.assignment.name)
