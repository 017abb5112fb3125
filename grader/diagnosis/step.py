"""training.step: which known mistake one step() fits.

step() runs once on a generic network with generic gradients (lr = 0.1), and each
parameter it returns is compared with P - lr * g and with the known-wrong P + lr * g,
P - g and P (unchanged). Parameters that are right are left out of the hint. In an
assignment with weight decay, weights shrunk inside step() (the decay applied there, not
in backward()) are named after a second step with lr = 1.
"""

from __future__ import annotations

import numpy as np

from grader import spec, validate
from grader.context import Context, dims_list
from grader.diagnoses import Diagnosis, Finding, diagnoses
from grader.diagnosis import probe
from grader.diagnosis.fit import fits, fits_variant
from grader.spec import Dims

ASCENDS = ("training.step_adds", "step() adds lr * grad: P - lr * grad_P goes down the loss, P + lr * grad_P up")


STEP_LR = 0.1


def step_variants(params, grads, lr) -> dict[str, tuple[dict, str]]:
    f = np.float32
    return {
        "training.step_adds": ({k: params[k] + f(lr) * grads[k] for k in params}, ASCENDS[1]),
        "training.step_ignores_lr": ({k: params[k] - grads[k] for k in params},
                                     "step() subtracts the gradient without multiplying it by lr"),
        "training.step_no_update": ({k: params[k] for k in params},
                                    "step() leaves the parameters unchanged (a new local tensor is made but never "
                                    "stored back on self, e.g. `W1 = self.W1 - lr * g`)"),
    }


def stepped(ctx: Context, dims: Dims, params, grads, lr) -> tuple[dict, dict]:
    """(what the student's step(lr) left, what P - lr * grad_P gives)."""
    value = ctx.call("step", dims=dims_list(dims), params=params, grads=grads, lr=lr)
    expected = {k: params[k] - np.float32(lr) * grads[k] for k in params}
    return validate.params_of(ctx.contract, value["params"], dims, "after step(): "), expected


@diagnoses("training.step", clue="training.step")
def diagnose_step(ctx: Context, clue: None = None) -> Diagnosis:
    dims = ctx.fixed_dims() or Dims(3, 5, 2)
    gen = probe.rng("step")
    params = probe.float32(probe.network(ctx.contract, dims, gen))
    grads = probe.float32(probe.network(ctx.contract, dims, gen))
    got, expected = stepped(ctx, dims, params, grads, STEP_LR)
    tol = spec.tolerances()["step"]
    wrong = [k for k in params if not fits(got[k], expected[k], tol)]
    if not wrong:
        return Diagnosis((), {"generic_probe": "correct"})
    for hint_id, (variant, words) in step_variants(params, grads, STEP_LR).items():
        if all(fits_variant(got[k], variant[k], expected[k], tol) for k in wrong):
            which = "" if len(wrong) == len(params) else f" (for {', '.join(wrong)})"
            return Diagnosis((Finding(hint_id, words + which + "."),), {"wrong": wrong})
    if decay_in_step(ctx, dims, params, grads, got, wrong):
        decay = ctx.contract.weight_decay
        return Diagnosis((Finding("training.decay_in_step", DECAY_IN_STEP.format(decay=decay)),), {"wrong": wrong})
    return Diagnosis((), {"wrong": wrong})


DECAY_IN_STEP = ("step() shrinks the weights, W = (1 - weight_decay) * W - lr * grad_W (or (1 - lr * weight_decay) "
                 "* W - ...), instead of taking the plain step W - lr * grad_W: weight decay belongs in backward(), "
                 "grad_W = dL/dW + weight_decay * W (weight_decay = {decay:g}), and step() only subtracts lr * grad.")


def decay_in_step(ctx: Context, dims: Dims, params, grads, got, wrong: list[str]) -> bool:
    """Only weights are off, each by a shrink (1 - weight_decay) or (1 - lr * weight_decay)
    on the probe; with lr = 1 the two are one, lr * weight_decay * W stands clear of the
    tolerance, and the weights must equal (1 - weight_decay) * W - grad_W exactly."""
    c = ctx.contract
    if not c.weight_decay or not set(wrong) <= set(c.weights):
        return False
    tol, f = spec.tolerances()["step"], np.float32
    for k in wrong:
        shrinks = [(1 - f(c.weight_decay) * f(lr)) * params[k] - f(STEP_LR) * grads[k] for lr in (1.0, STEP_LR)]
        if not any(fits(got[k], s, tol) for s in shrinks):
            return False
    at_one, plain = stepped(ctx, dims, params, grads, 1.0)
    shrunk = {k: (1 - f(c.weight_decay)) * params[k] - grads[k] if k in c.weights else plain[k] for k in params}
    return all(fits_variant(at_one[k], shrunk[k], plain[k], tol) if k in c.weights else fits(at_one[k], plain[k], tol)
               for k in params)
