"""backward, in an assignment with weight decay: the decay term left out of the weights'
gradients, or added to the biases'.

The objective is the data loss plus (weight_decay / 2) * (|W1|^2 + |W2|^2), so each weight
matrix's gradient gains weight_decay * W and a bias's gains nothing. On one generic probe
whose parameters are large next to the data loss's gradients (so that a decay term of
1e-3 * P stands ten tolerances clear of the reference), each gradient is compared with
the reference and with the reference minus (weights) or plus (biases) weight_decay * P.
A mistake is named only on an exact fit. Unlike the other signatures, these hold for any
loss and activation: the decay term does not depend on them.
"""

from __future__ import annotations

import numpy as np

from grader import oracle, spec
from grader.checks.base import Context, dims_list
from grader.diagnosis import Diagnosis, Finding, probe
from grader.diagnosis.fit import fits_variant
from grader.spec import Dims
from grader.strategies import labels_from_scores, preactivations, targets

ROWS = 8

TEXTS = {
    "backward.weight_decay_missing": "{grads} {are} the gradient of the data loss alone: the objective adds "
                                     "(weight_decay / 2) * |W|^2 for each weight matrix, so each weight's "
                                     "gradient gains weight_decay * W (weight_decay = {decay:g}).",
    "backward.weight_decay_on_biases": "{grads} {are} the correct gradient plus weight_decay * b: weight decay "
                                       "applies to the weight matrices only, never to the biases.",
}


def make_probe(dims: Dims) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Parameters of magnitude 1-2, a batch of ROWS rows, pre-activations clear of 0."""
    gen = probe.rng("weight_decay")
    for _ in range(1000):
        params = {name: probe.f32(gen.uniform(1.0, 2.0, shape) * gen.choice([-1.0, 1.0], shape))
                  for name, shape in spec.contract().param_shapes(dims).items()}
        X = probe.batch(ROWS, dims.in_dim, gen)
        if np.min(np.abs(preactivations(params, X))) >= probe.KINK_MARGIN:
            return params, X, labels_from_scores(probe.batch(ROWS, dims.out_dim, gen))
    raise RuntimeError(f"no generic probe for {dims}")  # pragma: no cover - never at these sizes


def diagnose(ctx: Context) -> Diagnosis | None:
    c = spec.contract()
    if not c.weight_decay or not oracle.available():
        return None
    dims = ctx.fixed_dims() or Dims(4, 6, c.small_out_dim)
    params, X, y = make_probe(dims)
    value = ctx.call("backward", dims=dims_list(dims), params=probe.float32(params),
                     X=np.float32(X), y=targets(y, "float32"))
    expected = oracle.gradients(params, X, y)
    tol = spec.tolerances()["backward"]
    found: dict[str, list[str]] = {}
    for name in c.param_names:
        got = probe.returned_array(value["grads"].get(name))
        weight = name.startswith("W")
        variant = expected[name] + (-1.0 if weight else 1.0) * c.weight_decay * params[name]
        if fits_variant(got, variant, expected[name], tol):
            found.setdefault("backward.weight_decay_missing" if weight else "backward.weight_decay_on_biases",
                             []).append(name)
    findings = tuple(Finding(finding_id, _text(finding_id, names, c.weight_decay)) for finding_id, names in found.items())
    return Diagnosis(findings, {"weight_decay_probe": found} if found else {})


def _text(finding_id: str, names: list[str], decay: float) -> str:
    return TEXTS[finding_id].format(grads=probe.grad_list(names), are="are" if len(names) > 1 else "is", decay=decay)
