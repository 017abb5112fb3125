"""training.iterations (grader/checks/iterations.py) judges CS231n's train() loop, not the
gradient formula: the expected run is SGD driven by the student's own loss(X, y, reg). A
train() with one loop mistake still fails it, with a message that names the mistake, and
loses nothing elsewhere. Each trainer is the correct example with one textual change."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from grader import engine, spec
from grader.checks import iterations
from grader.session import Grading
from grader.spec import Dims

CORRECT = Path(__file__).parents[1] / "submissions" / "example-cs231n-correct"
CODE_CHECKS = [c.id for c in spec.assignment("cs231n-two-layer").rubric.checks if c.category != "checkpoint"]

DECAY = "                learning_rate *= learning_rate_decay\n"
UPDATE = "                self.params[name] -= learning_rate * grads[name]\n"
RECORD = "            loss_history.append(loss)\n"
RECORD_AFTER = "            loss_history.append(self.loss(X[batch], y=y[batch], reg=reg)[0])\n"

# trainer -> (replacements in train(), {check that loses points: (score, words its message holds)})
TRAINERS = {
    "no-decay": (
        [(DECAY, "                pass\n")],
        {"training.iterations": (0.0, ("lr = 0.1, 0.05, 0.025", "learning_rate_decay after each epoch",
                                       "tolerance"))},
    ),
    "decay-doubled": (
        [(DECAY, "                learning_rate *= learning_rate_decay ** 2\n")],
        {"training.iterations": (0.0, ("lr = 0.1, 0.05, 0.025", "tolerance"))},
    ),
    "gradient-ascent": (
        [(UPDATE, UPDATE.replace("-=", "+="))],
        {"training.iterations": (0.0, ("loss_history differs", "P -= lr * grads", "tolerance")),
         "training.history": (0.0, ("should fall",))},
    ),
    "b2-never-updated": (
        [("for name in self.params:", 'for name in ("W1", "b1", "W2"):')],
        {"training.iterations": (0.0, ("b2 never updated: still the initial values", "tolerance"))},
    ),
    "loss-recorded-after-update": (
        [(RECORD, ""), (UPDATE, UPDATE + RECORD_AFTER)],
        {"training.iterations": (5.0, ("loss_history differs", "before update k", "tolerance"))},
    ),
}


def trainer(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "submissions" / name
    shutil.copytree(CORRECT, folder)
    code = folder / "two_layer_net.py"
    source = code.read_text(encoding="utf-8")
    for old, new in TRAINERS[name][0]:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    code.write_text(source, encoding="utf-8")
    return folder


@pytest.mark.parametrize("name", sorted(TRAINERS))
@pytest.mark.slow
def test_a_loop_mistake_fails_training_iterations_with_a_message_naming_it(tmp_path, name):
    result = engine.grade(trainer(tmp_path, name), only=CODE_CHECKS)
    lost = {o.check.id: o for o in result.outcomes if o.lost_points}
    expected = TRAINERS[name][1]
    assert {cid: o.score for cid, o in lost.items()} == {cid: score for cid, (score, _) in expected.items()}, \
        {cid: o.message[:400] for cid, o in lost.items()}
    for check_id, (_, words) in expected.items():
        for word in words:
            assert word in lost[check_id].message, (check_id, lost[check_id].message)


def test_the_expected_run_follows_the_students_own_loss_and_gradients(tmp_path):
    """The gradient route's loss comes back with the gradients: the expected loss_history is
    the student's own (with its regularisation), not the grader's formula."""
    folder = trainer_with_scaled_loss(tmp_path)
    with Grading(folder) as grading:
        ctx = grading.context
        ctx.session = "training.iterations"
        dims = Dims(5, 7, 10)
        params = {k: 0.1 * np.ones(shape) for k, shape in ctx.contract.param_shapes(dims).items()}
        X, y = np.ones((4, 5)), np.ones(4, dtype=np.int64)
        loss, grads = iterations.own_loss_and_gradients(ctx, dims, params, X, y)
    assert loss == pytest.approx(3 * (np.log(10) + 1e-3 * (0.01 * 35 + 0.01 * 70)))
    assert set(grads) == {"W1", "b1", "W2", "b2"} and grads["W1"].shape == (5, 7)


def trainer_with_scaled_loss(tmp_path: Path) -> Path:
    """A loss() whose loss value is three times the cross-entropy plus its reg term."""
    folder = tmp_path / "submissions" / "scaled-loss"
    shutil.copytree(CORRECT, folder)
    code = folder / "two_layer_net.py"
    source = code.read_text(encoding="utf-8")
    old = "        return loss, grads\n"
    assert source.count(old) == 1
    code.write_text(source.replace(old, "        return 3 * loss, grads\n"), encoding="utf-8")
    return folder
