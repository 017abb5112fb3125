"""The grading session that the plugin and engine.grade share, an outcome's JSON round trip,
and the progress line's place in the terminal."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

import report_fixtures as fx
from grader import engine, spec
from grader.plugin import progress
from grader.outcome import Outcome
from grader.record import Recorded
from grader.session import Grading

ROOT = Path(__file__).resolve().parents[1]


def test_an_outcome_survives_its_json_round_trip():
    check = fx.check("backward.matches_reference")
    outcome = Outcome(check, 12.5, "partial", "dW1 is off", {"example": {"X": [[1.0]]}, "stage": "backward()"},
                      "Hint: the factor 2", "printed\n", 1.25, 0.5)
    assert Outcome.from_json(check, outcome.to_json()) == outcome


@pytest.fixture
def no_code(tmp_path) -> Path:
    folder = tmp_path / "submissions" / "dana"
    folder.mkdir(parents=True)
    return folder


CODE_CHECKS = ["structure.imports", "structure.api"]


def test_a_missing_code_file_is_named_once_with_the_path_pytest_shows(no_code):
    with Grading(no_code, node_path="submissions/dana") as grading:
        first, second = (grading.run(check_id) for check_id in CODE_CHECKS)
    assert grading.assignment is spec.assignment(spec.DEFAULT)
    assert first.message == "submissions/dana/mlp.py is missing: every check that runs the code fails"
    assert second.message == "submissions/dana/mlp.py is missing (see submissions/dana::structure.imports)"
    assert grading.worker is None  # released


def test_engine_grade_is_the_session_without_node_ids(no_code):
    result = engine.grade(no_code, only=CODE_CHECKS)
    assert [o.check.id for o in result.outcomes] == CODE_CHECKS
    assert not any("submissions/dana" in o.message for o in result.outcomes)
    assert result.assignment == spec.DEFAULT and "mlp.py is missing: every check that runs code fails" in result.notes


def test_the_progress_line_starts_a_line_after_xdists_progress_letters(request, monkeypatch):
    out = io.StringIO()
    reporter = TerminalReporter(request.config, out)
    monkeypatch.setattr(request.config.pluginmanager, "has_plugin", lambda name: name == "dsession")
    reporter.write("..F.")  # as xdist's controller writes its letters: pytest does not know the line holds them
    result = fx.full_marks()
    progress.student_graded(reporter, Recorded(result, ran=24, kept=0, previous_started=None))
    assert out.getvalue().splitlines()[-2:] == ["..F.", f"graded ada: 100 points in {result.execution_time:.1f} s"]


class SlowToEnd:
    """A worker whose release takes a while (ending a student's processes, emptying /tmp)."""

    launcher = None

    def close(self) -> None:
        time.sleep(0.3)


def test_a_submissions_time_counts_its_release(no_code):
    grading = Grading(no_code)
    grading.worker = SlowToEnd()
    grading.release()
    assert grading.seconds >= 0.3
    assert grading.seconds == grading.seconds  # fixed once released


@pytest.mark.slow
@pytest.mark.parametrize("xdist_workers", [None, "2"], ids=["serial", "as-an-xdist-worker"])
def test_execution_time_is_every_second_the_student_took(tmp_path, xdist_workers):
    """results.json's execution_time is the student's wall time, from its first check (here
    also loading the checks and torch, in a fresh pytest process) to its release after the
    last: more than its checks' own times. In an xdist worker too, where the plugin sets
    torch's threads (importing torch) for the first check: that import was outside the
    clock."""
    shutil.copytree(ROOT / "submissions" / "example-correct", tmp_path / "submissions" / "ann")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    if xdist_workers:
        env["PYTEST_XDIST_WORKER_COUNT"] = xdist_workers
    subprocess.run([sys.executable, "-m", "pytest", "submissions", "-q", "-p", "no:cacheprovider",
                    "-k", "structure or forward"], cwd=tmp_path, capture_output=True, timeout=600, env=env)
    results = json.loads((tmp_path / "reports" / "students" / "ann" / "results.json").read_text())
    checks = sum(t["extra_data"]["seconds"] for t in results["tests"] if t["extra_data"]["status"] != "not_run")
    assert results["execution_time"] > checks + 0.5


LOADER_PROBE = '''
import sys, pytest
class Probe:
    def pytest_collection_finish(self, session):
        import grader.checks, grader.session
        print("loaders:", *(type(sys.modules[m].__loader__).__name__ for m in ("grader.session", "grader.checks")))
sys.exit(pytest.main(["--co", "-q", "-p", "no:cacheprovider", sys.argv[1]], plugins=[Probe()]))
'''


def installed_like_a_wheel(folder: Path) -> None:
    """A distribution with a pytest plugin that lists grader's files, as a non-editable
    install of mlp-grader does (an editable one lists its finder only)."""
    info = folder / "wheel_like-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wheel-like\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nwheel_like = json\n")
    (info / "RECORD").write_text("grader/__init__.py,,\ngrader/session.py,,\n")


def test_pytest_does_not_rewrite_the_graders_modules(tmp_path):
    """pytest would parse and rewrite every module of a plugin's distribution on every run,
    for asserts grader does not have: 0.4 s of each self-check."""
    installed_like_a_wheel(tmp_path)
    (tmp_path / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
    out = subprocess.run([sys.executable, "-c", LOADER_PROBE, str(tmp_path / "test_nothing.py")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300).stdout
    assert "loaders: SourceFileLoader SourceFileLoader" in out, out


def test_a_worker_that_cannot_launch_early_leaves_the_reason_to_the_first_check(monkeypatch):
    """Collection launches the worker ahead of the checks; where no sandbox can start (one
    required by MLP_GRADER_SANDBOX=bwrap, say) that must not abort the run: the first check's
    call tries again and says why."""
    from grader.worker import client

    def no_sandbox():
        raise RuntimeError("MLP_GRADER_SANDBOX=bwrap, but bubblewrap cannot run here")

    monkeypatch.setattr(client, "default_launcher", no_sandbox)
    client.launch_early()  # no exception
