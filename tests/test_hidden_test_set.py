"""What the checkpoint check starts ahead, on threads of their own, while a student's
first checks run (its `prepare`): the hidden test set (grader/data.py `test_set_soon`) and
the student's test-set MSE. The same arrays and the same MSE as made in the foreground,
the test set made once however many ask at once; if a thread fails, the work is done where
it is needed, as before."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pathlib import Path

from grader import checks, data, oracle, spec, ta_config
from grader.checks import checkpoint
from grader.context import Context
from grader.submission import Submission

ROOT = Path(__file__).parents[1]
REGRESSION = spec.assignment("mlp-regression")


@pytest.fixture(autouse=True)
def no_test_set_yet(monkeypatch):
    monkeypatch.setattr(data, "_TEST_SETS", {})


def seed() -> int:
    return ta_config.load().test_seed


def test_made_in_the_background_it_is_the_test_set_made_in_the_foreground():
    data.test_set_soon(REGRESSION.contract, seed())
    X, y = data.test_set(REGRESSION.contract, seed())
    X_here, y_here = data.make_dataset(REGRESSION.contract, REGRESSION.contract.data["n_test"], seed())
    assert X.tobytes() == X_here.tobytes() and y.tobytes() == y_here.tobytes()
    assert not X.flags.writeable and not y.flags.writeable
    assert data.test_set(REGRESSION.contract, seed())[0] is X  # once per process


def test_it_is_made_once_however_many_ask_at_once(monkeypatch):
    made = []
    real = data.make_dataset

    def counted(*args):
        made.append(args)
        return real(*args)

    monkeypatch.setattr(data, "make_dataset", counted)
    data.test_set_soon(REGRESSION.contract, seed())
    got = []
    askers = [threading.Thread(target=lambda: got.append(data.test_set(REGRESSION.contract, seed())))
              for _ in range(4)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    assert len(made) == 1
    assert len({id(X) for X, _ in got}) == 1


def test_if_the_background_fails_the_set_is_made_where_it_is_needed(monkeypatch):
    real, calls = data.make_dataset, []

    def failing_once(*args):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            raise MemoryError("no room on that thread")
        return real(*args)

    monkeypatch.setattr(data, "make_dataset", failing_once)
    data.test_set_soon(REGRESSION.contract, seed())
    X, _ = data.test_set(REGRESSION.contract, seed())
    assert X.shape == (REGRESSION.contract.data["n_test"], REGRESSION.contract.dims.in_dim)
    assert calls == ["mlp-grader-test-set", threading.current_thread().name]


def test_an_error_made_in_the_foreground_is_raised_there(monkeypatch):
    def failing(*args):
        raise data.TeacherUnavailable("no teacher here")

    monkeypatch.setattr(data, "make_dataset", failing)
    for _ in range(2):  # not kept: the next call tries again
        with pytest.raises(data.TeacherUnavailable, match="no teacher here"):
            data.test_set(REGRESSION.contract, seed())


def context(name: str) -> Context:
    return Context(Submission(ROOT / "submissions" / name), worker=None)


def test_preparing_the_checks_starts_the_test_set_and_the_students_test_mse():
    ctx = context("example-correct")
    checks.prepare_checks(ctx, [c.id for c in REGRESSION.rubric.checks])
    assert list(data._TEST_SETS) == [(ctx.contract, seed())]
    made_params, made_mse = ctx.ahead[checkpoint.AHEAD_KEY].result()
    params = checkpoint.load_checkpoint(ctx)
    X, y = data.test_set(ctx.contract, seed())
    assert made_mse == oracle.mse(ctx.contract, params, X, y)  # exactly what the check would compute
    assert checkpoint._test_mse(ctx, params, seed()) == made_mse
    assert checkpoint.AHEAD_KEY not in ctx.ahead  # taken once


def test_the_mse_made_ahead_is_used_only_for_the_parameters_the_check_loaded():
    ctx = context("example-correct")
    checks.prepare_checks(ctx, ["checkpoint.test_mse"])
    params = {name: array * 2 for name, array in checkpoint.load_checkpoint(ctx).items()}
    X, y = data.test_set(ctx.contract, seed())
    assert checkpoint._test_mse(ctx, params, seed()) == oracle.mse(ctx.contract, params, X, y)


def test_a_run_without_the_checkpoint_check_starts_nothing():
    ctx = context("example-correct")
    checks.prepare_checks(ctx, ["structure.imports", "forward.matches_reference"])
    assert data._TEST_SETS == {} and ctx.ahead == {}


@pytest.mark.parametrize("name", ["example-digits-correct", "example-sin-correct", "example-npdigits-correct",
                                  "example-cs231n-correct"])
def test_assignments_with_public_checkpoint_data_start_nothing(name):
    ctx = context(name)
    checks.prepare_checks(ctx, [c.id for c in ctx.assignment.rubric.checks])
    assert data._TEST_SETS == {} and ctx.ahead == {}


def test_without_the_ta_configuration_nothing_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_GRADER_TA_CONFIG", str(tmp_path / "absent.toml"))
    ctx = context("example-correct")
    checks.prepare_checks(ctx, [c.id for c in REGRESSION.rubric.checks])
    assert data._TEST_SETS == {} and ctx.ahead == {}
