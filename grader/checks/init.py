"""init: the spec's init scheme (Xavier uniform: bound and distribution; Xavier normal, He
normal or a given std: distribution), zero biases, seeding."""

from __future__ import annotations

import math

import numpy as np
from grader import kolmogorov, spec, validate
from grader.checks.base import check, clue
from grader.context import Context, dims_list
from grader.outcome import Failed
from grader.spec import Contract, Dims


def fans(c: Contract, shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape in the contract's layout."""
    first, second = shape
    return (second, first) if c.layout == "out_in" else (first, second)


def xavier_bound(c: Contract, shape: tuple[int, ...]) -> float:
    fan_in, fan_out = fans(c, shape)
    return math.sqrt(6.0 / (fan_in + fan_out))


def expected_std(c: Contract, shape: tuple[int, ...]) -> float:
    """The standard deviation the spec's init scheme gives a weight of this shape."""
    init = c.init
    fan_in, fan_out = fans(c, shape)
    return {
        "xavier_uniform": lambda: xavier_bound(c, shape) / math.sqrt(3.0),
        "xavier_normal": lambda: math.sqrt(2.0 / (fan_in + fan_out)),
        "he_normal": lambda: math.sqrt(2.0 / fan_in),
        "normal": lambda: float(init["std"]),
    }[init["scheme"]]()


def scheme_text(c: Contract, shape: tuple[int, ...]) -> str:
    scheme = c.init["scheme"]
    if scheme == "xavier_uniform":
        return f"uniform on (-a, a) with a = sqrt(6 / (fan_in + fan_out)) = {xavier_bound(c, shape):.4g}"
    formula = {"xavier_normal": "sqrt(2 / (fan_in + fan_out))", "he_normal": "sqrt(2 / fan_in)",
               "normal": "the handout's std"}[scheme]
    return f"normal with mean 0 and std = {formula} = {expected_std(c, shape):.4g}"


def dims_to_test(ctx: Context) -> list[Dims]:
    fixed = ctx.fixed_dims()
    return [ctx.full_dims] if fixed else [ctx.full_dims, Dims(40, 24, 3)]


@check("init.xavier_bound")
def within_bound(ctx: Context) -> None:
    rtol = spec.tolerances()["init"]["bound_rtol"]
    with clue("init.weights"):
        for dims in dims_to_test(ctx):
            params = ctx.initial(dims, seed=0)
            for name in ctx.contract.weights:
                a = xavier_bound(ctx.contract, params[name].shape)
                largest = float(np.max(np.abs(params[name])))
                if not largest <= a * (1 + rtol):
                    raise Failed(f"{ctx.contract.attr(name)} of a {dims_list(dims)} network has |w| up to "
                                 f"{largest:.4g}, above the "
                                 f"Xavier bound a = sqrt(6 / (fan_in + fan_out)) = {a:.4g}",
                                 details={"bound": a, "largest": largest, "dims": dims_list(dims)})


# A network built through the constructor for the distribution test alone: thousands of
# weights per matrix (the handouts' own have as few as 32), and fan_in and fan_out ten and
# five times apart, where a fan_in / fan_out mix-up changes the std by sqrt(10) or sqrt(5)
# (on a square 64 x 64 W1 it changes nothing).
DISTRIBUTION_DIMS = Dims(400, 40, 200)


def distribution_sample(ctx: Context, name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The weights `name` of DISTRIBUTION_DIMS, each divided by the unit of the spec's
    scheme (Xavier's bound, or the std), and the last network's parameters. A constructor
    that ignores its dims gives the homework's network: then seeds 0, 1, ... are pooled up
    to init.min_weights weights (divided by the unit, their weights are identically
    distributed under a correct init)."""
    min_weights = spec.tolerances()["init"]["min_weights"]
    uniform = ctx.contract.init["scheme"] == "xavier_uniform"
    dims = ctx.fixed_dims() or DISTRIBUTION_DIMS
    samples: list[np.ndarray] = []
    seed = 0
    while sum(map(len, samples)) < min_weights:
        params = ctx.initial(dims, seed=seed)
        shape = params[name].shape
        unit = xavier_bound(ctx.contract, shape) if uniform else expected_std(ctx.contract, shape)
        samples.append(params[name].ravel() / unit)
        seed += 1
    return np.concatenate(samples), params


@check("init.xavier_distribution", "init.distribution")
def distribution(ctx: Context) -> None:
    """Kolmogorov-Smirnov test of each weight matrix against the spec's scheme: w / a
    against U(-1, 1) (Xavier uniform), or w / std against N(0, 1), on at least
    init.min_weights (8000) weights (`distribution_sample`).

    False failures: a correct init fails each matrix's test with probability
    ks_significance (1e-7), so both together with at most 2e-7. Power: the largest gap
    between the CDFs of N(0, 1) and of a uniform of the same std is 0.057; with 8000
    weights the test's critical distance at 1e-7 is 0.032, and Xavier uniform against
    Xavier normal (either way) was told apart in 2000 of 2000 simulated draws (as was
    every fan mix-up of DISTRIBUTION_DIMS, whose CDF gaps are 0.18 and above)."""
    alpha = spec.tolerances()["init"]["ks_significance"]
    uniform = ctx.contract.init["scheme"] == "xavier_uniform"
    for name in ctx.contract.weights:
        sample, params = distribution_sample(ctx, name)
        shape = params[name].shape
        result = kolmogorov.kstest(sample, "uniform" if uniform else "normal", alpha)
        if result is not None and not result.pvalue >= alpha:  # NaN fails
            unit = xavier_bound(ctx.contract, shape) if uniform else expected_std(ctx.contract, shape)
            std, wanted = float(sample.std() * unit), expected_std(ctx.contract, shape)
            dims = dims_list(ctx.fixed_dims() or DISTRIBUTION_DIMS)
            where = f"a {dims} network's {ctx.contract.attr(name)} {tuple(shape)}"
            raise Failed(
                f"{where} does not look {scheme_text(ctx.contract, shape)}: Kolmogorov-Smirnov statistic "
                f"{result.statistic:.4f} over {sample.size} weights (p = {result.pvalue:.2g}, the test fails "
                f"below {alpha:g}); its standard deviation is {std:.4g}, the handout's init gives {wanted:.4g}",
                details={"ks_statistic": float(result.statistic), "p_value": float(result.pvalue),
                         "weights": int(sample.size), "std": std, "expected_std": wanted,
                         **({"bound": unit} if uniform else {})},
                clues={"init.weights": None})


@check("init.zero_biases")
def zero_biases(ctx: Context) -> None:
    params = ctx.initial(ctx.fixed_dims() or Dims(40, 24, 3), seed=0)
    for name in ctx.contract.biases:
        if np.any(params[name] != 0):
            raise Failed(f"{ctx.contract.attr(name)} starts with {int(np.count_nonzero(params[name]))} non-zero "
                         f"value(s) (largest |b| = {float(np.max(np.abs(params[name]))):.3g}); biases start at zero",
                         clues={"init.biases": params})


@check("init.seeded")
def reproducible(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    first = ctx.initial(dims, seed=7)
    again = validate_again(ctx, dims, seed=7)
    for name in ctx.contract.weights:
        if not np.array_equal(first[name], again[name]):
            raise Failed(seeded_text(ctx.contract, name), clues={"init.same_seed": (first, again)})


def seed_call(c: Contract) -> str:
    return "np.random.seed" if c.framework == "numpy" else "torch.manual_seed"


def seeded_text(c: Contract, name: str) -> str:
    if c.framework == "numpy":
        return (f"two models made after np.random.seed(7) have different {c.attr(name)}: draw the weights from "
                f"numpy's global RNG (np.random.randn), not a private Generator or a fixed seed of your own")
    return (f"two models made after torch.manual_seed(7) have different {c.attr(name)}: draw the weights "
            f"from torch's global RNG (torch.rand/torch.randn/torch.empty().uniform_), not numpy or random")


def validate_again(ctx: Context, dims: Dims, seed: int) -> dict[str, np.ndarray]:
    value = ctx.call("construct", dims=dims_list(dims), seed=seed)
    return validate.params_of(ctx.contract, value["params"], dims)


@check("init.seeds_differ")
def seeds_differ(ctx: Context) -> None:
    dims = ctx.fixed_dims() or Dims(40, 24, 3)
    a, b = ctx.initial(dims, seed=7), ctx.initial(dims, seed=8)
    for name in ctx.contract.weights:
        if np.array_equal(a[name], b[name]):
            raise Failed(f"{seed_call(ctx.contract)}(7) and {seed_call(ctx.contract)}(8) give the same "
                         f"{ctx.contract.attr(name)}: the weights must be random draws, not fixed values or a fixed "
                         f"private seed", clues={"init.other_seeds": (a, b)})
