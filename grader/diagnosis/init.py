"""init: which known initialisation the student's weights were drawn from.

Evidence is the parameters of fresh models (passed in by the init checks; a network with
few weights is built larger for it, see checks/init.py). The right distribution is the
spec's scheme (Xavier uniform or normal, He normal, a given std), fans taken in the spec's
layout; the known-wrong ones are the other schemes, He with fan_in and fan_out swapped
(told apart by the measured spread of a non-square layer), unscaled and uncentred draws.
A named distribution fits when a Kolmogorov-Smirnov test accepts it for W1 and for W2 at
once (p >= FIT_P), and is named only when no mistake of another kind fits too. W1 of the
regression network has 131072 entries, so only a distribution within a fraction of a
percent of the true one is accepted; the distributions named here differ far more than
that. Families with a fitted parameter (a normal with one std for both layers, a uniform
with one bound for both) are tried only after every named one.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
from grader.context import Context
from grader.diagnoses import Diagnosis, Finding, diagnoses
from grader.spec import Contract, Dims

FIT_P = 1e-3
WEIGHTS = ("W1", "W2")
Dist = Callable[[int, int], "scipy.stats.rv_continuous"]


@functools.cache
def stats():
    """scipy.stats, imported by the first init diagnosis (0.7-1 s): a student whose init
    passes never waits for it (grader/kolmogorov.py)."""
    from scipy import stats as scipy_stats

    return scipy_stats


def xavier_bound(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6.0 / (fan_in + fan_out))


def _uniform(bound: float):
    return stats().uniform(loc=-bound, scale=2 * bound)


# -- named initialisations: (fan_in, fan_out) -> distribution --------------------------

def xavier_uniform(fan_in, fan_out):
    return _uniform(xavier_bound(fan_in, fan_out))


def he_uniform(fan_in, fan_out):
    return _uniform(math.sqrt(6.0 / fan_in))


def lecun_uniform(fan_in, fan_out):
    return _uniform(math.sqrt(3.0 / fan_in))


def torch_linear_default(fan_in, fan_out):
    return _uniform(1.0 / math.sqrt(fan_in))


def xavier_normal(fan_in, fan_out):
    return stats().norm(scale=math.sqrt(2.0 / (fan_in + fan_out)))


def bound_as_std(fan_in, fan_out):
    return stats().norm(scale=xavier_bound(fan_in, fan_out))


def he_normal(fan_in, fan_out):
    return stats().norm(scale=math.sqrt(2.0 / fan_in))


def standard_normal(fan_in, fan_out):
    return stats().norm()


def unit_uniform(fan_in, fan_out):
    return _uniform(1.0)


def rand_not_centred(fan_in, fan_out):
    """torch.rand(...) * a: U(0, a) instead of U(-a, a)."""
    return stats().uniform(loc=0.0, scale=xavier_bound(fan_in, fan_out))


def rand_not_centred_doubled(fan_in, fan_out):
    """torch.rand(...) * 2 * a, the shift by -a forgotten: U(0, 2a)."""
    return stats().uniform(loc=0.0, scale=2 * xavier_bound(fan_in, fan_out))


NAMED: dict[str, tuple[str, Dist, str]] = {
    "he_uniform": ("init.fan_in_bound", he_uniform, "uniform on (-sqrt(6 / fan_in), +sqrt(6 / fan_in)): the bound "
                   "uses fan_in only"),
    "lecun_uniform": ("init.fan_in_bound", lecun_uniform, "uniform on (-sqrt(3 / fan_in), +sqrt(3 / fan_in)): the "
                      "bound uses fan_in only"),
    "torch_linear_default": ("init.fan_in_bound", torch_linear_default, "uniform on (-1/sqrt(fan_in), "
                             "+1/sqrt(fan_in)) (nn.Linear's default): the bound uses fan_in only"),
    "xavier_normal": ("init.normal_not_uniform", xavier_normal, "normal with std sqrt(2 / (fan_in + fan_out)) "
                      "(Xavier-normal), not uniform"),
    "bound_as_std": ("init.normal_not_uniform", bound_as_std, "normal with the Xavier bound a as its std, not "
                     "uniform on (-a, a)"),
    "he_normal": ("init.normal_not_uniform", he_normal, "normal with std sqrt(2 / fan_in) (He-normal), not "
                  "Xavier-uniform"),
    "standard_normal": ("init.unscaled", standard_normal, "standard normal (torch.randn without any scaling)"),
    "unit_uniform": ("init.unscaled", unit_uniform, "uniform on (-1, 1): the draw is not multiplied by the bound a"),
    "rand_not_centred": ("init.not_centred", rand_not_centred, "uniform on (0, a): torch.rand is not shifted to "
                         "(-1, 1) before scaling"),
    "rand_not_centred_doubled": ("init.not_centred", rand_not_centred_doubled, "uniform on (0, 2a): the shift "
                                 "by -a is missing"),
}

def lecun_normal(fan_in, fan_out):
    return stats().norm(scale=math.sqrt(1.0 / fan_in))


def he_normal_fan_out(fan_in, fan_out):
    """He normal with fan_in and fan_out swapped: std sqrt(2 / fan_out)."""
    return stats().norm(scale=math.sqrt(2.0 / fan_out))


# The spec's scheme: its distribution (None: the spec's own std, see `correct`) and words.
SCHEMES: dict[str, tuple[Dist | None, str]] = {
    "xavier_uniform": (xavier_uniform, "Xavier-uniform"),
    "xavier_normal": (xavier_normal, "Xavier-normal"),
    "he_normal": (he_normal, "He-normal"),
    "normal": (None, "normal with the handout's std"),
}

# In an assignment whose scheme is normal: every other known init, with its id there.
OTHER_THAN_NORMAL: dict[str, tuple[str, Dist, str]] = {
    "he_normal_fan_out": ("init.fans_swapped", he_normal_fan_out, "normal with std sqrt(2 / fan_out): He-normal "
                          "with fan_in and fan_out swapped (fan_in is the number of inputs of the layer)"),
    "he_normal": ("init.wrong_std", he_normal, "normal with std sqrt(2 / fan_in) (He-normal)"),
    "xavier_normal": ("init.wrong_std", xavier_normal, "normal with std sqrt(2 / (fan_in + fan_out)) "
                      "(Xavier-normal)"),
    "lecun_normal": ("init.wrong_std", lecun_normal, "normal with std sqrt(1 / fan_in) (LeCun-normal)"),
    "bound_as_std": ("init.wrong_std", bound_as_std, "normal with std sqrt(6 / (fan_in + fan_out)) (the Xavier "
                     "bound taken as a std)"),
    "standard_normal": ("init.unscaled", standard_normal, "standard normal (torch.randn without any scaling)"),
    "xavier_uniform": ("init.uniform_not_normal", xavier_uniform, "uniform on (-a, a) with a = sqrt(6 / (fan_in + "
                       "fan_out)) (Xavier-uniform), not normal"),
    "he_uniform": ("init.uniform_not_normal", he_uniform, "uniform on (-sqrt(6 / fan_in), +sqrt(6 / fan_in)) "
                   "(He-uniform), not normal"),
    "torch_linear_default": ("init.uniform_not_normal", torch_linear_default, "uniform on (-1/sqrt(fan_in), "
                             "+1/sqrt(fan_in)) (nn.Linear's default), not normal"),
    "unit_uniform": ("init.uniform_not_normal", unit_uniform, "uniform on (-1, 1) (torch.rand * 2 - 1), not normal"),
}


def scheme(c: Contract) -> str:
    return c.init["scheme"]


def correct(c: Contract, fan_in: int, fan_out: int):
    dist = SCHEMES[scheme(c)][0]
    return stats().norm(scale=float(c.init["std"])) if dist is None else dist(fan_in, fan_out)


def candidates(c: Contract) -> dict[str, tuple[str, Dist, str]]:
    """The known-wrong initialisations of the spec's scheme (never the scheme itself)."""
    if scheme(c) == "xavier_uniform":
        return NAMED
    return {name: entry for name, entry in OTHER_THAN_NORMAL.items() if name != scheme(c)}


