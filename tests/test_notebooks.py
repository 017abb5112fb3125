"""Notebooks and scripts that do work at import: intake keeps their definitions, logs what it
left out, and the grader grades what was kept (issue 16, point 4); Python 2 code is named as
such (point 5). The notebooks are built here from the correct example's own code."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import engine, spec
from grader.cli import main
from grader.intake.convert import from_notebook, from_script
from grader.intake.definitions import extract

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "submissions"
CORRECT = (EXAMPLES / "example-correct" / "mlp.py").read_text()
MODEL = (EXAMPLES / "example-correct" / "model.pth").read_bytes()
FULL = {"structure": 10, "init": 12, "forward": 14, "backward": 22, "no_autograd": 8, "training": 18, "checkpoint": 16}

IMPORTS = CORRECT[:CORRECT.index("class TwoLayerMLP")]
CLASS = CORRECT[CORRECT.index("class TwoLayerMLP"):CORRECT.index("def mse_loss")]
FUNCTIONS = CORRECT[CORRECT.index("def mse_loss"):CORRECT.index('if __name__ == "__main__":')]
TRAINING = ('data = torch.load("data/train.pt")\ntorch.manual_seed(0)\nmodel = TwoLayerMLP()\n'
            'losses = train(model, data["X"], data["y"])\ntorch.save(model.state_dict(), "model.pth")')


def notebook(*cells) -> bytes:
    return nbformat.writes(new_notebook(cells=list(cells))).encode()


def take_in(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """`grader intake` of one student's folder; the folder intake wrote."""
    source = tmp_path / "download" / "alice"
    source.mkdir(parents=True)
    for name, data in files.items():
        (source / name).write_bytes(data)
    into = tmp_path / "submissions"
    assert main(["intake", str(source.parent), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    return into / "alice"


def log_of(folder: Path) -> list[str]:
    return (folder.parent / "_intake" / f"{folder.name}.log").read_text().splitlines()[1:]


def scores(result) -> dict[str, float]:
    return {category: s["score"] for category, s in result.category_scores().items()}


CLASS_NOTEBOOK = notebook(
    new_markdown_cell("# Homework: a two-layer network"),
    new_code_cell("%matplotlib inline\n!pip install torch\n" + IMPORTS + "import matplotlib.pyplot as plt\nHIDDEN = 512\n"),
    new_code_cell(CLASS), new_code_cell(FUNCTIONS), new_code_cell(TRAINING),
    new_code_cell("plt.plot(losses)\nplt.show()"), new_code_cell('%%time\nanswer = input("again? ")'))
NOTEBOOK_SUMMARY = ("graded the definitions of mlp.ipynb: cells 2-4 kept (2 in part); 5 (loading, training, saving), "
                    "6 (plotting), 7 (a cell magic) left out")


@pytest.mark.slow
def test_a_notebook_with_training_and_plotting_cells_gets_every_point(tmp_path):
    folder = take_in(tmp_path, {"mlp.ipynb": CLASS_NOTEBOOK, "model.pth": MODEL})
    assert sorted(p.name for p in folder.iterdir()) == ["mlp.py", "model.pth"]
    code = (folder / "mlp.py").read_text()
    assert code.startswith(f"# grader intake: {NOTEBOOK_SUMMARY}\n\n# cell 2\n")
    assert "matplotlib" not in code and "%" not in code and "torch.load" not in code and "input(" not in code
    assert log_of(folder) == [
        f"read mlp.ipynb ({len(CLASS_NOTEBOOK)} bytes)",
        f"kept model.pth ({len(MODEL)} bytes)",
        "cell 2: left out line 1 (%matplotlib inline): an IPython magic or shell command, not Python",
        "cell 2: left out line 2 (!pip install torch): an IPython magic or shell command, not Python",
        "cell 2: kept line 3 (docstring), line 5 (import), line 8 (import), line 12 (constant); left out "
        "line 6 (an import used only by code left out), line 11 (an import used only by code left out)",
        "cell 3: kept lines 1-38 (definition); left out nothing",
        "cell 4: kept lines 1-2 (definition), lines 5-22 (definition); left out nothing",
        "cell 5: kept nothing; left out line 1 (loading), line 2 (top-level work), line 3 (top-level work), "
        "line 4 (training), line 5 (saving)",
        "cell 6: kept nothing; left out line 1 (plotting), line 2 (plotting)",
        "cell 7: left out whole: a cell magic (%%time), not Python",
        f"converted mlp.ipynb: {NOTEBOOK_SUMMARY}",
        f"kept mlp.py ({len(code.encode())} bytes)"]
    result = engine.grade(folder)
    assert scores(result) == FULL
    assert NOTEBOOK_SUMMARY in result.notes


@pytest.mark.slow
def test_a_script_that_trains_at_import_gets_every_point_after_intake(tmp_path, capsys):
    script = (EXAMPLES / "example-trains-on-import" / "mlp.py").read_bytes()
    folder = take_in(tmp_path, {"mlp.py": script, "model.pth": MODEL})
    assert "alice: kept mlp.py, model.pth; converted mlp.py (only its definitions are graded)" in capsys.readouterr().out
    summary = ("graded the definitions of mlp.py: left out line 7 (an import used only by code left out), "
               "lines 77-83 (training)")
    code = (folder / "mlp.py").read_text()
    assert code.startswith(f"# grader intake: {summary}\n\n")
    assert log_of(folder) == [
        f"read mlp.py ({len(script)} bytes)",
        f"kept model.pth ({len(MODEL)} bytes)",
        "mlp.py: kept lines 1-4 (docstring), line 6 (import), line 9 (import), lines 12-49 (definition), "
        "lines 52-53 (definition), lines 56-73 (definition); left out line 7 (an import used only by code left out), "
        "lines 77-83 (training)",
        f"converted mlp.py: {summary}",
        f"kept mlp.py ({len(code.encode())} bytes)"]
    result = engine.grade(folder)
    assert scores(result) == FULL
    assert summary in result.notes


def test_a_spec_that_penalises_top_level_work_takes_the_imports_points_only(tmp_path, monkeypatch):
    folder = take_in(tmp_path, {"mlp.py": (EXAMPLES / "example-trains-on-import" / "mlp.py").read_bytes()})
    monkeypatch.setitem(spec.assignment("mlp-regression").contract.raw["submission"], "top_level_work", "penalise")
    imports, api = engine.grade(folder, only=["structure.imports", "structure.api"]).outcomes
    assert (imports.score, api.score) == (0, 2)
    assert imports.message == (
        "importing the code you handed in does more than define things, so only its definitions were graded "
        "(graded the definitions of mlp.py: left out line 7 (an import used only by code left out), lines 77-83 "
        "(training)); put that work under `if __name__ == \"__main__\":`")


def test_a_clean_script_is_kept_byte_for_byte_and_costs_nothing_under_penalise(tmp_path, monkeypatch):
    folder = take_in(tmp_path, {"mlp.py": CORRECT.encode()})
    assert (folder / "mlp.py").read_bytes() == CORRECT.encode()
    assert log_of(folder) == [f"kept mlp.py ({len(CORRECT.encode())} bytes)"]
    monkeypatch.setitem(spec.assignment("mlp-regression").contract.raw["submission"], "top_level_work", "penalise")
    assert engine.grade(folder, only=["structure.imports"]).outcomes[0].score == 2


def test_the_spec_names_an_unknown_top_level_work_value():
    raw = copy.deepcopy(spec.assignment("sin-fit").contract.raw)
    raw["submission"]["top_level_work"] = "forgive"
    with pytest.raises(ValueError, match=r"submission.top_level_work must be one of \('accept', 'penalise'\), "
                                         r"not 'forgive'"):
        spec._validate(raw, "sin-fit", "sin-fit.toml")
    raw["submission"]["top_level_work"] = "penalise"
    raw["check"] = [c for c in raw["check"] if c["id"] != "structure.imports"]
    with pytest.raises(ValueError, match="top_level_work = 'penalise' needs the check structure.imports"):
        spec._validate(raw, "sin-fit", "sin-fit.toml")


def test_a_definition_needing_a_left_out_cell_is_told_which_cell(tmp_path):
    book = notebook(new_code_cell("import math\nimport torch"),
                    new_code_cell('data = torch.load("data/train.pt")\nIN_DIM = data["X"].shape[1]'),
                    new_code_cell(CLASS.replace("in_dim=256", "in_dim=IN_DIM")), new_code_cell(FUNCTIONS))
    folder = take_in(tmp_path, {"mlp.ipynb": book})
    message = ("cell 2 defines `IN_DIM`, which `TwoLayerMLP.__init__` uses, but cell 2 was left out (loading): `IN_DIM` is "
               "undefined in the graded code; define it without running anything (a constant) or compute it inside "
               "the function")
    assert f"warning: {message}" in log_of(folder)
    result = engine.grade(folder, only=["structure.imports"])
    assert message in result.notes
    assert result.outcomes[0].score == 0
    assert "NameError during import mlp.py: name 'IN_DIM' is not defined" in result.outcomes[0].message


def test_magics_shell_lines_and_unreadable_notebooks_are_logged():
    log = []
    code = from_notebook(notebook(new_code_cell("!pip install torch\nimport torch\n%time x = 1\n"
                                                "def ones():\n    return torch.ones(1)"),
                                  new_code_cell("%%bash\nls -l"), new_code_cell("files = !ls")), "mlp.ipynb", log)
    assert log == [
        "cell 1: left out line 1 (!pip install torch): an IPython magic or shell command, not Python",
        "cell 1: left out line 3 (%time x = 1): an IPython magic or shell command, not Python",
        "cell 1: kept line 2 (import), lines 4-5 (definition); left out nothing",
        "cell 2: left out whole: a cell magic (%%bash), not Python",
        "cell 3: not Python 3 (invalid syntax at line 1): left out",
        "converted mlp.ipynb: graded the definitions of mlp.ipynb: cell 1 kept; 2 (a cell magic), 3 (not Python 3) "
        "left out"]
    assert code.decode().endswith("# cell 1\nimport torch\n\ndef ones():\n    return torch.ones(1)\n")
    log = []
    assert from_notebook(b"not json", "mlp.ipynb", log) is None
    assert log == ["dropped mlp.ipynb: not a notebook nbformat can read (NotJSONError: Notebook does not appear "
                   "to be JSON: 'not json')"]


def test_what_is_kept_and_what_is_left_out():
    source = ('"""doc"""\nfrom __future__ import annotations\nimport math, torch\nimport tqdm\n'
              'HIDDEN = 2 * 256\nSIZES = (HIDDEN, 1)\nDTYPE = torch.float32\nDEVICE = torch.device("cpu")\n'
              'BOUND = math.sqrt(6 / HIDDEN)\ntry:\n    import numpy as np\nexcept ImportError:\n    np = None\n'
              'X = torch.randn(3)\nfor i in range(3):\n    pass\nwith open("f") as fh:\n    pass\n'
              'torch.manual_seed(0)\nif __name__ == "__main__":\n    print(HIDDEN)\n'
              'def f(x=SIZES):\n    return np, DTYPE, DEVICE, BOUND, [tqdm for _ in x]\n'
              'CUDA = "cuda" if torch.cuda.is_available() else "cpu"\n')
    piece = extract([("mlp.py", source)], cells=False).pieces[0]
    assert [(s.first, s.what) for s in piece.kept] == [
        (1, "docstring"), (2, "import"), (3, "import"), (4, "import"), (5, "constant"), (6, "constant"),
        (7, "constant"), (8, "constant"), (9, "constant"), (10, "definitions"), (22, "definition"), (24, "constant")]
    assert [(s.first, s.what) for s in piece.left_out] == [
        (14, "top-level work"), (15, "top-level work"), (17, "loading"), (19, "top-level work"),
        (20, 'the `if __name__ == "__main__":` block')]


def test_a_script_whose_only_extra_is_a_main_block_is_not_converted():
    script = 'import sys\nimport torch\n\ndef f():\n    return torch.ones(1)\n\nif __name__ == "__main__":\n    print(sys.argv)\n'
    log = []
    assert from_script(script.encode(), "mlp.py", log) is None and log == []


PYTHON2 = b'import torch\n\n\ndef forward(x):\n    print "forward", x.shape\n    return x\n'
PYTHON2_MESSAGE = "this is Python 2 code: print statement at line 5; the grader runs Python 3 (write print(...))"


def test_python_2_code_is_named_at_intake_and_as_the_import_failure(tmp_path):
    folder = take_in(tmp_path, {"mlp.py": PYTHON2})
    assert (folder / "mlp.py").read_bytes() == PYTHON2
    assert log_of(folder) == [f"kept mlp.py ({len(PYTHON2)} bytes)",
                              f"mlp.py: {PYTHON2_MESSAGE}: kept as handed in (the grader reports it)"]
    outcome = engine.grade(folder, only=["structure.imports"]).outcomes[0]
    assert (outcome.score, outcome.message) == (0, PYTHON2_MESSAGE)


@pytest.mark.parametrize("line, idiom", [
    ("except ValueError, e:", "`except E, e:` at line 3; the grader runs Python 3 (write except E as e:)"),
    ("x = `y`", "backquotes at line 3; the grader runs Python 3 (write repr(...))"),
    ('raise ValueError, "bad"', "`raise E, message` at line 3; the grader runs Python 3 (write raise E(message))"),
    ("x = 0777", "octal literal like 0777 at line 3; the grader runs Python 3 (write 0o777)"),
])
def test_python_2_idioms_are_named(line, idiom):
    source = f"try:\n    pass\n{line}\n    pass\n" if line.startswith("except") else f"import torch\n\n{line}\n"
    log = []
    assert from_script(source.encode(), "mlp.py", log) is None
    assert log == [f"mlp.py: this is Python 2 code: {idiom}: kept as handed in (the grader reports it)"]


def test_a_syntax_error_that_is_not_python_2_is_not_called_python_2():
    log = []
    assert from_script(b"def f(:\n    pass\n", "mlp.py", log) is None
    assert log == ["mlp.py: not Python 3 (invalid syntax at line 1): kept as handed in (the grader reports it)"]


def test_a_notebook_beside_mlp_py_is_left_behind(tmp_path):
    folder = take_in(tmp_path, {"mlp.py": CORRECT.encode(), "mlp.ipynb": CLASS_NOTEBOOK})
    assert sorted(p.name for p in folder.iterdir()) == ["mlp.py"]
    assert log_of(folder)[0] == "dropped mlp.ipynb: mlp.py is graded: a notebook is taken only instead of it"


@pytest.mark.parametrize("name", spec.names())
def test_each_handout_states_what_top_level_work_costs(name):
    assignment = spec.assignment(name)
    points = assignment.rubric[spec.PENALISED_CHECK].points
    says = {"accept": "In this course that costs no points.",
            "penalise": f"In this course that costs the {points:g} points of {spec.PENALISED_CHECK}."}
    assert says[assignment.contract.top_level_work] in (ROOT / assignment.contract.handout).read_text()


def test_the_only_notebook_is_taken_whatever_its_name_and_several_are_refused(tmp_path):
    folder = take_in(tmp_path, {"HW2 MLP.ipynb": CLASS_NOTEBOOK})
    assert sorted(p.name for p in folder.iterdir()) == ["mlp.py"]
    assert log_of(folder)[:2] == ["renamed HW2 MLP.ipynb to mlp.ipynb (the only notebook, and no mlp.py)",
                                  f"read mlp.ipynb ({len(CLASS_NOTEBOOK)} bytes)"]
    other = take_in(tmp_path / "two", {"a.ipynb": CLASS_NOTEBOOK, "b.ipynb": CLASS_NOTEBOOK})
    assert list(other.iterdir()) == []
    assert log_of(other) == ["dropped a.ipynb: one of several notebooks (a.ipynb, b.ipynb) and none is named mlp.ipynb",
                             "dropped b.ipynb: one of several notebooks (a.ipynb, b.ipynb) and none is named mlp.ipynb"]


def test_a_notebook_without_definitions_gives_an_empty_module_that_says_so():
    log = []
    empty = from_notebook(notebook(), "mlp.ipynb", log)
    assert empty == b"# grader intake: graded the definitions of mlp.ipynb: no cell kept\n\n\n"
    log = []
    work = from_notebook(notebook(new_markdown_cell("x"), new_code_cell("print(1)")), "mlp.ipynb", log)
    assert work.decode().splitlines()[0] == (
        "# grader intake: graded the definitions of mlp.ipynb: no cell kept; 2 (printing) left out")
