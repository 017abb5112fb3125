"""backward, in an assignment with weight decay: which known form the decay term takes.

The objective is the data loss plus (weight_decay / 2) * (|W1|^2 + |W2|^2), so each weight
matrix's gradient gains weight_decay * W and a bias's gains nothing. The probe makes the
data loss's gradient vanish (targets the network already fits: each row's label is its
largest logit by a wide margin, or y = the network's own output), so what backward()
returns is the decay term alone, and its known-wrong forms differ by their whole size:
left out, 2 * weight_decay * W (the derivative of weight_decay * |W|^2), weight_decay / N
* W, weight_decay / 2 * W, or added to the biases too. Left out of backward() and applied
as a shrink of the weights inside step() is the step's mistake (grader/diagnosis/step.py),
named so here too. A form is named only on an exact fit, and only when it is the one form
that fits.
"""

from __future__ import annotations

import math

import numpy as np

from grader import oracle, spec
from grader.context import Context, dims_list
from grader.diagnoses import Diagnosis, Finding, cached, diagnoses
from grader.diagnosis import maths, probe
from grader.diagnosis.fit import fits, fits_variant
from grader.diagnosis.step import diagnose_step
from grader.spec import Contract, Dims
from grader.strategies import targets

ROWS = 8
MARGIN = 50.0  # logits' margin: exp(-50) leaves nothing of the softmax's error, even in float64

# id -> (multiple of weight_decay * W on the weights, on the biases, words); the multiples
# are functions of N
FORMS = {
    "backward.weight_decay_missing": (lambda n: 0.0, lambda n: 0.0,
                                      "{grads} {are} the gradient of the data loss alone: the objective adds "
                                      "(weight_decay / 2) * |W|^2 for each weight matrix, so each weight's "
                                      "gradient gains weight_decay * W (weight_decay = {decay:g})."),
    "backward.weight_decay_doubled": (lambda n: 2.0, lambda n: 0.0,
                                      "{grads} {are} the data loss's gradient plus 2 * weight_decay * W: the "
                                      "penalty is (weight_decay / 2) * |W|^2, whose gradient is weight_decay * W "
                                      "(weight_decay = {decay:g})."),
    "backward.weight_decay_divided_by_n": (lambda n: 1.0 / n, lambda n: 0.0,
                                           "{grads} {are} the data loss's gradient plus (weight_decay / N) * W "
                                           "(N = rows of the batch): the penalty is not averaged over the batch, so "
                                           "its gradient is weight_decay * W whatever N (weight_decay = {decay:g})."),
    "backward.weight_decay_halved": (lambda n: 0.5, lambda n: 0.0,
                                     "{grads} {are} the data loss's gradient plus (weight_decay / 2) * W: the "
                                     "1/2 of the penalty (weight_decay / 2) * |W|^2 cancels against the 2 of its "
                                     "derivative, so the gradient gains weight_decay * W (weight_decay = "
                                     "{decay:g})."),
    "backward.weight_decay_on_biases": (lambda n: 1.0, lambda n: 1.0,
                                        "{grads} {are} the correct gradient plus weight_decay * b: weight decay "
                                        "applies to the weight matrices only, never to the biases."),
}


def make_probe(c: Contract, dims: Dims) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters of magnitude 1-2 (W2 and b2 scaled for wide margins), a batch of ROWS
    rows, pre-activations clear of 0, targets the network fits."""
    gen = probe.rng("weight_decay")
    for _ in range(1000):
        params = {name: probe.f32(gen.uniform(1.0, 2.0, shape) * gen.choice([-1.0, 1.0], shape))
                  for name, shape in c.param_shapes(dims).items()}
        X = probe.batch(ROWS, dims.in_dim, gen)
        if np.min(np.abs(maths.hidden(c, params, X)[0])) < probe.KINK_MARGIN:
            continue
        if not c.classification:
            return params, X, probe.f32(maths.forward(c, params, X))
        top = np.sort(maths.forward(c, params, X), axis=1)
        margin = float(np.min(top[:, -1] - top[:, -2]))
        if margin < 0.1:
            continue
        scale = math.ceil(MARGIN / margin)
        params.update({k: probe.f32(params[k] * scale) for k in ("W2", "b2") if k in params})
        return params, X, np.argmax(maths.forward(c, params, X), axis=1).astype(np.int64)
    raise RuntimeError(f"no generic probe for {dims}")  # pragma: no cover - never at these sizes


def forms_that_fit(c: Contract, got: dict, params: dict, expected: dict, tol) -> list[str]:
    """The known-wrong forms every gradient fits (a gradient the form leaves right fits it
    as the reference)."""
    found = []
    for form_id, (on_weights, on_biases, _) in FORMS.items():
        share = {n: (on_weights if n in c.weights else on_biases)(ROWS) for n in c.param_names}
        variant = {n: expected[n] + (share[n] - (1.0 if n in c.weights else 0.0)) * c.weight_decay * params[n]
                   for n in c.param_names}
        changed = [n for n in c.param_names if fits_variant(got[n], variant[n], expected[n], tol)]
        if changed and all(n in changed or fits(got[n], expected[n], tol) for n in c.param_names):
            found.append((form_id, changed))
    return found


@diagnoses("backward.matches_reference", "backward.finite_differences", clue="backward.weight_decay")
def diagnose(ctx: Context, clue: None = None) -> Diagnosis | None:
    """A failed gradient check may be a weight-decay mistake, in any assignment with decay."""
    c = ctx.contract
    if not c.weight_decay or not oracle.available():
        return None
    dims = ctx.fixed_dims() or Dims(4, 6, c.small_out_dim)
    params, X, y = make_probe(c, dims)
    value = ctx.call("backward", dims=dims_list(dims), params=probe.float32(params),
                     X=np.float32(X), y=targets(y, "float32"))
    got = {name: probe.returned_array(c, value["grads"].get(name)) for name in c.param_names}
    found = forms_that_fit(c, got, params, oracle.gradients(c, params, X, y), spec.tolerances()["backward"])
    if len(found) != 1:
        return Diagnosis((), {"weight_decay_probe": [f for f, _ in found]} if found else {})
    form_id, names = found[0]
    if form_id == "backward.weight_decay_missing":
        step = cached(ctx, "training.step", lambda: diagnose_step(ctx))
        if "training.decay_in_step" in step.ids:
            return step
    text = FORMS[form_id][2].format(grads=probe.grad_list(c, names), are="are" if len(names) > 1 else "is",
                                    decay=c.weight_decay)
    return Diagnosis((Finding(form_id, text),), {"weight_decay_probe": {form_id: names}})
