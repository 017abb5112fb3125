"""backward: gradients equal the reference, equal finite differences of the student's own
forward, and come from the latest forward's cache (whatever earlier forwards left behind)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from grader import losses, oracle, spec, validate
from grader.spec import Contract
from grader.checks.base import check, clue, for_all
from grader.context import Context, dims_list
from grader.compare import assert_close, is_close
from grader.checks.forward import dtypes
from grader.outcome import Failed
from grader.strategies import Case, cases, dims_for, targets, values


def run_backward(ctx: Context, case: Case, dtype: str = "float32", earlier=(), grad_enabled=True,
                 weight_decay: float | None = None, pred_shift: np.ndarray | None = None):
    """forward(X) then backward(pred, y) on a fresh model. `weight_decay` builds the model
    with that value instead of the handout's; `pred_shift` is added to pred before backward."""
    extra = {} if pred_shift is None else {"pred_shift": pred_shift}
    if weight_decay is not None:
        extra["model"] = {**ctx.names, "constructor_kwargs": {**ctx.names["constructor_kwargs"],
                                                              "weight_decay": weight_decay}}
    value = ctx.call("backward", dims=dims_list(case.dims),
                     params={k: v.astype(dtype) for k, v in case.params.items()},
                     X=case.X.astype(dtype), y=targets(case.y, dtype),
                     earlier_inputs=[x.astype(dtype) for x in earlier], grad_enabled=grad_enabled, **extra)
    validate.tensor(ctx.contract, value["pred"], "forward(X)", (case.X.shape[0], case.dims.out_dim))
    return value


def kink_margin() -> float:
    """How far from 0 the examples away from kinks keep every pre-activation (tolerances.toml)."""
    return spec.tolerances()["kinks"]["margin"]


def at_kinks(contract: Contract, case: Case) -> bool:
    """Some hidden pre-activation is exactly 0, where ReLU has two valid derivatives."""
    return contract.activation == "relu" and bool(np.any(case.preactivations(contract) == 0))


def assert_gradients(contract: Contract, got: dict, case: Case, weight_decay: float | None = None) -> None:
    """Each gradient equals the reference's, with ReLU'(0) taken as 0 or, where a
    pre-activation is exactly 0, as 1 (both are subgradients; the handout accepts either)."""
    tol = spec.tolerances()["backward"]
    names = contract.grad_names
    expected = oracle.gradients(contract, case.params, case.X, case.y, weight_decay=weight_decay)
    alternative = (oracle.gradients(contract, case.params, case.X, case.y, relu_grad_at_zero=1,
                                    weight_decay=weight_decay) if at_kinks(contract, case) else {})
    for name in contract.param_names:
        if name in alternative and is_close(got[name], alternative[name], tol["rtol"], tol["atol"]):
            continue
        assert_close(grad_label(names[name]), got[name], expected[name], tol)


SECOND_DECAY_FACTOR = 10.0  # 1e-3 -> 1e-2: a hard-coded 1e-3 then errs by 9e-3 * W, far above the tolerance


def decays(contract: Contract) -> list[float | None]:
    """The handout's weight decay (None: the constructor's default), and, where the
    constructor takes one, a second value: a decay hard-coded in the class must show."""
    handout = contract.constructor_kwargs.get("weight_decay")
    return [None] if not handout else [None, handout * SECOND_DECAY_FACTOR]


def with_decay(case: Case, decay: float | None) -> Case:
    """The case, for a model built with weight_decay=decay (None: the handout's)."""
    return case if decay is None else replace(case, extra={**case.extra, "weight_decay": decay})


def backward_cases(ctx: Context):
    c = ctx.contract
    dims = dims_for(c, ctx.fixed_dims())
    case = st.one_of(cases(c, dims, kink_margin=kink_margin()), cases(c, dims, kinks=True))
    if len(decays(c)) > 1:
        case = st.builds(with_decay, case, st.sampled_from(decays(c)))
    return st.tuples(case, st.sampled_from(dtypes(ctx)))