def advice(c: Contract) -> str:
    shape = "(fan_out, fan_in)" if c.layout == "out_in" else "(fan_in, fan_out)"
    if scheme(c) == "xavier_uniform":
        return (f"Draw each weight matrix {shape} from U(-a, a) with its own a = sqrt(6 / (fan_in + fan_out)), "
                f"e.g. torch.empty{shape}.uniform_(-a, a).")
    std = {"xavier_normal": "sqrt(2 / (fan_in + fan_out))", "he_normal": "sqrt(2 / fan_in)",
           "normal": "the handout's std"}[scheme(c)]
    return f"Draw each weight matrix {shape} as torch.randn{shape} * std with its own std = {std}."


def spread(c: Contract, params: dict[str, np.ndarray]) -> str:
    """The measured standard deviations against the scheme's, in words."""
    return "; ".join(f"{w} has std {np.std(params[w]):.4g}, the handout's init "
                     f"{correct(c, *fans(c, params[w])).std():.4g}"
                     for w in WEIGHTS)


def accepts(sample: np.ndarray, dist) -> bool:
    """A Kolmogorov-Smirnov fit, and for a uniform distribution its support pinned down.

    KS cannot tell U(-0.1528, 0.1528) from U(-0.1531, 0.1531) (sqrt(6 / 257) from
    sqrt(6 / 256)); the sample's extremes can: n uniform draws come within
    20 * width / n of each end except with probability 2e-9."""
    sample = sample.ravel()
    if stats().kstest(sample, dist.cdf).pvalue < FIT_P:
        return False
    if dist.dist.name != "uniform":
        return True
    low, high = dist.support()
    slack = 20 * (high - low) / sample.size
    inside = low - 1e-6 * abs(low) <= sample.min() and sample.max() <= high + 1e-6 * abs(high)
    return bool(inside and sample.min() - low <= slack and high - sample.max() <= slack)


