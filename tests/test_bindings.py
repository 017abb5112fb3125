"""A course's own API ([binding] in a spec, grader/worker/bindings.py): numpy code, a params
dict, loss() returning the gradients, iteration training, .npz checkpoints, the spec's code
file and helper modules beside it. (The bundled examples' exact scores: test_examples.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from grader import engine
from test_intake import intake, landed, log_of, make_folders

ROOT = Path(__file__).parents[1]
CORRECT = ROOT / "submissions" / "example-cs231n-correct"
LAYERS = ROOT / "tests" / "specs_ok" / "cs231n-layers"


def staged(tmp_path: Path, source: Path = LAYERS, name: str = "carol") -> Path:
    folder = tmp_path / "submissions" / name
    shutil.copytree(source, folder)
    if not (folder / "model.npz").exists():
        shutil.copy(CORRECT / "model.npz", folder / "model.npz")
    return folder


def test_a_solution_over_two_files_written_differently_gets_full_marks(tmp_path):
    """two_layer_net.py imports its layers from layers.py beside it: the worker imports the
    spec's code file with its helper, the scan reads both."""
    result = engine.grade(staged(tmp_path))
    assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
    assert result.score == 100


def test_a_helper_module_importing_torch_fails_the_source_scan(tmp_path):
    folder = staged(tmp_path)
    layers = folder / "layers.py"
    layers.write_text(layers.read_text().replace("import numpy as np\n", "import numpy as np\nimport torch\n"))
    outcome = engine.grade(folder, only=["no_autograd.source"]).outcomes[0]
    assert outcome.score == 0 and "layers.py line 6: import of torch" in outcome.message
    assert "numpy alone" in outcome.message


def test_a_numpy_submission_may_not_import_an_autograd_package(tmp_path):
    folder = staged(tmp_path, CORRECT)
    code = folder / "two_layer_net.py"
    for package in ("torch", "jax.numpy", "autograd.numpy"):
        code.write_text((CORRECT / "two_layer_net.py").read_text().replace("import numpy as np\n",
                                                                           f"import numpy as np\nimport {package}\n"))
        outcome = engine.grade(folder, only=["no_autograd.source"]).outcomes[0]
        assert outcome.score == 0 and f"import of {package}" in outcome.message


def test_an_npz_is_read_without_pickles(tmp_path):
    folder = staged(tmp_path, CORRECT)
    params = dict(np.load(CORRECT / "model.npz"))
    np.savez(folder / "model.npz", **{**params, "W1": np.array([object()], dtype=object)})
    outcome = engine.grade(folder, only=["checkpoint.loads"]).outcomes[0]
    assert outcome.score == 0 and "np.load(allow_pickle=False)" in outcome.message
    np.savez(folder / "model.npz", **{k: v for k, v in params.items() if k != "b2"})
    outcome = engine.grade(folder, only=["checkpoint.loads"]).outcomes[0]
    assert outcome.score == 0 and "expected ['W1', 'W2', 'b1', 'b2']" in outcome.message


def test_the_spec_names_the_code_file(tmp_path):
    folder = staged(tmp_path, CORRECT)
    (folder / "two_layer_net.py").rename(folder / "mlp.py")
    outcome = engine.grade(folder, only=["structure.imports"]).outcomes[0]
    assert outcome.score == 0 and "two_layer_net.py" in outcome.message


def test_intake_takes_the_helper_modules_the_code_file_imports(tmp_path):
    code = (LAYERS / "two_layer_net.py").read_bytes()
    code = code.replace(b"import numpy as np\n", b"import numpy as np\n" + b"".join(b"import util%d\n" % i for i in range(8)))
    helper = (LAYERS / "layers.py").read_bytes()
    files = {"dana/two_layer_net.py": code, "dana/layers.py": helper, "dana/model.npz": b"npz",
             "dana/__init__.py": b"", "dana/test_mine.py": b"", "dana/notes.txt": b"x",
             "dana/my-utils.py": b"x", "dana/scratch.py": b"x = 1\n"}
    files.update({f"dana/util{i}.py": b"x = 1\n" for i in range(8)})
    source = make_folders(tmp_path / "download", files)
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "cs231n-two-layer") == 0
    kept = landed(into)["dana"]
    assert kept["two_layer_net.py"] == code and kept["layers.py"] == helper and kept["model.npz"] == b"npz"
    # the first 8 imported helper modules by name: layers.py, util0.py ... util6.py
    assert sorted(kept) == sorted(["two_layer_net.py", "model.npz", "layers.py", *(f"util{i}.py" for i in range(7))])
    log = log_of(into, "dana")
    assert (f"kept layers.py ({len(helper)} bytes): a helper module two_layer_net.py imports, graded and scanned "
            f"with it") in log
    assert any(line.startswith("dropped util7.py: more than 8 helper modules beside two_layer_net.py") for line in log)
    assert "dropped scratch.py: a .py file two_layer_net.py does not import: not part of the submission" in log
    assert any(line.startswith("dropped __init__.py") for line in log)
    assert any(line.startswith("dropped test_mine.py: a test module") for line in log)
    assert any(line.startswith("dropped my-utils.py: not part of the submission") for line in log)


