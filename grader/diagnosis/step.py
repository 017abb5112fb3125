"""training.step: which known mistake one step() fits.

step() runs once on a generic network with generic gradients (lr = 0.1), and each
parameter it returns is compared with P - lr * g and with the known-wrong P + lr * g,
P - g and P (unchanged). Parameters that are right are left out of the hint.
"""

from __future__ import annotations

import numpy as np

from grader import spec
from grader.checks.base import Context, dims_list, params_of
from grader.diagnosis import Diagnosis, Finding, probe
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


def diagnose_step(ctx: Context) -> Diagnosis:
    dims = ctx.fixed_dims() or Dims(3, 5, 2)
    gen = probe.rng("step")
    params = probe.float32(probe.network(dims, gen))
    grads = probe.float32(probe.network(dims, gen))
    value = ctx.call("step", dims=dims_list(dims), params=params, grads=grads, lr=STEP_LR)
    got = params_of(value["params"], dims, "after step(): ")
    tol = spec.tolerances()["step"]
    expected = {k: params[k] - np.float32(STEP_LR) * grads[k] for k in params}
    wrong = [k for k in params if not fits(got[k], expected[k], tol)]
    if not wrong:
        return Diagnosis((), {"generic_probe": "correct"})
    for hint_id, (variant, words) in step_variants(params, grads, STEP_LR).items():
        if all(fits_variant(got[k], variant[k], expected[k], tol) for k in wrong):
            which = "" if len(wrong) == len(params) else f" (for {', '.join(wrong)})"
            return Diagnosis((Finding(hint_id, words + which + "."),), {"wrong": wrong})
    return Diagnosis((), {"wrong": wrong})
