"""The bundled examples get exactly their expected scores, category by category, for every
assignment (each example's assignment.toml says which; none means mlp-regression)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import engine, spec

SUBMISSIONS = Path(__file__).parents[1] / "submissions"
FULL = {"structure": 10, "init": 12, "forward": 14, "backward": 22, "no_autograd": 8, "training": 18, "checkpoint": 16}
DIGITS = {"structure": 10, "init": 10, "forward": 14, "backward": 22, "no_autograd": 8, "training": 18, "checkpoint": 18}
SIN = FULL
CS231N = {"structure": 10, "init": 10, "forward": 14, "backward": 22, "no_autograd": 8, "training": 18, "checkpoint": 18}
NPDIGITS = CS231N
ASSIGNMENT = {"example-digits-": "mlp-classification", "example-sin-": "sin-fit", "example-cs231n-": "cs231n-two-layer",
              "example-npdigits-": "numpy-digits"}

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
    # mlp-classification
    "example-digits-correct": DIGITS,
    # exp() of raw logits: NaN once logits reach the hundreds; the digits never get there.
    "example-digits-naive-softmax": {**DIGITS, "backward": 17},
    # grad_b += weight_decay * b: both gradient checks of the maths see grad_b1, grad_b2 off
    # by 1e-3 * b (backward.latest_cache and backward.large_logits, which compare with the
    # student's own gradients, keep their 3 + 5 points).
    "example-digits-decay-on-biases": {**DIGITS, "backward": 8},
    # weight decay never applied: both gradient checks of the maths see grad_W off by
    # 1e-3 * W (a 4-epoch trajectory with lambda = 1e-3 stays within its tolerance);
    # latest_cache and large_logits keep their points.
    "example-digits-no-weight-decay": {**DIGITS, "backward": 8},
    # sin-fit
    "example-sin-correct": SIN,
    # 1 - tanh instead of 1 - tanh**2: backward wrong, training follows it, the fit is poor.
    "example-sin-tanh-derivative": {**SIN, "backward": 4, "training": 14, "checkpoint": 4},
    # the default homework's (out, in) layout: W1 is the transpose of what the grader gives, so
    # every call with the handout's shapes fails; only the import, the api, the source scan
    # and step() (element-wise) pass.
    "example-sin-out-in-layout": {**dict.fromkeys(SIN, 0), "structure": 4, "no_autograd": 4, "training": 4},
    # cs231n-two-layer: numpy, self.params, loss(X, y, reg) -> (loss, grads), model.npz.
    "example-cs231n-correct": CS231N,
    # grads['W'] += reg * W instead of 2 * reg * W: both gradient checks of the maths see it
    # (latest_cache and large_logits compare with the student's own gradients); 3 iterations
    # at reg = 1e-3 stay within the trajectory's tolerance, and training still works.
    "example-cs231n-reg-grad-factor": {**CS231N, "backward": 8},
    # dscores not divided by N: every gradient N times too large (backward). train()'s loop is
    # right: training.iterations, fed its own gradients, keeps its 10 points; with them the
    # handout's learning rate diverges, so the loss does not fall (training.history, as
    # torch's loss_falls) and the checkpoint is at chance (but loads), as torch's are.
    "example-cs231n-softmax-not-averaged": {**CS231N, "backward": 8, "training": 10, "checkpoint": 4},
    # numpy-digits: numpy attributes, backward(logits, y) setting dW1..., train() by epochs, .npz
    "example-npdigits-correct": NPDIGITS,
    # the loop's learning rates and the reference trajectory are wrong.
    "example-npdigits-no-lr-decay": {**NPDIGITS, "training": 12},
    # dW += 2 * weight_decay * W: backward.matches_reference sees it (weight_decay 1e-3 and
    # 1e-4); finite differences at 1e-4 stay within their tolerance, and so does training.
    "example-npdigits-decay-doubled": {**NPDIGITS, "backward": 14},
}


def assignment_of(name: str) -> str:
    return next((a for prefix, a in ASSIGNMENT.items() if name.startswith(prefix)), spec.DEFAULT)


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def graded(request):
    return request.param, engine.grade(SUBMISSIONS / request.param)


@pytest.mark.slow
def test_category_scores_are_exactly_the_expected_ones(graded):
    name, result = graded
    assert result.assignment == assignment_of(name)
    scores = {cat: s["score"] for cat, s in result.category_scores().items()}
    assert scores == EXPECTED[name]
    assert result.max_score == 100


def test_every_example_folder_is_expected():
    assert sorted(p.name for p in SUBMISSIONS.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.slow
def test_every_lost_point_comes_with_a_message(graded):
    _, result = graded
    for outcome in result.outcomes:
        assert outcome.lost_points == bool(outcome.message), outcome.check.id


@pytest.mark.slow
def test_cs231n_softmax_not_averaged_loses_backward_and_only_its_declared_consequences():
    """Its one bug is the gradient formula: the training loop that uses it is not charged
    (training.iterations follows SGD on the student's own gradients). What the too-large
    gradient does to a run is charged as in the torch homework: the loss does not fall
    (training.history, like loss_falls: tests/mutants/rules.py's THROUGH_TRAINING) and the
    handed-in model.npz, trained with it, is at chance."""
    result = engine.grade(SUBMISSIONS / "example-cs231n-softmax-not-averaged")
    lost = {o.check.id: o for o in result.outcomes if o.lost_points}
    assert {cid: o.score for cid, o in lost.items()} == {
        "backward.matches_reference": 0, "backward.finite_differences": 0, "training.history": 0,
        "checkpoint.test_accuracy": 0}
    assert "should fall below" in lost["training.history"].message


@pytest.mark.slow
def test_import_failure_message_tells_the_student_what_to_do():
    result = engine.grade(SUBMISSIONS / "example-trains-on-import", only=["structure.imports"])
    message = result.outcomes[0].message
    assert "FileNotFoundError during import mlp.py" in message
    assert 'if __name__ == "__main__":' in message


@pytest.mark.slow
def test_naive_softmax_loses_only_the_large_logits_check_and_is_told_why():
    result = engine.grade(SUBMISSIONS / "example-digits-naive-softmax",
                          only=["backward.matches_reference", "backward.large_logits"])
    matches, large = result.outcomes
    assert matches.status == "passed" and large.score == 0
    assert "NaN or infinite" in large.message and "row maximum" in large.message


@pytest.mark.slow
def test_decay_on_biases_is_reported_on_the_bias_gradients():
    result = engine.grade(SUBMISSIONS / "example-digits-decay-on-biases", only=["backward.matches_reference"])
    assert "grad_b" in result.outcomes[0].message
    assert result.outcomes[0].status == "failed" and result.outcomes[0].message.startswith("self.grad_b1 differs")


BACKWARD = ["backward.matches_reference", "backward.finite_differences"]


@pytest.mark.parametrize("name, finding, grads", [
    ("example-digits-decay-on-biases", "backward.weight_decay_on_biases", "grad_b1, grad_b2"),
    ("example-digits-no-weight-decay", "backward.weight_decay_missing", "grad_W1, grad_W2"),
])
@pytest.mark.slow
def test_weight_decay_mistakes_are_named_on_every_failed_gradient_check(name, finding, grads):
    outcomes = engine.grade(SUBMISSIONS / name, only=BACKWARD).outcomes
    assert [o.status for o in outcomes] == ["failed"] * 2
    for outcome in outcomes:
        assert outcome.details["diagnosis"]["ids"] == [finding]
        assert outcome.hint.startswith(grads + " are ")


@pytest.mark.slow
def test_a_failure_that_is_not_about_weight_decay_gets_no_decay_hint():
    large = engine.grade(SUBMISSIONS / "example-digits-naive-softmax", only=["backward.large_logits"]).outcomes[0]
    assert large.status == "failed" and large.hint is None and "diagnosis" not in large.details


@pytest.mark.slow
def test_out_in_layout_is_named_in_the_messages():
    result = engine.grade(SUBMISSIONS / "example-sin-out-in-layout",
                          only=["structure.constructor_dims", "structure.parameters"])
    for outcome in result.outcomes:
        assert outcome.score == 0 and "(in, out)" in outcome.message and "X @ W1" in outcome.message


def test_a_numpy_course_skeleton_is_graded_through_its_own_api():
    """cs231n-two-layer: the numpy TwoLayerNet with self.params, loss(X, y, reg) returning
    (loss, grads) and train() returning histories gets every code point; its mistakes are
    named in the course's own terms."""
    result = engine.grade(SUBMISSIONS / "example-cs231n-correct")
    assert result.assignment == "cs231n-two-layer" and result.score == 100
    code = [o for o in result.outcomes if o.check.category != "checkpoint"]
    assert all(o.status == "passed" for o in code) and sum(o.score for o in code) == 82
    wrong = engine.grade(SUBMISSIONS / "example-cs231n-reg-grad-factor", only=BACKWARD).outcomes
    assert wrong[0].message.startswith("grads['W1'] differs")
    assert "reg * (sum(W1**2) + sum(W2**2)), reg = 0.001" in wrong[1].message
