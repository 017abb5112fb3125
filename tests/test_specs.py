"""Assignment specs: loading, the active assignment, a submission's choice, and collection."""

from __future__ import annotations

import copy
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from grader import engine, spec
from grader.checks import REGISTRY
from grader.submission import Submission
from test_plugin import run_pytest

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions"


def test_the_bundled_specs_and_the_default():
    assert spec.names() == ["cs231n-two-layer", "mlp-classification", "mlp-regression", "numpy-digits", "sin-fit"]
    assert spec.DEFAULT == "mlp-regression"
    assert spec.assignment(spec.DEFAULT).contract.name == spec.DEFAULT
    for name in spec.names():
        assert spec.assignment(name).rubric.total == 100


@pytest.mark.parametrize("name", spec.names())
def test_every_check_of_every_rubric_is_registered(name):
    assert {c.id for c in spec.assignment(name).rubric.checks} <= set(REGISTRY)


def test_an_assignment_is_a_value_and_none_is_active():
    sin = spec.assignment("sin-fit")
    assert sin.name == "sin-fit" and sin.contract.name == "sin-fit" and not sin.contract.bias
    assert sin.contract.param_shapes(spec.Dims(1, 4, 1)) == {"W1": (1, 4), "W2": (4, 1)}
    classification = spec.assignment("mlp-classification").contract
    assert classification.classification and classification.weight_decay == 1e-3
    assert spec.assignment("sin-fit") is sin  # one object per assignment
    assert not any(hasattr(spec, name) for name in ("using", "active", "contract", "rubric", "_ACTIVE"))
    with pytest.raises(spec.UnknownAssignment, match="mlp-regression"):
        spec.assignment("nope")


def test_a_spec_whose_params_contradict_its_layout_or_biases_is_refused():
    with open(spec.ASSIGNMENTS / "sin-fit.toml", "rb") as fh:
        raw = tomllib.load(fh)
    wrong_layout = copy.deepcopy(raw)
    wrong_layout["model"]["layout"] = "out_in"
    with pytest.raises(ValueError, match="model.params"):
        spec._validate(wrong_layout, "sin-fit", "test")
    wrong_bias = copy.deepcopy(raw)
    wrong_bias["model"]["bias"] = True
    with pytest.raises(ValueError, match="model.params"):
        spec._validate(wrong_bias, "sin-fit", "test")
    wrong_activation = copy.deepcopy(raw)
    wrong_activation["model"]["activation"] = "sigmoid"
    with pytest.raises(ValueError, match="activation"):
        spec._validate(wrong_activation, "sin-fit", "test")


def test_a_spec_that_builds_the_model_with_another_weight_decay_than_it_grades_is_refused():
    with open(spec.ASSIGNMENTS / "mlp-classification.toml", "rb") as fh:
        raw = tomllib.load(fh)
    spec._validate(copy.deepcopy(raw), "mlp-classification", "test")  # as shipped: the two agree
    raw["training"]["weight_decay"] = 1e-2
    with pytest.raises(ValueError, match="constructor_kwargs.weight_decay must equal training.weight_decay"):
        spec._validate(raw, "mlp-classification", "test")


def test_a_submission_names_its_assignment_and_defaults_to_regression(tmp_path):
    assert Submission(EXAMPLES / "example-correct").assignment() == (spec.assignment("mlp-regression"), None)
    assert Submission(EXAMPLES / "example-sin-correct").assignment() == (spec.assignment("sin-fit"), None)
    folder = tmp_path / "submissions" / "carol"
    folder.mkdir(parents=True)
    (folder / "assignment.toml").write_text('assignment = "sin_fit"\n')
    assignment, problem = Submission(folder).assignment()
    assert assignment.name == spec.DEFAULT and "'sin_fit'" in problem and "sin-fit" in problem
    (folder / "assignment.toml").write_text("assignment = \n")
    assert "cannot be read" in Submission(folder).assignment()[1]


