"""A run that does not run every check of a student never overwrites that student's grade:
pytest's selection habits (-k, --deselect, -x, --lf, a check's own id) merge what ran into
the previous results, and without previous results the gradebook leaves the student out.

The student is a stub that fails fast (no worker computation worth the name): a full
grading of it costs one pytest start-up and a few seconds."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import spec

pytestmark = pytest.mark.slow  # real gradings through pytest subprocesses
RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

STUB = '''"""A stub: the source scan passes, everything that runs the network fails."""
import torch


class TwoLayerMLP:
    def forward(self, X):
        return X
'''
CHEAP = "no_autograd.source"
ALL = [c.id for c in RUBRIC.checks]


def run_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def make_course(root: Path, *names: str) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n")
    for name in names:
        (root / "submissions" / name).mkdir(parents=True)
        (root / "submissions" / name / "mlp.py").write_text(STUB)
    return root


def results_of(course: Path, name: str = "alice") -> dict:
    return json.loads((course / "reports" / "students" / name / "results.json").read_text())


def statuses(results: dict) -> dict[str, tuple[str, float]]:
    return {t["extra_data"]["id"]: (t["extra_data"]["status"], t["score"]) for t in results["tests"]}


def gradebook(course: Path) -> dict[str, dict]:
    with open(course / "reports" / "grades.csv", newline="") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """alice graded in full once (with pytest's cache, for --lf): 6 points, 2 checks passed."""
    course = make_course(tmp_path_factory.mktemp("graded"), "alice")
    run_pytest(course, "submissions/")
    return course


@pytest.fixture
def course(graded, tmp_path) -> Path:
    shutil.copytree(graded, tmp_path / "course")
    return tmp_path / "course"


def test_the_full_run_is_the_baseline(graded):
    results = results_of(graded)
    assert results["score"] == 6 and results["extra_data"]["complete"] is True
    passed = sorted(k for k, (status, _) in statuses(results).items() if status == "passed")
    assert passed == ["no_autograd.source", "structure.imports"]
    assert gradebook(graded)["alice"]["total"] == "6"


@pytest.mark.parametrize("selection, ran", [
    (["-k", CHEAP], 1),
    (["--deselect", "submissions/alice::checkpoint.test_mse"], len(ALL) - 1),
    (["-x"], 2),  # structure.imports passes, structure.api fails and stops the run
    (["--lf"], len(ALL) - 2),
    (["--lf", "-n", "2"], len(ALL) - 2),  # pytest-xdist's workers know the failures by the same ids
    ([], 1),  # the check's own id, as every report spells it: submissions/alice::no_autograd.source
], ids=["-k", "--deselect", "-x", "--lf", "--lf-xdist", "node-id"])
def test_a_partial_run_merges_into_the_previous_results(graded, course, selection, ran):
    args = selection or [f"submissions/alice::{CHEAP}"]
    result = run_pytest(course, *(["submissions/"] if selection else []), *args)
    before, after = results_of(graded), results_of(course)
    assert after["score"] == 6 == before["score"]
    assert statuses(after) == statuses(before)
    assert after["extra_data"]["complete"] is True
    assert gradebook(course)["alice"]["total"] == "6"
    assert (f"partial run: {ran} of {len(ALL)} checks of alice ran; the other {len(ALL) - ran} were kept "
            f"from the results of {before['extra_data']['started']}: 6 points") in result.stdout
    if not selection:
        assert result.returncode == 0, result.stdout  # the one check it named ran, and passed


def test_a_partial_run_without_previous_results_stays_out_of_the_gradebook(tmp_path):
    course = make_course(tmp_path, "alice")
    result = run_pytest(course, "submissions/", "-k", CHEAP)
    results = results_of(course)
    assert statuses(results) == {k: ("passed", 4.0) if k == CHEAP else ("not_run", 0.0) for k in ALL}
    assert all("status" not in t for t in results["tests"] if t["extra_data"]["id"] != CHEAP)
    assert results["extra_data"]["complete"] is False
    assert results["extra_data"]["not_run"] == [k for k in ALL if k != CHEAP]
    assert gradebook(course) == {}
    assert ("partial run: 1 of 24 checks of alice ran and there are no earlier results; alice stays out of "
            "grades.csv until every check has run") in result.stdout


def test_failures_name_the_id_that_reruns_them(course):
    result = run_pytest(course, "submissions/", "-k", "structure.api", "-v")
    assert "submissions/alice::structure.api FAILED" in result.stdout
    assert "_ submissions/alice::structure.api (structure) _" in result.stdout
    assert "FAILED submissions/alice::structure.api - 0/2 points: " in result.stdout
    # the score table is the last thing on screen, after pytest's FAILED lines and its final line
    assert result.stdout.index("mlp-grader scores") > result.stdout.index("1 failed, 23 deselected")
    test = next(t for t in results_of(course)["tests"] if t["extra_data"]["id"] == "structure.api")
    assert test["extra_data"]["node_id"] == "submissions/alice::structure.api"
    html = (course / "reports" / "students" / "alice" / "index.html").read_text()
    assert '<span class="muted mono small">submissions/alice::structure.api</span>' in html


def test_two_partial_runs_without_a_full_one_are_still_incomplete(tmp_path):
    course = make_course(tmp_path, "alice")
    run_pytest(course, "submissions/", "-k", CHEAP)
    result = run_pytest(course, "submissions/alice::structure.imports")
    results = results_of(course)
    assert statuses(results) == {k: ("passed", 4.0 if k == CHEAP else 2.0) if k in (CHEAP, "structure.imports")
                                 else ("not_run", 0.0) for k in ALL}
    assert results["extra_data"]["complete"] is False and gradebook(course) == {}
    assert "partial run: 1 of 24 checks of alice ran; the other 1 were kept" in result.stdout
    assert "; 22 have never run: alice stays out of grades.csv until every check has run" in result.stdout
    assert "incomplete: 22 of 24 checks have not run" in results["output"]
