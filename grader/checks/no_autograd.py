"""no_autograd: gradients are computed by hand."""

from __future__ import annotations


from grader.checks.backward import run_backward
from grader.checks.base import Context, check, for_all, grads_of
from grader.checks.source_scan import Unreadable, scan_submission
from grader.compare import assert_close
from grader.outcome import Failed
from grader.strategies import cases, dims_for
from grader import spec


@check("no_autograd.grad_disabled")
def grad_disabled(ctx: Context) -> None:
    """Under torch.no_grad(), with no tensor requiring grad, backward must still produce
    the same gradients as with grad mode on (autograd-based code produces none)."""
    tol = spec.tolerances()["backward"]

    def body(case):
        off = run_backward(ctx, case, "float32", grad_enabled=False)
        grads_off = grads_of(off["grads"], case.dims)
        for name, described in off["grads"].items():
            if described.get("requires_grad"):
                raise Failed(f"{spec.contract().grad_names[name]} requires grad: gradients must be plain tensors")
        on = run_backward(ctx, case, "float32", grad_enabled=True)
        grads_on = grads_of(on["grads"], case.dims)
        for name in grads_on:
            assert_close(f"{spec.contract().grad_names[name]} with grad mode off (vs on)",
                         grads_off[name], grads_on[name], tol)

    for_all(ctx, "no_autograd.grad_disabled", cases(dims_for(ctx.fixed_dims()), kink_margin=1e-3), body,
            max_examples=5)


@check("no_autograd.source")
def source(ctx: Context) -> None:
    """No autograd in the graded code of mlp.py or of any module of the submission it
    imports (source_scan.py says what counts)."""
    code = spec.contract().submission["code"]
    try:
        findings = scan_submission(ctx.submission.path, code)
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
