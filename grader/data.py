"""The homework's data: the public training set and the hidden test set.

Both come from one fixed teacher: y = teacher(X) + noise, X ~ N(0, I). The teacher mixes a
linear part and a random 256 -> 64 -> 1 ReLU network, each scaled to a known variance, so
that a two-layer student can learn much of it in 150 epochs. The training set is public
(`python -m grader data`); the test set is drawn from a seed in the TA configuration.
NumPy's PCG64 streams make the draws identical on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader import spec


def _teacher(in_dim: int):
    d = spec.contract().data
    rng = np.random.default_rng(d["teacher_seed"])
    w_lin = rng.standard_normal(in_dim)
    w_lin /= np.linalg.norm(w_lin)
    V1 = rng.standard_normal((d["teacher_hidden"], in_dim)) / np.sqrt(in_dim)
    c1 = rng.standard_normal(d["teacher_hidden"]) * 0.5
    v2 = rng.standard_normal(d["teacher_hidden"])
    # Scale the ReLU part to unit variance on a large sample of inputs.
    probe = np.random.default_rng(0).standard_normal((20000, in_dim))
    relu_part = np.maximum(probe @ V1.T + c1, 0.0) @ v2
    mean, std = relu_part.mean(), relu_part.std()
    share = d["linear_share"]

    def teacher(X: np.ndarray) -> np.ndarray:
        nonlinear = (np.maximum(X @ V1.T + c1, 0.0) @ v2 - mean) / std
        return np.sqrt(share) * (X @ w_lin) + np.sqrt(1.0 - share) * nonlinear

    return teacher


def make_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) as float32 arrays of shapes (n, in_dim) and (n, 1)."""
    c = spec.contract()
    in_dim = c.dims.in_dim
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, in_dim))
    y = _teacher(in_dim)(X) + c.data["noise_std"] * rng.standard_normal(n)
    return X.astype(np.float32), y.reshape(n, 1).astype(np.float32)


def training_set() -> tuple[np.ndarray, np.ndarray]:
    d = spec.contract().data
    return make_dataset(d["n_train"], d["public_seed"])


def test_set(seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_dataset(spec.contract().data["n_test"], seed)


def write_training_set(path: Path) -> Path:
    import torch

    X, y = training_set()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"X": torch.from_numpy(X), "y": torch.from_numpy(y)}, path)
    return path
