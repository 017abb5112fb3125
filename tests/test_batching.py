"""A check's examples run in a few batched worker calls and are judged exactly as when they
run one by one (checks/base.py `for_all`, checks/batching.py).

The one-by-one path is what a batch that crashed or hung as a whole falls back to, and
what runs once a call of the submission has timed out: both must report the same outcome,
the same message and the same (smallest) failing example.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import strategies as st

from grader import engine
from grader.checks import base, batching
from grader.outcome import Failed
from grader.strategies import values
from grader.worker import client

SUBMISSIONS = Path(__file__).resolve().parents[1] / "submissions"

# Every property check of the default assignment (for_all), and the training checks.
PROPERTY_CHECKS = ["forward.matches_reference", "forward.input_unchanged", "forward.rowwise",
                   "backward.matches_reference", "backward.finite_differences", "backward.latest_cache",
                   "no_autograd.grad_disabled", "training.step", "training.trajectory"]


def outcomes(name: str | Path, only=PROPERTY_CHECKS) -> dict:
    graded = engine.grade(SUBMISSIONS / name, only=only)  # an absolute path stays itself
    return {o.check.id: (o.status, o.score, o.message, o.details.get("example")) for o in graded.outcomes}


@pytest.mark.parametrize("name", ["example-correct", "example-forgot-factor-2", "example-hardcoded-dims"])
@pytest.mark.slow
def test_batched_and_one_by_one_judge_the_same(name, monkeypatch):
    batched = outcomes(name)
    refused = []

    def never_batched(ctx, examples, body):
        refused.append(len(examples))
        raise batching.Unbatched("forced by the test")

    monkeypatch.setattr(batching, "first_failure", never_batched)
    assert outcomes(name) == batched
    # every property ran one by one (training.trajectory's run ends at its generic example
    # when backward is wrong, before its Hypothesis examples)
    assert len(refused) >= len(PROPERTY_CHECKS) - 1 and all(refused)


@pytest.mark.slow
def test_a_checks_examples_cost_one_call_per_round_not_one_each(monkeypatch):
    ops = []
    original = client.Worker.call

    def counting(self, op, *args, **kwargs):
        ops.append(op)
        return original(self, op, *args, **kwargs)

    monkeypatch.setattr(client.Worker, "call", counting)
    graded = engine.grade(SUBMISSIONS / "example-correct", only=["forward.matches_reference", "backward.latest_cache"])
    assert [o.status for o in graded.outcomes] == ["passed", "passed"]
    # forward: the dims and dtype probes (it runs in float64), then its 25 examples (one
    # call each) in one batch; latest_cache: its 10 examples make two calls each: two rounds
    assert ops == ["construct", "forward", "batch", "batch", "batch"]


@pytest.mark.slow
def test_the_failing_example_reported_is_the_smallest():
    outcome = engine.grade(SUBMISSIONS / "example-forgot-factor-2", only=["backward.matches_reference"]).outcomes[0]
    assert outcome.status == "failed"
    case, dtype = outcome.details["example"]
    assert (case["dims"], case["N"]) == ([1, 1, 1], 1)
    assert outcome.message.startswith("self.grad_W1 differs") and "factor 2" in outcome.hint


def test_after_a_timeout_examples_run_one_by_one_smallest_first_until_one_fails():
    # a submission after a timeout, with no worker: nothing may be batched
    ctx = SimpleNamespace(timed_out=True, output=[], assignment=SimpleNamespace(name="test"), _probes={},
                          fixed_dims=lambda: None)
    sizes = []

    def body(array):
        sizes.append(array.size)
        if array.size >= 4:
            raise Failed(f"{array.size} values")

    strategy = st.integers(1, 8).flatmap(lambda n: values((n,)))
    with pytest.raises(Failed) as raised:
        base.for_all(ctx, "test.one_by_one", strategy, body, max_examples=20)
    # smallest first, and the first that fails (the smallest of 4 values or more) is the last run
    first_failing = sizes[-1]
    assert sizes == sorted(sizes) and first_failing >= 4 and all(size < 4 for size in sizes[:-1])
    assert raised.value.message == f"{first_failing} values" and len(raised.value.details["example"]) == first_failing


def test_examples_are_the_same_on_every_draw_and_hold_two_decimals():
    strategy = st.integers(1, 6).flatmap(lambda n: values((n, 3)))
    first = base.draw_examples("test.draw", strategy, 30)
    again = base.draw_examples("test.draw", strategy, 30)
    assert len(first) == len(again) == 30 and all(np.array_equal(a, b) for a, b in zip(first, again))
    every = np.concatenate([a.ravel() for a in first])
    assert np.all(np.abs(every) <= 2.0)
    assert np.allclose(every, np.round(every, 2), atol=1e-6)
    assert np.all(every.astype(np.float32).astype(np.float64) == every)


@pytest.mark.slow
def test_examples_drawn_for_one_submission_serve_only_those_they_fit(monkeypatch):
    """Examples are kept per process, keyed by the probes a strategy depends on
    (STRATEGY_PROBES): a submission that runs in float32 only, graded after one that runs
    in float64 too, gets the examples a fresh process would draw for it."""
    float32_only = Path(__file__).parent / "zoo" / "ok-float32-cast"
    monkeypatch.setattr(base, "_DRAWN", {})
    fresh = outcomes(float32_only)
    monkeypatch.setattr(base, "_DRAWN", {})
    outcomes("example-correct")
    assert outcomes(float32_only) == fresh
    assert {status for status, *_ in fresh.values()} == {"passed"}
    assert len({probes for *_, probes in base._DRAWN}) == 2  # two dtype probes, two sets of examples

