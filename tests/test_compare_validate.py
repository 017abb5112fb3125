"""Comparison and validation: what passes, what fails, and what the message says."""

from __future__ import annotations

import numpy as np
import pytest

from grader import spec, validate
from grader.compare import assert_close, is_close
from grader.outcome import Failed

TORCH = spec.assignment(spec.DEFAULT).contract  # a torch assignment: its code hands back tensors

TOL = {"rtol": 1e-4, "atol": 1e-6}


def described(array, kind="torch.Tensor", dtype=None):
    return {"type": kind, "dtype": dtype or array.dtype.name, "array": array}


def test_float32_roundoff_passes_and_a_factor_of_two_fails():
    expected = np.linspace(-3, 3, 12).reshape(3, 4)
    assert is_close(expected.astype(np.float32), expected, **TOL)
    assert not is_close(expected / 2, expected, **TOL)


def test_failure_message_names_the_worst_entry_and_values():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = expected.copy()
    got[1, 0] = -3.0
    with pytest.raises(Failed) as info:
        assert_close("self.grad_W1", got, expected, TOL)
    assert "at [1,0]" in info.value.message and "expected 3, got -3" in info.value.message
    assert info.value.details["worst_index"] == [1, 0]
    assert info.value.details["max_abs_error"] == 6.0


def test_nan_never_passes():
    assert not is_close(np.array([np.nan]), np.array([1.0]), **TOL)


@pytest.mark.parametrize("value,message", [
    ({"type": "builtins.list", "array": None}, "is a builtins.list, expected a torch.Tensor"),
    ({"type": "builtins.NoneType"}, "is None"),
    (described(np.zeros((2, 3))), "has shape (2, 3), expected (3, 2)"),
    (described(np.zeros((3, 2), dtype=np.int64)), "has dtype int64"),
    (described(np.full((3, 2), np.nan)), "contains 6 NaN"),
    (described(np.zeros((3, 2)), kind="mlp.SneakyTensor"), "is a mlp.SneakyTensor, expected a torch.Tensor"),
])
def test_validation_refuses_with_a_clear_message(value, message):
    with pytest.raises(Failed) as info:
        validate.tensor(TORCH, value, "grad_W1", (3, 2))
    assert message in info.value.message


def test_a_parameter_is_accepted_as_a_tensor():
    array = validate.tensor(TORCH, described(np.ones((3, 2), dtype=np.float32), "torch.nn.parameter.Parameter"), "W", (3, 2))
    assert array.dtype == np.float64 and array.sum() == 6


def test_a_loss_may_be_a_python_float_or_a_one_element_tensor():
    assert validate.scalar(TORCH, {"type": "builtins.float", "dtype": "python", "array": np.array(0.5)}, "loss") == 0.5
    assert validate.scalar(TORCH, described(np.array([0.25])), "loss") == 0.25
    with pytest.raises(Failed, match="shape"):
        validate.scalar(TORCH, described(np.zeros((4, 4))), "loss")