def test_an_unknown_assignment_fails_every_check_with_its_reason(tmp_path):
    folder = tmp_path / "submissions" / "dave"
    folder.mkdir(parents=True)
    shutil.copy(EXAMPLES / "example-correct" / "mlp.py", folder / "mlp.py")
    (folder / "assignment.toml").write_text('assignment = "mlp-regresion"\n')
    result = engine.grade(folder)
    assert result.score == 0 and result.assignment == spec.DEFAULT
    assert len(result.outcomes) == len(spec.assignment(spec.DEFAULT).rubric.checks)
    assert all("'mlp-regresion'" in o.message and o.status == "failed" for o in result.outcomes)
    assert any("'mlp-regresion'" in note for note in result.notes)


@pytest.mark.slow
def test_collection_follows_each_folders_assignment_and_reports_name_it(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name, example in (("erin", "example-sin-correct"), ("fay", "example-correct"), ("gus", "example-correct")):
        shutil.copytree(EXAMPLES / example, tmp_path / "submissions" / name)
    (tmp_path / "submissions" / "gus" / "assignment.toml").write_text('assignment = "cifar"\n')
    ids = [line for line in run_pytest(tmp_path, "submissions", "--collect-only", "-q").stdout.splitlines()
           if "::" in line]
    expected = [f"submissions/erin::{c.id}" for c in spec.assignment("sin-fit").rubric.checks]
    expected += [f"submissions/{n}::{c.id}" for n in ("fay", "gus") for c in spec.assignment(spec.DEFAULT).rubric.checks]
    assert ids == expected

    run_pytest(tmp_path, "submissions", "-k", "structure")
    erin = json.loads((tmp_path / "reports" / "students" / "erin" / "results.json").read_text())
    assert erin["extra_data"]["assignment"] == "sin-fit" and erin["max_score"] == 100
    assert {t["name"].split(":")[0] for t in erin["tests"]} == {c.id for c in spec.assignment("sin-fit").rubric.checks}
    assert sum(t["score"] for t in erin["tests"]) == 10  # structure, the only category run
    gus = json.loads((tmp_path / "reports" / "students" / "gus" / "results.json").read_text())
    assert gus["score"] == 0 and "'cifar'" in gus["output"]
    ran = [t for t in gus["tests"] if t["extra_data"]["status"] != "not_run"]
    assert ran and all("'cifar'" in t["output"] for t in ran)


@pytest.mark.parametrize("name,example", [("digits-ok", "example-digits-correct"), ("sin-ok", "example-sin-correct")])
@pytest.mark.slow
def test_correct_code_written_differently_gets_full_marks(tmp_path, name, example):
    """tests/specs_ok/: logsumexp and one_hot with a parameter loop (classification);
    float32-only code with 1/cosh^2 as tanh' (sin-fit). The checkpoint is the example's."""
    folder = tmp_path / "submissions" / name
    shutil.copytree(ROOT / "tests" / "specs_ok" / name, folder)
    shutil.copy(EXAMPLES / example / "model.pth", folder / "model.pth")
    result = engine.grade(folder)
    assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
    assert result.score == 100


@pytest.fixture
def course_variant(tmp_path, monkeypatch):
    """The README's recipe: copy a spec and edit it. Here sin-fit with the (out, in)
    layout, a normal init of std 0.5, its own parameter names and its own name, beside the
    bundled specs."""
    folder = tmp_path / "assignments"
    shutil.copytree(spec.ASSIGNMENTS, folder)
    text = (spec.ASSIGNMENTS / "sin-fit.toml").read_text()
    for old, new in (('name = "sin-fit"', 'name = "sin-outin"'),
                     ('params = { W1 = ["in_dim", "hidden_dim"], W2 = ["hidden_dim", "out_dim"] }',
                      'params = { W1 = ["hidden_dim", "in_dim"], W2 = ["out_dim", "hidden_dim"] }'),
                     ('layout = "in_out"', 'layout = "out_in"\nnames = { W1 = "hidden", W2 = "readout" }'),
                     ('grads = { W1 = "grad_W1", W2 = "grad_W2" }', 'grads = { W1 = "d_hidden", W2 = "d_readout" }'),
                     ('scheme = "xavier_normal"', 'scheme = "normal"\nstd = 0.5'),
                     ('file = "data/sin-train.pt"', f'file = "{tmp_path / "train.pt"}"')):
        assert old in text
        text = text.replace(old, new)
    (folder / "sin-outin.toml").write_text(text)
    monkeypatch.setattr(spec, "ASSIGNMENTS", folder)
    spec.assignment.cache_clear()
    yield tmp_path
    spec.assignment.cache_clear()


@pytest.mark.slow
def test_a_course_variant_from_a_copied_spec_is_graded_end_to_end(course_variant):
    import subprocess
    import sys

    from grader import calibrate, data

    c = spec.assignment("sin-outin").contract
    assert c.param_shapes(spec.Dims(1, 4, 1)) == {"W1": (4, 1), "W2": (1, 4)}
    assert c.wire()["params"] == {"W1": "hidden", "W2": "readout"}
    assert calibrate.reference_metric(c) < c.checkpoint["full_credit"]
    train_file = data.write_training_set(c, Path(c.data["file"]))
    folder = course_variant / "submissions" / "hana"
    shutil.copytree(ROOT / "tests" / "specs_ok" / "variant-outin", folder)
    (folder / "assignment.toml").write_text('assignment = "sin-outin"\n')
    subprocess.run([sys.executable, str(folder / "mlp.py"), str(train_file), str(folder / "model.pth")],
                   check=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    result = engine.grade(folder)
    assert result.assignment == "sin-outin"
    assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
    assert result.score == 100
    # the same code with the default names: the spec's names are what the student is told
    code = (folder / "mlp.py").read_text()
    for old, new in (("self.hidden", "self.W1"), ("self.readout", "self.W2"), ('"hidden"', '"W1"'),
                     ('"readout"', '"W2"'), ("self.d_hidden", "self.grad_W1"), ("self.d_readout", "self.grad_W2")):
        code = code.replace(old, new)
    (folder / "mlp.py").write_text(code)
    wrong = engine.grade(folder, only=["structure.parameters", "structure.state_dict"]).outcomes
    assert [o.score for o in wrong] == [0, 0]
    assert "hidden is None" in wrong[0].message
    assert "expected ['hidden', 'readout']" in wrong[1].message
    torch_save = "import torch; s = torch.load('{0}'); torch.save({{'W1': s['hidden'], 'W2': s['readout']}}, '{0}')"
    subprocess.run([sys.executable, "-c", torch_save.format(folder / "model.pth")], check=True, timeout=120)
    loads = engine.grade(folder, only=["checkpoint.loads"]).outcomes[0]
    assert loads.score == 0 and "expected ['hidden', 'readout']" in loads.message


def _cs231n_raw() -> dict:
    with open(spec.ASSIGNMENTS / "cs231n-two-layer.toml", "rb") as fh:
        return tomllib.load(fh)


@pytest.mark.parametrize("change, complaint", [
    (lambda r: r["binding"].update(framework="jax"), "binding.framework must be one of"),
    (lambda r: r["binding"].update(gradients="autograd"), "binding.gradients must be one of"),
    (lambda r: r["binding"].pop("loss_method"), "binding.gradients = 'loss' needs binding.loss_method"),
    (lambda r: r["binding"].update(loss_method="compute"), "binding.gradients = 'loss' needs binding.loss_method"),
    (lambda r: r["binding"].update(reg_convention="l2"), "binding.reg_convention must be one of"),
    (lambda r: r["binding"].pop("reg_convention"), "training.reg needs binding.reg_convention"),
    (lambda r: r["training"].update(weight_decay=1e-3), "drop training.weight_decay"),
    (lambda r: r["binding"].update(params="params[0]"), "binding.params must be"),
    (lambda r: r["binding"].update(bogus=1), "binding has unknown keys ['bogus']"),
    (lambda r: r["binding"].update(train="forever"), "binding.train must be one of"),
    (lambda r: r["binding"].update(labels="strings"), "binding.labels must be one of"),
    (lambda r: r["binding"].update(loss_args="y_first"), "binding.loss_args must be one of"),
    (lambda r: r["binding"].update(grads="grads.all"), "binding.grads must be"),
    (lambda r: r["binding"].update(constructor_args=["in_dim", "hidden_dim"]), "binding.constructor_args must list"),
    (lambda r: r["binding"].update(gradients="upstream"), "binding.gradients = 'upstream' needs model.loss_function"),
    (lambda r: r["training"].pop("num_iters"), "needs training.num_iters"),
    (lambda r: r["submission"].update(checkpoint="model.pth"), "a numpy submission hands in a .npz checkpoint"),
    (lambda r: r["submission"].update(code="src/net.py"), "submission.code must name a module file"),
    (lambda r: r["model"]["constructor_kwargs"].update(weight_decay=1e-3), "state it as training.reg"),
    (lambda r: r["model"].update(activation="tanh"), "binding.gradients = 'loss' needs activation = 'relu'"),
    # batch order and epoch losses do not exist under random sampling: refused, not skipped
    (lambda r: r["check"].append({"id": "training.schedule", "category": "training", "points": 0, "visibility": "visible",
                                  "title": "t"}), "training.schedule cannot run on iteration training"),
    (lambda r: r["check"].append({"id": "training.step", "category": "training", "points": 0, "visibility": "visible",
                                  "title": "t"}), "training.step needs the method step()"),
])
def test_a_binding_that_makes_no_sense_is_named(change, complaint):
    raw = _cs231n_raw()
    spec._validate(copy.deepcopy(raw), "cs231n-two-layer", "test")  # as shipped
    change(raw)
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
                       .replace("]", r"\]").replace(".", r"\.").replace("*", r"\*")):
        spec._validate(raw, "cs231n-two-layer", "test")


def test_the_schedule_check_needs_backward_pred_y():
    """training.schedule records the forward(X), backward(pred, y), step(lr) calls of train():
    another gradient source is told to use training.trajectory."""
    with open(spec.ASSIGNMENTS / "mlp-classification.toml", "rb") as fh:
        raw = tomllib.load(fh)
    raw["binding"] = {"gradients": "upstream"}
    with pytest.raises(ValueError, match="with binding.gradients = 'upstream' use training.trajectory"):
        spec._validate(raw, "mlp-classification", "test")


def test_iteration_checks_need_an_iteration_binding():
    with open(spec.ASSIGNMENTS / "mlp-classification.toml", "rb") as fh:
        raw = tomllib.load(fh)
    raw["check"].append({"id": "training.history", "category": "training", "points": 0, "visibility": "visible",
                         "title": "t"})
    with pytest.raises(ValueError, match="training.history need binding.train = 'iterations'"):
        spec._validate(raw, "mlp-classification", "test")


def test_the_binding_and_its_regularisation_convention():
    c = spec.assignment("cs231n-two-layer").contract
    assert c.framework == "numpy" and c.code_file == "two_layer_net.py"
    assert c.reg == 1e-3 and c.weight_decay == 2e-3  # reg * sum(W**2): gradient 2 * reg * W
    assert c.grad_names["W1"] == "grads['W1']"
    wire = c.wire()
    assert wire["code"] == "two_layer_net.py" and wire["grads"]["W1"] == "W1"
    assert wire["binding"]["params"] == "params" and wire["binding"]["reg"] == 1e-3
    half = _cs231n_raw()
    half["binding"]["reg_convention"] = "half_sum_squares"
    assert spec.Contract(half).weight_decay == 1e-3
    digits = spec.assignment("numpy-digits").contract
    assert digits.framework == "numpy" and digits.wire()["binding"]["gradients"] == "backward"
    assert digits.grad_names["W1"] == "dW1" and digits.weight_decay == 1e-4
    for name in ("mlp-regression", "mlp-classification", "sin-fit"):  # the torch homework's requests are unchanged
        old = spec.assignment(name).contract
        assert "binding" not in old.wire() and "code" not in old.wire() and old.framework == "torch"
