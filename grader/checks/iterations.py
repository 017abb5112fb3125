"""training, for a course whose training is a method run for a number of iterations on
random mini-batches ([binding] train = "iterations", CS231n's
`model.train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg, num_iters,
batch_size, verbose)` returning {'loss_history', 'train_acc_history', 'val_acc_history'}).

The epoch checks cannot run there (batch order and epoch losses do not exist under random
sampling with replacement); these replace them (spec validation refuses the others):

- training.iterations: on a data set whose rows are all the same sample, every random
  mini-batch is the same batch, so a run is deterministic however it samples. train() is
  compared with plain SGD driven by the student's own gradient route: at each iteration the
  worker calls the student's loss(X, y, reg) (the binding's gradients) at the current
  parameters, and the expected run records that loss (with whatever regularisation it
  carries) in loss_history, then takes P - lr_k * grads, lr_k decayed once per epoch (here
  one epoch = one iteration: N = batch_size). The check judges the loop, not the gradient
  formula: a wrong gradient is backward's to charge, and the same gradient used right here
  loses nothing.
- training.history: on a learnable problem, the histories have their lengths (one loss per
  iteration, one accuracy per epoch) and the loss falls. As the torch homework's
  training.loss_falls, it trains with the student's own gradients at the handout's learning
  rate: a gradient mistake that keeps the loss from falling (e.g. N times too large, so SGD
  diverges) fails it too, a declared consequence (tests/mutants/rules.py, THROUGH_TRAINING).
"""

from __future__ import annotations

import numpy as np

from grader import spec, validate
from grader.checks.base import check
from grader.context import Context, dims_list
from grader.checks.training import handout_init, train_timeout
from grader.compare import mismatch
from grader.outcome import Failed
from grader.spec import Contract, Dims
from grader.strategies import labels_from_scores

ITERATIONS = {"num_iters": 3, "batch_size": 4, "learning_rate": 0.1, "learning_rate_decay": 0.5}


def run(ctx: Context, dims: Dims, params, X, y, kwargs: dict, seed: int = 0) -> dict:
    c = ctx.contract
    dtype = np.dtype(c.raw["model"]["dtype"])
    return ctx.call("train_iterations", timeout=train_timeout(), dims=dims_list(dims),
                    params={k: np.asarray(v, dtype=dtype) for k, v in params.items()},
                    X=X.astype(dtype), y=y.astype(np.int64), X_val=X.astype(dtype), y_val=y.astype(np.int64),
                    kwargs={**kwargs, "reg": c.reg, "verbose": False}, seed=seed)


def method(c: Contract) -> str:
    return c.binding.get("train_method", "train")


def history(c: Contract, value: dict, key: str, length: int | None = None) -> np.ndarray:
    if key not in value["histories"]:
        raise Failed(f"{method(c)}() returned a dict with keys {sorted(value['keys'])}, without {key!r}")
    described = value["histories"][key]
    array = described.get("array") if described.get("type") == "numpy.ndarray" else None  # the worker's float array
    if not isinstance(array, np.ndarray):
        raise Failed(f"{method(c)}()['{key}'] is a {described.get('type')}, not a list of numbers")
    array = array.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise Failed(f"{method(c)}()['{key}'] holds NaN or infinite values")
    if length is not None and array.size != length:
        raise Failed(f"{method(c)}()['{key}'] has {array.size} entries, expected {length}")
    return array


def loss_call(c: Contract) -> str:
    return f"{c.binding.get('loss_method', 'loss')}(X, y, reg)"


def own_loss_and_gradients(ctx: Context, dims: Dims, params: dict, X: np.ndarray, y: np.ndarray
                            ) -> tuple[float, dict[str, np.ndarray]]:
    """What the student's own gradient route (loss(X, y, reg) for CS231n) gives at `params`:
    the batch's loss and the parameters' gradients."""
    c = ctx.contract
    dtype = np.dtype(c.raw["model"]["dtype"])
    value = ctx.call("backward", dims=dims_list(dims), params={k: v.astype(dtype) for k, v in params.items()},
                     X=X.astype(dtype), y=y.astype(np.int64))
    loss = validate.scalar(c, value["loss"], f"the loss {loss_call(c)} returned")
    return loss, validate.grads_of(c, value["grads"], dims)


