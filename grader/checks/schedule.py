"""training.schedule: what train() does batch by batch, watched through a recording model.

The model given to train() is the student's own, wrapped so that every forward, backward
and step call is noted. The loop is then judged on its own, whatever the model's maths:
consecutive batches with a short last one, forward -> backward -> step per batch, the
learning rate of each step, and the epoch loss as the mean over all the epoch's samples of
what the forward passes returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grader import losses as loss_fns
from grader import spec, validate
from grader.checks.base import check
from grader.context import Context, dims_list
from grader.checks.training import at_full_size, losses_of, train_timeout
from grader.outcome import Failed
from grader.spec import Contract, Dims
from grader.strategies import targets

# (N, batch_size): a short last batch, an exact multiple, one batch larger than N, batch 1.
LOOPS = ((10, 4), (8, 4), (5, 8), (3, 1))
SCHEDULE = {"epochs": 5, "lr": 0.05, "decay_every": 2, "decay_factor": 0.5}


@dataclass
class Batch:
    rows: list[int]
    out: np.ndarray
    y_shape: tuple[int, ...] | None = None
    y_rows: list[int] | None = None
    lr: float | None = None


def learning_rate(epoch: int) -> float:
    return SCHEDULE["lr"] * SCHEDULE["decay_factor"] ** (epoch // SCHEDULE["decay_every"])


def match_rows(batch: np.ndarray, data: np.ndarray) -> list[int]:
    """Indices of data's rows in batch (-1 for a row that is not in data)."""
    rows = []
    for row in np.atleast_2d(batch):
        hits = np.nonzero(np.all(data == row, axis=1))[0]
        rows.append(int(hits[0]) if hits.size else -1)
    return rows


def batches_from(c: Contract, events: list[dict], X: np.ndarray, y: np.ndarray) -> list[Batch]:
    """Group the recorded calls into batches: forward, then backward, then step."""
    batches: list[Batch] = []
    expected_next = "forward"
    for event in events:
        call = event.get("call")
        if call != expected_next:
            raise Failed(f"train() called {call}() where {expected_next}() was expected (call {len(batches) + 1}): "
                         f"each batch needs exactly forward, then backward, then step")
        if call == "forward":
            Xb = validate.tensor(c, event["X"], "the batch passed to forward()")
            out = validate.tensor(c, event["out"], "forward()'s output", finite=False)
            batches.append(Batch(match_rows(Xb, X), out))
            expected_next = "backward"
        elif call == "backward":
            yb = validate.tensor(c, event["y"], "the y passed to backward()", finite=False, dtypes=target_dtypes(c))
            batches[-1].y_shape = tuple(yb.shape)
            batches[-1].y_rows = target_rows(c, yb, y, batches[-1].rows)
            expected_next = "step"
        else:
            batches[-1].lr = validate.scalar(c, event["lr"], "the lr passed to step()")
            expected_next = "forward"
    if expected_next != "forward":
        raise Failed(f"train() ended with a batch whose {expected_next}() was never called")
    return batches


def target_dtypes(c: Contract) -> tuple[str, ...]:
    return ("int64",) if c.classification else validate.FLOAT_DTYPES


def target_rows(c: Contract, yb: np.ndarray, y: np.ndarray, rows: list[int]) -> list[int] | None:
    """Which rows' targets backward() got: matched row by row for float targets; class
    labels (not unique) count as the batch's rows when they equal the batch's labels."""
    if c.classification:
        wanted = [r for r in rows if r >= 0]
        if yb.shape == (len(wanted),) and len(wanted) == len(rows) and np.array_equal(yb, y[wanted]):
            return list(rows)
        return None
    return match_rows(yb.reshape(len(yb), -1), y) if yb.ndim == 2 else None


def target_shape(c: Contract, rows: int, out_dim: int) -> tuple[int, ...]:
    return (rows,) if c.classification else (rows, out_dim)


