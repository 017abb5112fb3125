"""The pytest plugin: collection ids, no student file ever loaded by pytest, results written."""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import spec

ROOT = Path(__file__).parents[1]
CORRECT = ROOT / "submissions" / "example-correct" / "mlp.py"

CHEATING_CONFTEST = '''
import pathlib, pytest
pathlib.Path(__file__).with_name("CONFTEST_WAS_LOADED").write_text("yes")
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
'''


@pytest.fixture
def course(tmp_path):
    """A course folder: pytest.ini at the top, two students under submissions/."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("alice", "bob"):
        folder = tmp_path / "submissions" / name
        folder.mkdir(parents=True)
        shutil.copy(CORRECT, folder / "mlp.py")
    (tmp_path / "submissions" / "bob" / "conftest.py").write_text(CHEATING_CONFTEST)
    (tmp_path / "submissions" / "bob" / "test_mine.py").write_text("def test_mine():\n    assert False\n")
    return tmp_path


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_ids_name_the_student_and_the_check_and_student_files_are_not_collected(course):
    result = run_pytest(course, "submissions", "--collect-only", "-q")
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    expected = [f"submissions/{name}::{c.id}" for name in ("alice", "bob") for c in spec.rubric().checks]
    assert ids == expected
    assert not (course / "submissions" / "bob" / "CONFTEST_WAS_LOADED").exists()


def test_one_submission_is_graded_into_gradescope_results_without_its_conftest(course):
    result = run_pytest(course, "submissions/bob", "-k", "structure")
    assert not (course / "submissions" / "bob" / "CONFTEST_WAS_LOADED").exists()
    results = json.loads((course / "reports" / "students" / "bob" / "results.json").read_text())
    ran = [t for t in results["tests"] if t["extra_data"]["status"] != "not_run"]
    assert [t["tags"] for t in ran] == [["structure"]] * 5
    assert all(t["status"] == "passed" for t in ran)
    assert results["score"] == 10 and results["max_score"] == 100
    assert results["extra_data"]["complete"] is False  # -k: the other checks have not run
    assert set(results) >= {"score", "max_score", "execution_time", "tests"}
    assert all({"name", "score", "max_score", "output", "visibility", "tags"} <= set(t) for t in results["tests"])
    assert all(("status" in t) == (t in ran) for t in results["tests"])  # a check that did not run has none
    assert any("conftest.py" in note for note in results["extra_data"]["notes"])
    assert (course / "reports" / "students" / "bob" / "index.html").is_file()
    assert re.search(r"^bob +mlp-regression +10\* +10 +0 ", result.stdout, re.M)  # * not every check ran


def test_a_pytest_ini_inside_a_submission_cannot_configure_the_run(course):
    (course / "submissions" / "alice" / "pytest.ini").write_text("[pytest]\naddopts = --co\n")
    result = run_pytest(course, "submissions/alice")
    assert result.returncode == 4
    assert "inside a submission would configure this pytest run" in result.stderr
