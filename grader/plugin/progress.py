"""What a grading pytest run writes in the TA's terminal besides pytest's own lines: one line
per student as soon as the student's checks are in, why nothing was graded, and the score
table at the very end. Written through the terminal reporter's public methods only."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from grader import spec
from grader.submission import is_submission_dir

if TYPE_CHECKING:
    from grader.record import Recorded


def _own_line(reporter) -> None:
    """write_line starts a new line only when pytest knows the current one holds something
    (`currentfspath`); under pytest-xdist its progress letters do not say so. Say it as pytest
    does after its own output on a line."""
    if reporter.config.pluginmanager.has_plugin("dsession") and not reporter.currentfspath:
        reporter.currentfspath = -2


def student_graded(reporter, recorded: Recorded) -> None:
    """Progress for a class, and what a partial run did with the student's grade."""
    from grader.terminal import printable

    result = recorded.result
    crashed = sum(o.status == "error" for o in result.outcomes)
    extra = f", {crashed} check(s) crashed or timed out" if crashed else ""
    _own_line(reporter)
    name = printable(result.name)
    reporter.write_line(f"graded {name}: {result.score:g} points in {result.execution_time:.1f} s{extra}")
    total = len(result.outcomes)
    out_of_gradebook = f"{name} stays out of grades.csv until every check has run"
    if recorded.kept:
        line = (f"partial run: {recorded.ran} of {total} checks of {name} ran; the other {recorded.kept} were "
                f"kept from the results of {recorded.previous_started}: {result.score:g} points")
        if not result.complete:
            line += f"; {len(result.not_run)} have never run: {out_of_gradebook}"
        reporter.write_line(line, yellow=True)
    elif not result.complete:
        reporter.write_line(f"partial run: {recorded.ran} of {total} checks of {name} ran and there are no "
                            f"earlier results; {out_of_gradebook}", yellow=True)


def nothing_graded(reporter, args: list[str]) -> None:
    """Why a run that collected nothing graded nobody, for each argument that says why."""
    root_name = spec.root_name()
    for arg in args:
        path = Path(arg.split("::")[0])
        if not path.exists():
            continue
        path = path.resolve()
        if path.name == root_name and not any(is_submission_dir(p) for p in path.iterdir()):
            why = f"{arg} holds no student folder (one folder per student, e.g. {arg.rstrip('/')}/alice/mlp.py)"
        elif is_submission_dir(path) or root_name in path.parent.parts:
            continue
        else:
            why = (f"{arg} is not inside a folder named {root_name}/: the grader grades the folders "
                   f"directly inside {root_name}/ (e.g. {root_name}/alice)")
        reporter.write_line(f"nothing graded: {why}", red=True)


def scores(reporter, recorded: list[Recorded], reports: Path) -> None:
    """The score table, the reports' places and, with reduced isolation, what that means."""
    from grader.worker.sandbox import isolation_note
    from grader.terminal import score_table

    reporter.write_sep("=", "mlp-grader scores")
    for line in score_table([r.result for r in recorded]):
        reporter.write_line(line)
    reporter.write_line(f"reports: {reports / 'students'}; class summary: {reports / 'index.html'}")
    note = isolation_note()
    if note:  # what student code could do here, where the TA sees it (every results.json says it too)
        reporter.write_line(f"reduced isolation: {note}", yellow=True, bold=True)


def reporter_of(config: pytest.Config):
    return config.pluginmanager.get_plugin("terminalreporter")
