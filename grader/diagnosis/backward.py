"""backward: which known mistake the student's gradients fit.

The student's backward() is called on two generic probes (N = 5; N = 7 after forward() on
two other batches of 7 rows) and each gradient is compared, probe by probe, with

- the reference (oracle, float64),
- structural variants of the spec's maths (grader/diagnosis/maths.py): the activation's
  derivative left out or miswritten (tanh' as 1 - tanh or 1 - z**2), the softmax's maximum
  taken over the batch, int labels subtracted as if one-hot, the cache of an earlier
  forward() used, the gradient transposed (in either layout);
- a constant multiple of the data loss's gradient (the weight-decay term as it is),
  classified by how the constant depends on N: 1/2 (factor 2 of an MSE missing), -1
  (sign), N (1/N missing: the loss summed, not averaged), N/B for a fixed B (divided by a
  fixed batch size), 1/N for a bias (averaged instead of summed), and products of two.

Two batch sizes are what tell "missing 1/N" from "a constant factor". Each gradient gets
one explanation; gradients with the same explanation are reported together. A mistake in
the weight-decay term is found first, on its own probe (grader/diagnosis/weight_decay.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable

import numpy as np

from grader import oracle, spec
from grader.context import Context, dims_list
from grader.outcome import Failed
from grader.diagnoses import Diagnosis, Finding, cached, diagnoses
from grader.diagnosis import probe
from grader.diagnosis import forward as forward_diagnosis
from grader.diagnosis import weight_decay
from grader.diagnosis import maths
from grader.diagnosis.fit import distinct, fits, fits_variant, number, same, scale_of
from grader.diagnosis.maths import Mistakes
from grader.spec import Contract, Dims
from grader.strategies import targets

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


# -- the known-wrong variants, built from the spec (grader/diagnosis/maths.py) -------------

OUTPUT_IDS = {"softmax_wrong_axis": "backward.softmax_wrong_axis", "labels_as_rows": "backward.labels_as_one_hot",
              "labels_as_columns": "backward.labels_as_one_hot"}


def structural(contract: Contract) -> dict[str, tuple[str, Mistakes | None]]:
    """variant name -> (its id, its switches; None for the stale cache), for this spec."""
    found: dict[str, tuple[str, Mistakes | None]] = {}
    for how in maths.DERIVATIVES[contract.activation]:
        if how != "right":
            kind = "derivative_missing" if how == "missing" else "derivative_wrong"
            found[f"derivative.{how}"] = (f"backward.{contract.activation}_{kind}", Mistakes(derivative=how))
    for how in maths.OUTPUT_GRADIENTS[contract.loss]:
        if how not in ("right", "labels_as_columns"):  # the columns' broadcast needs its own probe
            found[f"output.{how}"] = (OUTPUT_IDS[how], Mistakes(output_gradient=how))
    found["stale_cache"] = ("backward.stale_cache", None)
    return found


def variant(c: Contract, p: Probe, name: str) -> dict[str, np.ndarray]:
    """The gradients of the structural variant `name` on probe p."""
    _, mistakes = structural(c)[name]
    if mistakes is None:  # backward() on what the first forward() of the sequence cached
        return maths.gradients(c, p.params, p.X, p.y, cached_X=p.earlier[0] if p.earlier else None)
    return maths.gradients(c, p.params, p.X, p.y, mistakes)


# Constant multiples of the data loss's gradient, as a function of the batch size N.
def missing_factor_2(n: int) -> float:
    return 0.5


def sign_flipped(n: int) -> float:
    return -1.0


def missing_mean(n: int) -> float:
    return float(n)


def averaged_again(n: int) -> float:
    """An extra 1/N: a bias gradient averaged (mean) instead of summed over the batch."""
    return 1.0 / n


def scales(contract: Contract) -> dict[str, Callable[[int], float]]:
    """The named constants of this spec's maths (cross-entropy has no factor 2 to forget, a
    network without biases no bias to average)."""
    found = {"backward.missing_factor_2": missing_factor_2} if contract.loss == "mse" else {}
    found.update({"backward.sign_flipped": sign_flipped, "backward.missing_mean": missing_mean})
    return {**found, "backward.bias_averaged": averaged_again} if contract.bias else found


# -- the probe ----------------------------------------------------------------------------

def make_probes(c: Contract, dims: Dims) -> list[Probe]:
    """N = 5 alone; N = 7 after forward() on two other batches of 7 rows."""
    params, batches = probe.generic(c, dims, "backward", [ROWS[0], ROWS[1]] + [ROWS[1]] * EARLIER)
    (XA, yA), (XB, yB), *others = batches
    return [Probe(params, XA, yA), Probe(params, XB, yB, [x for x, _ in others])]


def probe_dims(ctx: Context) -> Dims:
    return ctx.fixed_dims() or Dims(4, 6, ctx.contract.small_out_dim)


def probes(ctx: Context) -> list[Probe]:
    """The probes, with what the student's backward() returned on each."""
    dims = probe_dims(ctx)
    found = make_probes(ctx.contract, dims)
    for p in found:
        run(ctx, dims, p)
    return found


