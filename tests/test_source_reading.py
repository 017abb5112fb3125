"""The autograd scan reads sources safely (issue 13): a FIFO, a link to /dev/zero or a huge
file named mlp.py fails no_autograd.source at once, with its reason, and hangs nothing; and
what counts as graded code, beyond the class."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from grader import engine, spec
from grader.checks import source_scan

REGRESSION = spec.assignment("mlp-regression").contract

CORRECT = Path(__file__).parents[1] / "submissions" / "example-correct"


def finishes(fn, seconds: float = 20.0):
    """fn()'s result; fails the test (instead of hanging it) if fn does not return in time."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(_outcome(fn)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"did not finish within {seconds} s"
    kind, value = result[0]
    if kind == "raised":
        raise value
    return value


def _outcome(fn):
    try:
        return "returned", fn()
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
        return "raised", exc


def source_outcome(folder: Path):
    outcome = engine.grade(folder, only=["no_autograd.source"]).outcomes[0]
    return outcome.score, outcome.status, outcome.message


@pytest.fixture
def folder(tmp_path) -> Path:
    target = tmp_path / "student"
    shutil.copytree(CORRECT, target)
    (target / "mlp.py").unlink()
    return target


def test_a_fifo_named_mlp_py_fails_the_scan_without_hanging(folder):
    os.mkfifo(folder / "mlp.py")
    assert finishes(lambda: source_outcome(folder)) == (
        0.0, "failed", "mlp.py is a named pipe (FIFO): the grader uses only regular files inside the submission "
                       "folder, so this submission is not graded; hand in the file itself")

    def scan() -> None:  # the scan itself, for a folder the grader did not refuse first
        with pytest.raises(source_scan.Unreadable, match="mlp.py is not a regular file"):
            source_scan.scan_submission(REGRESSION, folder, "mlp.py")

    finishes(scan)


def test_a_link_to_dev_zero_is_not_followed(folder):
    (folder / "mlp.py").symlink_to("/dev/zero")
    assert finishes(lambda: source_outcome(folder)) == (
        0.0, "failed", "mlp.py is a symbolic link (to /dev/zero): the grader uses only regular files inside the "
                       "submission folder, so this submission is not graded; hand in the file itself")
    with pytest.raises(source_scan.Unreadable, match="a symbolic link is not followed"):
        finishes(lambda: source_scan.scan_submission(REGRESSION, folder, "mlp.py"))


def test_a_huge_source_file_is_refused_by_size(folder):
    cap = int(spec.limits()["size"]["max_source_bytes"])
    (folder / "mlp.py").write_text("#" * (cap + 1))
    assert finishes(lambda: source_outcome(folder)) == (
        0.0, "failed", f"the source could not be read: mlp.py is {cap + 1} bytes, more than the {cap} a source file "
        f"may have")


def test_a_fifo_helper_module_fails_the_scan_without_hanging(folder):
    shutil.copy(CORRECT / "mlp.py", folder / "mlp.py")
    with open(folder / "mlp.py", "a") as fh:
        fh.write("\nimport helper\n")
    os.mkfifo(folder / "helper.py")
    with pytest.raises(source_scan.Unreadable, match="helper.py is not a regular file"):
        finishes(lambda: source_scan.scan_submission(REGRESSION, folder))


def test_read_source_reads_a_regular_file(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    assert source_scan.read_source(tmp_path / "a.py") == "x = 1\n"


MODULE_LEVEL = '''
import torch
HELPER = torch.func.grad
def _loss_grads(W, X):
    return torch.autograd.grad((X @ W).sum(), W)
def _verify():
    return torch.autograd.gradcheck
class TwoLayerMLP:
    def backward(self, pred, y):
        self.grad_W1 = _loss_grads(self.W1, self.x)
if __name__ == "__main__":
    _verify()
'''


def test_module_level_code_and_the_functions_the_class_calls_are_graded():
    found = [(f.line, f.what, f.graded) for f in source_scan.scan(REGRESSION, MODULE_LEVEL)]
    assert found == [(3, "torch.func.grad", True),  # runs at import
                     (5, "torch.autograd.grad", True),  # called by backward
                     (7, "torch.autograd.gradcheck", False)]  # only the script uses it


def test_a_backward_call_is_the_students_when_one_of_their_methods_takes_its_arguments():
    source = '''
class Layer:
    def backward(self, grad, *, scale=1.0):
        return grad * scale
class TwoLayerMLP:
    def backward(self, pred, y):
        g = self.layer.backward(pred - y, scale=2.0)
        self.loss.backward(gradient=g)
        self.loss.backward()
'''
    assert [(f.line, f.graded) for f in source_scan.scan(REGRESSION, source)] == [(8, True), (9, True)]


def test_an_import_is_graded_where_the_graded_code_uses_it():
    source = '''import torch
from torch.autograd import gradcheck
from torch.autograd import grad as g
class TwoLayerMLP:
    def backward(self, pred, y):
        return g(pred, y)
if __name__ == "__main__":
    gradcheck(None)
'''
    found = [(f.line, f.what, f.graded) for f in source_scan.scan(REGRESSION, source)]
    assert found == [(2, "import of torch.autograd.gradcheck", False),  # only the script uses it
                     (3, "import of torch.autograd.grad", True)]  # backward calls it as g


def test_the_cause_of_an_unreadable_mlp_py_is_found_without_reading_it(tmp_path):
    """The plugin's one-cause message compiles mlp.py in the grading process: a pipe is named
    as such (not "missing", not a hang) and a file over the cap is never read whole."""
    from grader import causes
    from grader.submission import Submission

    pipe = tmp_path / "pipe"
    pipe.mkdir()
    os.mkfifo(pipe / "mlp.py")
    assert causes.code_problem(Submission(pipe), "submissions/pipe/mlp.py") == (
        "submissions/pipe/mlp.py: mlp.py is not a regular file")
    huge = tmp_path / "huge"
    huge.mkdir()
    with open(huge / "mlp.py", "wb") as fh:
        fh.truncate(2 << 30)  # sparse: 2 GiB that reading whole would hold in memory
    problem = causes.code_problem(Submission(huge), "submissions/huge/mlp.py")
    assert problem.startswith("submissions/huge/mlp.py: mlp.py is 2147483648 bytes, more than the ")
    assert Submission(huge).conversion() == [] and Submission(pipe).conversion() == []
