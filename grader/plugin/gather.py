"""The state of one grading pytest process, kept under `STATE` in the config's stash (as
pytest's junitxml keeps its own): the submission graded here, and, in the process that writes
results (serial pytest, or the xdist controller), the outcomes gathered from the reports.

A check's item carries its outcome in `user_properties` (`carry`), so the process that
writes results sees every check, also under pytest-xdist; that process writes each student's
results the moment all of the student's selected checks are in (`take`), so a run that
crashes or hangs later loses no finished student.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from grader.plugin import progress
from grader.outcome import Outcome
from grader.plugin.selection import without_group
from grader.submission import Submission

if TYPE_CHECKING:
    from grader.record import Recorded
    from grader.session import Grading

OUTCOME_KEY = "mlp_grader_outcome"
SUBMISSION_KEY = "mlp_grader_submission"
EXPECTED_KEY = "mlp_grader_checks_selected"
NODE_KEY = "mlp_grader_node_path"
SECONDS_KEY = "mlp_grader_submission_seconds"


def carry(item: pytest.Item, node_path: str, outcome: Outcome, seconds: float | None = None) -> None:
    """Put the check's outcome on its item, for its report; on the student's last check, also
    the seconds the whole student took (`Grading.seconds`)."""
    item.user_properties.append((SUBMISSION_KEY, str(item.path)))
    item.user_properties.append((NODE_KEY, node_path))
    item.user_properties.append((OUTCOME_KEY, json.dumps(outcome.to_json(), default=str)))
    if seconds is not None:
        item.user_properties.append((SECONDS_KEY, seconds))


def selected_of_its_submission(item: pytest.Item) -> int | None:
    """How many checks of the item's submission the run selected (see `carry_counts`)."""
    return dict(item.user_properties).get(EXPECTED_KEY)


def carry_counts(items: list[pytest.Item]) -> None:
    """Put on each check's item how many checks of its submission the run selected (after -k,
    -m and --shard): the process that writes results knows from it when a student is complete."""
    counts: dict[Path, int] = {}
    for item in items:
        counts[item.path] = counts.get(item.path, 0) + 1
    for item in items:
        item.user_properties.append((EXPECTED_KEY, counts[item.path]))


@dataclass
class Carried:
    path: Path
    node_path: str
    outcome: dict
    expected: int  # the checks of the student this run selected (carry_counts)
    seconds: float | None = None  # on the student's last check: the whole student's time


def carried(report: pytest.TestReport) -> Carried | None:
    """What a check's report carries (None for any other report)."""
    props = dict(report.user_properties)
    if report.when != "call" or OUTCOME_KEY not in props:
        return None
    return Carried(Path(props[SUBMISSION_KEY]), props[NODE_KEY], json.loads(props[OUTCOME_KEY]),
                   int(props[EXPECTED_KEY]), props.get(SECONDS_KEY))


class RunState:
    """One pytest process's grading state; a plugin too, for the one hook that gets no config."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.gradings: dict[Path, Grading] = {}
        self.outcomes: dict[Path, list[dict]] = {}
        self.node_paths: dict[Path, str] = {}
        self.recorded: dict[Path, Recorded] = {}
        self.seconds: dict[Path, float] = {}

    @property
    def writes_results(self) -> bool:
        return not hasattr(self.config, "workerinput")  # an xdist worker: the controller writes

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport):
        """Before pytest and its plugins see the report, its id loses xdist's "@<student>";
        after they have (its progress letter is on screen), the outcome it carries is gathered
        and a student whose checks are all in is written and announced."""
        if self.writes_results:  # an xdist worker checks the ids it reports against its items
            report.nodeid = without_group(report.nodeid)
        result = yield
        found = carried(report)
        recorded = self.take(found) if found is not None else None
        reporter = progress.reporter_of(self.config)
        if recorded is not None and reporter is not None:
            progress.student_graded(reporter, recorded)
        return result

    def grading(self, path: Path, node_path: str, planned: Callable[[], list[str]] | None = None) -> Grading:
        """The submission's grading session; one worker at a time per process (memory stays
        flat for a class): the previous submission's is released first. Its clock starts
        here, before the first student's grading loads its modules (torch among them).
        `planned()` names the checks of the submission this run selected."""
        opened = time.perf_counter()
        from grader.session import Grading

        grading = self.gradings.get(path)
        if grading is None or grading.worker is None:
            self.release_all()
        if grading is None:
            grading = self.gradings[path] = Grading(path, node_path=node_path, opened=opened,
                                                    planned=planned() if planned is not None else None)
        return grading

    def release_all(self) -> None:
        for grading in self.gradings.values():
            grading.release()

    def take(self, carried: Carried) -> Recorded | None:
        """Gather one check's outcome; the student's record once all of its checks are in."""
        path = carried.path
        self.node_paths[path] = carried.node_path
        self.outcomes.setdefault(path, []).append(carried.outcome)
        if carried.seconds is not None:
            self.seconds[path] = float(carried.seconds)
        return self.finish(path) if len(self.outcomes[path]) == carried.expected else None

    def finish(self, path: Path) -> Recorded | None:
        """Write one student's results (merged into the previous ones after a partial run)."""
        if not self.writes_results or path in self.recorded:
            return None
        from grader.record import record
        from grader.report import write_reports
        from grader.session import notes

        submission = Submission(path)
        assignment, _ = submission.assignment()
        recorded = record(submission, self.outcomes[path], notes(submission, assignment), self.reports_dir(),
                          self.node_paths.get(path, ""), self.seconds.get(path))
        write_reports(recorded.result, self.reports_dir())
        self.recorded[path] = recorded
        return recorded

    def unfinished(self) -> list[Path]:
        """Students some of whose checks ran but not all (-x, an interruption)."""
        return sorted(set(self.outcomes) - set(self.recorded))

    def reports_dir(self) -> Path:
        option = self.config.getoption("--reports-dir")
        return Path(option) if option else self.config.rootpath / "reports"


STATE = pytest.StashKey[RunState]()
