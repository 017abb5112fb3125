"""What leaves the grader for other tools: grades.csv, the class reports written together,
Gradescope's results.json through examples/gradescope/run_autograder, and pytest's own
JUnit XML.

The two end-to-end runs grade a tiny submission with `-k no_autograd.source` only: that
check reads the source and starts no worker, so each run costs a pytest start-up (a few
seconds), not a grading."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import report_fixtures as fx
from grader import cli, results
from grader.report import write_class_reports, write_gradebook_csv, write_reports

ROOT = Path(__file__).resolve().parents[1]
GRADESCOPE = ROOT / "examples" / "gradescope"
TINY_MLP = '''"""A stub: enough for the source scan, nothing to train."""
import torch


class TwoLayerMLP:
    def forward(self, X):
        return X
'''
CHEAP = "no_autograd.source"


def test_gradebook_csv_exact_content(tmp_path):
    path = write_gradebook_csv(fx.write_class(tmp_path))
    assert path == tmp_path / "grades.csv"
    assert path.read_text() == (
        "student,assignment,total,max_total,structure,structure_max,init,init_max,forward,forward_max,"
        "backward,backward_max,no_autograd,no_autograd_max,training,training_max,checkpoint,checkpoint_max\n"
        "ada,mlp-regression,100,100,10,10,12,12,14,14,22,22,8,8,18,18,16,16\n"
        # Grace's hidden checkpoint.test_mse (12 points) runs at grading time only: out of 88
        "Grace,mlp-regression,72,88,10,10,12,12,14,14,12,22,8,8,12,18,4,4\n"
        "mallory,mlp-regression,92,100,10,10,12,12,6,14,22,22,8,8,18,18,16,16\n"
        "zed-crashed,mlp-regression,4,100,0,10,0,12,0,14,0,22,4,8,0,18,0,16\n")


def test_gradebook_skips_unreadable_results_and_defuses_formulas(tmp_path):
    results.write(fx.build("=HYPERLINK(1)", {}), tmp_path)
    (tmp_path / "students" / "broken").mkdir(parents=True)
    (tmp_path / "students" / "broken" / "results.json").write_text("[")
    assert write_gradebook_csv(tmp_path).read_text().splitlines()[1:] == [
        "'=HYPERLINK(1),mlp-regression,100,100,10,10,12,12,14,14,22,22,8,8,18,18,16,16"]


def test_write_class_reports_writes_summary_and_gradebook(tmp_path):
    fx.write_class(tmp_path)
    index, grades = write_class_reports(tmp_path)
    assert (index, grades) == (tmp_path / "index.html", tmp_path / "grades.csv")
    assert 'href="students/mallory/index.html"' in index.read_text()
    assert '<a class="small" href="grades.csv" download>download grades.csv</a>' in index.read_text()
    assert len(grades.read_text().splitlines()) == 5


def test_cli_summary_rewrites_class_reports(tmp_path, capsys):
    fx.write_class(tmp_path)
    assert cli.main(["summary", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'index.html'}\nwrote {tmp_path / 'grades.csv'}\n"
    assert cli.main(["summary", str(tmp_path / "missing")]) == 4


def test_write_reports_writes_results_json_and_page(tmp_path):
    result = fx.hostile()
    path = write_reports(result, tmp_path)
    assert path == tmp_path / "students" / "mallory" / "results.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(result.to_gradescope()))
    assert "mallory: 92 / 100" in (tmp_path / "students" / "mallory" / "index.html").read_text()


def test_gradescope_scripts_are_executable_bash():
    for name in ("run_autograder", "setup.sh"):
        script = GRADESCOPE / name
        assert os.access(script, os.X_OK), f"{name} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env bash\n")
        subprocess.run(["bash", "-n", str(script)], check=True)


def _tiny_submission(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "mlp.py").write_text(TINY_MLP)
    return folder


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HYPOTHESIS"))}
    return {**env, **extra}


@pytest.fixture(scope="module")
def gradescope_run(tmp_path_factory) -> Path:
    """run_autograder on a fake /autograder layout, grading only the cheap check."""
    root = tmp_path_factory.mktemp("autograder")
    # a handed-in pytest.ini that would stop the grading if it configured the run
    (_tiny_submission(root / "submission") / "pytest.ini").write_text("[pytest]\naddopts = --collect-only\n")
    subprocess.run([str(GRADESCOPE / "run_autograder")], cwd=root, check=True, capture_output=True, timeout=300,
                   env=_env(AUTOGRADER_ROOT=str(root), GRADER_PYTHON=sys.executable, SUBMISSION_NAME="alice",
                            PYTEST_ADDOPTS=f"-k {CHEAP}"))
    return root


@pytest.mark.slow
def test_run_autograder_leaves_gradescope_results(gradescope_run):
    data = json.loads((gradescope_run / "results" / "results.json").read_text())
    assert data["score"] == 4 and data["max_score"] == 100
    assert data["extra_data"]["student"] == "alice"
    ran = [t["name"] for t in data["tests"] if t["extra_data"]["status"] != "not_run"]
    assert ran == ["no_autograd.source: the graded code has no .backward(), torch.autograd or nn layers"]
    # Gradescope's words: "hidden" would never be shown; the rubric's hidden checks are shown once published
    assert {(t["extra_data"]["visibility"], t["visibility"]) for t in data["tests"]} == {
        ("visible", "visible"), ("hidden", "after_published")}
    assert (gradescope_run / "work" / "reports" / "students" / "alice" / "index.html").is_file()


@pytest.fixture(scope="module")
def junit_xml(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("junit")
    _tiny_submission(work / "submissions" / "tiny")
    xml = work / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "submissions/tiny", "-k", CHEAP, f"--junitxml={xml}",
                    "--reports-dir", str(work / "reports"), "-p", "no:cacheprovider", "-q"],
                   cwd=work, check=True, capture_output=True, timeout=300, env=_env())
    return xml


@pytest.mark.slow
def test_junitxml_has_one_testcase_per_selected_check(junit_xml):
    suite = ET.parse(junit_xml).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    case = suite.find("testcase")
    assert (case.get("classname"), case.get("name")) == ("submissions.tiny", CHEAP)
    outcome = {p.get("name"): p.get("value") for p in case.iter("property")}["mlp_grader_outcome"]
    assert json.loads(outcome)["status"] == "passed"


def test_cli_summary_points_to_results_in_the_old_layout(tmp_path, capsys):
    results.write(fx.full_marks(), tmp_path)
    (tmp_path / "students" / "ada").rename(tmp_path / "ada")  # reports/<name>/, as earlier versions wrote
    (tmp_path / "students").rmdir()
    assert cli.main(["summary", str(tmp_path)]) == 0
    assert f"move those folders into {tmp_path}/students/" in capsys.readouterr().err
    assert (tmp_path / "ada" / "results.json").is_file()  # left where it was
