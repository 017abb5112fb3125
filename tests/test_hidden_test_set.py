"""What the checkpoint check starts ahead, on a thread of its own, while a student's first
checks run (its `prepare`): the student's test-set MSE, with the hidden test set for the
first student of a process. The same MSE as the check computes itself, used only for the
parameters the check loads; if the thread fails, the check computes it, as before."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from grader import checks, data, oracle, ta_config
from grader.checks import checkpoint
from grader.context import Context
from grader.submission import Submission

ROOT = Path(__file__).parents[1]
MAKE_DATASET = data.make_dataset  # the tests below count its calls


@pytest.fixture(autouse=True)
def no_test_set_yet():
    data.test_set.cache_clear()
    yield
    data.test_set.cache_clear()


def seed() -> int:
    return ta_config.load().test_seed


def context(name: str) -> Context:
    return Context(Submission(ROOT / "submissions" / name), worker=None)


def foreground_mse(ctx: Context, params) -> float:
    X, y = MAKE_DATASET(ctx.contract, ctx.contract.data["n_test"], seed())
    return oracle.mse(ctx.contract, params, X, y)


def test_preparing_the_checks_makes_the_students_test_mse_on_a_thread(monkeypatch):
    made_sets, mses = [], []
    make_dataset, mse = data.make_dataset, oracle.mse
    monkeypatch.setattr(data, "make_dataset", lambda *args: (made_sets.append(threading.current_thread().name),
                                                             make_dataset(*args))[1])
    monkeypatch.setattr(oracle, "mse", lambda *args: (mses.append(threading.current_thread().name), mse(*args))[1])
    ctx = context("example-correct")
    checks.prepare_checks(ctx, [c.id for c in ctx.assignment.rubric.checks])
    made_params, made_mse = ctx.ahead[checkpoint.AHEAD_KEY].result()
    assert made_sets == mses == ["mlp-grader-test-mse"]  # the test set too, for the first student
    params = checkpoint.load_checkpoint(ctx)
    assert checkpoint._test_mse(ctx, params, seed()) == made_mse
    assert made_sets == mses == ["mlp-grader-test-mse"]  # the check computed nothing again
    assert checkpoint.AHEAD_KEY not in ctx.ahead  # taken once
    assert made_mse == foreground_mse(ctx, params)  # exactly what the check would compute


def test_the_mse_made_ahead_is_used_only_for_the_parameters_the_check_loaded():
    ctx = context("example-correct")
    checks.prepare_checks(ctx, ["checkpoint.test_mse"])
    params = {name: array * 2 for name, array in checkpoint.load_checkpoint(ctx).items()}
    assert checkpoint._test_mse(ctx, params, seed()) == foreground_mse(ctx, params)


def test_if_the_thread_fails_the_check_computes_the_mse_itself(monkeypatch):
    real, calls = data.make_dataset, []

    def failing_once(*args):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise MemoryError("no room on that thread")
        return real(*args)

    monkeypatch.setattr(data, "make_dataset", failing_once)
    ctx = context("example-correct")
    checks.prepare_checks(ctx, ["checkpoint.test_mse"])
    ctx.ahead[checkpoint.AHEAD_KEY].exception()  # the thread has failed
    params = checkpoint.load_checkpoint(ctx)
    assert checkpoint._test_mse(ctx, params, seed()) == foreground_mse(ctx, params)
    assert calls == ["mlp-grader-test-mse", threading.current_thread().name]


def test_a_run_without_the_checkpoint_check_starts_nothing():
    ctx = context("example-correct")
    checks.prepare_checks(ctx, ["structure.imports", "forward.matches_reference"])
    assert ctx.ahead == {}


@pytest.mark.parametrize("name", ["example-digits-correct", "example-sin-correct", "example-npdigits-correct",
                                  "example-cs231n-correct"])
def test_assignments_with_public_checkpoint_data_start_nothing(name):
    ctx = context(name)
    checks.prepare_checks(ctx, [c.id for c in ctx.assignment.rubric.checks])
    assert ctx.ahead == {}


def test_without_the_ta_configuration_nothing_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_GRADER_TA_CONFIG", str(tmp_path / "absent.toml"))
    ctx = context("example-correct")
    checks.prepare_checks(ctx, [c.id for c in ctx.assignment.rubric.checks])
    assert ctx.ahead == {}
