"""The hidden test set is made on a thread of its own while the first checks run
(grader/data.py `test_set_soon`, started by the checkpoint check's `prepare`): the same
arrays as made in the foreground, made once however many ask at once; if that thread
fails, the set is made where it is needed, as before."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from grader import checks, data, spec, ta_config

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


def test_preparing_the_regressions_checks_starts_its_hidden_test_set():
    checks.prepare_checks(REGRESSION)
    assert list(data._TEST_SETS) == [(REGRESSION.contract, seed())]
    X, y = data.test_set(REGRESSION.contract, seed())
    assert np.isfinite(X).all() and np.isfinite(y).all()


@pytest.mark.parametrize("name", ["mlp-classification", "sin-fit", "numpy-digits", "cs231n-two-layer"])
def test_assignments_with_public_checkpoint_data_start_nothing(name):
    checks.prepare_checks(spec.assignment(name))
    assert data._TEST_SETS == {}


def test_without_the_ta_configuration_nothing_starts(monkeypatch, tmp_path):
    monkeypatch.setenv("MLP_GRADER_TA_CONFIG", str(tmp_path / "absent.toml"))
    checks.prepare_checks(REGRESSION)
    assert data._TEST_SETS == {}
