"""Grade one submission without pytest: the same checks, in rubric order.

The pytest plugin is the main way in; this is what the harness's own tests and the
benchmark call, and what `grader` commands reuse.
"""

from __future__ import annotations

import time
from pathlib import Path

from grader import oracle, spec
from grader.checks import Context, run_check
from grader.results import SubmissionResult
from grader.sandbox import Launcher, default_launcher
from grader.submission import Submission
from grader.worker.client import Worker


def check_ids() -> list[str]:
    return [c.id for c in spec.rubric().checks]


def submission_notes(submission: Submission, launcher: Launcher | None = None) -> list[str]:
    name, problem = submission.assignment()
    with spec.using(name):
        return _notes(submission, problem, launcher)


def _notes(submission: Submission, problem: str | None, launcher: Launcher | None) -> list[str]:
    notes = [problem] if problem else []
    if not submission.code.is_file():
        notes.append(f"{submission.code.name} is missing: every check that runs code fails")
    notes += submission.conversion()
    foreign = submission.foreign_files()
    if foreign:
        notes.append("ignored (never loaded by the grader): " + ", ".join(foreign))
    if not oracle.available():
        hidden = [c for c in spec.rubric().checks if c.visibility == "hidden"]
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
        with spec.using(ctx.assignment):
            ids = only or check_ids()
        for check_id in ids:
            outcomes.append(run_check(check_id, ctx))
    notes = submission_notes(submission, worker.launcher)
    return SubmissionResult(submission.name, outcomes, time.perf_counter() - started, notes, assignment=ctx.assignment)
