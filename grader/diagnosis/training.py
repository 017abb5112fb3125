"""training: which known mistake step() and train() fit.

The loop's mistakes are small named rules, shared by two diagnoses:

- learning-rate rules (epoch -> lr): the contract's decay, none, one epoch early or late;
- epoch-loss rules (the epoch's forward outputs -> one number): the size-weighted mean,
  the plain mean of the batch means, their sum, the last batch only, the mean over
  (B, 1) - (B,) broadcast to (B, B);
- batching (the short last batch kept or dropped) and the update (P - lr g or P + lr g).

`diagnose_schedule` judges what train() did batch by batch (the recorded calls of the
schedule check); `diagnose_trajectory` runs train() once more on the trajectory check's
generic example and compares its losses and parameters with simulations of the reference
model (oracle, float64) under every loop one or two of these rules away from the contract,
once forward(), backward() and step() are known right on their own probes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from grader import oracle, spec, validate
from grader.context import Context, dims_list
from grader.losses import data_loss
from grader.diagnoses import Diagnosis, Finding, cached, diagnoses
from grader.diagnosis import backward, forward, probe
from grader.diagnosis.fit import fits, fits_variant
from grader.diagnosis.step import ASCENDS, diagnose_step
from grader.spec import Contract
from grader.strategies import targets

# -- learning-rate rules: (epoch, lr, decay_every, decay_factor) -> lr of the epoch -------

def decayed(epoch, lr, every, factor):
    return lr * factor ** (epoch // every)


def constant(epoch, lr, every, factor):
    return lr


def decays_one_epoch_early(epoch, lr, every, factor):
    """e.g. `for epoch in range(1, epochs + 1)` with epoch // decay_every."""
    return lr * factor ** ((epoch + 1) // every)


def decays_one_epoch_late(epoch, lr, every, factor):
    return lr * factor ** (max(epoch - 1, 0) // every)


def decays_before_epoch_0(epoch, lr, every, factor):
    """`if epoch % decay_every == 0: lr *= factor` also fires at epoch 0."""
    return lr * factor ** (epoch // every + 1)


LR_RULES: dict[Callable, tuple[str, str]] = {
    constant: ("training.no_lr_decay", "the learning rate never decays"),
    decays_one_epoch_early: ("training.decay_off_by_one", "the learning rate decays one epoch too early "
                             "(epochs counted from 1?)"),
    decays_one_epoch_late: ("training.decay_off_by_one", "the learning rate decays one epoch too late"),
    decays_before_epoch_0: ("training.decay_off_by_one", "the learning rate already decays at epoch 0 (a check "
                            "like `epoch % decay_every == 0` also fires at epoch 0)"),
}


# -- epoch-loss rules: (contract, [(out, y) per batch], N) -> the epoch's loss (the spec's data loss) --

def weighted_mean(c: Contract, batches, n):
    return sum(data_loss(c, o, y) * len(o) for o, y in batches) / n


def seen_samples_mean(c: Contract, batches, n):
    """The size-weighted mean over the rows actually used (the same unless some are dropped)."""
    return weighted_mean(c, batches, sum(len(o) for o, _ in batches))


def mean_of_batch_means(c: Contract, batches, n):
    return float(np.mean([data_loss(c, o, y) for o, y in batches]))


def sum_of_batch_means(c: Contract, batches, n):
    return float(np.sum([data_loss(c, o, y) for o, y in batches]))


def last_batch_mean(c: Contract, batches, n):
    o, y = batches[-1]
    return data_loss(c, o, y)


def broadcast_mean(c: Contract, batches, n):
    """y flattened to (B,): (B, 1) - (B,) broadcasts to (B, B), each batch then weighted."""
    return sum(float(np.mean((o - y.reshape(-1)) ** 2)) * len(o) for o, y in batches) / n


LOSS_RULES: dict[Callable, tuple[str, str]] = {
    mean_of_batch_means: ("training.loss_not_weighted", "each epoch's loss is the plain mean of its batch losses; "
                          "the last batch is shorter, so weight each batch's mean by its size: "
                          "sum(batch_mean * B) / N"),
    sum_of_batch_means: ("training.loss_summed", "each epoch's loss is the sum of its batch losses, not their "
                         "size-weighted mean"),
    last_batch_mean: ("training.last_batch_loss", "each epoch's loss is the last batch's loss only, not the mean "
                      "over all the epoch's samples"),
    broadcast_mean: ("training.y_broadcast", "each epoch's loss equals the mean of (pred_i - y_j)**2 over all pairs "
                     "of a batch: y was flattened to shape (B,), and (B, 1) - (B,) broadcasts to (B, B). Keep y of "
                     "shape (N, 1) (no .flatten()/.squeeze()/.view(-1))"),
    seen_samples_mean: ("training.last_batch_dropped", "each epoch's loss is averaged over the samples of the full "
                        "batches only"),
}


def loss_rules(c: Contract) -> dict[Callable, tuple[str, str]]:
    """The epoch-loss rules of the spec's loss (class labels have no (B,) - (B, 1) broadcast)."""
    if c.classification:
        return {rule: words for rule, words in LOSS_RULES.items() if rule is not broadcast_mean}
    return LOSS_RULES

DROPPED = ("training.last_batch_dropped", "the short last batch of each epoch is dropped: with N rows and batch "
           "size B there are ceil(N / B) batches, the last one with the N % B remaining rows")


def finding(pairs: list[tuple[str, str]]) -> Finding:
    ids = list(dict.fromkeys(i for i, _ in pairs))
    words = "; ".join(dict.fromkeys(w for _, w in pairs))
    return Finding("+".join(ids), f"train() behaves exactly as if {words}.")


# -- the recorded schedule ------------------------------------------------------------------

@dataclass
class Run:
    """One recorded train() call of the schedule check."""

    n: int
    batch_size: int
    y: np.ndarray
    batches: list  # schedule.Batch: rows, out, y_shape, lr
    losses: np.ndarray
    kwargs: dict

    @property
    def epochs(self) -> int:
        return self.kwargs["epochs"]

    def per_epoch(self) -> int | None:
        return len(self.batches) // self.epochs if self.batches and len(self.batches) % self.epochs == 0 else None

    def epoch_batches(self, epoch: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
        k = self.per_epoch()
        group = self.batches[epoch * k:(epoch + 1) * k]
        if any(min(b.rows, default=-1) < 0 or len(b.out) != len(b.rows) for b in group):
            return None
        return [(np.asarray(b.out, dtype=np.float64).reshape(len(b.rows), -1), self.y[b.rows]) for b in group]


def dropped_last_batch(run: Run) -> bool:
    """Exactly the full consecutive batches of every epoch, and none of the remainder."""
    full = run.n // run.batch_size
    if run.n % run.batch_size == 0 or len(run.batches) != run.epochs * full:
        return False
    return all(b.rows == list(range((i % full) * run.batch_size, (i % full + 1) * run.batch_size))
               for i, b in enumerate(run.batches))


def lr_rule_fit(runs: list[Run]) -> Callable | None:
    """The learning-rate rule every recorded step() follows (None when none does)."""
    for rule in (decayed, *LR_RULES):
        if all(_follows(run, rule) for run in runs):
            return rule
    return None


def _follows(run: Run, rule: Callable) -> bool:
    k = run.per_epoch()
    kw = run.kwargs
    return k is not None and all(
        b.lr is not None and math.isclose(b.lr, rule(i // k, kw["lr"], kw["decay_every"], kw["decay_factor"]),
                                          rel_tol=1e-6) for i, b in enumerate(run.batches))


def loss_rule_fit(c: Contract, runs: list[Run], tol) -> Callable | None:
    """The epoch-loss rule the reported losses follow, given the recorded forward outputs."""
    usable = [run for run in runs if run.per_epoch() and all(run.epoch_batches(e) for e in range(run.epochs))]
    if not usable:
        return None
    got = np.concatenate([run.losses for run in usable])

    def values(rule):
        return np.array([rule(c, run.epoch_batches(e), run.n) for run in usable for e in range(run.epochs)])

    reference = values(weighted_mean)
    if fits(got, reference, tol):
        return weighted_mean
    for rule in loss_rules(c):
        if fits_variant(got, values(rule), reference, tol):
            return rule
    return None


@diagnoses("training.schedule", clue="training.schedule")
def diagnose_schedule(ctx: Context, recorded: list[tuple]) -> Diagnosis:
    """Evidence: the recorded train() calls, as (N, batch_size, y, batches, losses, kwargs)."""
    c = ctx.contract
    runs = [Run(*r) for r in recorded]
    tol = spec.tolerances()["training"]
    found: list[tuple[str, str]] = []
    if any(dropped_last_batch(run) for run in runs):
        found.append(DROPPED)
    lr_rule = lr_rule_fit(runs)
    if lr_rule in LR_RULES:
        found.append(LR_RULES[lr_rule])
    loss_rule = loss_rule_fit(c, runs, tol)
    if loss_rule in LOSS_RULES and not (loss_rule is seen_samples_mean and DROPPED in found):
        if loss_rule is not broadcast_mean or _y_flattened(runs):
            found.append(LOSS_RULES[loss_rule])
    evidence = {"lr_rule": getattr(lr_rule, "__name__", None), "loss_rule": getattr(loss_rule, "__name__", None)}
    return Diagnosis((finding(found),) if found else (), evidence)


def _y_flattened(runs: list[Run]) -> bool:
    return any(b.y_shape is not None and len(b.y_shape) == 1 for run in runs for b in run.batches)


# -- the trajectory -------------------------------------------------------------------------

def descend(params, grads, lr):
    return {k: params[k] - lr * grads[k] for k in params}


def ascend(params, grads, lr):
    return {k: params[k] + lr * grads[k] for k in params}


def simulate(c: Contract, params, X, y, kwargs, lr_rule=decayed, drop_last=False, update=descend):
    """The reference model trained by a loop with the given rules: per epoch, the list of
    (forward output, targets) of its batches, and the final parameters."""
    n, bs = X.shape[0], kwargs["batch_size"]
    stop = n - n % bs if drop_last else n
    epochs = []
    for epoch in range(kwargs["epochs"]):
        lr = lr_rule(epoch, kwargs["lr"], kwargs["decay_every"], kwargs["decay_factor"])
        seen = []
        for start in range(0, stop, bs):
            Xb, yb = X[start:start + bs], y[start:start + bs]
            seen.append((oracle.forward(c, params, Xb), yb))
            params = update(params, oracle.gradients(c, params, Xb, yb), lr)
        epochs.append(seen)
    return epochs, params


LOOP_CHANGES = [("lr_rule", rule, LR_RULES[rule]) for rule in LR_RULES] + [
    ("drop_last", True, DROPPED), ("update", ascend, ASCENDS)]


def loops():
    """(changes, simulate-kwargs) of the contract's loop and every loop one or two rules away."""
    yield [], {}
    for i, (key, value, words) in enumerate(LOOP_CHANGES):
        yield [words], {key: value}
        for key2, value2, words2 in LOOP_CHANGES[i + 1:]:
            if key2 != key:
                yield [words, words2], {key: value, key2: value2}


def model_differs(ctx: Context) -> list[str]:
    """The model methods train() relies on that are not the contract's on their probes.

    A trajectory only shows lr_e * grad: a gradient off by a constant is indistinguishable
    there from a learning rate off by the same constant. So the loop is judged only when
    forward(), backward() and step() are right on their own."""
    parts = {"forward()": lambda: forward.diagnose(ctx), "backward()": lambda: backward.diagnose(ctx),
             "step()": lambda: diagnose_step(ctx)}
    names = {"forward()": "forward", "backward()": "backward", "step()": "training.step"}
    return [part for part, run in parts.items()
            if cached(ctx, names[part], run).evidence.get("generic_probe") != "correct"]


@diagnoses("training.trajectory", clue="training.trajectory")
def diagnose_trajectory(ctx: Context, clue: tuple[dict, tuple]) -> Diagnosis | None:
    """Evidence: train() with the check's kwargs on its generic example (dims, params, X, y),
    run again (clue: the two)."""
    kwargs, example = clue
    if not oracle.available():
        return None
    differs = model_differs(ctx)
    if differs:
        return Diagnosis((Finding(None, f"train() runs your own {' and '.join(differs)}, which on their own "
                                        f"already differ from the contract's (see those checks), so the trajectory "
                                        f"cannot match; the loop itself is judged by training.schedule."),),
                         {"model_differs": differs})
    dims, params, X, y = example
    value = ctx.call("train", timeout=float(spec.limits()["time"]["train_call"]), dims=dims_list(dims),
                     params=probe.float32(params), X=np.float32(X), y=targets(y, "float32"),
                     kwargs={**kwargs, "shuffle": False})
    got_losses = np.array([validate.scalar(ctx.contract, v, "loss") for v in value["losses"]])
    c = ctx.contract
    got_params = validate.params_of(c, value["params"], dims, "after train(): ")
    tol = spec.tolerances()["training"]
    matches = []
    for changes, loop in loops():
        epochs, final = simulate(c, params, X, y, kwargs, **loop)
        for rule, words in [(weighted_mean, None), *loss_rules(c).items()]:
            if len(changes) + (words is not None) > 2 or (rule is seen_samples_mean and not loop.get("drop_last")):
                continue
            losses = np.array([rule(c, seen, X.shape[0]) for seen in epochs])
            if len(losses) == len(got_losses) and fits(got_losses, losses, tol) and all(
                    fits(got_params[k], final[k], tol) for k in final):
                matches.append(changes + ([words] if words else []))
    evidence = {"probe_losses": got_losses.tolist()}
    if [] in matches:
        return Diagnosis((), {**evidence, "generic_probe": "correct"})
    fewest = [m for m in matches if len(m) == min(map(len, matches))] if matches else []
    if len(fewest) == 1:
        return Diagnosis((finding(fewest[0]),), evidence)
    return Diagnosis((), {**evidence, "fits": [[w[0] for w in m] for m in matches]})
