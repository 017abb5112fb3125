"""The assignments' data, per the spec's `data.source`:

- ``teacher`` (mlp-regression): the public training set and the hidden test set, below;
- ``sklearn_digits`` (mlp-classification): scikit-learn's bundled 8x8 digits (real data
  that ships inside the package: nothing downloads), X / 16 as float32, int64 labels, one
  fixed stratified train/test split; the test split is the checkpoint's held-out set;
- ``sin``: x uniform on [lo, hi] from a fixed seed, y = sin(x), both (N, 1) float32; the
  checkpoint is judged on a dense grid of the same interval.

The teacher data comes from one fixed teacher: y = teacher(X) + noise, X ~ N(0, I). The teacher mixes a
linear part and a random 256 -> 64 -> 1 ReLU network, each scaled to a known variance, so
that a two-layer student can learn much of it in 150 epochs. The teacher is the TA's: it is
drawn from `teacher_seed` in the TA configuration (a student who could rebuild it would hand
it in as the checkpoint and beat the reference 16-fold without training). The TA writes the
training set with `grader data`, and `grader kit` ships it to the students as
`data/train.pt`; the test set is drawn from the TA configuration's `test_seed`. NumPy's
PCG64 streams make the draws identical on every machine.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from grader import ta_config
from grader.spec import Contract


class TeacherUnavailable(RuntimeError):
    """The teacher's data cannot be made without the TA configuration (a student's kit)."""


def teacher_seed(contract: Contract) -> int:
    config = ta_config.load()
    if config is None or config.teacher_seed is None:
        raise TeacherUnavailable(
            f"the {contract.name} data comes from the TAs' teacher network, whose seed only the TA "
            f"configuration holds: the kit ships the training set as {contract.data['file']}")
    return config.teacher_seed


def teacher_parts(contract: Contract, in_dim: int | None = None) -> dict:
    """The teacher's arrays and constants (TA only): y = sqrt(share) * (X @ w_lin)
    + sqrt(1 - share) * (relu(X @ V1.T + c1) @ v2 - mean) / std."""
    d = contract.data
    in_dim = in_dim or contract.dims.in_dim
    rng = np.random.default_rng(teacher_seed(contract))
    w_lin = rng.standard_normal(in_dim)
    w_lin /= np.linalg.norm(w_lin)
    V1 = rng.standard_normal((d["teacher_hidden"], in_dim)) / np.sqrt(in_dim)
    c1 = rng.standard_normal(d["teacher_hidden"]) * 0.5
    v2 = rng.standard_normal(d["teacher_hidden"])
    # Scale the ReLU part to unit variance on a large sample of inputs.
    probe = np.random.default_rng(0).standard_normal((20000, in_dim))
    relu_part = np.maximum(probe @ V1.T + c1, 0.0) @ v2
    return {"w_lin": w_lin, "V1": V1, "c1": c1, "v2": v2, "mean": relu_part.mean(), "std": relu_part.std(),
            "share": d["linear_share"]}


def _teacher(contract: Contract, in_dim: int):
    t = teacher_parts(contract, in_dim)

    def teacher(X: np.ndarray) -> np.ndarray:
        nonlinear = (np.maximum(X @ t["V1"].T + t["c1"], 0.0) @ t["v2"] - t["mean"]) / t["std"]
        return np.sqrt(t["share"]) * (X @ t["w_lin"]) + np.sqrt(1.0 - t["share"]) * nonlinear

    return teacher


def make_dataset(contract: Contract, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) as float32 arrays of shapes (n, in_dim) and (n, 1)."""
    in_dim = contract.dims.in_dim
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, in_dim))
    y = _teacher(contract, in_dim)(X) + contract.data["noise_std"] * rng.standard_normal(n)
    return X.astype(np.float32), y.reshape(n, 1).astype(np.float32)


def digits_split(contract: Contract) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of the bundled digits, split as the spec says
    (read-only: made once per process for each split)."""
    d = contract.data
    return _frozen_digits_split(float(d["test_size"]), int(d["split_seed"]))


@functools.lru_cache(maxsize=4)
def _frozen_digits_split(test_size: float, split_seed: int) -> tuple[np.ndarray, ...]:
    """Loading and splitting took 40 ms for every graded submission (1.6 s the first time)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    split = train_test_split(X, y, test_size=test_size, stratify=y, random_state=split_seed)
    X_train, X_test, y_train, y_test = split
    for array in split:
        array.setflags(write=False)
    return X_train, y_train, X_test, y_test


def sin_training_set(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    d = contract.data
    x = np.random.default_rng(d["public_seed"]).uniform(d["x_min"], d["x_max"], (d["n_train"], 1))
    return x.astype(np.float32), np.sin(x).astype(np.float32)


def sin_grid(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    d = contract.data
    x = np.linspace(d["x_min"], d["x_max"], d["grid_points"]).reshape(-1, 1)
    return x, np.sin(x)


def training_set(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    d = contract.data
    if d["source"] == "sklearn_digits":
        return digits_split(contract)[:2]
    if d["source"] == "sin":
        return sin_training_set(contract)
    return make_dataset(contract, d["n_train"], d["public_seed"])


@functools.lru_cache(maxsize=4)
def test_set(contract: Contract, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The hidden test set of the contract's assignment, made once per process (a class grades
    every student on it: 10 000 x 256 draws and a teacher pass each time were ~0.5 s), read-only."""
    X, y = make_dataset(contract, contract.data["n_test"], seed)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def evaluation_set(contract: Contract) -> tuple[np.ndarray, np.ndarray]:
    """The checkpoint's data for the public-data assignments (the digits' test split, the
    sin grid); the regression's hidden test set needs the TA's seed (`test_set`)."""
    source = contract.data["source"]
    if source == "sklearn_digits":
        return digits_split(contract)[2:]
    if source == "sin":
        return sin_grid(contract)
    raise ValueError(f"data source {source!r} has a hidden test set: use test_set(contract, seed)")


def write_training_set(contract: Contract, path: Path) -> Path:
    import torch

    X, y = training_set(contract)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":  # a numpy assignment's: np.load(path) gives X and y
        np.savez(path, X=X, y=y)
        return path
    torch.save({"X": torch.tensor(X), "y": torch.tensor(y)}, path)  # copies: the data may be read-only
    return path
