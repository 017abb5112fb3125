"""Hypothesis strategies for the checks' inputs, composed from small pieces.

Hypothesis draws the shapes (dims, batch sizes), the kinks and the branches, and for every
array a layout (`LAYOUTS`) and a seed; numpy makes the values, of two decimals. Drawing
arrays element by element cost five times as much; two decimals keep a small failing
example readable (X = [[0.37, -1.42]]) while pre-activations of exactly 0 stay rare,
unless a kink is made on purpose. A submission whose constructor ignores its dims is
exercised at the assignment's full size. Values are float32-representable so that
float32 and float64 code see the same inputs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from grader.spec import Contract, Dims


@dataclass
class Case:
    """One network and one batch: the arguments of a forward/backward example."""

    dims: Dims
    params: dict[str, np.ndarray]
    X: np.ndarray
    y: np.ndarray
    kinks: bool = False
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        def show(a):
            a = np.asarray(a)
            return a.round(6).tolist() if a.size <= 24 else f"array{a.shape}, |max| {np.abs(a).max():.3g}"
        return {
            "dims": [self.dims.in_dim, self.dims.hidden_dim, self.dims.out_dim],
            "N": int(self.X.shape[0]),
            "X": show(self.X),
            "y": show(self.y),
            **{name: show(value) for name, value in self.params.items()},
            **({"kinks": "some pre-activations are exactly 0"} if self.kinks else {}),
            **({"weight_decay": self.extra["weight_decay"]} if "weight_decay" in self.extra else {}),
        }

    def preactivations(self, contract: Contract) -> np.ndarray:
        return preactivations(contract, self.params, self.X)


def preactivations(c: Contract, params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """The hidden pre-activations in float64, per the contract's layout and biases."""
    W1 = params["W1"].astype(np.float64)
    z = X.astype(np.float64) @ (W1.T if c.layout == "out_in" else W1)
    return z + params["b1"] if c.bias else z


def targets(y: np.ndarray, dtype: str) -> np.ndarray:
    """Targets in the dtype the student's code gets: class labels stay int64."""
    return y.astype(np.int64) if y.dtype.kind in "iu" else y.astype(dtype)


def draw_targets(contract: Contract, rows: int, out_dim: int):
    """Float targets (rows, out_dim), or int64 class labels (rows,) for cross-entropy."""
    if contract.classification:
        return st.integers(0, 2**32 - 1).map(lambda seed: np.random.default_rng(seed).integers(0, out_dim, rows))
    return values((rows, out_dim))


def labels_from_scores(contract: Contract, scores: np.ndarray) -> np.ndarray:
    """Targets for a fixed teacher's scores (N, out_dim): the scores themselves for
    regression, their argmax as int64 labels for classification."""
    return np.argmax(scores, axis=1).astype(np.int64) if contract.classification else scores


# How an array's values are laid out, drawn by Hypothesis per array. Mostly generic values;
# the rest isolate terms the way element-by-element draws used to: a zero W2 leaves only
# the weight decay in grad_b1, a constant X makes every row alike. Hypothesis starts from
# the first (dense), so its first examples are generic.
LAYOUTS = ("dense",) * 5 + ("sparse", "sparse", "constant", "zeros", "zeros")


@functools.lru_cache(maxsize=None)
def values(shape: tuple[int, ...], bound: float = 2.0):
    """float32-representable values in [-bound, bound], of two decimals. Cached: building
    and validating a fresh strategy for every draw was a third of the grader's own time."""
    shape = tuple(shape)
    return st.tuples(st.sampled_from(LAYOUTS), st.integers(0, 2**32 - 1)).map(
        lambda drawn: _array(drawn[0], np.random.default_rng(drawn[1]), shape, bound))


def _array(layout: str, rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    if layout == "zeros":
        dense = np.zeros(shape)
    elif layout == "constant":
        dense = np.full(shape, rng.uniform(-bound, bound))
    else:
        dense = rng.uniform(-bound, bound, shape)
        if layout == "sparse":  # about two thirds of the entries are 0
            dense = dense * (rng.random(shape) < 1 / 3)
    array = np.round(dense, 2).clip(-bound, bound).astype(np.float32).astype(np.float64)
    array.flags.writeable = False  # examples are shared by every submission a process grades
    return array


def small_dims(contract: Contract, out_dims=st.just(1)):
    if contract.classification:  # softmax over one class is constant: at least two
        out_dims = out_dims.map(lambda k: k + 1)
    return st.builds(Dims, st.integers(1, 5), st.integers(1, 6), out_dims)


def dims_for(contract: Contract, full: Dims | None, out_dims=st.just(1)):
    """Small varied dims, or the assignment's full dims when the constructor ignores its arguments."""
    return st.just(full) if full is not None else small_dims(contract, out_dims)


@st.composite
def networks(draw, contract: Contract, dims: Dims, weight_bound: float = 1.0):
    """Parameters in [-weight_bound, weight_bound] (weights) and [-0.5, 0.5] (biases).

    On a wide hidden layer (mlp-regression's 512 units) W2's bound shrinks to
    sqrt(6 / hidden_dim), as Xavier's does: with bound 1 the outputs reach the hundreds,
    and float32 rounding of such outputs alone (2e-5) can fail the gradient check of a
    correct submission where pred - y happens to be small. W1 keeps its bound, so that
    pre-activations stay far from ReLU's kink compared with finite differences' steps
    (with Xavier's bound there, examples with all 1536 of them clear would be rare).
    Small networks (hidden_dim <= 6) keep every bound."""
    shapes = contract.param_shapes(dims)
    fan_in = {"W2": dims.hidden_dim}
    params = {}
    for name, shape in shapes.items():
        bound = weight_bound if name.startswith("W") else 0.5
        if name in fan_in:
            bound = min(bound, math.sqrt(6 / fan_in[name]))
        params[name] = draw(values(shape, bound))
    return params


@st.composite
def cases(draw, contract: Contract, dims_strategy, n=st.integers(1, 6), kink_margin: float = 0.0, kinks: bool = False):
    """A network and a batch. With kink_margin > 0 every hidden pre-activation keeps at
    least that distance from 0; with kinks=True some are exactly 0 on purpose."""
    dims = draw(dims_strategy)
    params = draw(networks(contract, dims))
    rows = draw(n)
    X = draw(values((rows, dims.in_dim)))
    y = draw(draw_targets(contract, rows, dims.out_dim))
    if kinks:
        X, params = _with_exact_kinks(draw, X, params)
    case = Case(dims, params, X, y, kinks=kinks)
    if kink_margin > 0:
        assume(np.min(np.abs(case.preactivations(contract))) >= kink_margin * (1.0 + np.max(np.abs(X))))
    return case


def _with_exact_kinks(draw, X, params):
    """Zero some rows of X and some entries of b1 (all units without biases): those units'
    pre-activations are exactly 0 for those rows, in any dtype and any order of summation."""
    X = X.copy()
    params = dict(params)
    rows = draw(st.lists(st.integers(0, X.shape[0] - 1), min_size=1, max_size=X.shape[0], unique=True))
    X[rows] = 0.0
    if "b1" in params:
        b1 = params["b1"].copy()
        units = draw(st.lists(st.integers(0, b1.shape[0] - 1), min_size=1, max_size=b1.shape[0], unique=True))
        b1[units] = 0.0
        params["b1"] = b1
    return X, params
