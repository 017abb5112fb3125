"""training, for a course whose training is a method run for a number of iterations on
random mini-batches ([binding] train = "iterations", CS231n's
`model.train(X, y, X_val, y_val, learning_rate, learning_rate_decay, reg, num_iters,
batch_size, verbose)` returning {'loss_history', 'train_acc_history', 'val_acc_history'}).

The epoch checks cannot run there (batch order and epoch losses do not exist under random
sampling with replacement); these replace them (spec validation refuses the others):

- training.iterations: on a data set whose rows are all the same sample, every random
  mini-batch is the same batch, so a run is deterministic however it samples: each
  iteration must take P - lr_k * grad(P) with the reference's gradient (and regularisation),
  lr_k decayed once per epoch (here one epoch = one iteration: N = batch_size), and record
  the batch's loss (with its regularisation) in loss_history.
- training.history: on a learnable problem, the histories have their lengths (one loss per
  iteration, one accuracy per epoch) and the loss falls.
"""

from __future__ import annotations

import numpy as np

from grader import losses, oracle, spec, validate
from grader.checks.base import check
from grader.context import Context, dims_list
from grader.checks.training import handout_init, train_timeout
from grader.compare import is_close
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


def expected_run(c: Contract, params: dict, X: np.ndarray, y: np.ndarray, kwargs: dict) -> tuple[list[float], dict]:
    """The reference: num_iters steps of plain SGD on the (one) batch, the learning rate
    multiplied by the decay after each epoch (here after each iteration)."""
    params = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    lr, recorded = kwargs["learning_rate"], []
    for _ in range(kwargs["num_iters"]):
        recorded.append(losses.data_loss(c, oracle.forward(c, params, X), y) + losses.penalty(c, params))
        grads = oracle.gradients(c, params, X, y)
        params = {k: v - lr * grads[k] for k, v in params.items()}
        lr *= kwargs["learning_rate_decay"]
    return recorded, params


@check("training.iterations", needs_reference=True)
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
    expected_losses, expected = expected_run(c, params, X, y, ITERATIONS)
    tol = spec.tolerances()["training"]
    parts = ctx.assignment.rubric["training.iterations"].parts
    shown = ", ".join(f"{k}={v}" for k, v in ITERATIONS.items())
    problems, earned = [], 0.0
    if is_close(got_losses, np.array(expected_losses), tol["rtol"], tol["atol"]):
        earned += parts["losses"]
    else:
        problems.append(f"loss_history is {np.round(got_losses, 6).tolist()}, expected "
                        f"{np.round(expected_losses, 6).tolist()} (each batch's loss with its regularisation, "
                        f"before the update)")
    wrong = [c.attr(n) for n in got if not is_close(got[n], expected[n], tol["rtol"], tol["atol"])]
    if wrong:
        problems.append(f"after training, {', '.join(wrong)} differ from {ITERATIONS['num_iters']} steps of "
                        f"P -= learning_rate * grad with the learning rate multiplied by learning_rate_decay after "
                        f"each epoch")
    else:
        earned += parts["parameters"]
    if problems:
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
