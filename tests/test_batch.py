"""Grading a whole class: regrades are reproducible, one student can be regraded alone,
shards merge into the same gradebook, pytest-xdist changes nothing, a crashing or hanging
student does not stop the batch, and `grader grade` exits with its documented codes.

Every grading is a real `python -m pytest submissions` (or `python -m grader grade`) in a
subprocess whose cwd is a course folder with its own pytest.ini, so reports go to
<course>/reports. To stay within a few minutes on a loaded 2-core machine: classes of three,
most runs grade only the cheap checks (CHEAP), MLP_GRADER_CALL_TIMEOUT makes a hang cost
CALL_TIMEOUT seconds instead of the real limit, and the independent gradings start together
at the beginning of the module (a pool of POOL at a time) while the tests wait for theirs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from classgen import EXAMPLE, make_class, mutate
from grader import spec
from grader.report.digest import graded_facts
from grader.worker.client import TIMEOUT_ENV

pytestmark = pytest.mark.slow  # a class graded through pytest subprocesses, serially, sharded and under xdist
RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

CHEAP = "structure or no_autograd"
# One correct student, one who loses a cheap check and one whose forward hangs
# (no_autograd.grad_disabled calls forward: it times out; the hang sleeps rather than spins,
# the timeout path is the same and the busy machine is spared). Their shards of 2: 1, 2, 1.
KINDS = ["correct", "hardcoded-dims", "sleeps-in-forward"]
# Students whose every check fails fast (the whole rubric in seconds): a syntax error, and
# sys.exit at import (a crash).
CRASHERS = ["syntax-error", "exits-on-import"]
# Long enough that an honest call never reaches it on a busy machine, short enough to be cheap.
CALL_TIMEOUT = 6
POOL = 4


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MLP_GRADER_CALL"))}
    env[TIMEOUT_ENV] = str(CALL_TIMEOUT)
    return env


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """`python ARGS` in cwd; the result carries a `log` to show when an assertion fails."""
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=clean_env(),
                            capture_output=True, text=True, timeout=900)
    result.log = f"$ {' '.join(args)}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-3000:]}"
    return result


def pytest_args(*args: str) -> list[str]:
    """pytest over a course's submissions (or those args name), the cheap checks unless -k says."""
    targets = [a for a in args if a.startswith("submissions")] or ["submissions"]
    options = [a for a in args if not a.startswith("submissions")]
    if "-k" not in options:
        options = ["-k", CHEAP, *options]
    return ["-m", "pytest", *targets, "-p", "no:cacheprovider", *options]


