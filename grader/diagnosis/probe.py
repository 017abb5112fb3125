"""Generic inputs for the diagnoses' extra calls into the student's code.

A check's failing example is the smallest that fails (Hypothesis draws from the smallest
networks and batches up, and favours degenerate values: zeros, 1x1 networks, one row),
where many mistakes look alike: with N = 1 a missing 1/N is invisible, with
in_dim = hidden_dim a transposed gradient has the right shape. A probe is the opposite:
fixed, generic values where every known mistake gives a different answer. Non-zero biases,
pre-activations of both signs kept away from the ReLU kink (of order 1 for tanh, where its
right and wrong derivatives differ), float32-representable values, class labels as
targets for cross-entropy.
"""

from __future__ import annotations

import numpy as np

from grader import validate
from grader.outcome import Failed
from grader.spec import Contract, Dims
from grader.strategies import labels_from_scores, preactivations

KINK_MARGIN = 1e-4  # far beyond float32 round-off of a pre-activation


def rng(name: str) -> np.random.Generator:
    """A generator fixed per probe name, so every diagnosis is reproducible."""
    return np.random.default_rng([ord(c) for c in name])


def f32(array: np.ndarray) -> np.ndarray:
    """float32-representable float64 values."""
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def network(c: Contract, dims: Dims, gen: np.random.Generator) -> dict[str, np.ndarray]:
    # tanh is nearly linear near 0, where its right and wrong derivatives nearly agree
    gain = 3.0 if c.activation == "tanh" else 1.5
    params = {}
    for name, shape in c.param_shapes(dims).items():
        if name.startswith("W"):
            fan_in = shape[1] if c.layout == "out_in" else shape[0]
            params[name] = f32(gen.uniform(-1.0, 1.0, shape) / np.sqrt(fan_in) * gain)
        else:
            params[name] = f32(gen.choice([-1.0, 1.0], shape) * gen.uniform(0.1, 0.5, shape))
    return params


def batch(rows: int, cols: int, gen: np.random.Generator) -> np.ndarray:
    return f32(gen.uniform(-1.0, 1.0, (rows, cols)))


def away_from_kinks(c: Contract, params: dict[str, np.ndarray], *inputs: np.ndarray) -> bool:
    """Every hidden pre-activation is at least KINK_MARGIN from 0, and both signs occur."""
    z = np.concatenate([preactivations(c, params, x) for x in inputs])
    return bool(np.min(np.abs(z)) >= KINK_MARGIN and np.any(z > 0) and np.any(z < 0))


def generic(c: Contract, dims: Dims, name: str, rows: list[int], out: bool = True):
    """A network and one batch (X, y) per entry of `rows`, redrawn until generic."""
    gen = rng(name)
    for _ in range(1000):
        params = network(c, dims, gen)
        batches = [(batch(n, dims.in_dim, gen), labels_from_scores(c, batch(n, dims.out_dim, gen) * 2.0)) for n in rows]
        if away_from_kinks(c, params, *(x for x, _ in batches)):
            return params, batches
    raise RuntimeError(f"no generic probe for {dims}")  # pragma: no cover - never at these sizes


def float32(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}


def returned_array(c: Contract, described) -> np.ndarray | None:
    """What the student's code returned on a probe as an array, or None when it is not a
    readable tensor (the check's own message says why)."""
    try:
        return validate.tensor(c, described, "gradient")
    except Failed:
        return None


def grad_list(c: Contract, params: list[str]) -> str:
    """The student's names of these parameters' gradients, for a hint: "grad_W1, grad_b1"."""
    grads = c.grad_names
    return ", ".join(grads[p] for p in params)
