"""backward: which known mistake the student's gradients fit.

The student's backward() is called on two generic probes (N = 5; N = 7 after forward() on
two other batches of 7 rows) and each gradient is compared, probe by probe, with

- the reference (oracle, float64),
- structural variants, small functions below: the ReLU derivative left out, the cache of
  an earlier forward() used, the gradient transposed,
- a constant multiple of the reference, classified by how the constant depends on N:
  1/2 (factor 2 missing), -1 (sign), N (1/N missing), N/B for a fixed B (divided by a
  fixed batch size), 1/N for a bias (averaged instead of summed), and products of two.

Two batch sizes are what tell "missing 1/N" from "a constant factor". Each gradient gets
one explanation; gradients with the same explanation are reported together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable

import numpy as np

from grader import oracle, spec
from grader.checks.base import Context, dims_list
from grader.diagnosis import Diagnosis, Finding, cached, probe
from grader.diagnosis import forward as forward_diagnosis
from grader.diagnosis.fit import distinct, fits, number, same, scale_of
from grader.spec import Dims

ROWS = (5, 7)
EARLIER = 2  # forward() calls on other batches before the second probe's own


@dataclass
class Probe:
    params: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    earlier: list[np.ndarray] = field(default_factory=list)
    got: dict[str, np.ndarray | None] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.X.shape[0]


# -- the reference's known-wrong variants (float64) -------------------------------------

def _gradients(params, X, y, cached_X=None, relu_derivative=True) -> dict[str, np.ndarray]:
    """The contract's gradients, with the hidden layer taken from `cached_X` (what an
    earlier forward cached) and optionally without the ReLU derivative."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    hidden_in = X if cached_X is None else cached_X
    pred = np.maximum(X @ W1.T + b1, 0) @ W2.T + b2
    Z1 = hidden_in @ W1.T + b1
    d_pred = 2.0 * (pred - y) / pred.size
    d_Z1 = d_pred @ W2
    if relu_derivative:
        d_Z1 = d_Z1 * (Z1 > 0)
    return {"W1": d_Z1.T @ hidden_in, "b1": d_Z1.sum(0), "W2": d_pred.T @ np.maximum(Z1, 0), "b2": d_pred.sum(0)}


def relu_derivative_missing(p: Probe) -> dict[str, np.ndarray]:
    return _gradients(p.params, p.X, p.y, relu_derivative=False)


def stale_cache(p: Probe) -> dict[str, np.ndarray]:
    """backward() on the values cached by the first forward() of the sequence."""
    return _gradients(p.params, p.X, p.y, cached_X=p.earlier[0] if p.earlier else None)


STRUCTURAL: dict[str, Callable[[Probe], dict[str, np.ndarray]]] = {
    "backward.relu_derivative_missing": relu_derivative_missing,
    "backward.stale_cache": stale_cache,
}


# Constant multiples of the reference, as a function of the batch size N.
def missing_factor_2(n: int) -> float:
    return 0.5


def sign_flipped(n: int) -> float:
    return -1.0


def missing_mean(n: int) -> float:
    return float(n)


def averaged_again(n: int) -> float:
    """An extra 1/N: a bias gradient averaged (mean) instead of summed over the batch."""
    return 1.0 / n


SCALES: dict[str, Callable[[int], float]] = {
    "backward.missing_factor_2": missing_factor_2,
    "backward.sign_flipped": sign_flipped,
    "backward.missing_mean": missing_mean,
    "backward.bias_averaged": averaged_again,
}


# -- the probe ----------------------------------------------------------------------------

def make_probes(dims: Dims) -> list[Probe]:
    """N = 5 alone; N = 7 after forward() on two other batches of 7 rows."""
    params, batches = probe.generic(dims, "backward", [ROWS[0], ROWS[1]] + [ROWS[1]] * EARLIER)
    (XA, yA), (XB, yB), *others = batches
    return [Probe(params, XA, yA), Probe(params, XB, yB, [x for x, _ in others])]


def probes(ctx: Context) -> list[Probe]:
    """The probes, with what the student's backward() returned on each."""
    dims = ctx.fixed_dims() or Dims(4, 6, 1)
    found = make_probes(dims)
    for p in found:
        value = ctx.call("backward", dims=dims_list(dims), params=probe.float32(p.params),
                         X=np.float32(p.X), y=np.float32(p.y), earlier_inputs=[np.float32(x) for x in p.earlier])
        p.got = {name: probe.returned_array(value["grads"].get(name)) for name in spec.contract().param_names}
    return found


