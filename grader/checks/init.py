"""init: the spec's init scheme (Xavier uniform: bound and distribution; Xavier normal, He
normal or a given std: distribution), zero biases, seeding."""

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

def weights() -> tuple[str, ...]:
    return spec.contract().weights


def attr(role: str) -> str:
    """The student's name of a parameter (the role itself unless the spec renames it)."""
    return spec.contract().attr(role)


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape in the contract's layout."""
    first, second = shape
    return (second, first) if spec.contract().layout == "out_in" else (first, second)


def xavier_bound(shape: tuple[int, ...]) -> float:
    fan_in, fan_out = fans(shape)
    return math.sqrt(6.0 / (fan_in + fan_out))


def expected_std(shape: tuple[int, ...]) -> float:
    """The standard deviation the spec's init scheme gives a weight of this shape."""
    init = spec.contract().init
    fan_in, fan_out = fans(shape)
    return {
        "xavier_uniform": lambda: xavier_bound(shape) / math.sqrt(3.0),
        "xavier_normal": lambda: math.sqrt(2.0 / (fan_in + fan_out)),
        "he_normal": lambda: math.sqrt(2.0 / fan_in),
        "normal": lambda: float(init["std"]),
    }[init["scheme"]]()


def scheme_text(shape: tuple[int, ...]) -> str:
    scheme = spec.contract().init["scheme"]
    if scheme == "xavier_uniform":
        return f"uniform on (-a, a) with a = sqrt(6 / (fan_in + fan_out)) = {xavier_bound(shape):.4g}"
    formula = {"xavier_normal": "sqrt(2 / (fan_in + fan_out))", "he_normal": "sqrt(2 / fan_in)",
               "normal": "the handout's std"}[scheme]
    return f"normal with mean 0 and std = {formula} = {expected_std(shape):.4g}"


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
            for name in weights():
                a = xavier_bound(params[name].shape)
                largest = float(np.max(np.abs(params[name])))
                if not largest <= a * (1 + rtol):
                    raise Failed(f"{attr(name)} of a {dims_list(dims)} network has |w| up to {largest:.4g}, above the "
                                 f"Xavier bound a = sqrt(6 / (fan_in + fan_out)) = {a:.4g}",
                                 details={"bound": a, "largest": largest, "dims": dims_list(dims)})


@check("init.xavier_distribution", "init.distribution")
def distribution(ctx: Context) -> None:
    """Kolmogorov-Smirnov test of the weights of the full network against the spec's
    scheme: w / a against U(-1, 1) (Xavier uniform), or w / std against N(0, 1). A correct
    init fails each test with probability ks_significance (1e-7), so both weights together
    with at most 2e-7."""
    alpha = spec.tolerances()["init"]["ks_significance"]
    uniform = spec.contract().init["scheme"] == "xavier_uniform"
    params = initial(ctx, ctx.full_dims, seed=0)
    for name in weights():
        shape = params[name].shape
        unit = xavier_bound(shape) if uniform else expected_std(shape)
        sample = params[name].ravel() / unit
        result = stats.kstest(sample, stats.uniform(loc=-1, scale=2).cdf if uniform else stats.norm.cdf)
        if not result.pvalue >= alpha:  # NaN fails
            std, wanted = float(sample.std() * unit), expected_std(shape)
            raise with_diagnosis(Failed(
                f"{attr(name)} does not look {scheme_text(shape)}: Kolmogorov-Smirnov statistic "
                f"{result.statistic:.4f} (p = {result.pvalue:.2g}); its standard deviation is {std:.4g}, "
                f"the handout's init gives {wanted:.4g}",
                details={"ks_statistic": float(result.statistic), "p_value": float(result.pvalue),
                         "std": std, "expected_std": wanted, **({"bound": unit} if uniform else {})}),
                lambda: diagnosis.weights(params))


@check("init.zero_biases")
def zero_biases(ctx: Context) -> None:
    params = initial(ctx, ctx.fixed_dims() or Dims(40, 24, 3), seed=0)
    for name in spec.contract().biases:
        if np.any(params[name] != 0):
            raise with_diagnosis(
                Failed(f"{attr(name)} starts with {int(np.count_nonzero(params[name]))} non-zero value(s) "
                       f"(largest |b| = {float(np.max(np.abs(params[name]))):.3g}); biases start at zero"),
                lambda: diagnosis.biases(params))


@check("init.seeded")
def reproducible(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    first = initial(ctx, dims, seed=7)
    again = validate_again(ctx, dims, seed=7)
    for name in weights():
        if not np.array_equal(first[name], again[name]):
            raise with_diagnosis(
                Failed(f"two models made after torch.manual_seed(7) have different {attr(name)}: draw the weights "
                       f"from torch's global RNG (torch.rand/torch.randn/torch.empty().uniform_), not numpy or random"),
                lambda: diagnosis.seeding(same_seed=(first, again)))


def validate_again(ctx: Context, dims: Dims, seed: int) -> dict[str, np.ndarray]:
    value = ctx.call("construct", dims=dims_list(dims), seed=seed)
    return params_of(value["params"], dims)


@check("init.seeds_differ")
def seeds_differ(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    a, b = initial(ctx, dims, seed=7), initial(ctx, dims, seed=8)
    for name in weights():
        if np.array_equal(a[name], b[name]):
            raise with_diagnosis(
                Failed(f"torch.manual_seed(7) and torch.manual_seed(8) give the same {attr(name)}: the weights "
                       f"must be random draws, not fixed values or a fixed private seed"),
                lambda: diagnosis.seeding(other_seeds=(a, b)))
