"""Mutation testing (tests/mutants/rules.py): every one-bug mutant of a correct example
loses points in its declared categories and nowhere else (but for the checks it declares
as consequences), and its failed checks carry the hint that names it where a signature
exists, never another; every correct rewrite keeps all its points and gets no hint. The
confusion table of mutation kind x category (points lost) and the hint diagnosed is
printed at the end of the session.

Slow (every code check of some forty mutants): `pytest -m slow tests/test_mutants.py`.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from grader import spec
from mutants.rules import RULES, Mutant, mutants
from test_zoo import WORKERS, Result, grade_entry, init_worker

pytestmark = pytest.mark.slow

MUTANTS = {m.name: m for m in mutants()}
CATEGORIES = ("structure", "init", "forward", "backward", "no_autograd", "training")


def code_checks(assignment: str) -> list[str]:
    return [c.id for c in spec.assignment(assignment).rubric.checks if c.category in CATEGORIES]


def points_lost(result: Result) -> dict[str, float]:
    lost: dict[str, float] = {}
    for graded in result.checks.values():
        if graded.lost:
            lost[graded.category] = round(lost.get(graded.category, 0.0) + graded.points - graded.score, 2)
    return lost


class ConfusionTable:
    """A pytest plugin that prints mutation kind x category, in points lost ('!' where the
    mutant's rule does not allow it)."""

    def __init__(self, results: dict[str, Result]):
        self.results = results

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_sep("=", "mutants: points lost per category ('!' not allowed)")
        width = max(map(len, self.results))
        terminalreporter.write_line(" " * width + "".join(f"{c:>12}" for c in CATEGORIES) + "  hint")
        for name, result in self.results.items():
            lost, mutant = points_lost(result), MUTANTS[name]
            cells = []
            for category in CATEGORIES:
                allowed = not unexpected_losses(mutant, result, category)
                cells.append(f"{lost[category]:g}{'' if allowed else '!'}" if category in lost else "-")
            hint = ", ".join(sorted(result.diagnosed)) or "-"
            terminalreporter.write_line(name.ljust(width) + "".join(f"{c:>12}" for c in cells) + f"  {hint}")


def unexpected_losses(mutant: Mutant, result: Result, category: str | None = None) -> dict[str, str]:
    rule = mutant.rule
    return {cid: g.message for cid, g in result.checks.items()
            if g.lost and (category is None or g.category == category)
            and g.category not in rule.lose and cid not in rule.may_lose}


@pytest.fixture(scope="module")
def graded(request, tmp_path_factory) -> dict[str, Result]:
    scratch = tmp_path_factory.mktemp("mutants")
    context = multiprocessing.get_context("spawn")  # no fork of a process that has run torch
    with ProcessPoolExecutor(WORKERS, mp_context=context, initializer=init_worker) as pool:
        futures = {name: pool.submit(grade_entry, str(m.write(scratch / name.replace(":", "--"))),
                                     code_checks(m.assignment))
                   for name, m in MUTANTS.items()}
        results = {name: future.result() for name, future in futures.items()}
    request.config.pluginmanager.register(ConfusionTable(results), "mutants-confusion-table")
    return results


def test_every_rule_makes_a_mutant():
    assert {m.rule for m in MUTANTS.values()} == set(RULES)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_points_in_its_own_categories_only(graded, name):
    mutant, result = MUTANTS[name], graded[name]
    lost = points_lost(result)
    for category in mutant.rule.lose:
        assert category in lost, f"{name}: lost no points in {category}"
    assert not unexpected_losses(mutant, result), f"{name}: {unexpected_losses(mutant, result)}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_named_by_its_own_hint_and_no_other(graded, name):
    mutant, result = MUTANTS[name], graded[name]
    expected = {mutant.rule.hint} if mutant.rule.hint else set()
    assert result.diagnosed == expected, f"{name}: diagnosed {sorted(result.diagnosed)}, expected {sorted(expected)}"