def own_sgd(ctx: Context, dims: Dims, params: dict, X: np.ndarray, y: np.ndarray, kwargs: dict
            ) -> tuple[list[float], dict[str, np.ndarray]]:
    """The expected run: num_iters steps of plain SGD on the (one) batch, each recording and
    following what the student's own loss and gradients are at the current parameters, the
    learning rate multiplied by the decay after each epoch (here after each iteration)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    lr, recorded = kwargs["learning_rate"], []
    for _ in range(kwargs["num_iters"]):
        loss, grads = own_loss_and_gradients(ctx, dims, params, X, y)
        recorded.append(loss)
        params = {k: v - lr * grads[k] for k, v in params.items()}
        lr *= kwargs["learning_rate_decay"]
    return recorded, params


def learning_rates(kwargs: dict) -> list[float]:
    return [kwargs["learning_rate"] * kwargs["learning_rate_decay"] ** k for k in range(kwargs["num_iters"])]


def losses_problem(c: Contract, got: np.ndarray, expected: list[float], tol: dict[str, float]) -> str | None:
    problem = mismatch("loss_history", got, np.array(expected), tol)
    if problem is None:
        return None
    return (f"{problem}: loss_history[k] must be the loss your {loss_call(c)} returns at the parameters before "
            f"update k (loss_history is {np.round(got, 6).tolist()}, expected {np.round(expected, 6).tolist()})")


def parameters_problem(c: Contract, got: dict, expected: dict, initial: dict, tol: dict[str, float],
                       kwargs: dict) -> str | None:
    """What is wrong with the parameters after train(): those never updated, and the first
    other that differs from the expected run with compare's message (the others by name)."""
    wrong = {n: problem for n in got if (problem := mismatch(f"{c.attr(n)} after training", got[n], expected[n], tol))}
    unchanged = [n for n in wrong if np.array_equal(got[n], initial[n])]
    differing = [(c.attr(n), problem) for n, problem in wrong.items() if n not in unchanged]
    found = []
    if unchanged:
        found.append(f"{', '.join(map(c.attr, unchanged))} never updated: still the initial values")
    if differing:
        others = [name for name, _ in differing[1:]]
        found.append(differing[0][1] + (f" ({', '.join(others)} differ too)" if others else ""))
    if not found:
        return None
    rates = ", ".join(f"{lr:g}" for lr in learning_rates(kwargs))
    return "; ".join(found) + (f" (expected {kwargs['num_iters']} steps of P -= lr * grads with the grads of your "
                               f"own {loss_call(c)} and lr = {rates}: learning_rate multiplied by "
                               f"learning_rate_decay after each epoch)")


@check("training.iterations")
def iterations(ctx: Context) -> float | None:
    c = ctx.contract
    dims = ctx.fixed_dims() or Dims(5, 7, c.small_out_dim)
    rng = np.random.default_rng(2026)
    params = {name: rng.uniform(-0.5, 0.5, shape) for name, shape in c.param_shapes(dims).items()}
    n = ITERATIONS["batch_size"]
    X = np.repeat(rng.uniform(-1, 1, (1, dims.in_dim)), n, axis=0)
    y = np.full(n, 1, dtype=np.int64)
    value = run(ctx, dims, params, X, y, ITERATIONS)
    got_losses = history(c, value, "loss_history", ITERATIONS["num_iters"])
    got = validate.params_of(c, value["params"], dims, f"after {method(c)}(): ")
    expected_losses, expected = own_sgd(ctx, dims, params, X, y, ITERATIONS)
    tol = spec.tolerances()["training"]
    parts = ctx.assignment.rubric["training.iterations"].parts
    problems, earned = [], 0.0
    losses_wrong = losses_problem(c, got_losses, expected_losses, tol)
    if losses_wrong:
        problems.append(losses_wrong)
    else:
        earned += parts["losses"]
    params_wrong = parameters_problem(c, got, expected, params, tol, ITERATIONS)
    if params_wrong:
        problems.append(params_wrong)
    else:
        earned += parts["parameters"]
    if problems:
        shown = ", ".join(f"{k}={v}" for k, v in ITERATIONS.items())
        raise Failed(f"{method(c)}(X, y, X_val, y_val, {shown}) on {n} copies of one sample (every mini-batch is the "
                     f"same, however it is drawn; one epoch is one iteration): " + "; ".join(problems),
                     earned=earned, details={"loss_history": got_losses.tolist(), "expected": expected_losses})
    return None


@check("training.history")
def history_falls(ctx: Context) -> None:
    """A learnable problem (a linear teacher's argmax), trained from the handout's init for
    200 iterations of random mini-batches: loss_history has one entry per iteration and
    falls (its last 20 average below shuffled_loss_ratio x its first 20), the accuracy
    histories one entry per epoch."""
    ratio = spec.tolerances()["training"]["shuffled_loss_ratio"]
    c = ctx.contract
    dims = ctx.fixed_dims() or Dims(6, 16, c.small_out_dim)
    rng = np.random.default_rng(11)
    n = 96
    X = rng.standard_normal((n, dims.in_dim))
    teacher = rng.standard_normal((dims.in_dim, dims.out_dim))
    y = labels_from_scores(c, X @ teacher)
    kwargs = {"num_iters": 200, "batch_size": 16, "learning_rate": 0.5, "learning_rate_decay": 0.95}
    params = handout_init(c, dims, np.random.default_rng(3))
    value = run(ctx, dims, params, X, y, kwargs, seed=5)
    loss_history = history(c, value, "loss_history", kwargs["num_iters"])
    ctx.note(first=float(loss_history[:20].mean()), last=float(loss_history[-20:].mean()))
    epochs = kwargs["num_iters"] // max(n // kwargs["batch_size"], 1)
    for key in ("train_acc_history", "val_acc_history"):
        accuracy = history(c, value, key)
        if accuracy.size not in (epochs, epochs + 1):
            raise Failed(f"{method(c)}()['{key}'] has {accuracy.size} entries, expected one per epoch ({epochs})")
    first, last = float(loss_history[:20].mean()), float(loss_history[-20:].mean())
    if not last < ratio * first:
        raise Failed(f"in {kwargs['num_iters']} iterations (learning_rate={kwargs['learning_rate']}) the mini-batch loss "
                     f"went from {first:.4g} (mean of the first 20) to {last:.4g} (the last 20); it should fall below "
                     f"{ratio:g} x the first", details={"loss_history": loss_history.tolist()})