# -- explaining one gradient ------------------------------------------------------------

CORRECT = ("correct",)


def explain(name: str, found: list[Probe], refs: list[dict], tol) -> tuple:
    """How one gradient relates to the reference on every probe: ('correct',), (id,) of a
    structural variant or a named scale (two ids for a product of two), ('backward.
    fixed_batch_divisor', 'divisor', B), ('scale', factors) or ('unexplained',)."""
    gots = [p.got[name] for p in found]
    expected = [r[name] for r in refs]
    if all(fits(g, e, tol) for g, e in zip(gots, expected)):
        return CORRECT
    pairs = list(zip(gots, expected))
    if all(g is not None and g.ndim == 2 and fits(g.T, e, tol) and distinct(e.T, e, tol) for g, e in pairs):
        return ("backward.transposed",)
    for variant_id, variant in STRUCTURAL.items():
        values = [variant(p)[name] for p in found]
        if all(fits(g, v, tol) for g, v in zip(gots, values)) and any(
                distinct(v, e, tol) for v, e in zip(values, expected)):
            return (variant_id,)
    factors = [scale_of(g, e, tol) for g, e in zip(gots, expected)]
    if all(c is not None for c in factors):
        explanation = classify_scale(name, factors, [p.n for p in found])
        # any one number is "a multiple" of another: only a named pattern says something
        if explanation[0] != "scale" or expected[0].size > 1:
            return explanation
    return ("unexplained",)


def classify_scale(name: str, factors: list[float], ns: list[int]) -> tuple:
    """Which named constant (or product of two) the per-probe factors follow."""
    singles = [(k,) for k in SCALES] + list(combinations(SCALES, 2))
    for ids in singles:
        if all(same(c, np.prod([SCALES[k](n) for k in ids])) for c, n in zip(factors, ns)):
            return tuple(_bias_or_weight(i, name) for i in ids)
    divisors = [n / c for c, n in zip(factors, ns)]
    if all(d > 1.5 and same(d, divisors[0]) and abs(d - round(d)) < 1e-3 * d for d in divisors):
        return ("backward.fixed_batch_divisor", "divisor", round(divisors[0]))
    return ("scale", tuple(factors))


def _bias_or_weight(scale_id: str, name: str) -> str:
    """An extra 1/N on a weight is not an averaged bias: it is a second division by N."""
    return scale_id if scale_id != "backward.bias_averaged" or name.startswith("b") else "backward.divided_by_n_twice"


# -- words --------------------------------------------------------------------------------

TEXTS = {
    "backward.missing_factor_2": "{grads} {are} exactly 1/2 of the correct values: the derivative of (pred - y)**2 "
                                 "is 2 * (pred - y), so dL/dpred = 2 * (pred - y) / N; the factor 2 is missing.",
    "backward.sign_flipped": "{grads} {are} exactly the negative of the correct values: dL/dpred is "
                             "2 * (pred - y) / N, not 2 * (y - pred) / N (with the wrong sign, step() climbs the "
                             "loss).",
    "backward.missing_mean": "{grads} {are} exactly N times the correct values (N = rows of the batch, for every N "
                             "tried): L is the mean over the N * out_dim entries, so dL/dpred = 2 * (pred - y) / "
                             "(N * out_dim); the division by N is missing.",
    "backward.bias_averaged": "{grads} {are} exactly 1/N of the correct values (for every batch size N tried): "
                              "dL/dpred already holds the 1/N of the mean, so a bias gradient is the sum over the "
                              "batch (.sum(dim=0)), not the mean.",
    "backward.divided_by_n_twice": "{grads} {are} exactly 1/N of the correct values (for every batch size N "
                                   "tried): the division by N happens twice.",
    "backward.relu_derivative_missing": "{grads} {equal} what backprop gives without the ReLU derivative: multiply "
                                        "dL/dA1 elementwise by (Z1 > 0) before computing grad_W1 and grad_b1.",
    "backward.stale_cache": "after forward() on other batches and then forward(X), {grads} {are} computed from what "
                            "the first forward() cached, not the latest: every forward() must overwrite the cache "
                            "that backward() uses.",
    "backward.transposed": "{grads} {have} the transposed shape and {equal} the transpose of the correct gradient: a "
                           "gradient has the shape of its parameter, e.g. grad_W1 = dZ1.T @ X of shape "
                           "(hidden_dim, in_dim), not X.T @ dZ1.",
}


