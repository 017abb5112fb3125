"""backward: gradients equal the reference, equal finite differences of the student's own
forward, and come from the latest forward's cache (whatever earlier forwards left behind)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader import oracle, spec, validate
from grader.checks.base import Context, check, dims_list, for_all, grads_of
from grader.compare import assert_close, is_close
from grader.checks.forward import dtypes, explained
from grader.outcome import Failed
from grader.strategies import Case, cases, dims_for, values

try:  # the student kit leaves grader/diagnosis out: its variants spell out the solution
    from grader.diagnosis import backward as diagnosis
except ImportError:  # pragma: no cover - only in the kit
    pass

def run_backward(ctx: Context, case: Case, dtype: str = "float32", earlier=(), grad_enabled=True):
    value = ctx.call("backward", dims=dims_list(case.dims),
                     params={k: v.astype(dtype) for k, v in case.params.items()},
                     X=case.X.astype(dtype), y=case.y.astype(dtype),
                     earlier_inputs=[x.astype(dtype) for x in earlier], grad_enabled=grad_enabled)
    validate.tensor(value["pred"], "forward(X)", (case.X.shape[0], case.dims.out_dim))
    return value


def relu_convention_at_zero(case: Case, expected: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference gradients if ReLU'(0) were taken as 1 instead of 0.

    Both are valid subgradients, so at exact kinks either is accepted. Kinks here come from
    zero rows of X with zero b1 entries, which leaves grad_W1 and grad_W2 unchanged (their
    terms carry the zero row or the zero activation); only grad_b1 gains dL/dA1 at those
    entries."""
    z = case.preactivations()
    pred = oracle.forward(case.params, case.X)
    d_pred = 2.0 * (pred - case.y) / pred.size
    d_hidden = d_pred @ case.params["W2"]
    alternative = dict(expected)
    alternative["b1"] = expected["b1"] + (d_hidden * (z == 0)).sum(axis=0)
    return alternative


def assert_gradients(got: dict, expected: dict, case: Case) -> None:
    tol = spec.tolerances()["backward"]
    names = spec.contract().grad_names
    alternative = relu_convention_at_zero(case, expected) if case.kinks else expected
    for name in spec.contract().param_names:
        if case.kinks and name == "b1":
            if is_close(got[name], alternative[name], tol["rtol"], tol["atol"]):
                continue
        assert_close(f"self.{names[name]}", got[name], expected[name], tol)


def backward_cases(ctx: Context):
    dims = dims_for(ctx.fixed_dims())
    return st.tuples(st.one_of(cases(dims, kink_margin=1e-3), cases(dims, kinks=True)), st.sampled_from(dtypes(ctx)))


@check("backward.matches_reference", needs_reference=True)
def matches_reference(ctx: Context) -> None:
    def body(example):
        case, dtype = example
        value = run_backward(ctx, case, dtype)
        got = grads_of(value["grads"], case.dims)
        assert_gradients(got, oracle.gradients(case.params, case.X, case.y), case)

    with explained(ctx, "backward", lambda: diagnosis.diagnose(ctx)):
        for_all("backward.matches_reference", backward_cases(ctx), body)


def finite_difference_directions(case: Case, rng: np.random.Generator, max_entries: int = 64):
    """Unit vectors (entry by entry) for small parameters; random unit directions otherwise."""
    for name, value in case.params.items():
        if value.size <= max_entries:
            for flat in range(value.size):
                direction = np.zeros(value.size)
                direction[flat] = 1.0
                yield name, direction.reshape(value.shape), f"{name}[{','.join(map(str, np.unravel_index(flat, value.shape)))}]"
        else:
            for k in range(4):
                direction = rng.standard_normal(value.shape)
                yield name, direction / np.linalg.norm(direction), f"{name} along random direction {k}"