def test_a_cs231n_notebook_with_training_and_plotting_cells_gets_every_point(tmp_path):
    """The course's notebook, as students hand it in: the class cell, then cells that load
    the data, train, plot and save. Intake grades its definitions (two_layer_net.ipynb ->
    two_layer_net.py), and they get every point."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    source = (CORRECT / "two_layer_net.py").read_text()
    cls = source[source.index("class TwoLayerNet"):source.index('if __name__ == "__main__":')]
    cells = [new_markdown_cell("# Two-layer net"), new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt\n"),
             new_code_cell(cls),
             new_code_cell('data = np.load("data/digits-train.npz")\nnet = TwoLayerNet(64, 64, 10)\n'
                           'stats = net.train(data["X"], data["y"], data["X"], data["y"], num_iters=10)\n'),
             new_code_cell('plt.plot(stats["loss_history"])\nplt.show()\n'),
             new_code_cell('np.savez("model.npz", **net.params)\n')]
    folder = make_folders(tmp_path / "download", {
        "erin/two_layer_net.ipynb": nbformat.writes(new_notebook(cells=cells)).encode(),
        "erin/model.npz": (CORRECT / "model.npz").read_bytes(),
        "erin/assignment.toml": b'assignment = "cs231n-two-layer"\n'})
    into = tmp_path / "submissions"
    assert intake(folder, "--into", into, "--assignment", "cs231n-two-layer") == 0
    kept = landed(into)["erin"]
    assert sorted(kept) == ["assignment.toml", "model.npz", "two_layer_net.py"]
    assert "net.train" not in kept["two_layer_net.py"].decode() and "plt.plot" not in kept["two_layer_net.py"].decode()
    result = engine.grade(into / "erin")
    assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
    assert result.score == 100


def test_one_hot_labels_are_a_binding(tmp_path, monkeypatch):
    """numpy-digits with [binding] labels = "one_hot": the student's backward, loss and
    train() get one-hot rows, the checks still speak int labels, and a solution written for
    one-hot targets gets every point."""
    from grader import spec

    folder = tmp_path / "assignments"
    shutil.copytree(spec.ASSIGNMENTS, folder)
    text = (spec.ASSIGNMENTS / "numpy-digits.toml").read_text()
    for old, new in (('name = "numpy-digits"', 'name = "numpy-onehot"'),
                     ('framework = "numpy"', 'framework = "numpy"\nlabels = "one_hot"')):
        assert old in text
        text = text.replace(old, new)
    (folder / "numpy-onehot.toml").write_text(text)
    monkeypatch.setattr(spec, "ASSIGNMENTS", folder)
    spec.assignment.cache_clear()
    try:
        student = staged(tmp_path, ROOT / "submissions" / "example-npdigits-correct", "frank")
        (student / "assignment.toml").write_text('assignment = "numpy-onehot"\n')
        code = (student / "classifier.py").read_text()
        for old, new in (("probs[np.arange(n), y] -= 1.0", "probs -= y"),
                         ("-log_probs[np.arange(len(y)), y].mean()", "-(log_probs * y).sum(axis=1).mean()")):
            assert old in code
            code = code.replace(old, new)
        (student / "classifier.py").write_text(code)
        result = engine.grade(student)
        assert result.assignment == "numpy-onehot"
        assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
        # the int-label solution fails under it: labels are part of the binding
        shutil.copy(ROOT / "submissions" / "example-npdigits-correct" / "classifier.py", student / "classifier.py")
        assert engine.grade(student, only=["backward.matches_reference"]).outcomes[0].score == 0
    finally:
        spec.assignment.cache_clear()


NYU_STYLE = '''
import math

import torch


class MLP:
    def __init__(self, linear_1_in_features, linear_1_out_features, f_function, linear_2_in_features,
                 linear_2_out_features, g_function):
        self.f_function, self.g_function = f_function, g_function
        def xavier(fan_out, fan_in):
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            return torch.empty(fan_out, fan_in).uniform_(-bound, bound)
        self.parameters = dict(W1=xavier(linear_1_out_features, linear_1_in_features),
                               b1=torch.zeros(linear_1_out_features),
                               W2=xavier(linear_2_out_features, linear_2_in_features),
                               b2=torch.zeros(linear_2_out_features))
        self.grads = {}
        self.cache = {}

    def forward(self, x):
        p = self.parameters
        s1 = x @ p["W1"].T + p["b1"]
        z1 = torch.clamp(s1, min=0) if self.f_function == "relu" else s1
        self.cache = dict(x=x, s1=s1, z1=z1)
        return z1 @ p["W2"].T + p["b2"]

    def backward(self, dJdy_hat):
        c, p = self.cache, self.parameters
        self.grads["dJdW2"] = dJdy_hat.T @ c["z1"]
        self.grads["dJdb2"] = dJdy_hat.sum(0)
        dz1 = dJdy_hat @ p["W2"]
        ds1 = dz1 * (c["s1"] > 0) if self.f_function == "relu" else dz1
        self.grads["dJdW1"] = ds1.T @ c["x"]
        self.grads["dJdb1"] = ds1.sum(0)


def mse_loss(y, y_hat):
    diff = y_hat - y
    return (diff ** 2).mean(), 2 * diff / diff.numel()
'''


def test_an_upstream_gradient_api_with_its_own_constructor_and_grads_dict(tmp_path, monkeypatch):
    """NYU DLSP's shape: MLP(in, hidden, "relu", hidden, out, "identity"), self.parameters
    and self.grads dicts (dJdW1, ...), mse_loss(y, y_hat) returning (J, dJdy_hat), and
    backward(dJdy_hat). mlp-regression's maths and checks, with the binding only."""
    from grader import spec

    folder = tmp_path / "assignments"
    shutil.copytree(spec.ASSIGNMENTS, folder)
    text = (spec.ASSIGNMENTS / "mlp-regression.toml").read_text()
    text = text[:text.index("[[check]]")]  # the rubric: the checks this API can answer
    for old, new in (('name = "mlp-regression"', 'name = "nyu-style"'),
                     ('class_name = "TwoLayerMLP"', 'class_name = "MLP"'),
                     ('grads = { W1 = "grad_W1", b1 = "grad_b1", W2 = "grad_W2", b2 = "grad_b2" }',
                      'grads = { W1 = "dJdW1", b1 = "dJdb1", W2 = "dJdW2", b2 = "dJdb2" }'),
                     ('methods = ["forward", "backward", "step", "state_dict", "load_state_dict"]',
                      'methods = ["forward", "backward"]'),
                     ('functions = ["mse_loss", "train"]', 'functions = ["mse_loss"]')):
        assert old in text
        text = text.replace(old, new)
    text = text.replace("[init]", '''[binding]
params = "parameters"
grads = "grads"
gradients = "upstream"
loss_args = "target_pred"
constructor_args = ["in_dim", "hidden_dim", "relu", "hidden_dim", "out_dim", "identity"]

[init]''')
    checks = ["structure.imports", "structure.api", "structure.constructor_dims", "structure.parameters",
              "init.xavier_bound", "init.seeded", "forward.matches_reference", "forward.rowwise",
              "backward.matches_reference", "backward.finite_differences", "backward.latest_cache",
              "no_autograd.grad_disabled", "no_autograd.source"]
    text += "".join(f'\n[[check]]\nid = "{c}"\ncategory = "{c.split(".")[0]}"\npoints = 1\nvisibility = "visible"\n'
                    f'title = "{c}"\n' for c in checks)
    (folder / "nyu-style.toml").write_text(text)
    monkeypatch.setattr(spec, "ASSIGNMENTS", folder)
    spec.assignment.cache_clear()
    try:
        student = tmp_path / "submissions" / "gus"
        student.mkdir(parents=True)
        (student / "assignment.toml").write_text('assignment = "nyu-style"\n')
        (student / "mlp.py").write_text(NYU_STYLE)
        result = engine.grade(student)
        assert result.assignment == "nyu-style"
        assert [(o.check.id, o.message) for o in result.outcomes if o.lost_points] == []
        assert result.score == len(checks)
        # a loss gradient without its factor 2 is seen through backward(dJdy_hat)
        (student / "mlp.py").write_text(NYU_STYLE.replace("2 * diff / diff.numel()", "diff / diff.numel()"))
        outcome = engine.grade(student, only=["backward.matches_reference"]).outcomes[0]
        assert outcome.score == 0 and outcome.message.startswith("self.grads['dJdW1'] differs")
    finally:
        spec.assignment.cache_clear()