@check("backward.matches_reference", needs_reference=True)
def matches_reference(ctx: Context) -> None:
    def body(example):
        case, dtype = example
        decay = case.extra.get("weight_decay")
        value = run_backward(ctx, case, dtype, weight_decay=decay)
        got = validate.grads_of(ctx.contract, value["grads"], case.dims)
        try:
            assert_gradients(ctx.contract, got, case, weight_decay=decay)
        except Failed as failure:
            if decay is not None:
                failure.message = (f"with the model built as {ctx.contract.class_name}(..., "
                                   f"weight_decay={decay:g}): " + failure.message)
            raise

    # a failed gradient check may be a weight-decay mistake, in any assignment with decay
    with clue("backward"), clue("backward.weight_decay"):
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
    strategy = cases(ctx.contract, dims_for(ctx.contract, ctx.fixed_dims()), kink_margin=tol["kink_margin"] * h)
    dtype = dtypes(ctx)[-1]  # float64 where the code runs in it; float32 is precise enough too

    directions_of: dict[int, list] = {}  # by example: its body runs once per batch round

    def body(case: Case):
        value = run_backward(ctx, case, dtype)
        grads = validate.grads_of(ctx.contract, value["grads"], case.dims)
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
        values_ = [losses.objective(ctx.contract, validate.tensor(ctx.contract, o, "forward(X)", shape), case.y,
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
                f"forward and {objective_text(ctx.contract)} in {bad.size} of {len(labels)} entries; e.g. "
                f"{worst[0]['entry']}: backward gives {worst[0]['backward']:.6g}, finite differences "
                f"{worst[0]['finite_difference']:.6g}",
                details={"mismatches": worst, "step": h})

    with clue("backward.finite_differences"), clue("backward.weight_decay"):
        for_all(ctx, "backward.finite_differences", strategy, body, max_examples=15)


def grad_label(name: str) -> str:
    """self.grad_W1, or grads['W1'] of what loss(X, y, reg) returns ([binding] gradients = "loss")."""
    return name if name.startswith(("grads[", "self.")) else f"self.{name}"


def objective_text(c: Contract) -> str:
    if c.binding.get("reg_convention") == "sum_squares":
        return c.loss_text + f" plus reg * (sum(W1**2) + sum(W2**2)), reg = {c.reg:g}"
    if c.binding.get("reg_convention") == "half_sum_squares":
        return c.loss_text + f" plus 0.5 * reg * (sum(W1**2) + sum(W2**2)), reg = {c.reg:g}"
    decay = f" plus (weight_decay / 2) * (|W1|^2 + |W2|^2), weight_decay = {c.weight_decay:g}" if c.weight_decay else ""
    return c.loss_text + decay


@check("backward.latest_cache")
def latest_cache(ctx: Context) -> None:
    """backward() after forward() on other batches and then forward(X) must give what it
    gives after forward(X) alone. Compared with the student's own gradients, not the
    reference: a wrong formula is the other checks' business, and costs nothing here."""
    c = ctx.contract
    dims_strategy = dims_for(c, ctx.fixed_dims())
    tol = spec.tolerances()["backward"]
    names = c.grad_names

    @st.composite
    def two_batches(draw):
        case = draw(cases(c, dims_strategy, kink_margin=kink_margin()))
        earlier = [draw(values((draw(st.integers(1, 6)), case.dims.in_dim))) for _ in range(draw(st.integers(1, 2)))]
        return case, earlier

    def body(example):
        case, earlier = example
        alone = validate.grads_of(c, run_backward(ctx, case, "float32")["grads"], case.dims)
        after_others = validate.grads_of(c, run_backward(ctx, case, "float32", earlier=earlier)["grads"], case.dims)
        for name in c.param_names:
            try:
                assert_close(grad_label(names[name]), after_others[name], alone[name], tol)
            except Failed as failure:
                failure.message = ("after forward() on other batches and then forward(X), backward(pred, y) "
                                   "does not give what it gives after forward(X) alone: " + failure.message)
                raise

    with clue("backward"):
        for_all(ctx, "backward.latest_cache", two_batches(), body, max_examples=10)


LOGIT_OFFSETS = (-1000.0, -300.0, 300.0, 1000.0)
ROW_GAPS = (300.0, 1000.0)


def logit_sensitivity(contract: Contract, case: Case) -> dict[str, float]:
    """How far each gradient can move when every softmax probability moves by a relative
    error of 1: dlogits moves by at most p / N per entry (at most 1 / N per row in all), so
    grad_b2 by 1, grad_W2 by max|A1|, dZ1 and grad_b1 by max|W2| (/ N), grad_W1 by
    max|W2| max|X|."""
    z = case.preactivations(contract)
    hidden = np.maximum(z, 0.0) if contract.activation == "relu" else np.tanh(z)
    w2, x = float(np.max(np.abs(case.params["W2"]))), float(np.max(np.abs(case.X)))
    return {"b2": 1.0, "W2": float(np.max(np.abs(hidden))), "b1": w2, "W1": w2 * x}


@check("backward.large_logits", needs_reference=True)
def large_logits(ctx: Context) -> None:
    """Stability only: softmax does not change when a constant is added to a row's logits,
    so backward's gradients must not either. Each example runs forward and backward twice on
    the same network: backward(pred, y), and backward(pred + shift, y) with every logit in
    the hundreds or thousands (a common offset, and one row's far above the others': a shift
    by the batch's maximum instead of each row's leaves the other rows' exp() at 0). The
    gradients are compared with the student's own of the first, so a mistake elsewhere (a
    decay term, a factor) costs nothing here. The loss function must equal the
    cross-entropy of the large logits.

    The tolerance adds to backward's the float32 resolution at the logits' size:
    `logit_ulps` ulps of max|logit| as a relative error of every probability (rounding of the
    shifted logits, of a float32 log-sum-exp), times how far each gradient moves per unit of
    such an error (`logit_sensitivity`). Overflow gives inf or NaN, a wrong shift O(1)
    errors."""
    tol = spec.tolerances()["backward"]
    ulps = spec.tolerances()["large_logits"]["logit_ulps"]
    c = ctx.contract

    @st.composite
    def example(draw):
        case = draw(cases(c, dims_for(c, ctx.fixed_dims()), kink_margin=kink_margin()))
        rows = case.X.shape[0]
        shift = np.full((rows, 1), draw(st.sampled_from(LOGIT_OFFSETS)), dtype=np.float32)
        if rows > 1:
            shift[draw(st.integers(0, rows - 1))] += draw(st.sampled_from(ROW_GAPS))
        return case, shift

    def body(example):
        case, shift = example
        ordinary = validate.grads_of(c, run_backward(ctx, case, "float32")["grads"], case.dims)
        value = run_backward(ctx, case, "float32", pred_shift=shift)
        logits = validate.tensor(c, value["backward_pred"], "forward(X) + a shift per row",
                                 (case.X.shape[0], case.dims.out_dim))
        largest = float(np.max(np.abs(logits)))
        resolution = ulps * float(np.spacing(np.float32(largest)))
        gap = float(np.max(shift) - np.min(shift))
        where = f"with logits up to |{largest:.3g}|" + (f" (one row's {gap:g} above the others')" if gap else "")
        try:
            got = validate.grads_of(c, value["grads"], case.dims)
            sensitivity = logit_sensitivity(c, case)
            for name in c.param_names:
                allowed = {"rtol": tol["rtol"], "atol": tol["atol"] + resolution * sensitivity[name]}
                assert_close(f"{grad_label(c.grad_names[name])} {where}, against its value at ordinary logits,",
                             got[name], ordinary[name], allowed)
        except Failed as failure:
            overflowed = "NaN or infinite" in failure.message
            failure.message = (f"{where}: " if overflowed else "") + failure.message + (
                ": compute softmax and cross-entropy from each row's logits minus their row maximum (exp() of a "
                "large logit overflows, and the batch's maximum leaves the other rows' exp() at 0)" if overflowed else
                ": adding a constant to a row's logits leaves softmax unchanged, so it must leave the gradients too")
            failure.details.update({"largest |logit|": largest})
            raise
        loss = ctx.call("loss", pred=logits.astype(np.float32), y=targets(case.y, "float32"))["loss"]
        got_loss = validate.scalar(c, loss, f"{c.loss_function}(logits, y)")
        expected = losses.data_loss(c, logits.astype(np.float32), case.y)
        assert_close(f"{c.loss_function}(logits, y) {where}", np.array(got_loss), np.array(expected),
                     {"rtol": tol["rtol"], "atol": tol["atol"] + resolution},
                     details={"hint": "log-softmax = z - max(z) - log(sum(exp(z - max(z)))), max per row"})

    for_all(ctx, "backward.large_logits", example(), body, max_examples=10)