@check("backward.finite_differences")
def finite_differences(ctx: Context) -> None:
    tol = spec.tolerances()["finite_differences"]
    h = tol["step"]
    dims = dims_for(ctx.fixed_dims())
    strategy = cases(dims, kink_margin=tol["kink_margin"] * h)
    dtype = dtypes(ctx)[-1]  # float64 where the code runs in it; float32 is precise enough too

    def body(case: Case):
        value = run_backward(ctx, case, dtype)
        grads = grads_of(value["grads"], case.dims)
        directions = list(finite_difference_directions(case, np.random.default_rng(0)))
        # directions in the parameters' dtype: P + step * direction must stay in it
        perturbations = [{"param": name, "direction": d.astype(dtype), "step": s * h}
                         for name, d, _ in directions for s in (+1.0, -1.0)]
        outputs = ctx.call("forward_perturbed", dims=dims_list(case.dims),
                           params={k: v.astype(dtype) for k, v in case.params.items()},
                           X=case.X.astype(dtype), perturbations=perturbations)["outputs"]
        shape = (case.X.shape[0], case.dims.out_dim)
        losses = [float(np.mean((validate.tensor(o, "forward(X)", shape) - case.y) ** 2)) for o in outputs]
        numeric = np.array([(losses[2 * i] - losses[2 * i + 1]) / (2 * h) for i in range(len(directions))])
        analytic = np.array([float(np.sum(grads[name] * d)) for name, d, _ in directions])
        labels = [label for _, _, label in directions]
        scale = max(float(np.max(np.abs(numeric))), 1e-12)
        error = np.abs(analytic - numeric)
        bad = np.nonzero(error > tol["atol"] + tol["rtol"] * scale)[0]
        if bad.size:
            worst = [{"entry": labels[i], "backward": float(analytic[i]), "finite_difference": float(numeric[i])}
                     for i in bad[np.argsort(error[bad])[::-1]][:6]]
            names = sorted({labels[i].split("[")[0].split(" ")[0] for i in bad})
            raise Failed(
                f"the gradient of {', '.join(names)} disagrees with central finite differences of your own "
                f"forward and mean squared error in {bad.size} of {len(labels)} entries; e.g. "
                f"{worst[0]['entry']}: backward gives {worst[0]['backward']:.6g}, finite differences "
                f"{worst[0]['finite_difference']:.6g}",
                details={"mismatches": worst, "step": h})

    with explained(ctx, "backward.finite_differences", lambda: diagnosis.diagnose_finite_differences(ctx)):
        for_all("backward.finite_differences", strategy, body, max_examples=15)


@check("backward.latest_cache")
def latest_cache(ctx: Context) -> None:
    """backward() after forward() on other batches and then forward(X) must give what it
    gives after forward(X) alone. Compared with the student's own gradients, not the
    reference: a wrong formula is the other checks' business, and costs nothing here."""
    dims_strategy = dims_for(ctx.fixed_dims())
    tol = spec.tolerances()["backward"]
    names = spec.contract().grad_names

    @st.composite
    def two_batches(draw):
        case = draw(cases(dims_strategy, kink_margin=1e-3))
        earlier = [draw(values((draw(st.integers(1, 6)), case.dims.in_dim))) for _ in range(draw(st.integers(1, 2)))]
        return case, earlier

    def body(example):
        case, earlier = example
        alone = grads_of(run_backward(ctx, case, "float32")["grads"], case.dims)
        after_others = grads_of(run_backward(ctx, case, "float32", earlier=earlier)["grads"], case.dims)
        for name in spec.contract().param_names:
            try:
                assert_close(f"self.{names[name]}", after_others[name], alone[name], tol)
            except Failed as failure:
                failure.message = ("after forward() on other batches and then forward(X), backward(pred, y) "
                                   "does not give what it gives after forward(X) alone: " + failure.message)
                raise

    with explained(ctx, "backward", lambda: diagnosis.diagnose(ctx)):
        for_all("backward.latest_cache", two_batches(), body, max_examples=10)
