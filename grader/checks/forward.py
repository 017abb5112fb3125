"""forward: equals the reference's (e.g. relu(X W1^T + b1) W2^T + b2, per the assignment's activation,
layout and biases), leaves X alone, treats rows independently."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader import oracle, spec, validate
from grader.checks.base import check, clue, for_all
from grader.context import Context, dims_list
from grader.compare import assert_close
from grader.outcome import Failed
from grader.spec import Contract, Dims
from grader.strategies import cases, dims_for


def dtypes(ctx: Context) -> list[str]:
    """The dtypes to test in: float32, and float64 too when the code runs in it.

    The contract promises float32 parameters only, so code that casts its inputs with
    .float() is right, yet cannot multiply them by float64 parameters. float64 examples
    are kept for dtype-generic code (finite differences are sharper there)."""
    return ctx.probe("dtypes", lambda: _dtypes(ctx))


def _dtypes(ctx: Context) -> list[str]:
    """float32 only when forward() fails in float64 and works in float32; code that fails
    either way is tested as before, and the examples say what is wrong."""
    dims = ctx.fixed_dims() or Dims(3, 4, 2)
    params = {name: np.full(shape, 0.5) for name, shape in ctx.contract.param_shapes(dims).items()}

    def runs_in(dtype: str) -> bool:
        try:
            value = ctx.call("forward", dims=dims_list(dims), params={k: v.astype(dtype) for k, v in params.items()},
                             inputs=[np.ones((2, dims.in_dim), dtype=dtype)])
            validate.tensor(ctx.contract, value["outputs"][0], "forward(X)", (2, dims.out_dim))
            return True
        except Failed:
            return False

    return ["float32"] if not runs_in("float64") and runs_in("float32") else ["float32", "float64"]


def forward_cases(ctx: Context):
    c = ctx.contract
    dims = dims_for(c, ctx.fixed_dims(), out_dims=st.integers(1, 3))
    return st.tuples(st.one_of(cases(c, dims), cases(c, dims, kinks=True)), st.sampled_from(dtypes(ctx)))


def run_forward(ctx: Context, case, inputs, dtype: str = "float32"):
    params = {k: v.astype(dtype) for k, v in case.params.items()}
    return ctx.call("forward", dims=dims_list(case.dims), params=params,
                    inputs=[np.asarray(x, dtype=dtype) for x in inputs])


def output(c: Contract, described, case, rows: int) -> np.ndarray:
    return validate.tensor(c, described, "forward(X)", (rows, case.dims.out_dim))


@check("forward.matches_reference", needs_reference=True)
def matches_reference(ctx: Context) -> None:
    tol = spec.tolerances()["forward"]

    def body(example):
        case, dtype = example
        value = run_forward(ctx, case, [case.X], dtype)
        got = output(ctx.contract, value["outputs"][0], case, case.X.shape[0])
        assert_close("forward(X)", got, oracle.forward(ctx.contract, case.params, case.X), tol)

    with clue("forward"):
        for_all(ctx, "forward.matches_reference", forward_cases(ctx), body)


@check("forward.input_unchanged")
def input_unchanged(ctx: Context) -> None:
    def body(example):
        case, dtype = example
        value = run_forward(ctx, case, [case.X], dtype)
        after = value["inputs_after"][0].get("array")
        if not np.array_equal(np.asarray(after, dtype=np.float64), case.X):
            raise Failed("forward(X) changed X in place (e.g. X.clamp_(...) or X += ...): work on new tensors")

    for_all(ctx, "forward.input_unchanged", forward_cases(ctx), body, max_examples=10)


@check("forward.rowwise")
def rowwise(ctx: Context) -> None:
    tol = spec.tolerances()["forward"]

    def body(example):
        case, dtype = example
        rows = [case.X[i:i + 1] for i in range(case.X.shape[0])]
        value = run_forward(ctx, case, [case.X, *rows], dtype)
        batch = output(ctx.contract, value["outputs"][0], case, case.X.shape[0])
        singles = np.concatenate([output(ctx.contract, v, case, 1) for v in value["outputs"][1:]])
        assert_close("forward of each row alone, against the rows of forward(X)", singles, batch, tol,
                     details={"hint": "rows of a batch must not influence each other (no mixing across dim 0)"})

    for_all(ctx, "forward.rowwise", forward_cases(ctx), body, max_examples=10)


