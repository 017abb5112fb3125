"""Exact-fit tests: does an array equal a variant, or a constant multiple of the reference?

They use the checks' own comparison (`compare.is_close`: |got - expected| <= atol + rtol *
max|expected|), so "fits" means "would have passed the check had the variant been the
contract". A variant that the probe cannot tell apart from the reference never fits.
"""

from __future__ import annotations

import math

import numpy as np

from grader.compare import is_close


def fits(got: np.ndarray | None, expected: np.ndarray, tol: dict[str, float]) -> bool:
    return got is not None and np.shape(got) == np.shape(expected) and is_close(got, expected, tol["rtol"], tol["atol"])


def distinct(variant: np.ndarray, reference: np.ndarray, tol: dict[str, float]) -> bool:
    """The probe tells the variant apart from the reference by ten tolerances at least, so
    values that fit the variant are far outside the reference's tolerance."""
    wide = {"rtol": 10 * tol["rtol"], "atol": 10 * tol["atol"]}
    return np.shape(variant) != np.shape(reference) or not fits(variant, reference, wide)


def fits_variant(got, variant, reference, tol) -> bool:
    """`got` equals the variant and the variant is not the reference in disguise."""
    return distinct(variant, reference, tol) and fits(got, variant, tol)


def scale_of(got: np.ndarray | None, reference: np.ndarray, tol: dict[str, float]) -> float | None:
    """c when got == c * reference within tolerance (c fitted by least squares), else None."""
    if got is None or np.shape(got) != np.shape(reference):
        return None
    norm = float(np.sum(reference * reference))
    if norm == 0.0 or not np.all(np.isfinite(got)):
        return None
    c = float(np.sum(got * reference)) / norm
    return c if fits(got, c * reference, tol) else None


def same(a: float, b: float, rel: float = 1e-3) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def number(value: float) -> str:
    """A ratio in words: 0.5 -> '1/2', 7 -> '7', 0.02734375 -> '0.02734'."""
    if value != 0 and abs(1 / value - round(1 / value)) < 1e-6 and abs(value) < 1:
        return f"{'-' if value < 0 else ''}1/{abs(round(1 / value))}"
    return f"{value:.4g}"
