"""Grades are facts, however fast they were made: the digest of a class's results.json files
(grader/report/digest.py) is the same for a class graded serially and under pytest-xdist,
and it changes with a grade, never with a time."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from classgen import make_class
from grader.report.digest import digest_of, graded_facts, read_results

ROOT = Path(__file__).resolve().parents[1]
# One correct and one buggy example of each bundled assignment, torch and numpy.
EXAMPLES = ["example-correct", "example-forgot-factor-2", "example-digits-correct", "example-digits-naive-softmax",
            "example-sin-correct", "example-sin-tanh-derivative", "example-cs231n-correct",
            "example-cs231n-reg-grad-factor", "example-npdigits-correct", "example-npdigits-decay-doubled"]


def results_json() -> dict:
    """A small results.json of two checks."""
    return {"score": 96.0, "max_score": 100.0, "execution_time": 3.2, "output": "",
            "tests": [{"name": "forward.matches_reference: forward", "score": 14.0, "max_score": 14.0,
                       "extra_data": {"id": "forward.matches_reference", "status": "passed", "seconds": 0.4,
                                      "student_seconds": 0.01, "message": ""}},
                      {"name": "backward.matches_reference: backward", "score": 10.0, "max_score": 14.0,
                       "extra_data": {"id": "backward.matches_reference", "status": "failed", "seconds": 0.2,
                                      "student_seconds": 0.02, "message": "grad_W1[0, 1] is 2.0, expected 1.0"}}],
            "extra_data": {"student": "alice", "started": "2026-11-30T01:00:00", "categories": {"forward": 14.0}}}


def test_times_and_dates_do_not_change_the_digest():
    first = results_json()
    second = copy.deepcopy(first)
    second["execution_time"] = 9.9
    second["extra_data"]["started"] = "2026-12-01T09:00:00"
    for test in second["tests"]:
        test["extra_data"]["seconds"] *= 7
        test["extra_data"]["student_seconds"] *= 3
    assert graded_facts(first) == graded_facts(second)
    assert digest_of([first]) == digest_of([second])


@pytest.mark.parametrize("change", ["score", "message", "status"])
def test_a_changed_grade_changes_the_digest(change):
    first = results_json()
    second = copy.deepcopy(first)
    check = second["tests"][1]
    if change == "score":
        check["score"] = 9.0
    elif change == "message":
        check["extra_data"]["message"] = "grad_W1[0, 1] is 3.0, expected 1.0"
    else:
        check["extra_data"]["status"] = "error"
    assert digest_of([first]) != digest_of([second])


def test_the_digest_does_not_depend_on_the_order_students_were_written():
    alice, bob = results_json(), results_json()
    bob["extra_data"]["student"] = "bob"
    bob["score"] = 50.0
    assert digest_of([alice, bob]) == digest_of([bob, alice])


def grade(course: Path, reports: str, *args: str) -> list[dict]:
    result = subprocess.run([sys.executable, "-m", "pytest", "submissions", "-p", "no:cacheprovider", "-q",
                             "--reports-dir", reports, *args], cwd=course, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    return read_results(course / reports)


@pytest.mark.slow
def test_a_class_graded_under_xdist_has_the_serial_digest(tmp_path):
    """Every bundled assignment's correct and buggy examples and six synthetic students, whole
    rubrics: the worker launched early, one worker process per pytest process, each student
    released after its last check, two processes at once; the grades are the serial run's."""
    make_class(tmp_path, 6, seed=3)
    for name in EXAMPLES:
        shutil.copytree(ROOT / "submissions" / name, tmp_path / "submissions" / name)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    serial = grade(tmp_path, "serial")
    parallel = grade(tmp_path, "xdist", "-n", "2")
    assert len(serial) == len(parallel) == 6 + len(EXAMPLES)
    assert {r["extra_data"]["student"]: r["score"] for r in serial} == \
        {r["extra_data"]["student"]: r["score"] for r in parallel}
    assert digest_of(serial) == digest_of(parallel)