def grade(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run(cwd, *pytest_args(*args))


def results_of(reports: Path) -> dict[str, dict]:
    return {p.parent.name: graded_facts(json.loads(p.read_text())) for p in sorted(reports.glob("students/*/results.json"))}


def checks_of(results: dict) -> dict[str, tuple]:
    return {t["extra_data"]["id"]: (t["extra_data"]["status"], t["score"], t["extra_data"]["message"])
            for t in results["tests"]}


def gradebook(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def expected_shard(name: str, count: int) -> int:
    """The documented assignment, recomputed here: sha256 of the name, so it is the same on
    every machine and run, and a student's shard does not depend on who else is in the class."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % count + 1


def new_course(root: Path, kinds: list[str]) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")
    return make_class(root, len(kinds), seed=0, kinds=kinds, checkpoint=False)


def names(course: Path) -> list[str]:
    return sorted(p.name for p in (course / "submissions").iterdir())


def table_of(stdout: str) -> str:
    assert "mlp-grader scores" in stdout, stdout[-3000:]
    return stdout.split("mlp-grader scores", 1)[1]


# ------------------------------------------------------------------ the gradings, started at once

class Gradings:
    """Every independent grading of the module, each in its own course folder."""

    def __init__(self, root: Path, pool: ThreadPoolExecutor):
        self.root = root
        self.class_dirs = {}
        self.runs: dict[str, Future] = {}
        for label in ("baseline", "again", "xdist", "shards"):
            self.class_dirs[label] = root / label
            new_course(root / label, KINDS)
        self.class_dirs["crashers"] = root / "crashers"
        new_course(root / "crashers", CRASHERS)
        self.class_dirs["dashes"] = root / "dashes"
        new_course(root / "dashes", ["correct", "correct"])
        (root / "empty" / "submissions").mkdir(parents=True)

        submit = lambda label, cwd, args: self.runs.__setitem__(label, pool.submit(run, cwd, *args))  # noqa: E731
        submit("baseline", root / "baseline", pytest_args())
        submit("again", root / "again", pytest_args())
        submit("xdist", root / "xdist", pytest_args("-n", "2", "-v"))
        for index in (1, 2):
            submit(f"shard-{index}", root / "shards", pytest_args("--shard", f"{index}/2", "--reports-dir", f"shard-{index}"))
        # The whole rubric through the grader command, under xdist: exit code, progress lines.
        submit("crashers", root / "crashers", ["-m", "grader", "grade", "submissions", "-n", "2"])
        submit("empty", root / "empty", ["-m", "grader", "grade", "submissions"])
        submit("dashes", root / "dashes", ["-m", "grader", "grade", "submissions", "--", "--shard", "1/2",
                                           "--collect-only"])

    def result(self, label: str) -> subprocess.CompletedProcess:
        return self.runs[label].result()

    def course(self, label: str) -> Path:
        return self.class_dirs[label]


@pytest.fixture(scope="module")
def gradings(tmp_path_factory):
    with ThreadPoolExecutor(max_workers=POOL) as pool:
        started = Gradings(tmp_path_factory.mktemp("batch"), pool)
        yield started
        for future in started.runs.values():
            future.cancel()


@pytest.fixture(scope="module")
def baseline(gradings) -> Path:
    """The class graded once, serially, on the cheap checks: its reports are the reference
    the other runs are compared with."""
    result = gradings.result("baseline")
    course = gradings.course("baseline")
    assert result.returncode == 1, result.log  # some checks fail: pytest's 1
    assert len(list((course / "reports").glob("students/*/results.json"))) == len(KINDS), result.log
    return course


# ------------------------------------------------------------------ the baseline itself

def test_the_baseline_graded_each_kind_as_expected(baseline):
    results = {name: checks_of(r) for name, r in results_of(baseline / "reports").items()}
    correct, hardcoded, hangs = (results[n] for n in names(baseline))
    assert {c for c, v in correct.items() if v[0] == "passed"} == {
        c.id for c in RUBRIC.checks if c.category in ("structure", "no_autograd")}
    not_run = {c for c, (status, score, _) in correct.items() if (status, score) == ("not_run", 0)}
    assert not_run == {c.id for c in RUBRIC.checks if c.category not in ("structure", "no_autograd")}
    assert hardcoded["structure.constructor_dims"][0] == "failed"
    assert hangs["no_autograd.grad_disabled"][0] == "error"
    assert f"did not finish within {CALL_TIMEOUT:g} s" in hangs["no_autograd.grad_disabled"][2]


# ------------------------------------------------------------------ regrading

def test_grading_twice_gives_the_same_results(gradings, baseline):
    result, again = gradings.result("again"), gradings.course("again")
    assert result.returncode == 1, result.log
    first, second = results_of(baseline / "reports"), results_of(again / "reports")
    assert list(first) == names(baseline)
    assert first == second
    assert (baseline / "reports" / "grades.csv").read_text() == (again / "reports" / "grades.csv").read_text()


def test_a_class_graded_on_some_checks_only_stays_out_of_the_gradebook(baseline):
    assert gradebook(baseline / "reports" / "grades.csv") == []  # -k: no student has a grade yet
    assert all(r["extra_data"]["complete"] is False for r in results_of(baseline / "reports").values())


def test_regrading_one_student_updates_the_summary_without_regrading_the_others(baseline, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(baseline, work)
    reports = work / "reports"
    target, others = "student-000", [n for n in names(work) if n != "student-000"]

    def state(name: str):
        path = reports / "students" / name / "results.json"
        return path.stat().st_mtime_ns, path.read_bytes()

    def score(name: str) -> float:
        return json.loads((reports / "students" / name / "results.json").read_text())["score"]

    before = {n: state(n) for n in others}
    summary_before = (reports / "index.html").stat().st_mtime_ns
    score_before = score(target)
    assert score_before > 0

    # The student resubmits code that no longer imports, and only they are regraded.
    (work / "submissions" / target / "mlp.py").write_text(mutate((EXAMPLE / "mlp.py").read_text(), "syntax-error"))
    result = grade(work, f"submissions/{target}")
    assert result.returncode == 1, result.log

    assert {n: state(n) for n in others} == before  # not rewritten at all
    assert (reports / "index.html").stat().st_mtime_ns > summary_before
    assert score(target) < score_before
    page = (reports / "index.html").read_text()
    assert all(n in page for n in names(work))
    assert checks_of(json.loads((reports / "students" / target / "results.json").read_text()))["structure.imports"][0] != "passed"


# ------------------------------------------------------------------ shards

def test_shards_are_disjoint_stable_and_merge_into_the_unsharded_gradebook(gradings, baseline):
    work = gradings.course("shards")
    class_names = names(work)
    shards = {}
    for index in (1, 2):
        result = gradings.result(f"shard-{index}")
        assert result.returncode in (0, 1), result.log
        shards[index] = {p.parent.name for p in (work / f"shard-{index}").glob("students/*/results.json")}
        assert shards[index] == {n for n in class_names if expected_shard(n, 2) == index}, result.log
    assert shards[1] and shards[2], "this class is chosen so that both shards hold students"
    assert not shards[1] & shards[2]
    assert shards[1] | shards[2] == set(class_names)

    merged = work / "merged"
    for index in (1, 2):  # each shard's students/ folder, as the grade-class workflow merges them
        shutil.copytree(work / f"shard-{index}" / "students", merged / "students", dirs_exist_ok=True)
    result = run(work, "-m", "grader", "summary", str(merged))
    assert result.returncode == 0, result.log
    assert (merged / "grades.csv").read_text() == (baseline / "reports" / "grades.csv").read_text()
    assert results_of(merged) == results_of(baseline / "reports")
    assert (merged / "index.html").is_file()

    # Stable: the plugin's assignment is the name-only formula, whoever else is in the class.
    from grader.plugin.selection import shard_of
    many = [f"student-{i:03d}" for i in range(200)] + ["alice", "Zoë", "x" * 80]
    assert all(shard_of(n, k) == expected_shard(n, k) for n in many for k in (1, 2, 3, 7))


# ------------------------------------------------------------------ pytest-xdist, crashes, progress

def test_xdist_gives_the_serial_results_and_a_hang_does_not_stop_the_batch(gradings, baseline):
    result, work = gradings.result("xdist"), gradings.course("xdist")
    assert result.returncode == 1, result.log
    assert results_of(work / "reports") == results_of(baseline / "reports")
    table = table_of(result.stdout)
    for name in names(work):
        assert re.search(rf"^{name}\s+mlp-regression\s+\d", table, re.M), result.log


def test_xdist_keeps_each_student_on_one_worker(gradings):
    result = gradings.result("xdist")
    placed: dict[str, set[str]] = {}
    for worker, name in re.findall(r"^\[(gw\d+)\] \[\s*\d+%\] \w+ submissions/([\w-]+)::", result.stdout, re.M):
        placed.setdefault(name, set()).add(worker)
    assert sorted(placed) == names(gradings.course("xdist")), result.log
    assert all(len(workers) == 1 for workers in placed.values()), placed


def test_grader_grade_exits_0_when_grading_completed_even_with_zero_scores(gradings):
    result, work = gradings.result("crashers"), gradings.course("crashers")
    assert result.returncode == 0, result.log
    scores = {n: json.loads((work / "reports" / "students" / n / "results.json").read_text())["score"] for n in names(work)}
    assert scores["student-000"] == 0, scores  # the syntax error


def test_progress_lines_and_the_table_list_every_student_under_xdist(gradings):
    result, work = gradings.result("crashers"), gradings.course("crashers")
    table = table_of(result.stdout)
    for name in names(work):
        assert re.search(rf"^graded {name}: [\d.]+ points in [\d.]+ s", result.stdout, re.M), result.log
        assert re.search(rf"^{name}\s+mlp-regression\s+\d", table, re.M), result.log
    exits = json.loads((work / "reports" / "students" / "student-001" / "results.json").read_text())
    assert "sys.exit" in checks_of(exits)["structure.imports"][2]
    assert re.search(r"graded student-001: .* check\(s\) crashed or timed out", result.stdout), result.log
    for name in names(work):
        tests = json.loads((work / "reports" / "students" / name / "results.json").read_text())["tests"]
        assert len(tests) == len(RUBRIC.checks)


def test_progress_lines_start_their_own_line_under_xdist(gradings):
    result, work = gradings.result("crashers"), gradings.course("crashers")
    for name in names(work):
        assert re.search(rf"^graded {name}: ", result.stdout, re.M), result.log


def test_progress_lines_also_appear_when_only_some_checks_run(gradings):
    for label in ("baseline", "xdist"):  # -k, serially and under xdist
        result = gradings.result(label)
        assert re.search(r"^graded student-000: 18 points", result.stdout, re.M), result.log  # structure + no_autograd
        assert re.search(r"^graded student-002: [\d.]+ points .* check\(s\) crashed or timed out",
                         result.stdout, re.M), result.log


# ------------------------------------------------------------------ grader grade's exit codes

def test_grader_grade_exits_4_for_a_missing_path(tmp_path):
    result = run(tmp_path, "-m", "grader", "grade", str(tmp_path / "no-such-folder"))
    assert result.returncode == 4, result.log
    assert "no such folder" in result.stderr


def test_grader_grade_exits_5_when_there_is_nothing_to_grade(gradings):
    result = gradings.result("empty")
    assert result.returncode == 5, result.log


def test_grader_grade_passes_what_follows_double_dash_to_pytest(gradings):
    result, work = gradings.result("dashes"), gradings.course("dashes")
    assert result.returncode == 0, result.log
    collected = {line.split("::")[0].split("/")[-1] for line in result.stdout.splitlines() if "::" in line}
    assert collected == {n for n in names(work) if expected_shard(n, 2) == 1}
