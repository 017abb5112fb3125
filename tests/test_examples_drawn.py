"""A check's examples depend on the check, its seed and Hypothesis only: not on how grader
is installed nor on what the grading process has imported before drawing them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Draws forward.matches_reference's examples, imports `local_constants` (a module outside
# site-packages, full of numbers: Hypothesis would collect them), and draws them again.
DRAW_TWICE = """
import hashlib, sys
from grader import spec, strategies
from grader.checks import base

def drawn():
    c = spec.assignment(spec.DEFAULT).contract
    examples = base.draw_examples("forward.matches_reference", strategies.cases(c, strategies.small_dims(c)), 25)
    return hashlib.sha256(repr([(e.dims, e.X.tobytes(), sorted((k, v.tobytes()) for k, v in e.params.items()))
                                for e in examples]).encode()).hexdigest()

first = drawn()
sys.path.insert(0, sys.argv[1])
import local_constants
print(first, drawn())
"""


def test_a_local_module_loaded_in_between_does_not_change_the_examples(tmp_path):
    numbers = ", ".join(f"{k}.5, {k}, -{k}, {k}e-3" for k in range(1, 200))
    (tmp_path / "local_constants.py").write_text(f"NUMBERS = [{numbers}]\n")
    out = subprocess.run([sys.executable, "-c", DRAW_TWICE, str(tmp_path)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = out.stdout.split()
    assert first == second
