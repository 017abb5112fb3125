"""The student kit: it checks a submission without the solution, and holds none of it."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import cli, kit, spec, ta_config, template

RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return kit.build(tmp_path_factory.mktemp("kit") / "mlp-grader-kit")


def kit_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_the_kit_holds_no_reference_no_ta_configuration_and_no_example_solution(built):
    files = {str(p.relative_to(built)) for p in built.rglob("*") if p.is_file()}
    assert not any(f.startswith(("reference", "ta/", "tests", "submissions/example")) for f in files)
    assert "submissions/your-name/mlp.py" in files and "ASSIGNMENT.md" in files
    for name in spec.names():  # every assignment's spec and handout, for its students
        assert f"grader/assignments/{name}.toml" in files
        assert spec.assignment(name).contract.handout in files
    text = kit_text(built)
    assert str(ta_config.load().test_seed) not in text
    assert function_bodies(ROOT / "reference" / "mlp.py") and [
        line for line in function_bodies(ROOT / "reference" / "mlp.py") if line in text] == []


def function_bodies(path: Path) -> list[str]:
    """The reference's computing lines: statements inside its functions (not signatures)."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.startswith("        ")]
    return [line for line in lines if len(line) > 12 and not line.endswith(("):", ",")) and not line.startswith("#")]