def fans(c: Contract, weight: np.ndarray) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in the contract's layout."""
    first, second = weight.shape
    return (second, first) if c.layout == "out_in" else (first, second)


def named_fit(c: Contract, params: dict[str, np.ndarray]) -> str | None:
    """The one known initialisation the weights fit (None when none does, or when fits of
    different mistakes leave it open)."""
    named = candidates(c)
    fitting = [name for name, (_, dist, _) in named.items()
               if all(accepts(params[w], dist(*fans(c, params[w]))) for w in WEIGHTS)]
    if len({named[name][0] for name in fitting}) != 1:
        return None
    return fitting[0]


def shared_parameter_fit(c: Contract, params: dict[str, np.ndarray]) -> Finding | None:
    """One std (normal) or one bound (uniform) for both layers, whatever their fans."""
    samples = [params[w].ravel() for w in WEIGHTS]
    std = math.sqrt(float(np.mean(np.concatenate(samples) ** 2)))
    if std > 0 and all(accepts(s, stats().norm(scale=std)) for s in samples):
        return Finding("init.small_normal", f"W1 and W2 are normal with one fixed std {std:.3g} for both layers "
                                            f"(an N(0, {std:.2g}^2)-style init), not {SCHEMES[scheme(c)][1]}. "
                                            f"{advice(c)}")
    bound = float(max(np.max(np.abs(s)) for s in samples))
    if scheme(c) == "xavier_uniform" and bound > 0 and all(accepts(s, _uniform(bound)) for s in samples):
        return Finding("init.same_bound", f"W1 and W2 are both uniform on (-{bound:.4g}, {bound:.4g}): one bound for "
                                          f"both layers, but each layer has its own a = sqrt(6 / (fan_in + fan_out)) "
                                          f"({_expected_bounds(c, params)}). {advice(c)}")
    return None


def _expected_bounds(c: Contract, params) -> str:
    return ", ".join(f"{w}: {xavier_bound(*fans(c, params[w])):.4g}" for w in WEIGHTS)


def measured(c: Contract, params: dict[str, np.ndarray]) -> dict:
    return {w: {"shape": list(params[w].shape), "std": float(np.std(params[w])),
                "max_abs": float(np.max(np.abs(params[w]))), "mean": float(np.mean(params[w])),
                "xavier_bound": xavier_bound(*fans(c, params[w])),
                "expected_std": float(correct(c, *fans(c, params[w])).std())}
            for w in WEIGHTS}


DIAGNOSIS_DIMS = Dims(48, 96, 24)  # for a homework network too small to tell distributions apart
DIAGNOSIS_MIN_ENTRIES = 500


@diagnoses("init.xavier_bound", "init.xavier_distribution", "init.distribution", clue="init.weights")
def fresh_weights(ctx: Context, clue: None = None) -> Diagnosis:
    """The weights of a fresh model of the full size, or of DIAGNOSIS_DIMS when those are too
    few to tell distributions apart and the constructor honours its dims."""
    full = ctx.initial(ctx.full_dims, seed=0)
    if ctx.fixed_dims() is None and min(full[w].size for w in ctx.contract.weights) < DIAGNOSIS_MIN_ENTRIES:
        return weights(ctx.contract, ctx.initial(DIAGNOSIS_DIMS, seed=0))
    return weights(ctx.contract, full)


