"""The pytest plugin: `pytest submissions/<name>` grades one submission, `pytest submissions/`
the class.

Collection turns each submission folder into one item per rubric check (node ids
``submissions/<name>::<check>``), without ever importing or collecting the student's files
and without loading any conftest.py. Items carry their outcome in `user_properties`, so the
process that writes results (the only one, also under pytest-xdist) sees every check.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import pytest

from grader import spec
from grader.outcome import Outcome
from grader.results import SubmissionResult
from grader.submission import Submission, is_submission_dir

# grader.checks (torch, scipy.stats, Hypothesis), grader.worker and grader.report are
# imported when a check runs or results are written: this plugin is loaded by every pytest
# process of the environment (the harness's own tests, --collect-only, the xdist
# controller), and importing them costs about 5 s of CPU each time.

OUTCOME_KEY = "mlp_grader_outcome"
SUBMISSION_KEY = "mlp_grader_submission"
EXPECTED_KEY = "mlp_grader_checks_selected"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlp-grader", "grading two-layer MLP submissions")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where results.json and the HTML reports go (default: <rootdir>/reports)")
    group.addoption("--shard", default=None, metavar="I/N", type=parse_shard,
                    help="grade only shard I of N (1-based); a student's shard depends on the name only")


def parse_shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise pytest.UsageError(f"--shard takes I/N such as 2/4, not {text!r}") from None
    if not 1 <= index <= count:
        raise pytest.UsageError(f"--shard {text}: I must be between 1 and N")
    return index, count


def shard_of(student: str, count: int) -> int:
    """Stable across machines and runs (unlike hash()): 1-based shard of a student."""
    return int(hashlib.sha256(student.encode("utf-8")).hexdigest(), 16) % count + 1


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config):
    """Under pytest-xdist, keep each submission's checks on one worker (one worker process
    per submission instead of one per check) unless the user chose a --dist mode."""
    if getattr(config.option, "numprocesses", None) and getattr(config.option, "dist", "no") == "no":
        config.option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """xdist workers re-parse the command line, so they never see the loadgroup chosen
    above: without it they add no group to the node ids and the controller spreads a
    submission's checks over every worker (one worker process per xdist worker, not one)."""
    node.workerinput["mlp_grader_loadgroup"] = node.config.getvalue("dist") == "loadgroup"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_shard(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Count each submission's selected checks (after -k, -m and --shard), so that the
    process that reports progress knows when a student is complete; under xdist each item
    carries the count to the controller."""
    counts: dict[Path, int] = {}
    for item in session.items:
        if isinstance(item, CheckItem):
            counts[item.path] = counts.get(item.path, 0) + 1
    for item in session.items:
        if isinstance(item, CheckItem):
            item.user_properties.append((EXPECTED_KEY, counts[item.path]))


def _select_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = config.getoption("--shard")
    if not shard:
        return
    index, count = shard
    keep, drop = [], []
    for item in items:
        student = item.path.name if isinstance(item, CheckItem) else None
        (drop if student is not None and shard_of(student, count) != index else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args: list[str]) -> None:
    """When grading, load no conftest.py at all: one inside a submission could rewrite outcomes."""
    if any(_grading_path(arg) for arg in args):
        early_config.known_args_namespace.noconftest = True


def _grading_path(arg: str) -> bool:
    if arg.startswith("-"):
        return False
    path = Path(arg.split("::")[0]).resolve()
    root_name = spec.contract().submission["root_name"]
    return path.exists() and (path.name == root_name or root_name in path.parent.parts)


def pytest_configure(config: pytest.Config) -> None:
    inipath = config.inipath
    if inipath is not None and any(is_submission_dir(p) for p in inipath.parents):
        raise pytest.UsageError(
            f"{inipath} inside a submission would configure this pytest run; grade it with "
            f"`grader grade {inipath.parent}`, which ignores configuration files in submissions")
    if getattr(config, "workerinput", {}).get("mlp_grader_loadgroup"):
        config.option.loadgroup = True  # read by xdist's worker when it names the items
    config.pluginmanager.register(GradingSession(config), "mlp-grader-session")
    config.addinivalue_line("markers", "xdist_group(name): keep a submission's checks on one xdist worker")


def pytest_collect_directory(path: Path, parent: pytest.Collector):
    if is_submission_dir(path):
        return SubmissionFolder.from_parent(parent, path=path)
    return None


class SubmissionFolder(pytest.Directory):
    """A student's folder: its children are the checks of the rubric of the assignment it
    answers (its assignment.toml; the default one when it has none), never its files."""

    @property
    def ihook(self):
        # The default looks up hooks by path, which would import a conftest.py in the folder.
        return self.config.hook

    def collect(self):
        name, _ = Submission(self.path).assignment()  # an unknown name: every check fails with why
        for check_spec in spec.assignment(name).rubric.checks:
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
        session: GradingSession = self.config.pluginmanager.get_plugin("mlp-grader-session")
        from grader.checks import run_check

        outcome = run_check(self.check_id, session.context(self.path))
        self.user_properties.append((SUBMISSION_KEY, str(self.path)))
        self.user_properties.append((OUTCOME_KEY, json.dumps(outcome.to_json(), default=str)))
        if outcome.status == "skipped":
            pytest.skip(outcome.message)
        if outcome.lost_points:
            raise CheckFailure(outcome)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CheckFailure):
            return format_failure(excinfo.value.outcome)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.check_id}"


def format_failure(outcome: Outcome) -> str:
    lines = [f"{outcome.check.id} ({outcome.check.category}): {outcome.score:g}/{outcome.check.points:g} points",
             outcome.message]
    if outcome.hint:
        lines.append(f"Hint: {outcome.hint}")
    example = outcome.details.get("example")
    if example is not None:
        lines.append("Smallest failing example: " + json.dumps(example, default=str)[:1500])
    if outcome.output:
        lines.append("Your code printed:\n" + outcome.output[:2000])
    return "\n".join(lines)


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


class GradingSession:
    """Per-process state: one worker per submission, and the outcomes gathered for results."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.contexts: dict[Path, "Context"] = {}
        self.outcomes: dict[Path, list[dict]] = {}
        self.written: list[SubmissionResult] = []

    def context(self, path: Path) -> "Context":
        from grader.checks import Context
        from grader.worker.client import Worker

        if path not in self.contexts:
            share_cores()
            self.close_all()  # one worker at a time per process: memory stays flat for a class
            self.contexts[path] = Context(Submission(path), Worker(path))
        return self.contexts[path]

    def close_all(self) -> None:
        for ctx in self.contexts.values():
            ctx.worker.close()
        self.contexts.clear()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        if report.when == "call" and OUTCOME_KEY in props:
            path = Path(props[SUBMISSION_KEY])
            self.outcomes.setdefault(path, []).append(json.loads(props[OUTCOME_KEY]))
            if len(self.outcomes[path]) == int(props.get(EXPECTED_KEY, len(spec.rubric().checks))):
                self._progress(path)

    def _progress(self, path: Path) -> None:
        """One line per student as soon as all of its checks are in: progress for a class."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or hasattr(self.config, "workerinput"):
            return
        outcomes = self.outcomes[path]
        score = sum(o["score"] for o in outcomes)
        crashed = sum(o["status"] == "error" for o in outcomes)
        seconds = sum(o["seconds"] for o in outcomes)
        extra = f", {crashed} check(s) crashed or timed out" if crashed else ""
        if getattr(reporter._tw, "width_of_current_line", 0):
            reporter.write("\n")  # xdist's progress letters do not move ensure_newline's state
        reporter.write_line(f"graded {path.name}: {score:g} points in {seconds:.1f} s{extra}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.close_all()
        if hasattr(self.config, "workerinput") or not self.outcomes:
            return  # an xdist worker: the controller writes the results
        reports_dir = self.reports_dir()
        from grader.engine import submission_notes
        from grader.report import write_class_reports, write_reports
        for path, outcomes in sorted(self.outcomes.items()):
            result = result_from_json(Submission(path), outcomes, submission_notes(Submission(path)))
            write_reports(result, reports_dir)
            self.written.append(result)
        # The summary reads every results.json on disk: regrading one student updates it
        # without regrading the others.
        write_class_reports(reports_dir)

    def reports_dir(self) -> Path:
        option = self.config.getoption("--reports-dir")
        return Path(option) if option else self.config.rootpath / "reports"

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.written:
            return
        tr = terminalreporter
        categories = list(spec.rubric().category_points())
        tr.write_sep("=", "mlp-grader scores")
        header = f"{'student':24s} {'score':>7s}  " + " ".join(f"{c[:10]:>10s}" for c in categories)
        tr.write_line(header)
        for result in self.written:
            cats = result.category_scores()
            tr.write_line(f"{result.name[:24]:24s} {result.score:7.2f}  " +
                          " ".join(f"{cats[c]['score']:>10g}" for c in categories))
        tr.write_line(f"reports: {self.reports_dir()}; class summary: {self.reports_dir() / 'index.html'}")
        from grader.sandbox import isolation_note
        note = isolation_note()
        if note:  # what student code could do here, where the TA sees it (every results.json says it too)
            tr.write_line(f"reduced isolation: {note}", yellow=True, bold=True)


def result_from_json(submission: Submission, outcomes: list[dict], notes: list[str]) -> SubmissionResult:
    """Rebuild outcomes in rubric order; checks that did not run this time are listed as such."""
    by_id = {o["id"]: o for o in outcomes}
    rebuilt = []
    assignment, _ = submission.assignment()
    rubric = spec.assignment(assignment).rubric
    for check_spec in rubric.checks:
        o = by_id.get(check_spec.id)
        if o is None:
            rebuilt.append(Outcome(check_spec, 0.0, "skipped", "not run in this session (deselected)"))
            continue
        rebuilt.append(Outcome(check_spec, float(o["score"]), o["status"], o["message"], o["details"],
                               o.get("hint"), o.get("output", ""), float(o["seconds"]), float(o["student_seconds"])))
    if len(by_id) < len(rubric.checks):
        notes = [*notes, "partial run: only some checks ran, the others count 0 here"]
    return SubmissionResult(submission.name, rebuilt, sum(o.seconds for o in rebuilt), notes, assignment=assignment)
