"""An assignment's loss, computed by the grader itself in float64 NumPy.

Used where the grader judges numbers the student's code produced (finite differences of
the student's own forward, the epoch losses train() reports, the checkpoint's metric); the
reference solution is never involved.
"""

from __future__ import annotations

import numpy as np

from grader.spec import Contract


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def data_loss(contract: Contract, outputs: np.ndarray, y: np.ndarray) -> float:
    """MSE over all N x out_dim elements, or mean cross-entropy over N with int64 labels."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if contract.classification:
        labels = np.asarray(y).astype(np.int64).reshape(-1)
        return float(-log_softmax(outputs)[np.arange(len(labels)), labels].mean())
    return float(np.mean((outputs - np.asarray(y, dtype=np.float64)) ** 2))


def penalty(contract: Contract, params: dict[str, np.ndarray]) -> float:
    """(weight_decay / 2) * sum of the weights' squared norms (biases are not decayed): the
    term whose gradient is weight_decay * W."""
    decay = contract.weight_decay
    if not decay:
        return 0.0
    return float(0.5 * decay * sum(np.sum(np.asarray(params[w], dtype=np.float64) ** 2) for w in contract.weights))


def objective(contract: Contract, outputs: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]) -> float:
    """What backward() differentiates: the data loss plus the weight-decay term."""
    return data_loss(contract, outputs, y) + penalty(contract, params)