def weights(c: Contract, params: dict[str, np.ndarray]) -> Diagnosis:
    """Diagnose the weights of a fresh homework-size network."""
    evidence = {"weights": measured(c, params)}
    constant = constant_weights(c, params)
    if constant:
        return Diagnosis((constant,), evidence)
    if all(accepts(params[w], correct(c, *fans(c, params[w]))) for w in WEIGHTS):
        return Diagnosis((), {**evidence, "fits": scheme(c)})
    name = named_fit(c, params)
    if name:
        hint_id, _, words = candidates(c)[name]
        return Diagnosis((Finding(hint_id, f"W1 and W2 look {words} ({spread(c, params)}). {advice(c)}"),),
                         {**evidence, "fits": name})
    shared = shared_parameter_fit(c, params) or uniform_facts(c, params)
    return Diagnosis((shared,) if shared else (), evidence)


def uniform_facts(c: Contract, params: dict[str, np.ndarray]) -> Finding | None:
    """Uniform weights with a bound no known formula gives: state the bounds, name nothing."""
    bounds = {w: float(np.max(np.abs(params[w]))) for w in WEIGHTS}
    if scheme(c) != "xavier_uniform" or not all(b > 0 and accepts(params[w], _uniform(b)) for w, b in bounds.items()):
        return None
    got = ", ".join(f"{w} on (-{b:.4g}, {b:.4g})" for w, b in bounds.items())
    return Finding(None, f"The weights are uniform, {got}; the Xavier bounds are {_expected_bounds(c, params)}. "
                         f"{advice(c)}")


def constant_weights(c: Contract, params: dict[str, np.ndarray]) -> Finding | None:
    values = {w: np.unique(params[w]) for w in WEIGHTS}
    if all(v.size == 1 and v[0] == 0 for v in values.values()):
        return Finding("init.zero_weights", "W1 and W2 start as all zeros: every hidden unit then computes the same "
                                            "thing and gets the same gradient, so they never become different. "
                                            + advice(c))
    if all(v.size == 1 for v in values.values()):
        return Finding("init.constant_weights", "W1 and W2 start with one constant value each ("
                       + ", ".join(f"{w} = {v[0]:.4g}" for w, v in values.items())
                       + "): identical hidden units stay identical. " + advice(c))
    return None


@diagnoses("init.zero_biases", clue="init.biases")
def nonzero_biases(ctx: Context, params: dict[str, np.ndarray]) -> Diagnosis:
    return biases(params)


def biases(params: dict[str, np.ndarray]) -> Diagnosis:
    """Say what the non-zero biases are: one constant, or random draws."""
    findings = []
    for name in ("b1", "b2"):
        b = params[name]
        if not np.any(b != 0):
            continue
        values = np.unique(b)
        what = f"all {values[0]:.4g}" if values.size == 1 else (
            f"random values (mean {np.mean(b):.3g}, std {np.std(b):.3g})")
        findings.append(f"{name} starts as {what}")
    if not findings:
        return Diagnosis()
    return Diagnosis((Finding("init.nonzero_biases", "; ".join(findings) + ". Biases start at zero: torch.zeros("
                                                     "hidden_dim) and torch.zeros(out_dim)."),))


@diagnoses("init.seeded", clue="init.same_seed")
def same_seed(ctx: Context, models: tuple[dict, dict]) -> Diagnosis:
    """Evidence: two models after the same torch.manual_seed."""
    if any(not np.array_equal(models[0][w], models[1][w]) for w in WEIGHTS):
        return Diagnosis((Finding("init.unseeded_rng", "two models built right after torch.manual_seed(7) have "
                                                       "different weights, so they come from a generator that "
                                                       "torch.manual_seed does not control (numpy's np.random or "
                                                       "Python's random): draw them with torch (torch.rand, "
                                                       "torch.empty(...).uniform_)."),))
    return Diagnosis()


@diagnoses("init.seeds_differ", clue="init.other_seeds")
def other_seeds(ctx: Context, models: tuple[dict, dict]) -> Diagnosis:
    """Evidence: two models after two different torch.manual_seed."""
    if all(np.array_equal(models[0][w], models[1][w]) for w in WEIGHTS):
        constant = constant_weights(ctx.contract, models[0])
        if constant:
            return Diagnosis((constant,))
        return Diagnosis((Finding("init.private_seed", "the weights are the same after torch.manual_seed(7) and "
                                                       "torch.manual_seed(8): the constructor seeds a generator of "
                                                       "its own (np.random.seed, torch.manual_seed or a "
                                                       "torch.Generator with a fixed seed inside __init__). Leave "
                                                       "seeding to the caller."),))
    return Diagnosis()