def _words(params: list[str]) -> dict[str, str]:
    one = len(params) == 1
    return {"grads": probe.grad_list(params), "are": "is" if one else "are", "have": "has" if one else "have",
            "equal": "equals" if one else "equal", "differ": "differs" if one else "differ"}


def finding(explanation: tuple, params: list[str]) -> Finding:
    words = _words(params)
    grads = words["grads"]
    kind = explanation[0]
    if kind == "backward.fixed_batch_divisor":
        b = explanation[2]
        return Finding(kind, f"{grads} {words['equal']} the correct values times N/{b} for every batch size N "
                             f"tried: backward() divides by a fixed {b} (a batch-size constant?) instead of the "
                             f"rows N of pred; the last batch of an epoch is shorter, so use pred.shape[0].")
    if kind == "scale":
        factors = ", ".join(number(c) for c in explanation[1])
        return Finding(None, f"{grads} {words['are']} exactly a multiple of the correct values ({factors} for N = "
                             f"{', '.join(map(str, ROWS))}), which fits no known mistake.")
    if kind == "unexplained":
        return Finding(None, f"{grads} {words['differ']} from the correct values in a way that fits no known mistake "
                             f"(not a multiple, not transposed).")
    texts = [TEXTS[i].format(**words) for i in explanation]
    if len(texts) == 1:
        return Finding(kind, texts[0])
    causes = [text.split(": ", 1)[1] for text in texts]  # each text is "<fact>: <cause>"
    return Finding("+".join(explanation), f"{grads} {words['are']} off by the product of two known mistakes. "
                                          + " ".join(f"{n}, {c}" for n, c in zip(("First", "Second"), causes)))


# -- the diagnosis ------------------------------------------------------------------------

def diagnose(ctx: Context) -> Diagnosis | None:
    if not oracle.available():
        return None
    tol = spec.tolerances()["backward"]
    found = probes(ctx)
    refs = [oracle.gradients(p.params, p.X, p.y) for p in found]
    explanations = {name: explain(name, found, refs, tol) for name in spec.contract().param_names}
    evidence = {"probe_rows": list(ROWS), "per_gradient": {n: _plain(e) for n, e in explanations.items()}}
    wrong: dict[tuple, list[str]] = {}
    for name, explanation in explanations.items():
        if explanation != CORRECT:
            wrong.setdefault(explanation, []).append(name)
    if not wrong:  # the failure needs special inputs (kinks, float64...): the check's message says which
        return Diagnosis((), {**evidence, "generic_probe": "correct"})
    findings = [finding(explanation, params) for explanation, params in wrong.items()]
    if all(f.id is None for f in findings):
        # no backward mistake fits; if forward() is off, that is what to fix first (the
        # gradients are then of another network, and the facts above stay in the evidence)
        findings = forward_note(ctx) or findings
    return Diagnosis(tuple(findings), evidence)


def forward_note(ctx: Context) -> list[Finding]:
    """When no backward mistake fits but forward() itself is off, say so (with its id)."""
    note = cached(ctx, "forward", lambda: forward_diagnosis.diagnose(ctx))
    if not note.ids:
        return []
    return [Finding(note.ids[0], "Your forward() is not the contract's network, and backward() is compared with "
                                 "the contract's gradients: " + note.hint)]


def diagnose_finite_differences(ctx: Context) -> Diagnosis | None:
    """Finite differences judge backward() against the student's own forward(): when
    backward() is the contract's, the disagreement comes from forward()."""
    result = cached(ctx, "backward", lambda: diagnose(ctx))
    if result.evidence.get("generic_probe") != "correct":
        return result
    note = forward_note(ctx)
    if not note:
        return result
    return Diagnosis(tuple(note), result.evidence)


def _plain(explanation: tuple) -> list:
    return [round(x, 6) if isinstance(x, float) else ([round(v, 6) for v in x] if isinstance(x, tuple) else x)
            for x in explanation]
