"""The pytest plugin: collection ids, no student file ever loaded by pytest, results written."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import spec

pytestmark = pytest.mark.slow  # real gradings through pytest subprocesses
RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

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
    """A course folder: pytest.ini at the top, two students under submissions/; bob's
    __init__.py marks being imported (a conftest.py or test module would be refused:
    tests/test_hostile_intake.py)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("alice", "bob"):
        folder = tmp_path / "submissions" / name
        folder.mkdir(parents=True)
        shutil.copy(CORRECT, folder / "mlp.py")
    (tmp_path / "submissions" / "bob" / "__init__.py").write_text(CHEATING_CONFTEST)
    (tmp_path / "submissions" / "bob" / "helpers.py").write_text("def test_mine():\n    assert False\n")
    return tmp_path


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_ids_name_the_student_and_the_check_and_student_files_are_not_collected(course):
    result = run_pytest(course, "submissions", "--collect-only", "-q")
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    expected = [f"submissions/{name}::{c.id}" for name in ("alice", "bob") for c in RUBRIC.checks]
    assert ids == expected
    assert not (course / "submissions" / "bob" / "CONFTEST_WAS_LOADED").exists()


def test_one_submission_is_graded_into_gradescope_results_without_importing_its_files(course):
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
    assert any("__init__.py" in note for note in results["extra_data"]["notes"])
    assert (course / "reports" / "students" / "bob" / "index.html").is_file()
    assert re.search(r"^bob +mlp-regression +10\* +10 +0 ", result.stdout, re.M)  # * not every check ran


def test_a_pytest_ini_inside_a_submission_cannot_configure_the_run(course):
    (course / "submissions" / "alice" / "pytest.ini").write_text("[pytest]\naddopts = --co\n")
    result = run_pytest(course, "submissions/alice")
    assert result.returncode == 4
    assert (f"{course}/submissions/alice/pytest.ini: a pytest configuration file: pytest reads it before any plugin "
            f"and it can switch the grader off") in result.stderr


STUB = '''import torch


class TwoLayerMLP:
    def forward(self, X):
        return X
'''
# A clear-screen, an OSC 52 clipboard write ("hi"), a C1 control and a carriage return.
CONTROLS = "\x1b[2J\x1b]52;c;aGk=\x07\x9b31m\rboom"
LOUD = f'''import torch


class TwoLayerMLP:
    def __init__(self, *args, **kwargs):
        print({CONTROLS!r})
        raise RuntimeError({CONTROLS!r})
'''


def student(course: Path, name: str, code: str) -> Path:
    folder = course / "submissions" / name
    folder.mkdir(parents=True)
    (folder / "mlp.py").write_text(code)
    return folder


def test_control_sequences_a_submission_prints_reach_the_terminal_as_text(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    student(tmp_path, "eve", LOUD)
    result = run_pytest(tmp_path, "submissions/", "-k", "structure.constructor_dims")
    assert "RuntimeError" in result.stdout and "Your code printed" in result.stdout
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stdout)
    assert "\\x1b[2J\\x1b]52;c;aGk=\\x07\\x9b31m\\x0dboom" in result.stdout


def test_student_folders_named_like_class_files_do_not_collide_with_them(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("grades.csv", "index.html", "students"):
        student(tmp_path, name, STUB)
    result = run_pytest(tmp_path, "submissions/", "-k", "no_autograd.source")
    assert "INTERNALERROR" not in result.stdout + result.stderr
    reports = tmp_path / "reports"
    assert (reports / "grades.csv").is_file() and (reports / "index.html").is_file()
    for name in ("grades.csv", "index.html", "students"):
        assert json.loads((reports / "students" / name / "results.json").read_text())["score"] == 4
        assert f'href="students/{name}/index.html"' in (reports / "index.html").read_text()


def test_a_student_is_written_when_its_checks_are_done_not_when_the_run_ends(tmp_path):
    """alice is graded, then zed's code hangs the run: alice's results are on disk already."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    student(tmp_path, "alice", STUB)
    student(tmp_path, "zed", STUB.replace("import torch", "import time, torch\ntime.sleep(600)"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MLP_GRADER_CALL_TIMEOUT"] = "5"  # zed's 22 code checks: about 2 minutes
    alice = tmp_path / "reports" / "students" / "alice" / "results.json"
    with subprocess.Popen([sys.executable, "-m", "pytest", "submissions/", "-p", "no:cacheprovider"],
                          cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True) as run:
        try:
            deadline = time.monotonic() + 120
            while not alice.is_file() and run.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert run.poll() is None, "the run ended before alice's results were written"
            time.sleep(1)  # written whole, not being written
        finally:
            os.killpg(run.pid, signal.SIGKILL)
    results = json.loads(alice.read_text())
    assert results["score"] == 6 and results["extra_data"]["complete"] is True
    assert not (tmp_path / "reports" / "students" / "zed").exists()


def test_a_missing_or_uncompilable_mlp_py_is_named_once_with_the_typed_path(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "submissions" / "nofile").mkdir(parents=True)
    student(tmp_path, "syn", "import torch\n\nclass TwoLayerMLP:\n    def forward(self, X)\n        return X\n")
    result = run_pytest(tmp_path, "submissions/", "-k", "structure.imports or structure.api or source")
    failures = re.findall(r"^0/\d points: (.*)$", result.stdout, re.M)
    assert failures == [
        "submissions/nofile/mlp.py is missing: every check that runs the code fails",
        "submissions/nofile/mlp.py is missing (see submissions/nofile::structure.imports)",
        "submissions/nofile/mlp.py is missing (see submissions/nofile::structure.imports)",
        "SyntaxError at line 4 of submissions/syn/mlp.py: expected ':': every check that runs the code fails",
        "SyntaxError at line 4 of submissions/syn/mlp.py: expected ':' (see submissions/syn::structure.imports)",
        "SyntaxError at line 4 of submissions/syn/mlp.py: expected ':' (see submissions/syn::structure.imports)"]
    failures_section = result.stdout.split("FAILURES")[1].split("mlp-grader scores")[0]
    assert "must only define things" not in failures_section and str(tmp_path) not in failures_section
    assert "/submissions/syn-" not in result.stdout  # the sandbox's copy


def test_nothing_graded_says_why(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "submissions").mkdir()
    (tmp_path / "homework" / "bob").mkdir(parents=True)
    (tmp_path / "homework" / "bob" / "mlp.py").write_text(STUB)
    empty = run_pytest(tmp_path, "submissions/")
    assert empty.returncode == 5
    assert ("nothing graded: submissions/ holds no student folder (one folder per student, e.g. "
            "submissions/alice/mlp.py)") in empty.stdout
    stray = run_pytest(tmp_path, "homework/bob")
    assert stray.returncode == 5
    assert ("nothing graded: homework/bob is not inside a folder named submissions/: the grader grades the "
            "folders directly inside submissions/ (e.g. submissions/alice)") in stray.stdout