def run(ctx: Context, dims: Dims, p: Probe) -> None:
    value = ctx.call("backward", dims=dims_list(dims), params=probe.float32(p.params),
                     X=np.float32(p.X), y=targets(p.y, "float32"), earlier_inputs=[np.float32(x) for x in p.earlier])
    p.got = {name: probe.returned_array(ctx.contract, value["grads"].get(name)) for name in ctx.contract.param_names}


def labels_probe(ctx: Context) -> Diagnosis | None:
    """Cross-entropy code that subtracts the int labels y (N,) from the probabilities as if
    y were one-hot: (N, C) - (N,) broadcasts only when N == C (elsewhere it raises), so it
    is tried on a batch of exactly C rows (None when the code fails there too)."""
    c = ctx.contract
    if not c.classification:
        return None
    dims = probe_dims(ctx)
    params, [(X, y)] = probe.generic(c, dims, "backward.labels", [dims.out_dim])
    p = Probe(params, X, y)
    try:
        run(ctx, dims, p)
    except Failed:
        return None
    tol = spec.tolerances()["backward"]
    expected = oracle.gradients(c, params, X, y)
    wrong = maths.gradients(c, params, X, y, Mistakes(output_gradient="labels_as_columns"))
    names = [n for n in c.param_names if not fits(p.got[n], expected[n], tol)]
    if names and all(fits_variant(p.got[n], wrong[n], expected[n], tol) for n in names):
        explanation = ("backward.labels_as_one_hot", "variant", "labels_as_columns")
        return Diagnosis((finding(c, explanation, names),), {"labels_probe_rows": dims.out_dim})
    return None


# -- explaining one gradient ------------------------------------------------------------

CORRECT = ("correct",)


def explain(c: Contract, name: str, found: list[Probe], refs: list[dict], tol) -> tuple:
    """How one gradient relates to the reference on every probe: ('correct',),
    ('backward.transposed',), (id, 'variant', name) of a structural variant, (id,) of a
    named scale (two ids for a product of two), ('backward.fixed_batch_divisor', 'divisor',
    B), ('scale', factors) or ('unexplained',)."""
    gots = [p.got[name] for p in found]
    expected = [r[name] for r in refs]
    if all(fits(g, e, tol) for g, e in zip(gots, expected)):
        return CORRECT
    pairs = list(zip(gots, expected))
    if all(g is not None and g.ndim == 2 and fits(g.T, e, tol) and distinct(e.T, e, tol) for g, e in pairs):
        return ("backward.transposed",)
    for key, (variant_id, _) in structural(c).items():
        values = [variant(c, p, key)[name] for p in found]
        if all(fits(g, v, tol) for g, v in zip(gots, values)) and any(
                distinct(v, e, tol) for v, e in zip(values, expected)):
            return (variant_id, "variant", key)
    # a constant multiple of the data loss's gradient, the weight decay's term left as it is
    decay = [maths.decay_terms(c, p.params)[name] for p in found]
    factors = [scale_of(None if g is None else g - d, e - d, tol) for g, e, d in zip(gots, expected, decay)]
    if all(f is not None for f in factors):
        explanation = classify_scale(c, name, factors, [p.n for p in found])
        # any one number is "a multiple" of another: only a named pattern says something
        if explanation[0] != "scale" or expected[0].size > 1:
            return explanation
    return ("unexplained",)


def classify_scale(c: Contract, name: str, factors: list[float], ns: list[int]) -> tuple:
    """Which named constant (or product of two) the per-probe factors follow."""
    named = scales(c)
    singles = [(k,) for k in named] + list(combinations(named, 2))
    for ids in singles:
        if all(same(f, np.prod([named[k](n) for k in ids])) for f, n in zip(factors, ns)):
            return tuple(_bias_or_weight(i, name) for i in ids)
    divisors = [n / f for f, n in zip(factors, ns)]
    if all(d > 1.5 and same(d, divisors[0]) and abs(d - round(d)) < 1e-3 * d for d in divisors):
        return ("backward.fixed_batch_divisor", "divisor", round(divisors[0]))
    return ("scale", tuple(factors))


