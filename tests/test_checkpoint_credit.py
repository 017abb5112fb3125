"""The checkpoint's credit: non-finite metrics earn nothing, an implausibly good checkpoint
is flagged for review (issue 13, findings 4 and 6c)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import data, engine, spec
from grader.checks.checkpoint import credit

CORRECT = Path(__file__).parents[1] / "submissions" / "example-correct"
SIN_CORRECT = Path(__file__).parents[1] / "submissions" / "example-sin-correct"


def with_checkpoint(tmp_path: Path, example: Path, state: dict) -> Path:
    folder = tmp_path / example.name
    shutil.copytree(example, folder)
    torch.save(state, folder / "model.pth")
    return folder


def outcome_of(folder: Path, check_id: str):
    return engine.grade(folder, only=[check_id]).outcomes[0]


def huge_state(shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """Finite parameters of +-1e308 with alternating signs: the outputs are inf - inf = NaN."""
    def alternating(shape):
        signs = (-1.0) ** torch.arange(int(np.prod(shape)), dtype=torch.float64)
        return (1e308 * signs).reshape(shape)
    return {name: alternating(shape) for name, shape in shapes.items()}


def test_credit_gives_nothing_for_nan_or_infinity():
    assert credit(float("nan"), 1.1, 2.0) == 0.0
    assert credit(float("inf"), 1.1, 2.0) == 0.0
    assert credit(float("-inf"), 0.95, 0.85) == 0.0
    assert credit(1.55, 1.1, 2.0) == pytest.approx(0.5)


def test_a_nan_share_of_points_scores_zero_not_nan():
    from grader.checks.base import clipped

    assert clipped(float("nan"), 4.0) == 0.0
    assert clipped(7.0, 4.0) == 4.0 and clipped(-1.0, 4.0) == 0.0


@pytest.mark.slow
def test_huge_finite_parameters_earn_no_test_mse_credit(tmp_path):
    c = spec.assignment("mlp-regression").contract
    shapes = c.param_shapes(c.dims)
    folder = with_checkpoint(tmp_path, CORRECT, huge_state(shapes))
    outcome = outcome_of(folder, "checkpoint.test_mse")
    assert (outcome.score, outcome.status) == (0.0, "failed")
    assert outcome.message.startswith("the test-set MSE is nan, not a finite number")


@pytest.mark.slow
def test_huge_finite_parameters_earn_no_grid_rmse_credit(tmp_path):
    c = spec.assignment("sin-fit").contract
    shapes = c.param_shapes(c.dims)
    folder = with_checkpoint(tmp_path, SIN_CORRECT, huge_state(shapes))
    outcome = outcome_of(folder, "checkpoint.grid_rmse")
    assert (outcome.score, outcome.status) == (0.0, "failed")
    assert "RMSE on a grid of 2001 points is nan, not a finite number" in outcome.message


def teacher_as_student() -> dict[str, torch.Tensor]:
    """The data's teacher network written as a 256 -> 512 -> 1 ReLU network: its hidden
    units, then relu(w.x) - relu(-w.x) for the linear part, the other units zero."""
    c = spec.assignment("mlp-regression").contract
    X, y = data.training_set(c)
    teacher = data.teacher_parts(c)
    hidden = c.dims.hidden_dim
    V1, c1, v2, w_lin = teacher["V1"], teacher["c1"], teacher["v2"], teacher["w_lin"]
    k = V1.shape[0]
    W1 = np.zeros((hidden, V1.shape[1]))
    b1 = np.zeros(hidden)
    W2 = np.zeros((1, hidden))
    W1[:k], b1[:k] = V1, c1
    W1[k], W1[k + 1] = w_lin, -w_lin
    nonlinear, linear = np.sqrt(1.0 - teacher["share"]) / teacher["std"], np.sqrt(teacher["share"])
    W2[0, :k] = nonlinear * v2
    W2[0, k], W2[0, k + 1] = linear, -linear
    b2 = np.array([-nonlinear * teacher["mean"]])
    state = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    return {name: torch.tensor(value, dtype=torch.float32) for name, value in state.items()}


@pytest.mark.slow
def test_the_teacher_handed_in_as_the_checkpoint_is_flagged_for_review(tmp_path):
    folder = with_checkpoint(tmp_path, CORRECT, teacher_as_student())
    outcome = outcome_of(folder, "checkpoint.test_mse")
    assert (outcome.score, outcome.status) == (outcome.check.points, "passed")  # a flag, not a penalty
    assert outcome.message.startswith("for review: the test-set MSE is ")
    assert "better than the assignment's review_beyond = 0.5" in outcome.message
    assert "teacher network" in outcome.message
    assert outcome.details["ratio"] < 0.1 and outcome.details["review"]


@pytest.mark.slow
def test_an_honest_checkpoint_is_not_flagged():
    outcome = outcome_of(CORRECT, "checkpoint.test_mse")
    assert (outcome.status, outcome.message) == ("passed", "")
    assert "review" not in outcome.details
