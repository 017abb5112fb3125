"""training: step is P - lr * grad; train() follows the reference trajectory over a decay
boundary with a short last batch; with shuffling the loss falls."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from grader import oracle, spec, validate
from grader.checks import init
from grader.checks.base import check, clue, for_all
from grader.context import Context, dims_list
from grader.compare import assert_close, is_close
from grader.outcome import Failed
from grader.spec import Contract, Dims
from grader.strategies import draw_targets, labels_from_scores, networks, targets, dims_for, values

# Short runs that still exercise the schedule: 4 epochs, decay after 2, N = 10 in batches
# of 4 (4, 4, then 2).
TRAJECTORY = {"epochs": 4, "batch_size": 4, "lr": 0.05, "decay_every": 2, "decay_factor": 0.5}
TRAJECTORY_N = 10


def train_timeout() -> float:
    return float(spec.limits()["time"]["train_call"])


def at_full_size(dims: Dims, params: dict[str, np.ndarray], X: np.ndarray):
    """Values drawn for small networks, made fit for a network of the assignment's full size.

    There they would make lr = 0.05 diverge to inf/nan within an epoch, for the reference
    too (|Z1| and |A1|^2 grow with fan_in and hidden_dim), and a correct submission with
    hard-coded dims would fail. W1 and X are scaled by 1/sqrt(fan_in), as Xavier does
    (`networks` already bounds W2 so), and b1 by 1/sqrt(hidden_dim); float32-representable
    again."""
    scale = {"W1": dims.in_dim, "b1": dims.hidden_dim}
    params = {k: _representable(v / np.sqrt(scale[k])) if k in scale else v for k, v in params.items()}
    return params, _representable(X / np.sqrt(dims.in_dim))


@check("training.step")
def step(ctx: Context) -> None:
    tol = spec.tolerances()["step"]

    @st.composite
    def example(draw):
        dims = draw(dims_for(ctx.contract, ctx.fixed_dims()))
        params, grads = draw(networks(ctx.contract, dims)), draw(networks(ctx.contract, dims))
        return dims, params, grads, draw(st.sampled_from([0.1, 0.01, 1e-3]))

    def body(ex):
        dims, params, grads, lr = ex
        value = ctx.call("step", dims=dims_list(dims), params=_f32(params), grads=_f32(grads), lr=lr)
        got = validate.params_of(ctx.contract, value["params"], dims, "after step(): ")
        for name in params:
            expected = params[name].astype(np.float32) - np.float32(lr) * grads[name].astype(np.float32)
            assert_close(f"{name} after step({lr})", got[name], expected, tol)

    with clue("training.step"):
        for_all(ctx, "training.step", example(), body, max_examples=8)


def handout_init(c: Contract, dims: Dims, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Parameters drawn by the grader from the handout's init scheme, biases zero (float32)."""
    uniform = c.init["scheme"] == "xavier_uniform"
    params = {}
    for name, shape in c.param_shapes(dims).items():
        if name in c.biases:
            params[name] = np.zeros(shape, dtype=np.float32)
        elif uniform:
            params[name] = rng.uniform(-1.0, 1.0, shape).astype(np.float32) * np.float32(init.xavier_bound(c, shape))
        else:
            params[name] = (rng.standard_normal(shape) * init.expected_std(c, shape)).astype(np.float32)
    return params


def _f32(arrays):
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def _representable(array: np.ndarray) -> np.ndarray:
    """float64 values that float32 holds exactly (student and reference see the same)."""
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def losses_of(c: Contract, value, epochs: int) -> np.ndarray:
    losses = [validate.scalar(c, v, f"train()'s loss of epoch {i}") for i, v in enumerate(value["losses"])]
    if len(losses) != epochs:
        raise Failed(f"train(epochs={epochs}) returned {len(losses)} losses, expected one per epoch")
    return np.array(losses)


@check("training.trajectory", needs_reference=True)
def trajectory(ctx: Context) -> float | None:
    parts = ctx.assignment.rubric["training.trajectory"].parts

    @st.composite
    def example(draw):
        dims = draw(dims_for(ctx.contract, ctx.fixed_dims()))
        params = draw(networks(ctx.contract, dims))
        X = draw(values((TRAJECTORY_N, dims.in_dim)))
        y = draw(draw_targets(ctx.contract, TRAJECTORY_N, dims.out_dim))
        if ctx.fixed_dims():
            params, X = at_full_size(dims, params, X)
        return dims, params, X, y

    def body(ex):
        dims, params, X, y = ex
        value = ctx.call("train", timeout=train_timeout(), dims=dims_list(dims), params=_f32(params),
                         X=X.astype(np.float32), y=targets(y, "float32"), kwargs={**TRAJECTORY, "shuffle": False})
        got_losses = losses_of(ctx.contract, value, TRAJECTORY["epochs"])
        got_params = validate.params_of(ctx.contract, value["params"], dims, "after train(): ")
        earned, problems, expected_losses = judge_trajectory(parts, got_losses, got_params, *oracle.train(
            ctx.contract, params, X, y, shuffle=False, **TRAJECTORY))
        if problems and ctx.contract.activation == "relu":
            # ReLU'(0) may be taken as 1 too (both are subgradients): a network whose hidden
            # pre-activations sit at exactly 0 (W1 = 0, b1 = 0) trains differently with it.
            other = judge_trajectory(parts, got_losses, got_params, *oracle.train(
                ctx.contract, params, X, y, shuffle=False, relu_grad_at_zero=1, **TRAJECTORY))
            if other[0] > earned:
                earned, problems, expected_losses = other
        if problems:
            raise Failed(f"train(shuffle=False, {_kwargs_text()}) on N={TRAJECTORY_N}: " + "; ".join(problems),
                         earned=earned,
                         details={"losses": got_losses.tolist(), "expected_losses": list(expected_losses)})

    generic = generic_example(ctx)
    with clue("training.trajectory", (TRAJECTORY, generic)):
        run_generic(body, generic)
        for_all(ctx, "training.trajectory", example(), body, max_examples=4)