def _bias_or_weight(scale_id: str, name: str) -> str:
    """An extra 1/N on a weight is not an averaged bias: it is a second division by N."""
    return scale_id if scale_id != "backward.bias_averaged" or name.startswith("b") else "backward.divided_by_n_twice"


# -- words --------------------------------------------------------------------------------

def texts(contract: Contract) -> dict[str, str]:
    """Each mistake's words, "<fact>: <cause>", in the spec's own maths."""
    if contract.loss == "mse":
        d_out, right, flipped = "dL/dpred", "2 * (pred - y) / N", "2 * (y - pred) / N"
        mean = ("L is the mean over the N * out_dim entries (the loss is averaged, not summed), so dL/dpred = "
                "2 * (pred - y) / (N * out_dim); the division by N is missing.")
    else:
        d_out, right, flipped = "dL/dlogits", "(softmax(logits) - onehot(y)) / N", "(onehot(y) - softmax(logits)) / N"
        mean = ("the cross-entropy is the mean over the N samples (averaged, not summed), so dL/dlogits = "
                "(softmax(logits) - onehot(y)) / N; the division by N is missing.")
    if contract.activation == "relu":
        derivative, d_name = "(Z1 > 0)", "the ReLU derivative"
    else:
        derivative, d_name = "1 - tanh(Z1)**2", "the tanh derivative"
    if contract.layout == "out_in":
        transposed = "grad_W1 = dZ1.T @ X of shape (hidden_dim, in_dim), not X.T @ dZ1"
    else:
        transposed = "W1 is (in_dim, hidden_dim), so grad_W1 = X.T @ dZ1, not dZ1.T @ X (hidden_dim, in_dim)"
    return {
        "backward.missing_factor_2": "{grads} {are} exactly 1/2 of the correct values: the derivative of (pred - y)**2 "
                                     "is 2 * (pred - y), so dL/dpred = 2 * (pred - y) / N; the factor 2 is missing.",
        "backward.sign_flipped": "{grads} {are} exactly the negative of the correct values: " + d_out + " is "
                                 + right + ", not " + flipped + " (with the wrong sign, step() climbs the loss).",
        "backward.missing_mean": "{grads} {are} exactly N times the correct values (N = rows of the batch, for every "
                                 "N tried): " + mean,
        "backward.bias_averaged": "{grads} {are} exactly 1/N of the correct values (for every batch size N tried): "
                                  + d_out + " already holds the 1/N of the mean, so a bias gradient is the sum over "
                                  "the batch (.sum(dim=0)), not the mean.",
        "backward.divided_by_n_twice": "{grads} {are} exactly 1/N of the correct values (for every batch size N "
                                       "tried): the division by N happens twice.",
        f"backward.{contract.activation}_derivative_missing": "{grads} {equal} what backprop gives without "
                                                                + d_name + ": multiply dL/dA1 elementwise by "
                                                                + derivative + " before computing grad_W1"
                                                                + (" and grad_b1." if contract.bias else "."),
        "backward.tanh_derivative_wrong": "{grads} {equal} what backprop gives with tanh'(z) written as {how}: "
                                          "tanh'(z) = 1 - tanh(z)**2, i.e. 1 - A1**2 with the cached activation.",
        "backward.softmax_wrong_axis": "{grads} {equal} what backprop gives when the softmax subtracts the maximum "
                                       "over the batch (dim=0) instead of each row's: every column is then shifted "
                                       "by its own number and the probabilities change; use logits - "
                                       "logits.max(dim=1, keepdim=True).values.",
        "backward.labels_as_one_hot": "{grads} {equal} what backprop gives when the int labels y are subtracted "
                                      "from the probabilities as if y were one-hot ({how}): y holds class indices "
                                      "of shape (N,), so subtract 1 at each row's label, e.g. probs[torch.arange(N), "
                                      "y] -= 1.",
        "backward.stale_cache": "after forward() on other batches and then forward(X), {grads} {are} computed from "
                                "what the first forward() cached, not the latest: every forward() must overwrite the "
                                "cache that backward() uses.",
        "backward.transposed": "{grads} {have} the transposed shape and {equal} the transpose of the correct "
                               "gradient: a gradient has the shape of its parameter; " + transposed + ".",
    }


