"""One submission being graded: the one orchestration that `engine.grade` and the pytest
plugin share.

`Grading(path)` finds the assignment the submission answers once (`spec.assignment`), opens
the submission's worker and check `Context` when a check first runs, runs checks by id and
keeps their outcomes, and releases the worker (`release`, or leaving a `with` block). The
plugin runs one check per pytest item and releases a submission's worker before the next
submission's opens; `grade` runs the selected checks (the whole rubric, in rubric order, by
default) and returns the `SubmissionResult`.

Given `node_path` (how pytest names the folder, e.g. submissions/alice), a missing or
uncompilable code file is named once in the first failure it causes, with that path, and
the other failures point to it (grader/causes.py).
"""

from __future__ import annotations

import functools
import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader import causes, oracle, spec
from grader.outcome import Outcome
from grader.results import SubmissionResult
from grader.worker.sandbox import Launcher, default_launcher
from grader.submission import Submission

if TYPE_CHECKING:  # grader.checks and grader.worker import torch: loaded when a check runs
    from grader.context import Context
    from grader.worker.client import Worker


class Grading:
    def __init__(self, path: Path, launcher: Launcher | None = None, node_path: str | None = None,
                 opened: float | None = None, planned: list[str] | None = None):
        self.submission = Submission(Path(path))
        self.assignment, self.problem = self.submission.assignment()
        self.launcher = launcher
        self.node_path = node_path
        self.outcomes: list[Outcome] = []
        self.worker: Worker | None = None
        self._context: Context | None = None
        self._code_problem: tuple[str | None, list[str]] | None = None  # the cause, the failures it caused
        self.opened = time.perf_counter() if opened is None else opened  # perf_counter() when it began
        self.planned = planned  # the checks that will run (None: the whole rubric)
        self.closed: float | None = None  # when release() ended the worker

    def __enter__(self) -> Grading:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def context(self) -> Context:
        """The check context, with the submission's worker started on first use."""
        if self._context is None:
            from grader.context import Context
            from grader.worker.client import Worker

            self.worker = Worker(self.submission.path, self.launcher)
            self._context = Context(self.submission, self.worker)
            checks = self.planned if self.planned is not None else [c.id for c in self.assignment.rubric.checks]
            checks_loaded().prepare_checks(self._context, checks)
        return self._context

    def run(self, check_id: str) -> Outcome:
        outcome = checks_loaded().run_check(check_id, self.context)
        if self.node_path is not None:
            self._explain(outcome, f"{self.node_path}::{check_id}")
        self.outcomes.append(outcome)
        return outcome

    def _explain(self, outcome: Outcome, node_id: str) -> None:
        if self._code_problem is None:
            shown_as = f"{self.node_path}/{self.submission.code.name}"
            self._code_problem = (causes.code_problem(self.submission, shown_as), [])
        problem, caused = self._code_problem
        if problem and causes.caused_by_code(outcome):
            causes.explain(outcome, problem, caused[0] if caused else None)
            caused.append(node_id)

    def release(self) -> None:
        """Stop the worker (and everything the submission started); the next check starts another."""
        if self.worker is not None:
            self.worker.close()
            self.closed = time.perf_counter()
        self.worker, self._context = None, None

    @property
    def seconds(self) -> float:
        """Every second this submission took, from its grading's start to its release: the
        checks, the time between them, loading the checks and waiting for the worker if it
        came first, and ending its processes."""
        return (self.closed or time.perf_counter()) - self.opened

    def grade(self, only: list[str] | None = None) -> SubmissionResult:
        """Run `only` (in that order) or every check of the rubric, release, and the result."""
        try:
            self.planned = only or [c.id for c in self.assignment.rubric.checks]
            for check_id in self.planned:
                self.run(check_id)
        finally:
            launcher = self.worker.launcher if self.worker is not None else self.launcher
            self.release()
        return SubmissionResult(self.submission.name, list(self.outcomes), self.seconds,
                                notes(self.submission, self.assignment, launcher), assignment=self.assignment.name)


@functools.cache
def checks_loaded():
    """The checks (`run_check`, `prepare_checks`), imported on first use (torch and
    Hypothesis: seconds)."""
    import grader.checks
    import grader.known_diagnoses  # noqa: F401 - registers the diagnoses (none in the student kit)

    # What is loaded now stays for the process's life: the collector stops walking it (a
    # full collection took 0.1 s; pytest runs several at the end, Python one at exit).
    gc.freeze()
    return grader.checks


def notes(submission: Submission, assignment: spec.Assignment, launcher: Launcher | None = None) -> list[str]:
    """What the report says about the submission as a whole, beside its checks."""
    _, problem = submission.assignment()
    found = [problem] if problem else []
    if not submission.code.is_file():
        found.append(f"{submission.code.name} is missing: every check that runs code fails")
    found += submission.conversion()
    foreign = submission.foreign_files()
    if foreign:
        found.append("ignored (never loaded by the grader): " + ", ".join(foreign))
    if not oracle.available():
        hidden = [c for c in assignment.rubric.checks if c.visibility == "hidden"]
        found.append(f"{len(hidden)} hidden checks ({sum(c.points for c in hidden):g} points) run at grading time")
    launcher = launcher or default_launcher()
    if not launcher.isolated:
        found.append("reduced isolation: " + launcher.warning)
    return found
