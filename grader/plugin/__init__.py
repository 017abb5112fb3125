"""The pytest plugin: `pytest submissions/<name>` grades one submission, `pytest submissions/`
the class. Hooks only; what they do lives in:

- grader/plugin/items.py: a submission folder becomes one item per rubric check (node ids
  ``submissions/<name>::<check>``), without ever importing or collecting the student's files;
- grader/plugin/selection.py: the checks a run selects (ids after a folder, --shard, xdist's ids);
- grader/session.py: grading a submission (its worker, the checks, their outcomes);
- grader/plugin/gather.py: the process's state (under a StashKey on the config) and the outcomes
  the reports carry to the process that writes results (the only one, also under pytest-xdist);
- grader/plugin/progress.py: what the TA's terminal shows besides pytest's lines.

No conftest.py is loaded when grading.
"""

from __future__ import annotations

import pytest

from grader import guard
from grader.plugin import gather, progress, selection
from grader.plugin.items import CheckItem, SubmissionFolder
from grader.submission import is_submission_dir

# grader.checks (torch, scipy.stats, Hypothesis), grader.worker and grader.report are
# imported when a check runs or results are written: this plugin is loaded by every pytest
# process of the environment (the harness's own tests, --collect-only, the xdist
# controller), and importing them costs about 5 s of CPU each time.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlp-grader", "grading two-layer MLP submissions")
    group.addoption("--reports-dir", default=None, metavar="DIR",
                    help="where results.json and the HTML reports go (default: <rootdir>/reports)")
    group.addoption("--shard", default=None, metavar="I/N", type=selection.parse_shard,
                    help="grade only shard I of N (1-based); a student's shard depends on the name only")


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


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser, args: list[str]) -> None:
    """When grading, load no conftest.py at all: one inside a submission could rewrite outcomes."""
    if any(selection.grading_path(arg) for arg in args):
        early_config.known_args_namespace.noconftest = True
    leave_grader_unrewritten(early_config)


def leave_grader_unrewritten(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every module of a plugin's distribution as it imports
    them: all of grader, which has no assert. That parsed and compiled some 70 modules on
    every run (0.4 s of a student's self-check; nothing is cached under
    PYTHONDONTWRITEBYTECODE). The modules imported from here on load as Python loads them."""
    marked = getattr(getattr(config.pluginmanager, "rewrite_hook", None), "_must_rewrite", None)
    if isinstance(marked, set):
        marked.discard("grader")


def pytest_configure(config: pytest.Config) -> None:
    refused = guard.refusal(config.args)
    if refused:
        raise pytest.UsageError(refused)
    inipath = config.inipath
    if inipath is not None and any(is_submission_dir(p) for p in inipath.parents):
        raise pytest.UsageError(
            f"{inipath} inside a submission would configure this pytest run; take the submission in with "
            f"`grader intake` (docs/INTAKE.md), which leaves configuration files behind")
    selection.take_check_selections(config)
    if getattr(config, "workerinput", {}).get("mlp_grader_loadgroup"):
        config.option.loadgroup = True  # read by xdist's worker when it names the items
    # pytest_runtest_logreport gets no config: as junitxml does, the state that needs one is a plugin too
    config.stash[gather.STATE] = gather.RunState(config)
    config.pluginmanager.register(config.stash[gather.STATE])
    config.addinivalue_line("markers", "xdist_group(name): keep a submission's checks on one xdist worker")


def pytest_collect_directory(path, parent: pytest.Collector):
    if is_submission_dir(path):
        refused = guard.refusal([path])  # reached from a folder above submissions/
        if refused:
            pytest.exit(refused, returncode=pytest.ExitCode.USAGE_ERROR)
        if not parent.config.option.collectonly:
            launch_worker_early()  # the first submission found: the rest of collection need not wait
        return SubmissionFolder.from_parent(parent, path=path)
    return None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]):
    selection.select_checks(config, items, CheckItem)
    selection.select_shard(config, items, CheckItem)
    yield
    selection.recognise_failures_by_their_shown_id(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    checks = [item for item in session.items if isinstance(item, CheckItem)]
    gather.carry_counts(checks)
    if checks and not session.config.option.collectonly:
        launch_worker_early()


def launch_worker_early() -> None:
    """Start this process's worker now (once): it imports torch on the other core while
    this process collects and loads its checks."""
    from grader.worker.client import launch_early  # not grader.session: it imports torch first
    launch_early()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[gather.STATE]
    state.release_all()
    if not state.writes_results:
        return
    reporter = progress.reporter_of(session.config)
    for path in state.unfinished():  # stopped early (-x, an interruption): record what ran
        recorded = state.finish(path)
        if recorded is not None and reporter is not None:
            progress.student_graded(reporter, recorded)
    if state.recorded:
        from grader.report import write_class_reports
        # The summary reads every results.json on disk: regrading one student updates it
        # without regrading the others.
        write_class_reports(state.reports_dir())
    elif exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and reporter is not None:
        progress.nothing_graded(reporter, session.config.args)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The score table is the last thing on screen: after pytest's FAILED lines."""
    state = config.stash.get(gather.STATE, None)
    if state is None:
        return
    config.pluginmanager.unregister(state)
    reporter = progress.reporter_of(config)
    if state.recorded and reporter is not None:
        progress.scores(reporter, list(state.recorded.values()), state.reports_dir())
