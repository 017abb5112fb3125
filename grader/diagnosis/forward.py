"""forward: which known mistake the student's output fits.

The student's forward() runs on one generic probe: a square network (4 -> 4 -> 4, so that
a weight used transposed still multiplies), non-zero biases, pre-activations of both signs.
Its output is compared with the reference's and with the outputs of every network that
differs from the contract by one or two known mistakes (a missing bias, another
activation, a weight used transposed, a ReLU on the output). Exactly one network must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import numpy as np

from grader import oracle, spec, validate
from grader.checks.base import Context, dims_list
from grader.diagnosis import Diagnosis, Finding, probe
from grader.diagnosis.fit import fits, fits_variant
from grader.outcome import Failed
from grader.spec import Dims

ROWS = 5


def relu(z):
    return np.maximum(z, 0.0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def identity(z):
    return z


@dataclass(frozen=True)
class Network:
    """The contract's network, with a switch per known mistake."""

    activation: Callable = relu
    b1: bool = True
    b2: bool = True
    W1_transposed: bool = False
    W2_transposed: bool = False
    output_relu: bool = False

    def __call__(self, params, X):
        W1 = params["W1"] if self.W1_transposed else params["W1"].T
        W2 = params["W2"] if self.W2_transposed else params["W2"].T
        hidden = self.activation(X @ W1 + (params["b1"] if self.b1 else 0.0))
        out = hidden @ W2 + (params["b2"] if self.b2 else 0.0)
        return relu(out) if self.output_relu else out


# One named change per known mistake: (id, words, the network's switch).
MISTAKES = {
    "forward.sigmoid": ("forward.wrong_activation", "the hidden layer uses sigmoid instead of ReLU",
                        {"activation": sigmoid}),
    "forward.tanh": ("forward.wrong_activation", "the hidden layer uses tanh instead of ReLU",
                     {"activation": np.tanh}),
    "forward.no_activation": ("forward.wrong_activation", "the hidden layer has no activation (ReLU is missing)",
                              {"activation": identity}),
    "forward.no_b1": ("forward.bias_missing", "b1 is not added", {"b1": False}),
    "forward.no_b2": ("forward.bias_missing", "b2 is not added", {"b2": False}),
    "forward.W1_transposed": ("forward.weights_transposed", "W1 is used as an (in_dim, hidden_dim) matrix (X @ W1 "
                              "instead of X @ W1.T)", {"W1_transposed": True}),
    "forward.W2_transposed": ("forward.weights_transposed", "W2 is used as a (hidden_dim, out_dim) matrix (A1 @ W2 "
                              "instead of A1 @ W2.T)", {"W2_transposed": True}),
    "forward.output_relu": ("forward.output_activation", "a ReLU is applied to the output too (the output layer "
                            "is linear)", {"output_relu": True}),
}

ADVICE = {
    "forward.wrong_activation": "The hidden layer is relu(X W1^T + b1) = max(0, .).",
    "forward.bias_missing": "Both layers add their bias: relu(X W1^T + b1) W2^T + b2.",
    "forward.weights_transposed": "W1 is (hidden_dim, in_dim) and W2 is (out_dim, hidden_dim): multiply by "
                                  "their transposes, and store them in these shapes.",
    "forward.output_activation": "Return A1 W2^T + b2 as it is.",
}


def candidates(max_changes: int = 2):
    """Every network that differs from the contract by one or two known mistakes (two
    changes of the same switch, e.g. two activations, are not a network)."""
    for k in range(1, max_changes + 1):
        for names in combinations(MISTAKES, k):
            switches = [MISTAKES[n][2] for n in names]
            if len({key for s in switches for key in s}) == k:
                yield names, Network(**{key: v for s in switches for key, v in s.items()})


def variants(params, X):
    """(mistakes, output) of each candidate network that these shapes allow."""
    for names, net in candidates():
        try:
            yield names, net(params, X)
        except ValueError:  # a transposed weight that does not fit a non-square layer
            continue


def probe_dims(ctx: Context) -> list[Dims]:
    """Square first (a transposed weight still multiplies); the homework's own dims next,
    for code that only runs there."""
    return [Dims(4, 4, 4), ctx.fixed_dims() or Dims(5, 3, 1)]


def student_output(ctx: Context, dims: Dims):
    params, [(X, _)] = probe.generic(dims, "forward", [ROWS])
    try:
        value = ctx.call("forward", dims=dims_list(dims), params=probe.float32(params), inputs=[np.float32(X)])
        return params, X, validate.tensor(value["outputs"][0], "forward(X)", (ROWS, dims.out_dim))
    except Failed:
        return None


def diagnose(ctx: Context) -> Diagnosis | None:
    if not oracle.available():
        return None
    tol = spec.tolerances()["forward"]
    for dims in probe_dims(ctx):
        ran = student_output(ctx, dims)
        if ran is None:
            continue
        params, X, got = ran
        reference = oracle.forward(params, X)
        evidence = {"probe_dims": dims_list(dims)}
        if fits(got, reference, tol):
            return Diagnosis((), {**evidence, "generic_probe": "correct"})
        fitting = [names for names, output in variants(params, X) if fits_variant(got, output, reference, tol)]
        fewest = [names for names in fitting if len(names) == min(map(len, fitting))]
        if len(fewest) == 1:
            return Diagnosis((finding(fewest[0]),), {**evidence, "fits": list(fewest[0])})
        return Diagnosis((), {**evidence, "fits": [list(n) for n in fitting]})
    return None


def finding(names: tuple[str, ...]) -> Finding:
    ids = list(dict.fromkeys(MISTAKES[n][0] for n in names))
    what = " and ".join(MISTAKES[n][1] for n in names)
    advice = " ".join(ADVICE[i] for i in ids)
    return Finding("+".join(ids), f"forward() computes exactly the network in which {what}. {advice}")
