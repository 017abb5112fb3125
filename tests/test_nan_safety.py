"""Comparisons that decide points fail on NaN (issue 13, finding 4, beyond the checkpoint):
tests/hostile/huge_outputs returns finite outputs of 1e200 from forward() and zero gradients;
the finite differences of its loss are inf - inf = NaN, which used to pass every entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import engine


pytestmark = pytest.mark.slow  # a submission graded for real
HOSTILE = Path(__file__).parent / "hostile"


def test_nan_finite_differences_fail_the_gradient_check():
    outcome = engine.grade(HOSTILE / "huge_outputs", only=["backward.finite_differences"]).outcomes[0]
    assert (outcome.score, outcome.status) == (0.0, "failed")
    assert outcome.message == (
        "the gradient of W1, W2, b1, b2 disagrees with central finite differences of your own forward and mean "
        "squared error in 4 of 4 entries; e.g. b2[0]: backward gives 0, finite differences nan")
