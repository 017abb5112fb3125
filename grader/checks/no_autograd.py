"""no_autograd: gradients are computed by hand."""

from __future__ import annotations

import numpy as np

from grader.checks.backward import run_backward
from grader.checks.base import as_float32, check, for_all
from grader.checks.backward import kink_margin
from grader.context import Context, dims_list
from grader.checks.source_scan import Unreadable, scan_submission
from grader.compare import assert_close
from grader.outcome import Failed
from grader.strategies import cases, dims_for
from grader import spec, validate


@check("no_autograd.grad_disabled")
def grad_disabled(ctx: Context) -> None:
    """Under torch.no_grad(), with no tensor requiring grad, backward must still produce
    the same gradients as with grad mode on (autograd-based code produces none); and in
    both, forward, backward and step must run none of torch's automatic differentiation,
    by any route (the worker's guard reports it: grader/worker/guard.py)."""
    tol = spec.tolerances()["backward"]

    def body(case):
        off = run_backward(ctx, case, "float32", grad_enabled=False)
        size = sum(int(np.prod(shape)) for shape in ctx.contract.param_shapes(case.dims).values())
        judge(off.get("autograd"), "backward() under torch.no_grad()", size)
        grads_off = validate.grads_of(ctx.contract, off["grads"], case.dims)
        for name, described in off["grads"].items():
            if described.get("requires_grad"):
                raise Failed(f"{ctx.contract.grad_names[name]} requires grad: gradients must be plain tensors")
        on = run_backward(ctx, case, "float32", grad_enabled=True)
        judge(on.get("autograd"), "backward()", size)
        grads_on = validate.grads_of(ctx.contract, on["grads"], case.dims)
        for name in grads_on:
            assert_close(f"{ctx.contract.grad_names[name]} with grad mode off (vs on)",
                         grads_off[name], grads_on[name], tol)
        if "step" in ctx.contract.methods:  # a course's API may update inside its train() alone
            stepped = ctx.call("step", dims=dims_list(case.dims), params=as_float32(case.params),
                               grads=as_float32(grads_on), lr=0.1)
            judge(stepped.get("autograd"), "step()", size)

    strategy = cases(ctx.contract, dims_for(ctx.contract, ctx.fixed_dims()), kink_margin=kink_margin())
    for_all(ctx, "no_autograd.grad_disabled", strategy, body,
            max_examples=5)


def judge(report: dict | None, call: str, parameters: int) -> None:
    """Fail when the worker's guard saw automatic differentiation (or its own removal)
    during the call, or a backward that did the work of many forward passes: more than
    the tolerance's max_backward_work and more than half as many as the network has
    parameters (finite differences do one per parameter; on the tiniest networks a
    per-sample loop can cost as much, so those are not judged by work)."""
    if not isinstance(report, dict):
        raise Failed(f"{call}: the worker's autograd guard returned no report")
    passes = int(report.get("backward_passes", 0))
    if passes:
        raise Failed(f"{call} ran {passes} backward pass(es) of torch's autograd engine (Tensor.backward, "
                     f"torch.autograd.grad, torch.func.grad/vjp or the like). Compute every gradient by hand",
                     details={"autograd": report})
    if report.get("autodiff"):
        raise Failed(f"{call} used automatic differentiation: {', '.join(map(str, report['autodiff']))}. "
                     f"Compute every gradient by hand", details={"autograd": report})
    if report.get("tampering"):
        raise Failed(f"{call}: {'; '.join(map(str, report['tampering']))}: the grader cannot check for autograd "
                     f"behind it", details={"autograd": report})
    work = report.get("work", {})
    forward, backward = float(work.get("forward", 0)), float(work.get("backward", 0))
    limit = max(float(spec.tolerances()["no_autograd"]["max_backward_work"]), parameters / 2)
    if forward > 0 and not backward <= limit * forward:
        calls = int(report.get("forward_calls", 0))
        raise Failed(f"backward() did {backward / forward:.0f} times the arithmetic of forward() "
                     f"(at most {limit:g} times is backprop on a network of {parameters} parameters) and called "
                     f"forward() {calls} time(s): gradients by "
                     f"finite differences of forward are not hand-written backprop", details={"autograd": report})


@check("no_autograd.source")
def source(ctx: Context) -> None:
    """No autograd in the graded code of mlp.py or of any module of the submission it
    imports (source_scan.py says what counts)."""
    code = ctx.contract.submission["code"]
    try:
        findings = scan_submission(ctx.contract, ctx.submission.path, code)
    except Unreadable as exc:
        raise Failed(f"the source could not be read: {exc}") from None
    except SyntaxError as exc:
        raise Failed(f"{exc.filename or code} could not be read as Python: {exc.msg} (line {exc.lineno})") from None
    graded = [f for f in findings if f.graded]
    elsewhere = [str(f) for f in findings if not f.graded]
    details = {"outside_graded_code": elsewhere} if elsewhere else {}
    if graded:
        raise Failed("autograd in the graded code: " + "; ".join(map(str, graded)) +
                     ". Compute every gradient by hand in backward()", details=details)