def check_batches(c: Contract, batches: list[Batch], n: int, batch_size: int, out_dim: int) -> list[str]:
    per_epoch = math.ceil(n / batch_size)
    epochs = SCHEDULE["epochs"]
    if len(batches) != epochs * per_epoch:
        if n % batch_size and len(batches) == epochs * (n // batch_size):
            return [f"with N={n} and batch_size={batch_size} the last {n % batch_size} sample(s) of each epoch "
                    f"are never used: the last batch must be the shorter remainder"]
        return [f"{len(batches)} batches in {epochs} epochs with N={n}, batch_size={batch_size}; expected "
                f"{epochs * per_epoch} ({per_epoch} per epoch)"]
    for i, batch in enumerate(batches):
        b = i % per_epoch
        expected = list(range(b * batch_size, min(n, (b + 1) * batch_size)))
        if batch.rows != expected:
            return [f"epoch {i // per_epoch}, batch {b} used rows {batch.rows}, expected {expected} "
                    f"(shuffle=False: consecutive rows in order)"]
        if batch.y_shape != target_shape(c, len(expected), out_dim):
            keep = ("pass the batch's int64 labels, shape (N,)" if c.classification else
                    f"keep y two-dimensional (N, {out_dim})")
            return [f"backward() got y of shape {batch.y_shape} for a batch of {len(expected)}, expected "
                    f"{target_shape(c, len(expected), out_dim)}: {keep}"]
        if batch.y_rows != expected:
            return [f"backward() got the targets of rows {batch.y_rows}, not those of the batch {expected}"]
    return []


def epochs_of(batches: list[Batch]) -> list[list[Batch]]:
    """The batches grouped into epochs as train() made them: with shuffle=False an epoch
    ends where a row comes again (a loop that drops or adds batches keeps its own epochs)."""
    epochs: list[list[Batch]] = []
    seen: set[int] = set()
    for batch in batches:
        rows = {r for r in batch.rows if r >= 0}
        if not epochs or rows & seen:
            epochs.append([])
            seen = set()
        epochs[-1].append(batch)
        seen |= rows
    return epochs


def check_learning_rates(epochs: list[list[Batch]]) -> list[str]:
    rtol = spec.tolerances()["schedule"]["lr_rtol"]
    for epoch, group in enumerate(epochs):
        expected = learning_rate(epoch)
        for batch in group:
            if batch.lr is None or not math.isclose(batch.lr, expected, rel_tol=rtol):
                used = [round(g[0].lr, 8) if g[0].lr is not None else None for g in epochs]
                return [f"epoch {epoch} stepped with lr={batch.lr}, expected {expected:g} = lr * decay_factor ** "
                        f"(epoch // decay_every); the per-epoch rates were {used}"]
    return []


def check_epoch_losses(c: Contract, epochs: list[list[Batch]], losses, X, y) -> list[str]:
    tol = spec.tolerances()["schedule"]
    n = X.shape[0]
    for epoch, (loss, group) in enumerate(zip(losses, epochs)):
        total = sum(_batch_loss(c, b, y) for b in group if len(b.out) == len([r for r in b.rows if r >= 0]))
        expected = total / n
        if not math.isclose(loss, expected, rel_tol=tol["loss_rtol"], abs_tol=tol["loss_atol"]):
            return [f"epoch {epoch} reported loss {loss:.6g}, but its forward passes give a "
                    f"{c.loss_text} of {expected:.6g} over all {n} samples (weight each batch by its size)"]
    return []


def _batch_loss(c: Contract, batch: Batch, y: np.ndarray) -> float:
    """The batch's data loss times its size (the sum of squared errors over out_dim for MSE)."""
    rows = [r for r in batch.rows if r >= 0]
    if c.classification:
        if batch.out.ndim != 2:
            return float("nan")
        return loss_fns.data_loss(c, batch.out, y[rows]) * len(rows)
    return float(np.sum((batch.out - y[rows]) ** 2)) / y.shape[1]


@check("training.schedule")
def schedule(ctx: Context) -> float | None:
    parts = ctx.assignment.rubric["training.schedule"].parts
    dims = ctx.fixed_dims() or Dims(3, 4, ctx.contract.small_out_dim)
    rng = np.random.default_rng(2)
    problems: dict[str, list[str]] = {part: [] for part in parts}
    runs: list[tuple] = []  # evidence for the diagnosis
    for n, batch_size in LOOPS:
        X = rng.standard_normal((n, dims.in_dim)).astype(np.float32)
        y = rng.standard_normal((n, dims.out_dim)).astype(np.float32)
        if ctx.contract.classification:
            y = rng.integers(0, dims.out_dim, n).astype(np.int64)
        params = {name: (0.3 * rng.standard_normal(shape)).astype(np.float32)
                  for name, shape in ctx.contract.param_shapes(dims).items()}
        if ctx.fixed_dims():  # else the loss is inf within an epoch, for the reference too
            params, X = at_full_size(dims, params, X)
            params, X = {k: v.astype(np.float32) for k, v in params.items()}, X.astype(np.float32)
        kwargs = {**SCHEDULE, "batch_size": batch_size, "shuffle": False}
        value = ctx.call("train_recorded", timeout=train_timeout(), dims=dims_list(dims), params=params,
                         X=X, y=y, kwargs=kwargs)
        losses = losses_of(ctx.contract, value, SCHEDULE["epochs"])
        y_graded = targets(y, "float64")
        batches = batches_from(ctx.contract, value["events"], X.astype(np.float64), y_graded)
        runs.append((n, batch_size, y_graded, batches, losses, kwargs))
        where = f"[N={n}, batch_size={batch_size}] "
        found = {"batches": check_batches(ctx.contract, batches, n, batch_size, dims.out_dim)}
        if batches:  # a loop without a single batch says nothing of its rates and losses
            epochs = epochs_of(batches)
            found["learning_rates"] = check_learning_rates(epochs)
            found["epoch_losses"] = check_epoch_losses(ctx.contract, epochs, losses, X.astype(np.float64), y_graded)
        for part, messages in found.items():
            if messages and not problems[part]:
                problems[part] = [where + m for m in messages]
    if not any(run[3] for run in runs):  # nothing recorded earns nothing
        returned = runs[0][4].tolist()
        problems = dict.fromkeys(parts, [f"train() made no forward, backward or step call on the model it was given "
                                         f"in any of {len(runs)} runs: there is no batch, learning rate or epoch loss "
                                         f"to grade (it returned the losses {returned}, ...)"])
    failed = {part: msgs for part, msgs in problems.items() if msgs}
    if failed:
        earned = sum(points for part, points in parts.items() if part not in failed)
        messages = dict.fromkeys(m for msgs in failed.values() for m in msgs)  # each once, in order
        raise Failed("; ".join(messages), earned=earned, details={"failed_parts": sorted(failed)},
                     clues={"training.schedule": runs})
    return None
