"""Turn what the worker described into trusted arrays, or a clear failure.

The worker reports each returned value as {type, dtype, requires_grad, array}. Only plain
torch tensors (and nn.Parameter) of a floating dtype and the expected shape, with finite
values, pass; lists, numpy arrays, tensor subclasses and look-alikes are refused by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader import spec
from grader.outcome import Failed
from grader.spec import Contract, Dims

TENSOR_TYPES = ("torch.Tensor", "torch.nn.parameter.Parameter")
NUMPY_TYPES = ("numpy.ndarray",)  # what a [binding] framework = "numpy" assignment's code holds and returns


def array_types(c: Contract) -> tuple[tuple[str, ...], str]:
    """The types the assignment's code must hand back, and how to name them."""
    if c.framework == "numpy":
        return NUMPY_TYPES, "a numpy array"
    return TENSOR_TYPES, "a torch.Tensor"
FLOAT_DTYPES = ("float32", "float64")


def tensor(c: Contract, described: Any, what: str, shape: tuple[int, ...] | None = None, *,
           finite: bool = True, dtypes: tuple[str, ...] = FLOAT_DTYPES) -> np.ndarray:
    if not isinstance(described, dict) or "type" not in described:
        raise Failed(f"{what}: the worker returned no value")
    kind = described["type"]
    if kind == "builtins.NoneType":
        raise Failed(f"{what} is None (was it set?)")
    types, name = array_types(c)
    if kind not in types:
        raise Failed(f"{what} is a {kind}, expected {name}")
    array = described.get("array")
    if not isinstance(array, np.ndarray):
        raise Failed(f"{what}: its values could not be read")
    if described.get("dtype") not in dtypes:
        raise Failed(f"{what} has dtype {described.get('dtype')}, expected {' or '.join(dtypes)}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise Failed(f"{what} has shape {tuple(array.shape)}, expected {tuple(shape)}")
    if finite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise Failed(f"{what} contains {bad} NaN or infinite value(s)")
    return array.astype(np.float64)


def scalar(c: Contract, described: Any, what: str) -> float:
    """A loss value: a Python number or a tensor with one element."""
    if not isinstance(described, dict) or "type" not in described:
        raise Failed(f"{what}: the worker returned no value")
    kind = described["type"]
    array = described.get("array")
    if described.get("dtype") == "python" and isinstance(array, np.ndarray):
        value = float(array)
    elif kind in array_types(c)[0] and isinstance(array, np.ndarray) and array.size == 1:
        value = float(array.reshape(()))
    elif kind in array_types(c)[0] and isinstance(array, np.ndarray):
        raise Failed(f"{what} is a tensor of shape {tuple(array.shape)}, expected a single number")
    else:
        raise Failed(f"{what} is a {kind}, expected a float or a 0-dim tensor")
    if not np.isfinite(value):
        raise Failed(f"{what} is {value}")
    return value


def params_of(contract: Contract, described: dict, dims: Dims, what: str = "") -> dict[str, np.ndarray]:
    """The parameters a worker call described, by role, checked against the contract's shapes."""
    return {name: tensor(contract, described.get(name), f"{what}{contract.attr(name)}", shape)
            for name, shape in contract.param_shapes(dims).items()}


def grads_of(contract: Contract, described: dict, dims: Dims) -> dict[str, np.ndarray]:
    """The gradients a worker call described, by parameter role (named as the contract says)."""
    return {name: tensor(contract, described.get(name), contract.grad_names[name], shape)
            for name, shape in contract.param_shapes(dims).items()}
