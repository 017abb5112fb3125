"""What a grading run collects: a submission folder (`SubmissionFolder`) whose children are
the checks of its assignment's rubric (`CheckItem`, node id ``submissions/<name>::<check>``),
never its files."""

from __future__ import annotations

import functools
import os

import pytest

from grader.plugin import gather
from grader.outcome import Outcome
from grader.submission import Submission


class SubmissionFolder(pytest.Directory):
    """A student's folder: its children are the checks of the rubric of the assignment it
    answers (its assignment.toml, or the class's course file; the default one when neither
    names one), never its files."""

    @property
    def ihook(self):
        # The default looks up hooks by path, which would import a conftest.py in the folder.
        return self.config.hook

    def collect(self):
        assignment, _ = Submission(self.path).assignment()  # an unknown name: every check fails with why
        for check_spec in assignment.rubric.checks:
            item = CheckItem.from_parent(self, name=check_spec.id, check_id=check_spec.id)
            item.add_marker(pytest.mark.xdist_group(self.path.name))
            yield item


class CheckFailure(Exception):
    def __init__(self, outcome: Outcome):
        super().__init__(outcome.message)
        self.outcome = outcome


class CheckItem(pytest.Item):
    def __init__(self, *, check_id: str, **kwargs):
        super().__init__(**kwargs)
        self.check_id = check_id

    @property
    def ihook(self):
        return self.config.hook

    def runtest(self) -> None:
        # The student's clock starts first: under xdist, share_cores imports torch, which
        # is the first student's module loading.
        grading = self.config.stash[gather.STATE].grading(self.path, self.parent.nodeid, self.planned)
        share_cores()
        outcome = grading.run(self.check_id)
        seconds = None
        if len(grading.outcomes) == gather.selected_of_its_submission(self):
            grading.release()  # the student's last check: its release counts in its time
            seconds = grading.seconds
        gather.carry(self, self.parent.nodeid, outcome, seconds)
        if outcome.status == "skipped":
            from grader.terminal import printable
            pytest.skip(printable(outcome.message))
        if outcome.lost_points:
            raise CheckFailure(outcome)

    def planned(self) -> list[str]:
        """The checks of this item's submission that the run selected (after -k, -m, --shard)."""
        return [item.check_id for item in self.session.items if isinstance(item, CheckItem) and item.path == self.path]

    def repr_failure(self, excinfo, style=None):
        from grader.terminal import format_failure, printable

        if isinstance(excinfo.value, CheckFailure):
            return format_failure(excinfo.value.outcome)
        return printable(super().repr_failure(excinfo, style))

    @property
    def check_node_id(self) -> str:
        """submissions/alice::backward.latest_cache: the node id without the "@alice" that
        pytest-xdist's loadgroup appends."""
        return f"{self.parent.nodeid}::{self.check_id}"

    def reportinfo(self):
        # The failure's headline shows the node id, the one spelling pytest accepts to re-run
        # a check. It must not end the node id: -v would print that ending with its dots
        # turned into "::" (submissions/alice::backward::latest_cache).
        return self.path, None, f"{self.check_node_id} ({self.check_id.split('.')[0]})"


@functools.cache
def share_cores() -> None:
    """Once per process: in an xdist worker of `-n N`, let the grader's own torch work (the reference in
    float64, the checkpoint's test set) use its share of the cores, not all of them: N
    workers each running as many threads as there are cores made every check wait for a
    core (a class of 100 with -n 2 on 2 cores: grader side 48 s with 2 threads each, 32 s
    with one)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
