"""The grade-class workflow, run locally: every command of its jobs (but installing) runs here,
as written, on a sample class split into two shards, with the artifacts passed from the
shard jobs to the summary job as GitHub would. A workflow that cannot run after
`scripts/install.sh` (pytest-xdist missing, a path that moved) fails here, not in CI."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # the class workflow's scripts run on a sample class

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "grade-class.yml"
STUB = '''import torch


class TwoLayerMLP:
    def forward(self, X):
        return X
'''
INSTALL_STEPS = {"bash scripts/install.sh", "sudo apt-get update -qq\nsudo apt-get install -y -qq bubblewrap\n"
                 "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true"}


def steps(job: str) -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]


def expand(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        assert match.group(1) in values, f"the test does not know the expression {match.group(0)}"
        return values[match.group(1)]
    return re.sub(r"\$\{\{\s*(.+?)\s*\}\}", one, str(text))


def run_job(job: str, cwd: Path, values: dict[str, str], outputs: Path) -> list[str]:
    """Run the job's `run:` steps with the workflow's and the job's env; return what ran."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({k: expand(v, values) for k, v in workflow["env"].items()})
    env.update({k: expand(v, values) for k, v in (workflow["jobs"][job].get("env") or {}).items()})
    env.update(GITHUB_OUTPUT=str(outputs), GITHUB_STEP_SUMMARY=str(cwd / "step-summary.md"))
    ran = []
    for step in steps(job):
        if "run" not in step or step["run"].strip() in INSTALL_STEPS:
            continue
        step_env = {**env, **{k: expand(v, values) for k, v in (step.get("env") or {}).items()}}
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                                cwd=cwd, env=step_env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{job}: {step['run']}\n{result.stdout}\n{result.stderr}"
        ran.append(step["run"].strip())
    return ran


def test_parallel_grading_is_part_of_the_graders_own_install():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("pytest-xdist") for d in dependencies)
    assert "grader grade \"$submissions\" -n auto" in (ROOT / "scripts" / "grade_class.sh").read_text()


def test_the_workflow_grades_a_sample_class_in_two_shards(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "grade_class.sh", repo / "scripts")
    names = ["ada", "bo", "cy"]
    for name in names:
        (repo / "submissions" / name).mkdir(parents=True)
        (repo / "submissions" / name / "mlp.py").write_text(STUB)
    inputs = {"inputs.submissions": "submissions", "inputs.shards": "2", "env.PYTHON_VERSION": "3.11"}

    roster_outputs = tmp_path / "roster-outputs"
    assert run_job("roster", repo, inputs, roster_outputs) == [
        'bash scripts/grade_class.sh roster "$SUBMISSIONS" "$SHARDS" | tee -a "$GITHUB_OUTPUT" >> "$GITHUB_STEP_SUMMARY"']
    outputs = dict(line.split("=", 1) for line in roster_outputs.read_text().splitlines())
    assert outputs == {"count": "2", "shards": "[1,2]"}

    artifacts = tmp_path / "artifacts"
    for shard in yaml.safe_load(outputs["shards"]):
        job_dir = tmp_path / f"shard-{shard}"
        shutil.copytree(repo, job_dir)  # a fresh checkout per job
        values = {**inputs, "matrix.shard": str(shard), "needs.roster.outputs.count": outputs["count"]}
        assert len(run_job("grade", job_dir, values, tmp_path / f"shard-{shard}-outputs")) == 1
        upload = next(s for s in steps("grade") if s.get("uses", "").startswith("actions/upload-artifact"))
        shutil.copytree(job_dir / upload["with"]["path"], artifacts, dirs_exist_ok=True)  # merge-multiple

    summary_dir = tmp_path / "summary"
    shutil.copytree(repo, summary_dir)
    download = next(s for s in steps("summary") if s.get("uses", "").startswith("actions/download-artifact"))
    shutil.copytree(artifacts, summary_dir / download["with"]["path"])
    assert len(run_job("summary", summary_dir, inputs, tmp_path / "summary-outputs")) == 2  # summary, verify
    with open(summary_dir / "reports" / "grades.csv", newline="") as fh:
        book = {row["student"]: row["total"] for row in csv.DictReader(fh)}
    assert book == {name: "6" for name in names}
    assert "3 students in grades.csv" in (summary_dir / "step-summary.md").read_text()
