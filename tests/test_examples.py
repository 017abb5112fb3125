"""The bundled examples get exactly their expected scores, category by category."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import engine

SUBMISSIONS = Path(__file__).parents[1] / "submissions"
FULL = {"structure": 10, "init": 12, "forward": 14, "backward": 22, "no_autograd": 8, "training": 18, "checkpoint": 16}

EXPECTED = {
    "example-correct": FULL,
    # backward is wrong everywhere (but consistently: backward.latest_cache keeps its 4
    # points); train() uses it, so its trajectory differs too, and the halved gradient
    # trains a little less far (test MSE 1.14 x the reference's).
    "example-forgot-factor-2": {**FULL, "backward": 4, "training": 14, "checkpoint": 15.52},
    # only the constructor check is lost: everything else runs at full size.
    "example-hardcoded-dims": {**FULL, "structure": 8},
    # the loop's learning rates and the reference trajectory are wrong.
    "example-no-lr-decay": {**FULL, "training": 12},
    # torch.load(weights_only=True) refuses a pickled model object.
    "example-pickled-model": {**FULL, "checkpoint": 0},
    # importing mlp.py fails: only the source scan and the checkpoint remain.
    "example-trains-on-import": {**dict.fromkeys(FULL, 0), "no_autograd": 4, "checkpoint": 16},
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def graded(request):
    return request.param, engine.grade(SUBMISSIONS / request.param)


def test_category_scores_are_exactly_the_expected_ones(graded):
    name, result = graded
    scores = {cat: s["score"] for cat, s in result.category_scores().items()}
    assert scores == EXPECTED[name]


def test_every_lost_point_comes_with_a_message(graded):
    _, result = graded
    for outcome in result.outcomes:
        assert outcome.lost_points == bool(outcome.message), outcome.check.id


def test_import_failure_message_tells_the_student_what_to_do():
    result = engine.grade(SUBMISSIONS / "example-trains-on-import", only=["structure.imports"])
    message = result.outcomes[0].message
    assert "FileNotFoundError during import mlp.py" in message
    assert 'if __name__ == "__main__":' in message
