"""init: Xavier-uniform weights (bound and distribution), zero biases, seeding."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from grader import spec
from grader.checks.base import Context, check, dims_list, params_of
from grader.checks.checkpoint import with_diagnosis
from grader.checks.forward import explained
from grader.outcome import Failed
from grader.spec import Dims

try:  # the student kit leaves grader/diagnosis out: its variants spell out the solution
    from grader.diagnosis import init as diagnosis
except ImportError:  # pragma: no cover - only in the kit
    pass

WEIGHTS = ("W1", "W2")


def xavier_bound(shape: tuple[int, ...]) -> float:
    fan_out, fan_in = shape
    return math.sqrt(6.0 / (fan_in + fan_out))


def initial(ctx: Context, dims: Dims, seed: int) -> dict[str, np.ndarray]:
    """The parameters of a fresh model under torch.manual_seed(seed) (asked once)."""
    def construct():
        value = ctx.call("construct", dims=dims_list(dims), seed=seed)
        return params_of(value["params"], dims)
    return ctx.probe(f"init{dims_list(dims)}:{seed}", construct)


def weights_diagnosis(ctx: Context):
    return diagnosis.weights(initial(ctx, ctx.full_dims, seed=0))


def dims_to_test(ctx: Context) -> list[Dims]:
    fixed = ctx.fixed_dims()
    return [ctx.full_dims] if fixed else [ctx.full_dims, Dims(40, 24, 3)]


@check("init.xavier_bound")
def within_bound(ctx: Context) -> None:
    rtol = spec.tolerances()["init"]["bound_rtol"]
    with explained(ctx, "init.weights", lambda: weights_diagnosis(ctx)):
        for dims in dims_to_test(ctx):
            params = initial(ctx, dims, seed=0)
            for name in WEIGHTS:
                a = xavier_bound(params[name].shape)
                largest = float(np.max(np.abs(params[name])))
                if largest > a * (1 + rtol):
                    raise Failed(f"{name} of a {dims_list(dims)} network has |w| up to {largest:.4g}, above the "
                                 f"Xavier bound a = sqrt(6 / (fan_in + fan_out)) = {a:.4g}",
                                 details={"bound": a, "largest": largest, "dims": dims_list(dims)})


@check("init.xavier_distribution")
def uniform_distribution(ctx: Context) -> None:
    """Kolmogorov-Smirnov test of w / a against U(-1, 1) for W1 and W2 of the full network.
    A correct init fails each test with probability ks_significance (1e-7), so both
    together with at most 2e-7."""
    alpha = spec.tolerances()["init"]["ks_significance"]
    params = initial(ctx, ctx.full_dims, seed=0)
    for name in WEIGHTS:
        a = xavier_bound(params[name].shape)
        sample = params[name].ravel() / a
        result = stats.kstest(sample, stats.uniform(loc=-1, scale=2).cdf)
        if result.pvalue < alpha:
            std, expected_std = float(sample.std() * a), a / math.sqrt(3)
            raise with_diagnosis(Failed(
                f"{name} does not look uniform on (-a, a) with a = {a:.4g}: Kolmogorov-Smirnov statistic "
                f"{result.statistic:.4f} (p = {result.pvalue:.2g}); its standard deviation is {std:.4g}, "
                f"Xavier-uniform gives {expected_std:.4g}",
                details={"ks_statistic": float(result.statistic), "p_value": float(result.pvalue),
                         "std": std, "expected_std": expected_std, "bound": a}),
                lambda: diagnosis.weights(params))


@check("init.zero_biases")
def zero_biases(ctx: Context) -> None:
    params = initial(ctx, ctx.fixed_dims() or Dims(40, 24, 3), seed=0)
    for name in ("b1", "b2"):
        if np.any(params[name] != 0):
            raise with_diagnosis(
                Failed(f"{name} starts with {int(np.count_nonzero(params[name]))} non-zero value(s) "
                       f"(largest |b| = {float(np.max(np.abs(params[name]))):.3g}); biases start at zero"),
                lambda: diagnosis.biases(params))


@check("init.seeded")
def reproducible(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    first = initial(ctx, dims, seed=7)
    again = validate_again(ctx, dims, seed=7)
    for name in WEIGHTS:
        if not np.array_equal(first[name], again[name]):
            raise with_diagnosis(
                Failed(f"two models made after torch.manual_seed(7) have different {name}: draw the weights "
                       f"from torch's global RNG (torch.rand/torch.empty().uniform_), not numpy or random"),
                lambda: diagnosis.seeding(same_seed=(first, again)))


def validate_again(ctx: Context, dims: Dims, seed: int) -> dict[str, np.ndarray]:
    value = ctx.call("construct", dims=dims_list(dims), seed=seed)
    return params_of(value["params"], dims)


@check("init.seeds_differ")
def seeds_differ(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    a, b = initial(ctx, dims, seed=7), initial(ctx, dims, seed=8)
    for name in WEIGHTS:
        if np.array_equal(a[name], b[name]):
            raise with_diagnosis(
                Failed(f"torch.manual_seed(7) and torch.manual_seed(8) give the same {name}: the weights "
                       f"must be random draws, not fixed values or a fixed private seed"),
                lambda: diagnosis.seeding(other_seeds=(a, b)))
