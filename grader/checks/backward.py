"""backward: gradients equal the reference, equal finite differences of the student's own
forward, and come from the latest forward's cache (whatever earlier forwards left behind)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader import losses, oracle, spec, validate
from grader.checks.base import Context, check, dims_list, for_all, grads_of
from grader.compare import assert_close, is_close
from grader.checks.forward import dtypes, explained
from grader.outcome import Failed
from grader.strategies import Case, cases, dims_for, targets, values

try:  # the student kit leaves grader/diagnosis out: its variants spell out the solution
    from grader.diagnosis import backward as diagnosis
    from grader.diagnosis import weight_decay
except ImportError:  # pragma: no cover - only in the kit
    pass


def decay_explained(ctx: Context):
    """A failed gradient check names a weight-decay mistake, in any assignment with decay."""
    return explained(ctx, "backward.weight_decay", lambda: weight_decay.diagnose(ctx), any_assignment=True)


def run_backward(ctx: Context, case: Case, dtype: str = "float32", earlier=(), grad_enabled=True):
    value = ctx.call("backward", dims=dims_list(case.dims),
                     params={k: v.astype(dtype) for k, v in case.params.items()},
                     X=case.X.astype(dtype), y=targets(case.y, dtype),
                     earlier_inputs=[x.astype(dtype) for x in earlier], grad_enabled=grad_enabled)
    validate.tensor(value["pred"], "forward(X)", (case.X.shape[0], case.dims.out_dim))
    return value


def relu_convention_at_zero(case: Case) -> dict[str, np.ndarray]:
    """The reference gradients if ReLU'(0) were taken as 1 instead of 0.

    Both are valid subgradients, so at exact kinks either is accepted. Kinks here come from
    zero rows of X (with zero b1 entries), which leaves grad_W1 and grad_W2 unchanged (their
    terms carry the zero row or the zero activation); only grad_b1 gains dL/dA1 at those
    entries."""
    return oracle.gradients(case.params, case.X, case.y, relu_grad_at_zero=1)


def assert_gradients(got: dict, expected: dict, case: Case) -> None:
    tol = spec.tolerances()["backward"]
    names = spec.contract().grad_names
    at_kinks = case.kinks and spec.contract().activation == "relu" and "b1" in expected
    alternative = relu_convention_at_zero(case) if at_kinks else expected
    for name in spec.contract().param_names:
        if at_kinks and name == "b1":
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

    with explained(ctx, "backward", lambda: diagnosis.diagnose(ctx)), decay_explained(ctx):
        for_all(ctx, "backward.matches_reference", backward_cases(ctx), body)


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

    directions_of: dict[int, list] = {}  # by example: its body runs once per batch round

    def body(case: Case):
        value = run_backward(ctx, case, dtype)
        grads = grads_of(value["grads"], case.dims)
        if id(case) not in directions_of:
            directions_of[id(case)] = list(finite_difference_directions(case, np.random.default_rng(0)))
        directions = directions_of[id(case)]
        # directions in the parameters' dtype: P + step * direction must stay in it
        perturbations = [{"param": name, "direction": d.astype(dtype), "step": s * h}
                         for name, d, _ in directions for s in (+1.0, -1.0)]
        outputs = ctx.call("forward_perturbed", dims=dims_list(case.dims),
                           params={k: v.astype(dtype) for k, v in case.params.items()},
                           X=case.X.astype(dtype), perturbations=perturbations)["outputs"]
        shape = (case.X.shape[0], case.dims.out_dim)
        perturbed = [(name, s * h * d) for name, d, _ in directions for s in (+1.0, -1.0)]
        values_ = [losses.objective(validate.tensor(o, "forward(X)", shape), case.y,
                                    {**case.params, name: case.params[name] + delta})
                   for o, (name, delta) in zip(outputs, perturbed)]
        numeric = np.array([(values_[2 * i] - values_[2 * i + 1]) / (2 * h) for i in range(len(directions))])
        analytic = np.array([float(np.sum(grads[name] * d)) for name, d, _ in directions])
        labels = [label for _, _, label in directions]
        scale = max(float(np.max(np.abs(numeric))), 1e-12)
        error = np.abs(analytic - numeric)
        bad = np.nonzero(~(error <= tol["atol"] + tol["rtol"] * scale))[0]  # NaN (inf - inf) is bad
        if bad.size:
            worst = [{"entry": labels[i], "backward": float(analytic[i]), "finite_difference": float(numeric[i])}
                     for i in bad[np.argsort(error[bad])[::-1]][:6]]
            names = sorted({labels[i].split("[")[0].split(" ")[0] for i in bad})
            raise Failed(
                f"the gradient of {', '.join(names)} disagrees with central finite differences of your own "
                f"forward and {objective_text()} in {bad.size} of {len(labels)} entries; e.g. "
                f"{worst[0]['entry']}: backward gives {worst[0]['backward']:.6g}, finite differences "
                f"{worst[0]['finite_difference']:.6g}",
                details={"mismatches": worst, "step": h})

    with explained(ctx, "backward.finite_differences", lambda: diagnosis.diagnose_finite_differences(ctx)), \
            decay_explained(ctx):
        for_all(ctx, "backward.finite_differences", strategy, body, max_examples=15)


def objective_text() -> str:
    c = spec.contract()
    decay = f" plus (weight_decay / 2) * (|W1|^2 + |W2|^2), weight_decay = {c.weight_decay:g}" if c.weight_decay else ""
    return c.loss_text + decay


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
        for_all(ctx, "backward.latest_cache", two_batches(), body, max_examples=10)


LOGIT_OFFSETS = (-1000.0, -300.0, 300.0, 1000.0)


@check("backward.large_logits", needs_reference=True)
def large_logits(ctx: Context) -> None:
    """Networks whose logits are in the hundreds or thousands (b2 shifted by a common
    offset, or W2 scaled up where there are no biases), in float32: exp() of such logits
    overflows to inf (or underflows to 0), so softmax and cross-entropy must go through the
    max-shifted log-softmax. Both the gradients of backward() and the value of the loss
    function must be finite and equal to the reference's. A common offset keeps the softmax
    unsaturated, so the comparison is sharp; the tolerance allows float32 rounding of
    logits of that size (ulp 6e-5 at 1000)."""
    tol = spec.tolerances()["large_logits"]
    c = spec.contract()

    @st.composite
    def example(draw):
        case = draw(cases(dims_for(ctx.fixed_dims()), kink_margin=1e-3))
        offset = draw(st.sampled_from(LOGIT_OFFSETS))
        params = dict(case.params)
        if "b2" in params:
            params["b2"] = np.asarray(params["b2"] + offset, dtype=np.float32).astype(np.float64)
        else:
            params["W2"] = np.asarray(params["W2"] * abs(offset), dtype=np.float32).astype(np.float64)
        return Case(case.dims, params, case.X, case.y)

    def body(case: Case):
        value = run_backward(ctx, case, "float32")
        logits = oracle.forward(case.params, case.X)
        details = {"largest |logit|": float(np.max(np.abs(logits)))}
        try:
            got = grads_of(value["grads"], case.dims)
            expected = oracle.gradients(case.params, case.X, case.y)
            for name in c.param_names:
                assert_close(f"self.{c.grad_names[name]}", got[name], expected[name], tol)
        except Failed as failure:
            overflowed = "NaN or infinite" in failure.message
            failure.message = (f"with logits up to |{details['largest |logit|']:.3g}|, " + failure.message +
                               (": compute softmax and cross-entropy from logits minus their row maximum "
                                "(exp() of a large logit overflows)" if overflowed else ""))
            failure.details.update(details)
            raise
        loss = ctx.call("loss", pred=logits.astype(np.float32), y=targets(case.y, "float32"))["loss"]
        got_loss = validate.scalar(loss, f"{c.loss_function}(logits, y)")
        expected = losses.data_loss(logits.astype(np.float32), case.y)
        assert_close(f"{c.loss_function}(logits, y) with logits up to |{details['largest |logit|']:.3g}|",
                     np.array(got_loss), np.array(expected), tol,
                     details={"hint": "log-softmax = z - max(z) - log(sum(exp(z - max(z))))"})

    with decay_explained(ctx):
        for_all(ctx, "backward.large_logits", example(), body, max_examples=10)
