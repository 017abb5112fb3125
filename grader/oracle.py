"""Expected values, from the reference solution run in float64.

The only module of the grader that touches ``reference/``. The reference is loaded from its
file (it is not an installed package, so the worker can never import it by name); where it
is absent, as in the student kit, `available()` is False and the checks that need it say so.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import torch

from grader.spec import Contract

REFERENCE_FILE = Path(os.environ.get("MLP_GRADER_REFERENCE", Path(__file__).parents[1] / "reference" / "mlp.py"))


def available() -> bool:
    return REFERENCE_FILE.is_file()


@functools.cache
def _reference():
    loader = importlib.util.spec_from_file_location("mlp_grader_reference", REFERENCE_FILE)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def _model(contract: Contract, params: dict[str, np.ndarray], relu_grad_at_zero: int = 0,
           weight_decay: float | None = None):
    """The reference model of the contract's assignment, holding `params` in float64.

    relu_grad_at_zero=1 takes ReLU'(0) = 1 instead of 0 (both are subgradients, and the
    handout accepts either): before each backward the cached pre-activations are nudged off
    exact zeros, which changes the mask there and nothing else. `weight_decay` replaces the
    handout's (a model built with another value)."""
    ref = _reference()
    config = contract.reference_config
    if weight_decay is not None:
        config = {**config, "weight_decay": weight_decay}
    model = ref.TwoLayerMLP.__new__(ref.TwoLayerMLP).configure(config)
    for name, value in params.items():
        setattr(model, name, torch.from_numpy(np.asarray(value, dtype=np.float64).copy()))
    if relu_grad_at_zero:
        backward = model.backward

        def backward_with_one_at_zero(out, y):
            model.Z1 = torch.where(model.Z1 == 0, torch.ones_like(model.Z1), model.Z1)
            backward(out, y)

        model.backward = backward_with_one_at_zero
    return model


def _numpy(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {name: t.detach().numpy().copy() for name, t in tensors.items()}


def _t(array: np.ndarray) -> torch.Tensor:
    """float64, except class labels, which stay int64."""
    array = np.asarray(array)
    if array.dtype.kind in "iu":
        return torch.from_numpy(array.astype(np.int64))
    return torch.from_numpy(np.asarray(array, dtype=np.float64).copy())


def forward(contract: Contract, params, X) -> np.ndarray:
    return _model(contract, params).forward(_t(X)).numpy()


def gradients(contract: Contract, params, X, y, relu_grad_at_zero: int = 0,
              weight_decay: float | None = None) -> dict[str, np.ndarray]:
    """The reference gradients (see `_model` for the options)."""
    model = _model(contract, params, relu_grad_at_zero, weight_decay)
    model.backward(model.forward(_t(X)), _t(y))
    return {name: getattr(model, f"grad_{name}").numpy() for name in contract.param_names}


def train(contract: Contract, params, X, y, seed: int | None = None, relu_grad_at_zero: int = 0, **kwargs
          ) -> tuple[list[float], dict[str, np.ndarray]]:
    """The reference trajectory; with shuffle=True, under torch.manual_seed(seed).

    A class's students are checked on the same examples, so the same trajectory is asked
    for once per student: it is computed once per process. (Only where it is a function
    of its arguments: a seed, or no shuffling. The global torch generator is left as the
    computation left it.)"""
    key = _trajectory_key(contract, params, X, y, seed, relu_grad_at_zero, kwargs)
    if key in _TRAJECTORIES:
        losses, state, generator = _TRAJECTORIES[key]
        if generator is not None:
            torch.set_rng_state(generator)
        return list(losses), {name: array.copy() for name, array in state.items()}
    model = _model(contract, params, relu_grad_at_zero)
    if seed is not None:
        torch.manual_seed(seed)
    losses = _reference().train(model, _t(X), _t(y), **kwargs)
    state = _numpy(model.state_dict())
    if key is not None:
        if len(_TRAJECTORIES) >= MAX_TRAJECTORIES:
            _TRAJECTORIES.pop(next(iter(_TRAJECTORIES)))
        _TRAJECTORIES[key] = (list(losses), {k: v.copy() for k, v in state.items()},
                              torch.get_rng_state() if seed is not None else None)
    return losses, state


_TRAJECTORIES: dict[bytes, tuple] = {}
MAX_TRAJECTORIES = 64


def _trajectory_key(contract: Contract, params, X, y, seed, relu_grad_at_zero, kwargs) -> bytes | None:
    """What a reference trajectory depends on, hashed; None when it also depends on the
    global torch generator's state (shuffling without a seed)."""
    if seed is None and kwargs.get("shuffle", True):
        return None
    digest = hashlib.blake2b(repr((contract.name, sorted(contract.reference_config.items()), seed,
                                   relu_grad_at_zero, sorted(kwargs.items()))).encode())
    for array in (*(params[name] for name in sorted(params)), X, y):
        array = np.ascontiguousarray(array)
        digest.update(repr((array.dtype.str, array.shape)).encode())
        digest.update(array.tobytes())
    return digest.digest()


def mse(contract: Contract, params, X, y) -> float:
    pred = forward(contract, params, X)
    return float(np.mean((pred - np.asarray(y, dtype=np.float64)) ** 2))


def held_out_metric(contract: Contract, params, X, y) -> float:
    """The assignment's checkpoint metric on public held-out data, for parameters
    run through the reference forward: accuracy (test_accuracy) or RMSE (grid_rmse). NaN
    when an output is not finite (huge parameters overflow): argmax would still name a class."""
    outputs = forward(contract, params, X)
    if not np.all(np.isfinite(outputs)):
        return float("nan")
    if contract.checkpoint["metric"] == "test_accuracy":
        return float(np.mean(np.argmax(outputs, axis=1) == y))
    return float(np.sqrt(mse(contract, params, X, y)))


def loss(contract: Contract, params, X, y) -> float:
    """The assignment's data loss of the reference forward."""
    return float(_reference().loss_value(contract.loss, torch.from_numpy(forward(contract, params, X)), _t(y)))


def new_model(contract: Contract, dims, seed: int = 0, dtype=torch.float32):
    """A freshly initialised reference model of the contract's assignment (for calibration)."""
    torch.manual_seed(seed)
    return _reference().TwoLayerMLP(dims.in_dim, dims.hidden_dim, dims.out_dim, dtype=dtype,
                                    config=contract.reference_config)


def train_model(model, X, y, **kwargs) -> list[float]:
    return _reference().train(model, torch.from_numpy(np.array(X)), torch.from_numpy(np.array(y)), **kwargs)