@pytest.fixture(scope="module")
def venv_python(built, tmp_path_factory) -> Path:
    """A fresh virtual environment with the kit installed (torch & co. from the system)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(built)], check=True, timeout=600)
    return python


def kit_run(python: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the venv's python without site processing: torch & co. come from the system's
    site-packages by path, but no .pth file runs, so the repository's editable install
    (whose finder would supply modules the kit leaves out) stays invisible."""
    venv_site = next(python.parents[1].glob("lib/python*/site-packages"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MLP_GRADER", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), str(venv_site), sysconfig.get_paths()["purelib"]])
    return subprocess.run([str(python), "-S", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def self_check(python: Path, kit_dir: Path, name: str, code: Path) -> dict:
    folder = kit_dir / "submissions" / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(code, folder / "mlp.py")
    torch.manual_seed(0)
    c = spec.assignment(spec.DEFAULT).contract
    torch.save({k: torch.zeros(s) for k, s in c.param_shapes(c.dims).items()}, folder / "model.pth")
    kit_run(python, ["-m", "pytest", f"submissions/{name}", "-p", "no:cacheprovider", "-q"], kit_dir)
    return json.loads((kit_dir / "reports" / "students" / name / "results.json").read_text())


def statuses(results: dict) -> dict[str, str]:
    return {t["extra_data"]["id"]: t["extra_data"]["status"] for t in results["tests"]}


@pytest.mark.slow
def test_the_installed_kit_is_the_one_running(venv_python, built):
    probe = "import grader, grader.oracle as o, importlib.util as u; print(grader.__file__, o.available(), u.find_spec('grader.diagnosis'))"
    out = kit_run(venv_python, ["-c", probe], built).stdout.split()
    module = Path(out[0])
    assert module.is_relative_to(built) or module.is_relative_to(venv_python.parents[1])
    assert out[1] == "False"  # no reference solution reachable
    assert out[2] == "None"  # nor the diagnosis, whose variants spell out the backprop


@pytest.mark.slow
def test_a_correct_submission_passes_every_visible_check_in_the_kit(venv_python, built):
    graded = self_check(venv_python, built, "good", EXAMPLES / "example-correct" / "mlp.py")
    results = statuses(graded)
    visible = {c.id for c in RUBRIC.checks if c.visibility == "visible"}
    visible_points = sum(c.points for c in RUBRIC.checks if c.visibility == "visible")
    # out of the visible points, the hidden ones announced, none of them "lost"
    assert graded["score"] == graded["max_score"] == visible_points
    assert graded["extra_data"]["pending_points"] == RUBRIC.total - visible_points
    page = (built / "reports" / "students" / "good" / "index.html").read_text()
    assert "Where points were lost" not in page and 'class="bar low"' not in page
    assert f"and {RUBRIC.total - visible_points:g} points of hidden checks, checked at grading time" in page
    assert {k: v for k, v in results.items() if k in visible} == {k: "passed" for k in visible}
    assert {k: v for k, v in results.items() if k not in visible} == {k: "skipped" for k in results if k not in visible}


@pytest.mark.slow
def test_a_buggy_submission_fails_the_right_visible_checks_in_the_kit(venv_python, built):
    results = self_check(venv_python, built, "bad", EXAMPLES / "example-forgot-factor-2" / "mlp.py")
    failed = sorted(k for k, v in statuses(results).items() if v not in ("passed", "skipped"))
    assert failed == ["backward.finite_differences"]
    hidden = [c for c in RUBRIC.checks if c.visibility == "hidden"]
    note = f"{len(hidden)} hidden checks ({sum(c.points for c in hidden):g} points) run at grading time"
    assert note in results["extra_data"]["notes"]


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_kit_zip_leaves_the_folder_of_the_same_name_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "X").mkdir()
    (tmp_path / "X" / "notes.txt").write_text("mine")
    assert cli.main(["kit", "--out", "X.zip"]) == 0
    assert tree(tmp_path / "X") == {"notes.txt": b"mine"}
    with zipfile.ZipFile(tmp_path / "X.zip") as archive:
        assert "X/submissions/your-name/mlp.py" in archive.namelist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X", "X.zip"]


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_kit_refuses_a_folder_it_did_not_write_even_with_force(tmp_path, monkeypatch, capsys, force):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.tex").write_text("years of work")
    before = tree(tmp_path)
    assert cli.main(["kit", "--out", ".", *force]) == 4
    assert tree(tmp_path) == before
    assert "nothing was changed" in capsys.readouterr().err


def test_kit_refuses_the_repository_itself(capsys):
    before = sorted(p.name for p in ROOT.iterdir())
    assert cli.main(["kit", "--out", str(ROOT), "--force"]) == 4
    assert cli.main(["kit", "--out", str(ROOT / "grader" / "kit"), "--force"]) == 4
    assert sorted(p.name for p in ROOT.iterdir()) == before
    assert "the grader's own repository" in capsys.readouterr().err


@pytest.mark.slow
def test_kit_zip_is_replaced_only_with_force_and_only_a_kit_zip(tmp_path, capsys):
    target = tmp_path / "kit.zip"
    assert cli.main(["kit", "--out", str(target)]) == 0
    assert cli.main(["kit", "--out", str(target)]) == 4
    assert "exists: pass --force" in capsys.readouterr().err
    assert cli.main(["kit", "--out", str(target), "--force"]) == 0
    other = tmp_path / "photos.zip"
    other.write_bytes(b"PK not a kit")
    assert cli.main(["kit", "--out", str(other), "--force"]) == 4
    assert other.read_bytes() == b"PK not a kit"


@pytest.mark.slow
def test_kit_force_replaces_only_the_kits_own_unchanged_files(tmp_path, capsys):
    out = tmp_path / "kit"
    kit.build(out)
    (out / "submissions" / "alice").mkdir()
    (out / "submissions" / "alice" / "mlp.py").write_text("alice's work")
    (out / "reports").mkdir()
    (out / "reports" / "index.html").write_text("a report")
    stale = out / "grader" / "stale_module.py"  # as if an older kit had it: listed in the manifest
    stale.write_text("old")
    manifest = json.loads((out / kit.MANIFEST).read_text())
    (out / kit.MANIFEST).write_text(json.dumps({**manifest, "grader/stale_module.py": kit._digest(stale)}))
    assert kit.build(out, force=True) == out
    assert (out / "submissions" / "alice" / "mlp.py").read_text() == "alice's work"
    assert (out / "reports" / "index.html").read_text() == "a report"
    assert not stale.exists() and (out / "grader" / "plugin" / "__init__.py").is_file()
    (out / "submissions" / "your-name" / "mlp.py").write_text("my solution")  # the template, edited
    assert cli.main(["kit", "--out", str(out), "--force"]) == 4
    assert "submissions/your-name/mlp.py" in capsys.readouterr().err
    assert (out / "submissions" / "your-name" / "mlp.py").read_text() == "my solution"


@pytest.mark.slow
def test_the_templates_main_trains_into_the_students_own_folder(built, tmp_path):
    kit_dir = tmp_path / "kit"
    shutil.copytree(built, kit_dir)
    (kit_dir / "data").mkdir(exist_ok=True)  # the kit ships the training set: a tiny one stands in
    torch.save({"X": torch.zeros(4, 2), "y": torch.zeros(4, 1)}, kit_dir / "data" / "train.pt")
    text = template.render(spec.assignment(spec.DEFAULT).contract)
    main = text[text.index('if __name__ == "__main__":'):]
    student = kit_dir / "submissions" / "me"
    student.mkdir()
    (student / "mlp.py").write_text(
        "import torch\n\nclass TwoLayerMLP:\n    def state_dict(self):\n        return {'epochs': self.epochs}\n\n"
        "def train(model, X, y, epochs=150):\n    model.epochs = torch.tensor(epochs)\n\n" + main)
    run = subprocess.run([sys.executable, "submissions/me/mlp.py", "3"], cwd=kit_dir, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert torch.load(student / "model.pth")["epochs"] == 3
    assert not (kit_dir / "model.pth").exists()
    readme = (built / "README.md").read_text()
    assert "python submissions/<your-name>/mlp.py 3" in readme and "minutes" in readme


def worker_calls(contract: spec.Contract) -> dict[str, tuple[tuple, dict]]:
    """Each method as the worker calls it (grader/worker/ops.py, bindings.py, checks/iterations.py):
    its positional arguments and keywords, without self."""
    binding, X, y = contract.binding, object(), object()
    calls = {"forward": ((X,), {}), "step": ((0.1,), {}), "state_dict": ((), {}), "load_state_dict": (({},), {}),
             "backward": (((X,) if binding["gradients"] == "upstream" else (X, y)), {})}
    if binding["gradients"] == "loss":
        calls[binding["loss_method"]] = ((X, y), {"reg": 0.1})
    if binding["train"] == "iterations":
        keywords = {"num_iters": 3, "batch_size": 4, "learning_rate": 0.1, "learning_rate_decay": 0.5, "reg": 0.1,
                    "verbose": False}
        calls[binding.get("train_method", "train")] = ((X, y, X, y), keywords)
    return {method: calls[method] for method in contract.methods if method in calls}


@pytest.mark.parametrize("name", spec.names())
def test_the_kits_template_is_the_chosen_assignments_api(tmp_path, name):
    """`grader kit --assignment <name>`: the template names that assignment's class, methods
    (taking the arguments the worker passes), parameters where they live, gradients where they
    go, and functions, with its dims and training defaults, in its framework; the README names
    its code file, checkpoint and data."""
    contract = spec.assignment(name).contract
    assert cli.main(["kit", "--out", str(tmp_path / "kit"), "--assignment", name]) == 0
    folder = tmp_path / "kit" / "submissions" / "your-name"
    text = (folder / contract.submission["code"]).read_text()
    namespace: dict = {}
    exec(compile(text, contract.submission["code"], "exec"), namespace)  # defines only: its __main__ does not run
    cls = namespace[contract.class_name]
    init = inspect.signature(cls.__init__).parameters
    dims = contract.dims
    assert {k: p.default for k, p in init.items() if k != "self"} == {
        "in_dim": dims.in_dim, "hidden_dim": dims.hidden_dim, "out_dim": dims.out_dim, **contract.constructor_kwargs}
    assert all(callable(getattr(cls, method)) for method in contract.methods)
    assert all(callable(namespace[function]) for function in contract.functions)
    assert contract.loss_function in (*contract.functions, *contract.methods)
    for method, (args, kwargs) in worker_calls(contract).items():
        inspect.signature(getattr(cls, method)).bind(None, *args, **kwargs)  # TypeError if it cannot take them
    training = contract.training
    if contract.binding["train"] == "epochs":
        train = inspect.signature(namespace["train"]).parameters
        assert {k: train[k].default for k in template.TRAIN_ARGS} == {k: training[k] for k in template.TRAIN_ARGS}
    else:
        train = inspect.signature(getattr(cls, contract.binding.get("train_method", "train"))).parameters
        keys = template.ITERATION_ARGS
        assert {k: train[k].default for k in keys} == {k: training[k] for k in keys}
        assert train["verbose"].default is False
    box = contract.binding["params"]
    for role in contract.param_names:
        place = f"self.{contract.attr(role)}" if box == "attributes" else f"self.{box}[{contract.attr(role)!r}]"
        assert f"    # {place}: (" in text and contract.grad_names[role] in text
    assert ("b1" in text) == contract.bias and contract.data["file"] in text
    if contract.framework == "numpy":
        assert "import numpy as np" in text and "torch" not in text
        assert f'np.savez(here / "{contract.submission["checkpoint"]}", ' in text
    else:
        assert "import torch" in text and "torch.save(model.state_dict()" in text
    pinned = folder / "assignment.toml"
    assert (tomllib.loads(pinned.read_text())["assignment"] if pinned.exists() else spec.DEFAULT) == name
    readme = (tmp_path / "kit" / "README.md").read_text()
    assert f"The template in submissions/your-name is {name}'s" in readme
    assert f"submissions/<your-name>/{contract.submission['code']} 3" in readme
    assert f"your {contract.submission['checkpoint']}" in readme and contract.data["file"] in readme
    if contract.framework == "numpy":
        assert ".pth" not in readme and "torch" not in readme and "mlp.py" not in readme


NUMPY = [name for name in spec.names() if spec.assignment(name).contract.framework == "numpy"]


def example_of(name: str) -> Path:
    pinned = {p: p / "assignment.toml" for p in sorted(EXAMPLES.glob("example-*correct"))}
    return next(p for p, toml in pinned.items()
                if toml.is_file() and tomllib.loads(toml.read_text())["assignment"] == name)


@pytest.mark.parametrize("name", NUMPY)
def test_a_numpy_templates_main_trains_on_the_npz_and_saves_the_checkpoint(tmp_path, name):
    """The numpy template's __main__ under the bundled correct example's code: it loads the
    kit's .npz, trains a little per the binding, and np.savez-es the parameters the
    checkpoint check reads, next to the code."""
    from grader import data

    contract = spec.assignment(name).contract
    data.write_training_set(contract, tmp_path / contract.data["file"])
    code = (example_of(name) / contract.submission["code"]).read_text()
    text = template.render(contract)
    student = tmp_path / "submissions" / "me"
    student.mkdir(parents=True)
    (student / contract.submission["code"]).write_text(
        code[:code.index('if __name__ == "__main__":')] + text[text.index('if __name__ == "__main__":'):])
    run = subprocess.run([sys.executable, f"submissions/me/{contract.submission['code']}", "2"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    with np.load(student / contract.submission["checkpoint"], allow_pickle=False) as saved:
        shapes = {key: saved[key].shape for key in saved.files}
    assert shapes == {contract.attr(role): shape for role, shape in contract.param_shapes(contract.dims).items()}
