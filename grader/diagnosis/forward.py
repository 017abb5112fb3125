"""forward: which known mistake the student's output fits.

The student's forward() runs on one generic probe: a square network (4 -> 4 -> 4, so that
a weight used transposed still multiplies), non-zero biases, pre-activations of both signs.
Its output is compared with the reference's and with the outputs of every network that
differs from the spec's network by one or two known mistakes (a missing bias, another
activation, a weight used transposed in either layout, an activation or a softmax on the
output). Exactly one network must fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Callable

import numpy as np

from grader import oracle, spec, validate
from grader.context import Context, dims_list
from grader.diagnoses import Diagnosis, Finding, diagnoses
from grader.diagnosis import maths, probe
from grader.diagnosis.fit import fits, fits_variant
from grader.outcome import Failed
from grader.spec import Contract, Dims

ROWS = 5


def relu(z):
    return np.maximum(z, 0.0)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def identity(z):
    return z


ACTIVATIONS = {"relu": relu, "tanh": np.tanh, "sigmoid": sigmoid}


@dataclass(frozen=True)
class Network:
    """The contract's network (spec's activation, layout, biases), with a switch per
    known mistake."""

    activation: Callable | None = None  # None: the spec's
    b1: bool = True
    b2: bool = True
    W1_transposed: bool = False
    W2_transposed: bool = False
    output: Callable = identity

    def __call__(self, c: Contract, params, X):
        act = self.activation or ACTIVATIONS[c.activation]
        hidden = act(maths.linear(c, X, params["W1"], params.get("b1") if self.b1 else None, self.W1_transposed))
        return self.output(maths.linear(c, hidden, params["W2"], params.get("b2") if self.b2 else None,
                                        self.W2_transposed))


def mistakes(c: Contract) -> dict[str, tuple[str, str, dict]]:
    """One named change per known mistake of the spec's network: (id, words, switch)."""
    act = c.activation
    found = {f"forward.{name}": ("forward.wrong_activation", f"the hidden layer uses {name} instead of {act}",
                                 {"activation": fn}) for name, fn in ACTIVATIONS.items() if name != act}
    found["forward.no_activation"] = ("forward.wrong_activation", f"the hidden layer has no activation ({act} is "
                                      f"missing)", {"activation": identity})
    if c.bias:
        found["forward.no_b1"] = ("forward.bias_missing", "b1 is not added", {"b1": False})
        found["forward.no_b2"] = ("forward.bias_missing", "b2 is not added", {"b2": False})
    for w, a in (("W1", "X"), ("W2", "A1")):
        used = f"{a} @ {w}.T instead of {a} @ {w}" if c.layout == "in_out" else f"{a} @ {w} instead of {a} @ {w}.T"
        found[f"forward.{w}_transposed"] = ("forward.weights_transposed", f"{w} is used transposed ({used})",
                                            {f"{w}_transposed": True})
    if c.classification:
        found["forward.output_softmax"] = ("forward.output_activation", "the output goes through a softmax (forward "
                                           "returns probabilities, not logits)", {"output": maths.softmax})
    else:
        found["forward.output_activation"] = ("forward.output_activation", f"{act} is applied to the output too "
                                              f"(the output layer is linear)", {"output": ACTIVATIONS[act]})
    return found


def advice(c: Contract, mistake_id: str) -> str:
    w1 = "X @ W1" if c.layout == "in_out" else "X W1^T"
    w2 = "A1 @ W2" if c.layout == "in_out" else "A1 W2^T"
    b1, b2 = (" + b1", " + b2") if c.bias else ("", "")
    network = f"{c.activation}({w1}{b1}) then {w2}{b2}"
    shapes = ("W1 is (in_dim, hidden_dim) and W2 is (hidden_dim, out_dim): multiply by them as they are"
              if c.layout == "in_out" else "W1 is (hidden_dim, in_dim) and W2 is (out_dim, hidden_dim): multiply "
              "by their transposes")
    return {
        "forward.wrong_activation": f"The network is {network}.",
        "forward.bias_missing": f"Both layers add their bias: {network}.",
        "forward.weights_transposed": f"{shapes}, and store them in these shapes.",
        "forward.output_activation": f"Return {w2}{b2} as it is" + (" (the loss takes the logits)."
                                                                    if c.classification else "."),
    }[mistake_id]


def candidates(c: Contract, max_changes: int = 2):
    """Every network that differs from the contract by one or two known mistakes (two
    changes of the same switch, e.g. two activations, are not a network)."""
    for k in range(1, max_changes + 1):
        named = mistakes(c)
        for names in combinations(named, k):
            switches = [named[n][2] for n in names]
            if len({key for s in switches for key in s}) == k:
                yield names, Network(**{key: v for s in switches for key, v in s.items()})


def variants(c: Contract, params, X):
    """(mistakes, output) of each candidate network that these shapes allow."""
    for names, net in candidates(c):
        try:
            yield names, net(c, params, X)
        except ValueError:  # a transposed weight that does not fit a non-square layer
            continue


def probe_dims(ctx: Context) -> list[Dims]:
    """Square first (a transposed weight still multiplies); the homework's own dims next,
    for code that only runs there."""
    return [Dims(4, 4, 4), ctx.fixed_dims() or Dims(5, 3, 1)]


def student_output(ctx: Context, dims: Dims):
    params, [(X, _)] = probe.generic(ctx.contract, dims, "forward", [ROWS])
    try:
        value = ctx.call("forward", dims=dims_list(dims), params=probe.float32(params), inputs=[np.float32(X)])
        return params, X, validate.tensor(ctx.contract, value["outputs"][0], "forward(X)", (ROWS, dims.out_dim))
    except Failed:
        return None


@diagnoses("forward.matches_reference", clue="forward")
def diagnose(ctx: Context, clue: None = None) -> Diagnosis | None:
    if not oracle.available():
        return None
    tol = spec.tolerances()["forward"]
    for dims in probe_dims(ctx):
        ran = student_output(ctx, dims)
        if ran is None:
            continue
        params, X, got = ran
        reference = oracle.forward(ctx.contract, params, X)
        evidence = {"probe_dims": dims_list(dims)}
        if fits(got, reference, tol):
            return Diagnosis((), {**evidence, "generic_probe": "correct"})
        fitting = [names for names, output in variants(ctx.contract, params, X)
                   if fits_variant(got, output, reference, tol)]
        fewest = [names for names in fitting if len(names) == min(map(len, fitting))]
        if len(fewest) == 1:
            return Diagnosis((finding(ctx.contract, fewest[0]),), {**evidence, "fits": list(fewest[0])})
        return Diagnosis((), {**evidence, "fits": [list(n) for n in fitting]})
    return None


def finding(c: Contract, names: tuple[str, ...]) -> Finding:
    named = mistakes(c)
    ids = list(dict.fromkeys(named[n][0] for n in names))
    what = " and ".join(named[n][1] for n in names)
    return Finding("+".join(ids), f"forward() computes exactly the network in which {what}. "
                                  + " ".join(advice(c, i) for i in ids))
