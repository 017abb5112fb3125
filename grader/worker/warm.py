"""Each operation of ops.py run once in the worker's host, on a small network of the
grader's own, before the host forks any child.

torch and numpy set much of themselves up on first use (kernels, dispatch tables, dtype
caches). In a host that never ran them, every check's child did that again: a small
forward and backward took 3.0 ms in a fresh child of a cold host, 1.9 ms in one of a warmed
host (bench/bench_fork.py). What is set up here is shared by every child, as the imports are.

Nothing of a student's runs here, and nothing here changes what a child starts from: every
call seeds torch's generator itself (ops.seed_torch), this network draws nothing from numpy's
or Python's generators, and ops.py's state is put back as it was.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import torch

from grader.worker import ops
from grader.worker.board import StageBoard
from grader.worker.protocol import Status

PARAMS = ("W1", "b1", "W2", "b2")


class SmallNet:
    """A network of the grader's own, shaped as the torch homework's: it only walks the
    operations' code paths (nothing compares its numbers)."""

    def __init__(self, in_dim, hidden_dim, out_dim):
        bound = (6 / (in_dim + hidden_dim)) ** 0.5
        self.W1 = torch.empty(hidden_dim, in_dim).uniform_(-bound, bound)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.randn(out_dim, hidden_dim) * 0.1
        self.b2 = torch.zeros(out_dim)

    def forward(self, X):
        self.X = X
        self.Z1 = X @ self.W1.T + self.b1
        self.A1 = torch.relu(self.Z1)
        return self.A1 @ self.W2.T + self.b2

    def backward(self, pred, y):
        d_pred = 2 * (pred - y) / pred.shape[0]
        self.grad_W2 = d_pred.T @ self.A1
        self.grad_b2 = d_pred.sum(dim=0)
        d_z1 = (d_pred @ self.W2) * (self.Z1 > 0).float()
        self.grad_W1 = d_z1.T @ self.X
        self.grad_b1 = d_z1.sum(dim=0)

    def step(self, lr):
        for name in PARAMS:
            setattr(self, name, getattr(self, name) - lr * getattr(self, "grad_" + name))

    def state_dict(self):
        return {name: getattr(self, name).clone() for name in PARAMS}

    def load_state_dict(self, state):
        for name, value in state.items():
            setattr(self, name, value.clone())


def mse_loss(pred, y):
    return ((pred - y) ** 2).mean()


def train(model, X, y, epochs=2, batch_size=4, lr=0.1, shuffle=True):
    losses = []
    for _ in range(epochs):
        order = torch.randperm(X.shape[0]) if shuffle else torch.arange(X.shape[0])
        total = 0.0
        for start in range(0, X.shape[0], batch_size):
            rows = order[start:start + batch_size]
            pred = model.forward(X[rows])
            loss = mse_loss(pred, y[rows])
            model.backward(pred, y[rows])
            model.step(lr)
            total += loss.item() * len(rows)
        losses.append(total / X.shape[0])
    return losses


MODEL = {"class_name": "SmallNet", "params": list(PARAMS), "grads": {name: f"grad_{name}" for name in PARAMS},
         "methods": ["forward", "backward", "step", "state_dict", "load_state_dict"],
         "functions": ["train", "mse_loss"], "loss_function": "mse_loss", "constructor_kwargs": {}}
FOLDER = Path("/nonexistent/mlp-grader-warm-up")  # never read: the module is put in ops' cache


def calls() -> list[tuple[str, dict]]:
    """One call of each operation, on a 3-5-2 network and 8 samples."""
    dims = [3, 5, 2]
    X = np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3)
    y = np.linspace(0, 1, 16, dtype=np.float32).reshape(8, 2)
    params = {"W1": np.full((5, 3), 0.1, np.float32), "b1": np.zeros(5, np.float32),
              "W2": np.full((2, 5), 0.2, np.float32), "b2": np.zeros(2, np.float32)}
    grads = {name: np.ones_like(value) for name, value in params.items()}
    model = {"dims": dims, "params": params}
    direction = {"param": "W1", "step": 1e-3, "direction": np.ones((5, 3), np.float32)}
    return [
        ("api", {}),
        ("construct", {"dims": dims}),
        ("forward", {**model, "inputs": [X, X[:2]]}),
        ("forward_perturbed", {**model, "X": X, "perturbations": [direction]}),
        ("backward", {**model, "X": X, "y": y}),
        ("step", {**model, "grads": grads, "lr": 0.1}),
        ("loss", {"pred": y, "y": y}),
        ("train", {**model, "X": X, "y": y, "kwargs": {}}),
        ("state_dict_roundtrip", {"dims": dims, "seed_a": 1, "seed_b": 2}),
        ("train_recorded", {**model, "X": X, "y": y, "kwargs": {"shuffle": False}}),
        ("batch", {"calls": [{"op": "construct", "args": {"dims": dims}}]}),
    ]


def warm_up() -> list[str]:
    """Run every call of `calls()` as a child would, sending each result to /dev/null;
    the operations that did not answer OK (none, unless ops.py changed without this file)."""
    module = types.SimpleNamespace(SmallNet=SmallNet, mse_loss=mse_loss, train=train)  # as ops sees an mlp.py
    board = StageBoard()
    sink = os.open(os.devnull, os.O_WRONLY)
    failed = []
    ops._STUDENT[FOLDER] = module
    ops.CHILD = ops._Child(sink, board, FOLDER)
    try:
        for name, args in calls():
            result = ops._run(name, args, MODEL, FOLDER)
            ops.CHILD.send(result.to_child_frame())
            if result.status != Status.OK or (name == "batch" and result.value["results"][0]["status"] != Status.OK):
                failed.append(name)
    finally:
        ops._STUDENT.clear()
        ops.CHILD, ops.MODEL = None, {}
        os.close(sink)
        board.memory.close()
    return failed