# how a structural variant's code reads, where one id covers several
HOW = {"derivative.one_minus_tanh": "1 - tanh(z)", "derivative.one_minus_z_squared": "1 - z**2",
       "output.labels_as_rows": "probs - y.view(-1, 1)", "labels_as_columns": "probs - y, broadcast along the classes"}


def _words(c: Contract, params: list[str]) -> dict[str, str]:
    one = len(params) == 1
    return {"grads": probe.grad_list(c, params), "are": "is" if one else "are", "have": "has" if one else "have",
            "equal": "equals" if one else "equal", "differ": "differs" if one else "differ"}


def finding(c: Contract, explanation: tuple, params: list[str]) -> Finding:
    words = _words(c, params)
    grads = words["grads"]
    kind = explanation[0]
    if kind == "backward.fixed_batch_divisor":
        b = explanation[2]
        return Finding(kind, f"{grads} {words['equal']} the correct values times N/{b} for every batch size N "
                             f"tried: backward() divides by a fixed {b} (a batch-size constant?) instead of the "
                             f"rows N of pred; the last batch of an epoch is shorter, so use pred.shape[0].")
    if kind == "scale":
        factors = ", ".join(number(f) for f in explanation[1])
        return Finding(None, f"{grads} {words['are']} exactly a multiple of the correct values ({factors} for N = "
                             f"{', '.join(map(str, ROWS))}), which fits no known mistake.")
    if kind == "unexplained":
        return Finding(None, f"{grads} {words['differ']} from the correct values in a way that fits no known mistake "
                             f"(not a multiple, not transposed).")
    words_of = texts(c)
    if explanation[1:2] == ("variant",):
        return Finding(kind, words_of[kind].format(how=HOW.get(explanation[2], ""), **words))
    said = [words_of[i].format(**words) for i in explanation]
    if len(said) == 1:
        return Finding(kind, said[0])
    causes = [text.split(": ", 1)[1] for text in said]  # each text is "<fact>: <cause>"
    return Finding("+".join(explanation), f"{grads} {words['are']} off by the product of two known mistakes. "
                                          + " ".join(f"{n}, {c}" for n, c in zip(("First", "Second"), causes)))


# -- the diagnosis ------------------------------------------------------------------------

@diagnoses("backward.matches_reference", "backward.latest_cache", clue="backward")
def diagnose(ctx: Context, clue: None = None) -> Diagnosis | None:
    if not oracle.available():
        return None
    decay = cached(ctx, "backward.weight_decay", lambda: weight_decay.diagnose(ctx))
    if decay.ids:  # the data loss's gradient is right and its decay term is not
        return decay
    tol = spec.tolerances()["backward"]
    try:
        found = probes(ctx)
    except Failed:
        labels = labels_probe(ctx)  # code written for one-hot targets raises on most batches
        if labels:
            return labels
        raise
    c = ctx.contract
    refs = [oracle.gradients(c, p.params, p.X, p.y) for p in found]
    explanations = {name: explain(c, name, found, refs, tol) for name in c.param_names}
    evidence = {"probe_rows": list(ROWS), "per_gradient": {n: _plain(e) for n, e in explanations.items()}}
    wrong: dict[tuple, list[str]] = {}
    for name, explanation in explanations.items():
        if explanation != CORRECT:
            wrong.setdefault(explanation, []).append(name)
    if not wrong:  # the failure needs special inputs (kinks, float64...): the check's message says which
        return Diagnosis((), {**evidence, "generic_probe": "correct"})
    findings = [finding(c, explanation, params) for explanation, params in wrong.items()]
    if all(f.id is None for f in findings):
        # no backward mistake fits; if forward() is off, that is what to fix first (the
        # gradients are then of another network, and the facts above stay in the evidence)
        labels = labels_probe(ctx)
        findings = list(labels.findings) if labels else forward_note(ctx) or findings
    return Diagnosis(tuple(findings), evidence)


def forward_note(ctx: Context) -> list[Finding]:
    """When no backward mistake fits but forward() itself is off, say so (with its id)."""
    note = cached(ctx, "forward", lambda: forward_diagnosis.diagnose(ctx))
    if not note.ids:
        return []
    return [Finding(note.ids[0], "Your forward() is not the contract's network, and backward() is compared with "
                                 "the contract's gradients: " + note.hint)]


@diagnoses("backward.finite_differences", clue="backward.finite_differences")
def diagnose_finite_differences(ctx: Context, clue: None = None) -> Diagnosis | None:
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
