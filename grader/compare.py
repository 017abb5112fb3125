"""Numerical comparison with a report a student can read: how far off, where, and samples.

An array matches when max|got - expected| <= atol + rtol * max|expected|: the tolerance
scales with the largest expected value, so float32 round-off passes and any real mistake
(a factor, a sign, a transpose, a missing term) fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.outcome import Failed


def difference(got: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    error = np.abs(got - expected)
    worst = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    flat_idx = np.argsort(error, axis=None)[::-1][:3] if error.size else []
    samples = []
    for i in flat_idx:
        index = np.unravel_index(int(i), error.shape)
        samples.append({"index": [int(j) for j in index], "expected": float(expected[index]), "got": float(got[index])})
    return {
        "max_abs_error": float(error.max()) if error.size else 0.0,
        "max_rel_error": float(error.max() / scale) if error.size and scale > 0 else 0.0,
        "worst_index": [int(j) for j in worst],
        "expected_scale": scale,
        "samples": samples,
    }


def is_close(got: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or not np.all(np.isfinite(got)):
        return False
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return bool(np.max(np.abs(got - expected), initial=0.0) <= atol + rtol * scale)


def assert_close(what: str, got: np.ndarray, expected: np.ndarray, tol: dict[str, float],
                 details: dict[str, Any] | None = None) -> None:
    if is_close(got, expected, tol["rtol"], tol["atol"]):
        return
    diff = difference(got, expected)
    raise Failed(_differs(what, got, expected, tol, diff), details={**(details or {}), "compared": what, **diff})


def mismatch(what: str, got: np.ndarray, expected: np.ndarray, tol: dict[str, float]) -> str | None:
    """assert_close's message when `got` is not close to `expected`, else None: for a check
    that names several differences in one failure."""
    if is_close(got, expected, tol["rtol"], tol["atol"]):
        return None
    return _differs(what, got, expected, tol, difference(got, expected))


def _differs(what: str, got, expected, tol: dict[str, float], diff: dict) -> str:
    where = ",".join(map(str, diff["worst_index"]))
    return (f"{what} differs from the expected values: largest error {diff['max_abs_error']:.3g} at [{where}] "
            f"(expected {_at(expected, diff)}, got {_at(got, diff)}; tolerance "
            f"{tol['atol']:g} + {tol['rtol']:g} x {diff['expected_scale']:.3g})")


def _at(array: np.ndarray, diff: dict) -> str:
    return f"{float(np.asarray(array)[tuple(diff['worst_index'])]):.6g}"