def judge_trajectory(parts: dict[str, float], got_losses, got_params, expected_losses, expected_params
                     ) -> tuple[float, list[str], list]:
    """(points earned of the check's `parts`, problems, expected losses) of a run against one
    reference run."""
    tol = spec.tolerances()["training"]
    problems, earned = [], 0.0
    if is_close(got_losses, np.array(expected_losses), tol["rtol"], tol["atol"]):
        earned += parts["losses"]
    else:
        problems.append(f"per-epoch losses {np.round(got_losses, 6).tolist()}, expected "
                        f"{np.round(expected_losses, 6).tolist()}")
    wrong = [n for n in got_params if not is_close(got_params[n], expected_params[n], tol["rtol"], tol["atol"])]
    if wrong:
        problems.append(f"after training, {', '.join(wrong)} differ from the reference")
    else:
        earned += parts["parameters"]
    return earned, problems, expected_losses


def generic_example(ctx: Context):
    """(dims, params, X, y) of one generic example, run before Hypothesis' own: Hypothesis
    starts from the simplest examples, and in its few here y is constant or the rows of X
    are equal, where a loss over (B, 1) - (B,) broadcast to (B, B) equals the right one."""
    dims = ctx.fixed_dims() or Dims(3, 4, ctx.contract.small_out_dim)
    rng = np.random.default_rng(2026)
    params = {name: _representable(rng.uniform(-1.0, 1.0, shape) if name.startswith("W") else
                                   rng.uniform(-0.5, 0.5, shape))
              for name, shape in ctx.contract.param_shapes(dims).items()}
    X = _representable(rng.uniform(-2, 2, (TRAJECTORY_N, dims.in_dim)))
    y = labels_from_scores(ctx.contract, _representable(rng.uniform(-2, 2, (TRAJECTORY_N, dims.out_dim))))
    if ctx.fixed_dims():
        params, X = at_full_size(dims, params, X)
    return dims, params, X, y


def run_generic(body, generic) -> None:
    dims = generic[0]
    try:
        body(generic)
    except Failed as failure:
        failure.details.setdefault("example", f"a generic network {dims_list(dims)} with N={TRAJECTORY_N} random rows")
        raise


def _kwargs_text() -> str:
    return ", ".join(f"{k}={v}" for k, v in TRAJECTORY.items())


@check("training.loss_falls")
def loss_falls(ctx: Context) -> None:
    """A fixed learnable problem (a linear teacher) trained with shuffling for 8 epochs,
    from a fixed init of the handout's scheme: a wrong init is init's business."""
    ratio = spec.tolerances()["training"]["shuffled_loss_ratio"]
    dims = ctx.fixed_dims() or Dims(6, 16, ctx.contract.small_out_dim)
    rng = np.random.default_rng(11)
    n = 96
    X = rng.standard_normal((n, dims.in_dim)).astype(np.float32)
    teacher = rng.standard_normal((dims.in_dim, 1))
    if ctx.contract.classification:  # a linear teacher's argmax over the classes
        teacher = np.concatenate([teacher, rng.standard_normal((dims.in_dim, dims.out_dim - 1))], axis=1)
    y = labels_from_scores(ctx.contract, (X @ teacher / np.sqrt(dims.in_dim)).astype(np.float32))
    lr = 0.05 if ctx.fixed_dims() is None else 0.01
    kwargs = {"epochs": 8, "batch_size": 16, "lr": lr, "decay_every": 4, "decay_factor": 0.5, "shuffle": True}
    params = handout_init(ctx.contract, dims, np.random.default_rng(3))
    value = ctx.call("train", timeout=train_timeout(), dims=dims_list(dims), params=_f32(params), X=X, y=y,
                     kwargs=kwargs, seed=5)
    losses = losses_of(ctx.contract, value, kwargs["epochs"])
    ctx.note(losses=losses.tolist())
    if oracle.available():
        reference_losses, _ = oracle.train(ctx.contract, params, X, y, seed=5, **kwargs)
        ctx.note(reference_losses=list(reference_losses))
    if not losses[-1] < ratio * losses[0]:
        raise Failed(f"with shuffle=True the loss went from {losses[0]:.4g} to {losses[-1]:.4g} in "
                     f"{kwargs['epochs']} epochs (lr={lr}); it should fall below {ratio:g} x the first epoch's",
                     details={"losses": losses.tolist()})
