"""The grading session that the plugin and engine.grade share, an outcome's JSON round trip,
and the progress line's place in the terminal."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

import report_fixtures as fx
from grader import engine, spec
from grader.plugin import progress
from grader.outcome import Outcome
from grader.record import Recorded
from grader.session import Grading


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
