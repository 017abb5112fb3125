"""Grades that hold on code nobody here wrote (issue 15).

A grade must be a fact: a correct solution in any style the handout allows gets every
point, and a bug loses points in its own category only, with a message that names it.
Each folder of tests/validity/ is a correct solution in an unusual style (`ok-...`) or has
exactly one mistake; every code check is graded and the exact outcome asserted: the checks
that lose points, their scores, and what their messages say. The other tests grade bundled
examples and zoo entries on the checks that used to charge their mistake twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import engine, spec
from grader.checks import backward, base
from grader.submission import Submission

TESTS = Path(__file__).parent
VALIDITY = TESTS / "validity"
ZOO = TESTS / "zoo"
SUBMISSIONS = TESTS.parent / "submissions"

# folder -> {check that loses points: (score, words its message must contain)}; every
# other code check of the folder's assignment keeps all its points.
EXPECTED: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    # ReLU'(0) = 1, written two ways: the "zeros" layout puts every row on the kink.
    "ok-relu-one-at-zero-inplace": {},
    "ok-relu-one-at-zero-mask": {},
    "ok-relu-one-at-zero-digits": {},
    # log-softmax as logits - logsumexp in float32: rounding at logits near 2000.
    "ok-logsumexp-float32": {},
    # forward halves its own X in place: finite differences and the recorded loop used to
    # see the halved X of an earlier call.
    "fw-divides-input-in-place": {"forward.input_unchanged": (0.0, ("changed X in place",))},
    # the batch's maximum instead of each row's: exact while rows' logits are alike.
    "bw-softmax-global-max": {"backward.large_logits": (0.0, ("one row's", "NaN or infinite", "row maximum"))},
    # weight_decay=1e-3 hard-coded: shows only with a model built with another value.
    "bw-hard-coded-decay": {"backward.matches_reference": (0.0, ("weight_decay=0.01", "self.grad_W"))},
    # train() returns [0.0] * epochs and never trains.
    "tr-no-recorded-step": {
        "training.schedule": (0.0, ("made no forward, backward or step call",)),
        "training.trajectory": (0.0, ("per-epoch losses",)),
        "training.loss_falls": (0.0, ("went from 0 to 0",)),
    },
    # the same std, another shape: invisible on sin-fit's 64 weights.
    "init-xavier-uniform-sin": {"init.distribution": (0.0, ("does not look normal", "16000 weights"))},
    # N(0, 2 / fan_out): invisible on the handout's square 64 x 64 W1.
    "init-he-fan-out": {"init.distribution": (0.0, ("does not look normal", "sqrt(2 / fan_in)"))},
}


def code_checks(folder: Path) -> list[str]:
    assignment, _ = Submission(folder).assignment()
    return [c.id for c in assignment.rubric.checks if c.category != "checkpoint"]


def test_every_validity_folder_is_expected():
    assert sorted(p.name for p in VALIDITY.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.slow
def test_exactly_the_mistakes_own_checks_lose_points(name):
    folder = VALIDITY / name
    result = engine.grade(folder, only=code_checks(folder))
    lost = {o.check.id: o for o in result.outcomes if o.lost_points}
    assert {cid: o.score for cid, o in lost.items()} == {cid: score for cid, (score, _) in EXPECTED[name].items()}, \
        {cid: o.message[:300] for cid, o in lost.items()}
    for check_id, (_, words) in EXPECTED[name].items():
        for word in words:
            assert word in lost[check_id].message, (check_id, lost[check_id].message)


@pytest.mark.slow
def test_large_logits_allows_float32_rounding_on_many_draws(monkeypatch):
    """A correct float32 logits - logsumexp used to fail about one draw in 60 (the old
    tolerance was relative to the largest gradient, tighter than float32's resolution at
    logits of 1000); 300 draws instead of the check's 10."""
    monkeypatch.setattr(backward, "for_all", lambda ctx, check_id, strategy, body, max_examples=25:
                        base.for_all(ctx, check_id, strategy, body, max_examples=300))
    for folder in (VALIDITY / "ok-logsumexp-float32", SUBMISSIONS / "example-digits-correct"):
        [outcome] = engine.grade(folder, only=["backward.large_logits"]).outcomes
        assert outcome.status == "passed", (folder.name, outcome.message)


@pytest.mark.parametrize("name", ["example-digits-no-weight-decay", "example-digits-decay-on-biases"])
@pytest.mark.slow
def test_a_weight_decay_mistake_keeps_the_stability_check(name):
    [outcome] = engine.grade(SUBMISSIONS / name, only=["backward.large_logits"]).outcomes
    assert outcome.status == "passed", outcome.message


@pytest.mark.slow
def test_dropping_the_last_batch_costs_the_batches_part_only():
    [outcome] = engine.grade(ZOO / "tr-drops-last-batch", only=["training.schedule"]).outcomes
    parts = spec.assignment(spec.DEFAULT).rubric["training.schedule"].parts
    assert outcome.score == outcome.check.points - parts["batches"]
    assert outcome.details["failed_parts"] == ["batches"]
    assert "never used" in outcome.message and "lr=" not in outcome.message


@pytest.mark.parametrize("name", ["init-zero-weights", "init-small-normal"])
@pytest.mark.slow
def test_a_bad_init_keeps_loss_falls(name):
    [outcome] = engine.grade(ZOO / name, only=["training.loss_falls"]).outcomes
    assert outcome.status == "passed", outcome.message
