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

from grader import guard, spec
from grader.outcome import Outcome
from grader.submission import Submission, is_submission_dir

# grader.checks (torch, scipy.stats, Hypothesis), grader.worker and grader.report are
# imported when a check runs or results are written: this plugin is loaded by every pytest
# process of the environment (the harness's own tests, --collect-only, the xdist
# controller), and importing them costs about 5 s of CPU each time.

OUTCOME_KEY = "mlp_grader_outcome"
SUBMISSION_KEY = "mlp_grader_submission"
EXPECTED_KEY = "mlp_grader_checks_selected"
NODE_KEY = "mlp_grader_node_path"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlp-grader", "grading two-layer MLP submissions")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where results.json and the HTML reports go (default: <rootdir>/reports)")
    group.addoption("--shard", default=None, metavar="I/N", type=parse_shard,
                    help="grade only shard I of N (1-based); a student's shard depends on the name only")


def without_group(nodeid: str) -> str:
    """submissions/alice::init.seeded@alice (pytest-xdist's loadgroup names a check so) as
    submissions/alice::init.seeded, the id the reports show and pytest accepts."""
    base, _, check = nodeid.partition("::")
    name, at, group = check.rpartition("@")
    return f"{base}::{name}" if at and check and group == Path(base).name else nodeid


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


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    _select_checks(config, items)
    _select_shard(config, items)
    yield
    _recognise_failures_by_their_shown_id(config, items)


