"""Calibrate the checkpoint thresholds: train the reference exactly as the handout says and
measure its checkpoint metric. TA-only.

For mlp-regression (a hidden test set) `run()` writes the reference's test-set MSE into
the TA configuration; for the assignments with public held-out data (the digits' test
split, the sin grid) `reference_metric()` gives the figure to write, with a comment, into
the spec's [checkpoint] section.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from grader import data, oracle, ta_config
from grader.spec import Contract


def trained_reference(c: Contract, threads: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """The reference trained per the assignment's handout, under torch.manual_seed(seed)."""
    torch.set_num_threads(threads)
    X, y = data.training_set(c)
    model = oracle.new_model(c, c.dims, seed=seed)
    if c.binding["train"] == "iterations":
        return _iterations(c, model, X, y, seed)
    oracle.train_model(model, X, y, **{k: v for k, v in c.training.items() if k != "weight_decay"})
    return {k: v.numpy() for k, v in model.state_dict().items()}


def _iterations(c: Contract, model, X, y, seed: int) -> dict[str, np.ndarray]:
    """[binding] train = "iterations": num_iters steps of SGD on random mini-batches (with
    replacement, numpy's default_rng(seed)) with the reference's gradients, the learning
    rate multiplied by learning_rate_decay after every epoch."""
    t = c.training
    params = {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}
    rng = np.random.default_rng(seed)
    per_epoch, lr = max(len(X) // t["batch_size"], 1), float(t["learning_rate"])
    for it in range(int(t["num_iters"])):
        rows = rng.integers(0, len(X), t["batch_size"])
        grads = oracle.gradients(c, params, X[rows], y[rows])
        params = {k: v - lr * grads[k] for k, v in params.items()}
        if (it + 1) % per_epoch == 0:
            lr *= float(t["learning_rate_decay"])
    return params


def reference_test_mse(c: Contract, test_seed: int, threads: int = 1, seed: int = 0) -> float:
    params = trained_reference(c, threads, seed)
    Xt, yt = data.test_set(c, test_seed)
    return oracle.mse(c, params, Xt, yt)


def reference_metric(c: Contract, threads: int = 1, seed: int = 0) -> float:
    """The assignment's checkpoint metric of the reference (public held-out data)."""
    params = trained_reference(c, threads, seed)
    X, y = data.evaluation_set(c)
    return oracle.held_out_metric(c, params, X, y)


def run(c: Contract, threads: int = 1) -> float:
    if c.checkpoint["metric"] != "test_mse_ratio":
        return reference_metric(c, threads)
    config = ta_config.load()
    if config is None:
        raise SystemExit(f"no TA configuration at {ta_config.path()}")
    value = reference_test_mse(c, config.test_seed, threads)
    text = config.path.read_text()
    text = re.sub(r"(?m)^reference_test_mse\s*=.*$", f"reference_test_mse = {value:.6f}", text)
    config.path.write_text(text)
    return value
