"""The init checks' Kolmogorov-Smirnov test without scipy.stats where the verdict is clear
(grader/kolmogorov.py): the same verdicts, statistics and p-values as scipy.stats.kstest,
and scipy.stats left unimported for a correct init."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from grader import kolmogorov

ROOT = Path(__file__).parents[1]
SIGNIFICANCE = 1e-7  # tolerances.toml init.ks_significance
# 8000: init.min_weights; 131072: W1 of the regression (scipy's exact p-value takes seconds there)
SAMPLE_SIZES = (kolmogorov.MIN_SAMPLE, 8000, 16000, pytest.param(131072, marks=pytest.mark.slow))


def scipy_kstest(sample, against):
    return stats.kstest(sample, stats.uniform(loc=-1, scale=2).cdf if against == "uniform" else stats.norm.cdf)


@pytest.mark.parametrize("t", np.linspace(0.05, 4.0, 80))
def test_the_limit_pvalue_is_kolmogorovs_distribution(t):
    assert kolmogorov.limit_pvalue(t) == pytest.approx(special.kolmogorov(t), rel=1e-9, abs=1e-4 if t <= 0.3 else 0)


@pytest.mark.parametrize("n", SAMPLE_SIZES)
def test_the_exact_pvalue_is_near_the_limit_wherever_the_shortcut_may_pass(n):
    """What makes the shortcut safe: where the limit p-value is CLEAR_MARGIN times the
    significance or more, scipy's exact p-value (kstwo) is at least 0.87 of it, far above
    the significance."""
    lowest_limit = kolmogorov.CLEAR_MARGIN * SIGNIFICANCE
    for t in np.linspace(0.31, 3.5, 120):
        limit = kolmogorov.limit_pvalue(t)
        if limit < lowest_limit:
            continue
        exact = stats.kstwo.sf(t / math.sqrt(n), n)
        assert exact >= 0.87 * limit >= SIGNIFICANCE, (n, t, exact, limit)


@pytest.mark.parametrize("against", ["uniform", "normal"])
@pytest.mark.parametrize("seed", range(5))
def test_the_statistic_is_scipys(against, seed):
    rng = np.random.default_rng(seed)
    sample = rng.uniform(-1, 1, 8000) if against == "uniform" else rng.standard_normal(8000)
    sample = sample * (1.0 + 0.01 * seed)  # from the right distribution to a little off
    assert kolmogorov.statistic(sample, against) == pytest.approx(scipy_kstest(sample, against).statistic,
                                                                  rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("against", ["uniform", "normal"])
def test_a_sample_of_the_distribution_passes_without_scipy(against):
    rng = np.random.default_rng(1)
    sample = rng.uniform(-1, 1, 16000) if against == "uniform" else rng.standard_normal(16000)
    assert scipy_kstest(sample, against).pvalue >= SIGNIFICANCE
    assert kolmogorov.kstest(sample, against, SIGNIFICANCE) is None


@pytest.mark.parametrize("sample, against", [
    (np.random.default_rng(2).standard_normal(8000) / math.sqrt(3), "uniform"),  # normal, the uniform's std
    (np.random.default_rng(3).uniform(-math.sqrt(3), math.sqrt(3), 8000), "normal"),  # uniform, unit std
    (np.random.default_rng(4).standard_normal(8000) * 1.5, "normal"),  # He's std for Xavier's
])
def test_a_sample_of_another_distribution_gets_scipys_exact_result(sample, against):
    result, expected = kolmogorov.kstest(sample, against, SIGNIFICANCE), scipy_kstest(sample, against)
    assert result is not None
    assert (result.statistic, result.pvalue) == (expected.statistic, expected.pvalue)
    assert result.pvalue < SIGNIFICANCE


def test_small_or_non_finite_samples_always_go_to_scipy():
    small = np.random.default_rng(5).uniform(-1, 1, kolmogorov.MIN_SAMPLE - 1)
    result = kolmogorov.kstest(small, "uniform", SIGNIFICANCE)
    assert result is not None and result.pvalue == scipy_kstest(small, "uniform").pvalue
    broken = np.random.default_rng(6).uniform(-1, 1, 8000)
    broken[17] = np.nan
    result = kolmogorov.kstest(broken, "uniform", SIGNIFICANCE)
    assert result is not None and not result.pvalue >= SIGNIFICANCE  # NaN fails, as before


def test_a_grading_process_loads_no_scipy_stats_for_a_correct_init():
    """scipy.stats took 0.7-1 s of every cold self-check: the checks and the diagnoses no
    longer import it, and a correct sample is judged without it."""
    program = ("import sys, numpy as np\n"
               "import grader.checks, grader.known_diagnoses\n"
               "from grader import kolmogorov\n"
               "assert 'scipy.stats' not in sys.modules, 'imported with the checks'\n"
               "sample = np.random.default_rng(0).uniform(-1, 1, 16000)\n"
               "assert kolmogorov.kstest(sample, 'uniform', 1e-7) is None\n"
               "assert kolmogorov.kstest(np.random.default_rng(0).standard_normal(16000), 'normal', 1e-7) is None\n"
               "assert 'scipy.stats' not in sys.modules, 'imported for a correct sample'\n")
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