def _recognise_failures_by_their_shown_id(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker the items' ids end in "@<student>" by now, and --lf (whose filter
    runs after this) knows the failures by the ids the controller reported, without it."""
    lastfailed = getattr(config.pluginmanager.get_plugin("lfplugin"), "lastfailed", None)
    if not lastfailed:
        return
    for item in items:
        shown = without_group(item.nodeid)
        if shown != item.nodeid and shown in lastfailed:
            lastfailed[item.nodeid] = lastfailed[shown]


CHECK_SELECTIONS = pytest.StashKey[dict[Path, set[str]]]()


def _take_check_selections(config: pytest.Config) -> None:
    """`pytest submissions/alice::backward.matches_reference`, the id every report shows:
    pytest refuses `::` after a directory, so the plugin takes the check names off the
    arguments and keeps only those checks of that student (see _select_checks)."""
    selections: dict[Path, set[str]] = {}
    whole: set[Path] = set()
    args: list[str] = []
    for arg in config.args:
        base, _, checks = arg.partition("::")
        path = (config.invocation_params.dir / base).resolve()
        if not is_submission_dir(path):
            args.append(arg)
            continue
        if checks:
            # pytest-xdist's --dist loadgroup shows ids with "@<group>" appended: accept them too
            selections.setdefault(path, set()).add(checks.split("@")[0])
        else:
            whole.add(path)
        if base not in args:
            args.append(base)
    config.args[:] = args
    config.stash[CHECK_SELECTIONS] = {p: ids for p, ids in selections.items() if p not in whole}


def _select_checks(config: pytest.Config, items: list[pytest.Item]) -> None:
    selections = config.stash.get(CHECK_SELECTIONS, {})
    if not selections:
        return
    keep, drop = [], []
    for item in items:
        wanted = selections.get(item.path.resolve()) if isinstance(item, CheckItem) else None
        (drop if wanted is not None and item.check_id not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


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
    root_name = spec.root_name()
    return path.exists() and (path.name == root_name or root_name in path.parent.parts)


def pytest_configure(config: pytest.Config) -> None:
    refused = guard.refusal(config.args)
    if refused:
        raise pytest.UsageError(refused)
    inipath = config.inipath
    if inipath is not None and any(is_submission_dir(p) for p in inipath.parents):
        raise pytest.UsageError(
            f"{inipath} inside a submission would configure this pytest run; take the submission in with "
            f"`grader intake` (docs/INTAKE.md), which leaves configuration files behind")
    _take_check_selections(config)
    if getattr(config, "workerinput", {}).get("mlp_grader_loadgroup"):
        config.option.loadgroup = True  # read by xdist's worker when it names the items
    config.pluginmanager.register(GradingSession(config), "mlp-grader-session")
    config.addinivalue_line("markers", "xdist_group(name): keep a submission's checks on one xdist worker")


def pytest_collect_directory(path: Path, parent: pytest.Collector):
    if is_submission_dir(path):
        refused = guard.refusal([path])  # reached from a folder above submissions/
        if refused:
            pytest.exit(refused, returncode=pytest.ExitCode.USAGE_ERROR)
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
        session: GradingSession = self.config.pluginmanager.get_plugin("mlp-grader-session")
        import grader.known_diagnoses  # noqa: F401 - registers the diagnoses (none in the student kit)
        from grader.checks import run_check

        outcome = run_check(self.check_id, session.context(self.path))
        session.explain(outcome, self.path, self.check_node_id)
        self.user_properties.append((SUBMISSION_KEY, str(self.path)))
        self.user_properties.append((NODE_KEY, self.parent.nodeid))
        self.user_properties.append((OUTCOME_KEY, json.dumps(outcome.to_json(), default=str)))
        if outcome.status == "skipped":
            from grader.terminal import printable
            pytest.skip(printable(outcome.message))
        if outcome.lost_points:
            raise CheckFailure(outcome)

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


class GradingSession:
    """Per-process state: one worker per submission, and the outcomes gathered for results.
    The process that writes results (serial pytest, or the xdist controller) writes each
    student's results the moment all of its selected checks are in, so a run that crashes
    or hangs later loses no finished student."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.contexts: dict[Path, "Context"] = {}
        self.outcomes: dict[Path, list[dict]] = {}
        self.node_paths: dict[Path, str] = {}
        self.recorded: dict[Path, "Recorded"] = {}
        self.code_problems: dict[Path, tuple[str | None, list[str]]] = {}  # cause, failures it caused

    def context(self, path: Path) -> "Context":
        from grader.context import Context
        from grader.worker.client import Worker

        if path not in self.contexts:
            share_cores()
            self.close_all()  # one worker at a time per process: memory stays flat for a class
            self.contexts[path] = Context(Submission(path), Worker(path))
        return self.contexts[path]

    def explain(self, outcome: Outcome, path: Path, node_id: str) -> None:
        """A missing or uncompilable mlp.py is named once, with the path the TA typed."""
        from grader import causes

        if path not in self.code_problems:
            submission, node_path = Submission(path), node_id.split("::")[0]
            shown_as = f"{node_path}/{submission.code.name}"
            self.code_problems[path] = (causes.code_problem(submission, shown_as), [])
        problem, caused = self.code_problems[path]
        if problem and causes.caused_by_code(outcome):
            causes.explain(outcome, problem, caused[0] if caused else None)
            caused.append(node_id)

    def close_all(self) -> None:
        for ctx in self.contexts.values():
            ctx.worker.close()
        self.contexts.clear()

    @property
    def writes_results(self) -> bool:
        return not hasattr(self.config, "workerinput")  # an xdist worker: the controller writes

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.writes_results:  # an xdist worker checks the ids it reports against its items
            report.nodeid = without_group(report.nodeid)
        props = dict(report.user_properties)
        if report.when == "call" and OUTCOME_KEY in props:
            path = Path(props[SUBMISSION_KEY])
            self.node_paths[path] = props.get(NODE_KEY, "")
            self.outcomes.setdefault(path, []).append(json.loads(props[OUTCOME_KEY]))
            expected = props.get(EXPECTED_KEY) or len(Submission(path).assignment()[0].rubric.checks)
            if len(self.outcomes[path]) == int(expected):
                self._finish(path)

    def _finish(self, path: Path) -> None:
        """Write one student's results (merged into the previous ones after a partial run)."""
        if not self.writes_results or path in self.recorded:
            return
        from grader.engine import submission_notes
        from grader.record import record
        from grader.report import write_reports

        submission = Submission(path)
        recorded = record(submission, self.outcomes[path], submission_notes(submission), self.reports_dir(),
                          self.node_paths.get(path, ""))
        write_reports(recorded.result, self.reports_dir())
        self.recorded[path] = recorded
        self._progress(recorded)

    def _progress(self, recorded: "Recorded") -> None:
        """One line per student as soon as all of its checks are in: progress for a class,
        and what a partial run did with the student's grade."""
        from grader.terminal import printable

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        result = recorded.result
        crashed = sum(o.status == "error" for o in result.outcomes)
        extra = f", {crashed} check(s) crashed or timed out" if crashed else ""
        if getattr(reporter._tw, "width_of_current_line", 0):
            reporter.write("\n")  # xdist's progress letters do not move ensure_newline's state
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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.close_all()
        if not self.writes_results:
            return
        for path in sorted(set(self.outcomes) - set(self.recorded)):
            self._finish(path)  # stopped early (-x, an interruption): record what ran
        if self.recorded:
            from grader.report import write_class_reports
            # The summary reads every results.json on disk: regrading one student updates it
            # without regrading the others.
            write_class_reports(self.reports_dir())
        elif exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            self._explain_nothing_graded()

    def _explain_nothing_graded(self) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        root_name = spec.root_name()
        for arg in self.config.args:
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
            if reporter is not None:
                reporter.write_line(f"nothing graded: {why}", red=True)

    def reports_dir(self) -> Path:
        option = self.config.getoption("--reports-dir")
        return Path(option) if option else self.config.rootpath / "reports"

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The score table is the last thing on screen: after pytest's FAILED lines."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if not self.recorded or reporter is None:
            return
        from grader.terminal import score_table

        reporter.write_sep("=", "mlp-grader scores")
        for line in score_table([r.result for r in self.recorded.values()]):
            reporter.write_line(line)
        reports = self.reports_dir()
        reporter.write_line(f"reports: {reports / 'students'}; class summary: {reports / 'index.html'}")
        from grader.sandbox import isolation_note
        note = isolation_note()
        if note:  # what student code could do here, where the TA sees it (every results.json says it too)
            reporter.write_line(f"reduced isolation: {note}", yellow=True, bold=True)
