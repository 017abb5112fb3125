"""An assignment's maths in float64 NumPy, with a switch per known mistake.

Everything is built from the contract each function is given (activation, loss, layout,
biases, weight decay), so one
set of mistakes serves every assignment: with every switch at its default these are the
reference's forward and gradients (tests/test_diagnosis.py proves it for every spec);
each other setting is one known-wrong variant, computed the way a student's code would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.spec import Contract

# hidden-layer derivative written as ... (activation -> {name: derivative of the cached
# pre-activation z and activation a})
DERIVATIVES = {
    "relu": {"right": lambda z, a: (z > 0).astype(np.float64),
             "missing": lambda z, a: np.ones_like(z)},
    "tanh": {"right": lambda z, a: 1.0 - a ** 2,
             "missing": lambda z, a: np.ones_like(z),
             "one_minus_tanh": lambda z, a: 1.0 - a,
             "one_minus_z_squared": lambda z, a: 1.0 - z ** 2},
}

# dL/d(output) written as ... (loss -> names; see output_gradient)
OUTPUT_GRADIENTS = {
    "mse": ("right",),
    "cross_entropy": ("right", "softmax_wrong_axis", "labels_as_columns", "labels_as_rows"),
}


@dataclass(frozen=True)
class Mistakes:
    """One setting per switch; the defaults are the contract's maths."""

    derivative: str = "right"
    output_gradient: str = "right"
    decay_weights: float = 1.0  # grad_W gains decay_weights * weight_decay * W
    decay_biases: float = 0.0   # grad_b gains decay_biases * weight_decay * b


RIGHT = Mistakes()


def activation(c: Contract, z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) if c.activation == "relu" else np.tanh(z)


def linear(c: Contract, X: np.ndarray, W: np.ndarray, b: np.ndarray | None, transposed: bool = False) -> np.ndarray:
    """X times W in the contract's layout (or in the other one, with transposed)."""
    in_out = (c.layout == "in_out") != transposed
    out = X @ (W if in_out else W.T)
    return out if b is None else out + b


def hidden(c: Contract, params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Z1, A1) of the contract's network."""
    z = linear(c, X, params["W1"], params.get("b1"))
    return z, activation(c, z)


def forward(c: Contract, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    _, a = hidden(c, params, X)
    return linear(c, a, params["W2"], params.get("b2"))


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    """Rows' softmax, computed after subtracting the maximum over `axis` (1 is right; 0,
    the batch axis, shifts each column by its own number and changes the result)."""
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def output_gradient(c: Contract, out: np.ndarray, y: np.ndarray, how: str = "right") -> np.ndarray:
    """dL/d(output) of the mean loss, or a known-wrong form of it."""
    if c.loss == "mse":
        return 2.0 * (out - y) / out.size
    n = out.shape[0]
    labels = np.asarray(y).astype(np.int64).reshape(-1)
    if how == "labels_as_columns":  # probs - y: the labels (N,) broadcast along the classes (needs N == classes)
        return (softmax(out) - labels[None, :]) / n
    if how == "labels_as_rows":     # probs - y.view(-1, 1): each row minus its label's value
        return (softmax(out) - labels[:, None]) / n
    probs = softmax(out, axis=0 if how == "softmax_wrong_axis" else 1)
    probs[np.arange(n), labels] -= 1.0
    return probs / n


def gradients(c: Contract, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, mistakes: Mistakes = RIGHT,
              cached_X: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The contract's gradients with `mistakes`; the hidden layer is taken from `cached_X`
    (what an earlier forward(c) cached) when given."""
    out = forward(c, params, X)
    z, a = hidden(c, params, X if cached_X is None else cached_X)
    inputs = X if cached_X is None else cached_X
    d_out = output_gradient(c, out, y, mistakes.output_gradient)
    in_out = c.layout == "in_out"
    d_z = (d_out @ (params["W2"].T if in_out else params["W2"])) * DERIVATIVES[c.activation][mistakes.derivative](z, a)
    grads = {"W1": inputs.T @ d_z if in_out else d_z.T @ inputs, "W2": a.T @ d_out if in_out else d_out.T @ a}
    if c.bias:
        grads.update(b1=d_z.sum(0), b2=d_out.sum(0))
    for name in grads:
        share = mistakes.decay_weights if name in c.weights else mistakes.decay_biases
        grads[name] = grads[name] + share * c.weight_decay * params[name]
    return {name: grads[name] for name in c.param_names}


def decay_terms(c: Contract, params: dict[str, np.ndarray], mistakes: Mistakes = RIGHT) -> dict[str, np.ndarray]:
    """What the weight decay adds to each gradient."""
    return {name: (mistakes.decay_weights if name in c.weights else mistakes.decay_biases) * c.weight_decay
            * params[name] for name in c.param_names}
