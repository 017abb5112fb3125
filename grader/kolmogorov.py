"""The Kolmogorov-Smirnov test of the init checks, with scipy.stats imported only when its
verdict is in doubt.

Importing scipy.stats takes 0.7-1 s, a quarter of a student's cold self-check, for one
p-value that a correct init passes by orders of magnitude. The statistic D is cheap; for
the sample sizes the checks use (init.min_weights: 8000 weights and more) its exact
p-value is close to Kolmogorov's limit Q(sqrt(n) D): at least 0.87 Q for n >= 1000 wherever
Q >= 1e-11 (tests/test_kolmogorov.py compares scipy's exact `kstwo` on a grid). So a
sample whose limit p-value is `CLEAR_MARGIN` times the significance level or more passes
as scipy would pass it, and any other sample gets `scipy.stats.kstest` itself: the same
statistic, p-value and verdict as always.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Standard = Literal["uniform", "normal"]  # U(-1, 1) or N(0, 1)

CLEAR_MARGIN = 100.0
MIN_SAMPLE = 1000


def kstest(sample: np.ndarray, against: Standard, significance: float):
    """scipy.stats.kstest of `sample` against U(-1, 1) or N(0, 1), or None when the sample
    clearly passes at `significance` (then scipy's p-value is above it too)."""
    if clearly_passes(sample, against, significance):
        return None
    from scipy import stats

    return stats.kstest(sample, stats.uniform(loc=-1, scale=2).cdf if against == "uniform" else stats.norm.cdf)


def clearly_passes(sample: np.ndarray, against: Standard, significance: float) -> bool:
    n = sample.size
    if n < MIN_SAMPLE:
        return False
    distance = statistic(sample, against)
    return math.isfinite(distance) and limit_pvalue(math.sqrt(n) * distance) >= CLEAR_MARGIN * significance


def statistic(sample: np.ndarray, against: Standard) -> float:
    """D = sup |F_n - F|, computed as scipy computes it (NaN if a weight is not finite)."""
    x = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    if not np.all(np.isfinite(x)):
        return math.nan
    n = x.size
    cdf = np.clip((x + 1.0) / 2.0, 0.0, 1.0) if against == "uniform" else _normal_cdf(x)
    above = np.arange(1.0, n + 1) / n - cdf
    below = cdf - np.arange(0.0, n) / n
    return float(max(above.max(), below.max()))


def limit_pvalue(t: float) -> float:
    """Kolmogorov's limit distribution: P(K > t) = 2 sum_k (-1)^(k-1) exp(-2 k^2 t^2)."""
    if t <= 0.3:  # the series converges slowly here, where P(K > t) > 0.9999
        return 1.0
    return min(1.0, 2.0 * sum((-1) ** (k - 1) * math.exp(-2.0 * k * k * t * t) for k in range(1, 101)))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    import torch  # loaded by every grading process already (the reference); scipy.special is not

    return torch.special.ndtr(torch.from_numpy(x)).numpy()
