"""`grader kit`: the folder (or zip) students get to check themselves before the deadline.

It holds the harness, the handout, the data command, mlp-regression's training set
(`data/train.pt`: its teacher network is the TA's secret, so students cannot make it
themselves) and an empty submission template, and nothing of the reference solution, the
TA configuration or the bundled example submissions (one of them is a full solution). Without `reference/` and
`ta/config.toml`, the checks that compare with them are skipped with "checked at grading
time"; every visible check runs as it will at grading.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
INCLUDED = ("grader", "pyproject.toml", "constraints.txt", "scripts/install.sh", "ASSIGNMENT.md", "docs/assignments")
EXCLUDED_NAMES = {"__pycache__", "calibrate.py", "kit.py", "diagnosis"}

TEMPLATE = '''"""Your two-layer MLP with hand-written backprop. See ASSIGNMENT.md for the contract."""

import torch


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        raise NotImplementedError

    def forward(self, X):
        raise NotImplementedError

    def backward(self, pred, y):
        raise NotImplementedError

    def step(self, lr):
        raise NotImplementedError

    def state_dict(self):
        raise NotImplementedError

    def load_state_dict(self, state):
        raise NotImplementedError


def mse_loss(pred, y):
    raise NotImplementedError


def train(model, X, y, epochs=150, batch_size=256, lr=1e-3,
          decay_every=50, decay_factor=0.5, shuffle=True):
    raise NotImplementedError


if __name__ == "__main__":
    data = torch.load("data/train.pt")
    torch.manual_seed(0)
    model = TwoLayerMLP()
    train(model, data["X"], data["y"])
    torch.save(model.state_dict(), "model.pth")
'''

README = '''# Checking your homework yourself

This kit runs the same visible checks the course grader runs. It contains no solution.

    bash scripts/install.sh            # once: installs the checker (Python 3.11)
    # data/train.pt, the training set, comes with this kit
    cp -r submissions/your-name submissions/<your-name>
    # write submissions/<your-name>/mlp.py, train, save model.pth next to it
    pytest submissions/<your-name>     # run the checks

Another assignment of the family (its handout is in docs/assignments/)? Put its name in
`submissions/<your-name>/assignment.toml` (`assignment = "sin-fit"`) and write its data with
`python -m grader data --assignment sin-fit` (the template in submissions/your-name is the
default homework's).

Then open `reports/<your-name>/index.html`: every check with its points, what failed, the
smallest failing example and the numbers compared.

The checks here draw their random examples (networks, batches) from public seeds; at
grading time the same checks draw them from a secret seed. Code that is right for every
input gets the same score either way; code tuned to the examples it saw here does not.

Checks marked "checked at grading time" compare your code with the course's reference
solution or score your model.pth on the hidden test set; they run only when the TAs grade.
Everything else (structure, initialisation, finite-difference gradients, no autograd, the
training loop, loading your .pth) runs here exactly as at grading time.
'''


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=lambda d, names: [n for n in names if n in EXCLUDED_NAMES])


def build(out: Path) -> Path:
    """Write the kit folder at `out` (replaced if it exists) and return it."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in INCLUDED:
        source, target = ROOT / name, out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            _copy_tree(source, target)
        else:
            shutil.copy2(source, target)
    template = out / "submissions" / "your-name" / "mlp.py"
    template.parent.mkdir(parents=True)
    template.write_text(TEMPLATE)
    (out / "README.md").write_text(README)
    (out / ".gitignore").write_text("reports/\n__pycache__/\n")
    _write_training_set(out)
    return out


def _write_training_set(out: Path) -> None:
    """The default homework's training set, made here with the TA's teacher (the kit's
    `grader data` cannot make it: no TA configuration)."""
    from grader import data, spec

    with spec.using(spec.DEFAULT):
        data.write_training_set(out / spec.contract().data["file"])


def build_zip(out_zip: Path) -> Path:
    folder = build(out_zip.with_suffix(""))
    with zipfile.ZipFile(out_zip, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, Path(folder.name) / path.relative_to(folder))
    shutil.rmtree(folder)
    return out_zip
