"""The bug zoo: realistic submissions with exactly one mistake each, and correct ones
written in unusual ways (tests/zoo/<name>/mlp.py).

Each folder's expect.toml says what the grader must make of it:

- `lose`: the categories that must lose points (the mistake's own category);
  an `assignment.toml` beside mlp.py says which assignment the entry answers (cls-*:
  mlp-classification, sin-*: sin-fit; none: mlp-regression);
- `may_lose`: other checks or categories allowed to lose points as consequences of the
  same mistake (train() calls backward(), so a backward mistake may cost
  training.trajectory); every other code check must keep full points;
- `hint`: the diagnosis id the failed checks must carry ("" for a correct submission),
  and no failed check may carry another;
- `known_false_positives`: checks known to fail this submission wrongly (strict xfail:
  the test fails once they pass, so the entry gets cleaned up);
- `checkpoint`: for checkpoint-only entries, the builder below that writes model.pth
  into a temporary copy (no binaries in the repository); only checkpoint.loads is graded.

The zoo is graded once per session, in parallel worker processes (ZOO_WORKERS, default 2),
exactly as a class is. The table of expected against diagnosed hints is printed at the end
of the session.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import oracle, spec
from grader.diagnosis import backward as backward_diagnosis
from grader.diagnosis import forward as forward_diagnosis
from grader.diagnosis import init as init_diagnosis
from grader.diagnosis import probe
from grader.diagnosis.fit import fits, fits_variant
from grader.spec import Dims
from grader.submission import Submission

ZOO = Path(__file__).parent / "zoo"
REGRESSION = spec.assignment("mlp-regression").contract
ENTRIES = sorted(p.name for p in ZOO.iterdir() if (p / "expect.toml").is_file())
WORKERS = int(os.environ.get("ZOO_WORKERS", "2"))
CHECKPOINT_CHECKS = ["checkpoint.loads"]


@dataclass(frozen=True)
class Expectation:
    name: str
    hint: str
    lose: tuple[str, ...]
    may_lose: tuple[str, ...]
    known_false_positives: tuple[str, ...] = ()
    checkpoint: str | None = None

    @classmethod
    def load(cls, name: str) -> "Expectation":
        raw = tomllib.loads((ZOO / name / "expect.toml").read_text(encoding="utf-8"))
        return cls(name, raw["hint"], tuple(raw["lose"]), tuple(raw["may_lose"]),
                   tuple(raw.get("known_false_positives", ())), raw.get("checkpoint"))

    @property
    def buggy(self) -> bool:
        return bool(self.hint)

    def may_lose_points(self, check_id: str, category: str) -> bool:
        allowed = {*self.lose, *self.may_lose, *self.known_false_positives}
        return check_id in allowed or category in allowed


def code_checks(folder: Path) -> list[str]:
    """The code checks of the assignment the folder answers (its assignment.toml)."""
    assignment, _ = Submission(folder).assignment()
    return [c.id for c in assignment.rubric.checks if c.category != "checkpoint"]


# -- checkpoint builders (named by expect.toml's `checkpoint`) ---------------------------

def contract_state() -> dict[str, torch.Tensor]:
    c = REGRESSION
    generator = torch.Generator().manual_seed(0)
    return {name: torch.rand(shape, generator=generator) - 0.5 for name, shape in c.param_shapes(c.dims).items()}


def state_dict(folder: Path) -> None:
    torch.save(contract_state(), folder / "model.pth")


def renamed_keys(folder: Path) -> None:
    names = {"W1": "fc1.weight", "b1": "fc1.bias", "W2": "fc2.weight", "b2": "fc2.bias"}
    torch.save({names[k]: v for k, v in contract_state().items()}, folder / "model.pth")


def transposed(folder: Path) -> None:
    state = contract_state()
    torch.save({k: v.T.contiguous() if v.ndim == 2 else v for k, v in state.items()}, folder / "model.pth")


def pickled_model(folder: Path) -> None:
    """torch.save of the student's model object itself (its class pickled by reference)."""
    loader = importlib.util.spec_from_file_location("mlp", folder / "mlp.py")
    module = importlib.util.module_from_spec(loader)
    sys.modules["mlp"] = module
    try:
        loader.loader.exec_module(module)
        torch.save(module.TwoLayerMLP(), folder / "model.pth")
    finally:
        del sys.modules["mlp"]


BUILDERS = {f.__name__: f for f in (state_dict, renamed_keys, transposed, pickled_model)}
CHECKPOINT_CODE = ZOO / "ok-functional" / "mlp.py"


def prepare(expect: Expectation, scratch: Path) -> tuple[Path, list[str]]:
    """The folder to grade and the checks to run."""
    if expect.checkpoint is None:
        return ZOO / expect.name, code_checks(ZOO / expect.name)
    folder = scratch / expect.name
    folder.mkdir(parents=True)
    shutil.copy(CHECKPOINT_CODE, folder / "mlp.py")
    BUILDERS[expect.checkpoint](folder)
    return folder, CHECKPOINT_CHECKS


# -- grading, in worker processes ---------------------------------------------------------

@dataclass
class Graded:
    """What the test needs of one graded check (plain data, sent back from a worker)."""

    category: str
    score: float
    points: float
    ids: tuple[str, ...]
    hint: str | None
    message: str

    @property
    def lost(self) -> bool:
        return self.score < self.points - 1e-9


@dataclass
class Result:
    checks: dict[str, Graded] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def diagnosed(self) -> set[str]:
        return {i for c in self.checks.values() for i in c.ids}


def init_worker() -> None:
    torch.set_num_threads(1)


def grade_entry(path: str, only: list[str]) -> Result:
    from grader import engine

    started = time.perf_counter()
    graded = engine.grade(Path(path), only=only)
    result = Result(seconds=time.perf_counter() - started)
    for o in graded.outcomes:
        ids = tuple((o.details.get("diagnosis") or {}).get("ids") or ())
        result.checks[o.check.id] = Graded(o.check.category, o.score, o.check.points, ids, o.hint, o.message[:600])
    return result


class ConfusionTable:
    """A pytest plugin (registered by the fixture) that prints expected vs diagnosed hints."""

    def __init__(self, results: dict[str, Result], seconds: float):
        self.results = results
        self.seconds = seconds

    def rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for name, result in self.results.items():
            expected = Expectation.load(name).hint or "-"
            diagnosed = ", ".join(sorted(result.diagnosed)) or "-"
            rows.append((name, expected, diagnosed, "ok" if expected == diagnosed else "MISMATCH"))
        return sorted(rows, key=lambda r: (r[1] == "-", r[1], r[0]))

    def pytest_terminal_summary(self, terminalreporter) -> None:
        rows = self.rows()
        widths = [max(len(r[i]) for r in rows + [("entry", "expected hint", "diagnosed", "")]) for i in range(3)]
        terminalreporter.write_sep("=", "bug zoo: expected vs diagnosed hint")
        header = ("entry", "expected hint", "diagnosed")
        terminalreporter.write_line("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for row in rows:
            terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[3])
        good = sum(r[3] == "ok" for r in rows)
        slowest = max(self.results.items(), key=lambda kv: kv[1].seconds)
        terminalreporter.write_line(f"{good}/{len(rows)} as expected; graded in {self.seconds:.0f} s with {WORKERS} "
                                    f"workers (slowest: {slowest[0]}, {slowest[1].seconds:.0f} s)")


@pytest.fixture(scope="module")
def zoo(request, tmp_path_factory) -> dict[str, Result]:
    scratch = tmp_path_factory.mktemp("zoo")
    jobs = {name: prepare(Expectation.load(name), scratch) for name in ENTRIES}
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no fork of a process that has run torch
    with ProcessPoolExecutor(WORKERS, mp_context=context, initializer=init_worker) as pool:
        futures = {name: pool.submit(grade_entry, str(path), only) for name, (path, only) in jobs.items()}
        results = {name: future.result() for name, future in futures.items()}
    request.config.pluginmanager.register(ConfusionTable(results, time.perf_counter() - started), "zoo-confusion-table")
    return results


def test_zoo_has_enough_entries():
    expectations = [Expectation.load(name) for name in ENTRIES]
    code = [e for e in expectations if e.checkpoint is None]
    assert sum(e.buggy for e in code) >= 25 and sum(not e.buggy for e in code) >= 6


# The mistakes issue 15 asks every assignment to name, where its maths has them (no factor
# 2 in a cross-entropy, no weight decay outside mlp-classification, Xavier's formula
# symmetric in its fans): each has a one-bug entry of that assignment in the zoo.
ISSUE_15 = {
    "mlp-regression": {"backward.missing_factor_2", "backward.missing_mean", "backward.transposed"},
    "mlp-classification": {"backward.missing_mean", "training.loss_summed", "backward.weight_decay_doubled",
                           "backward.weight_decay_divided_by_n", "backward.weight_decay_halved",
                           "training.decay_in_step", "backward.weight_decay_on_biases", "backward.labels_as_one_hot",
                           "backward.softmax_wrong_axis", "init.fans_swapped"},
    "sin-fit": {"backward.missing_factor_2", "backward.missing_mean", "backward.tanh_derivative_wrong",
                "backward.transposed"},
}


@pytest.mark.parametrize("assignment", sorted(ISSUE_15))
def test_every_mistake_of_issue_15_has_a_one_bug_entry(assignment):
    hints = {Expectation.load(name).hint for name in ENTRIES
             if Submission(ZOO / name).assignment()[0].name == assignment and Expectation.load(name).checkpoint is None}
    assert ISSUE_15[assignment] <= hints, sorted(ISSUE_15[assignment] - hints)
    assert "" in hints  # and a correct submission of that assignment, which must get no hint


@pytest.mark.parametrize("name", ENTRIES)
@pytest.mark.slow
def test_zoo_entry(zoo, name):
    expect = Expectation.load(name)
    checks = zoo[name].checks
    lost = {cid: c for cid, c in checks.items() if c.lost}

    for category in expect.lose:
        assert any(c.category == category for c in lost.values()), f"{name}: lost no points in {category}"
    unexpected = {cid: c.message for cid, c in lost.items() if not expect.may_lose_points(cid, c.category)}
    assert not unexpected, f"{name}: lost points it should keep: {unexpected}"

    diagnosed = zoo[name].diagnosed
    wanted = {expect.hint} if expect.hint else set()
    assert diagnosed == wanted, f"{name}: diagnosed {sorted(diagnosed)}, expected {sorted(wanted)}; hints: " + \
        str({cid: c.hint for cid, c in checks.items() if c.hint})

    fixed = [cid for cid in expect.known_false_positives if cid not in lost]
    assert not fixed, f"{name}: {fixed} no longer fail wrongly: remove them from known_false_positives"
    if expect.known_false_positives:
        pytest.xfail(f"known false positive of {', '.join(expect.known_false_positives)} (see expect.toml)")


# -- the diagnoses on their own: right values get no hint, each mistake is told apart -----

def _f32(arrays: dict) -> dict:
    return {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in arrays.items()}


BACKWARD_MISTAKES = {
    "correct": lambda p, ref: ref,
    "backward.missing_factor_2": lambda p, ref: {k: 0.5 * v for k, v in ref.items()},
    "backward.sign_flipped": lambda p, ref: {k: -v for k, v in ref.items()},
    "backward.missing_mean": lambda p, ref: {k: p.n * v for k, v in ref.items()},
    "backward.fixed_batch_divisor": lambda p, ref: {k: p.n / 256 * v for k, v in ref.items()},
    "backward.bias_averaged": lambda p, ref: {k: v / p.n if k.startswith("b") else v for k, v in ref.items()},
    "backward.transposed": lambda p, ref: {k: v.T if v.ndim == 2 else v for k, v in ref.items()},
    "backward.relu_derivative_missing": lambda p, ref: backward_diagnosis.variant(REGRESSION, p, "derivative.missing"),
    "backward.stale_cache": lambda p, ref: backward_diagnosis.variant(REGRESSION, p, "stale_cache"),
}


@pytest.mark.parametrize("mistake", BACKWARD_MISTAKES)
def test_backward_diagnosis_tells_mistakes_apart(mistake):
    c = REGRESSION
    found = backward_diagnosis.make_probes(c, Dims(4, 6, 1))
    refs = [oracle.gradients(c, p.params, p.X, p.y) for p in found]
    for p, ref in zip(found, refs):
        p.got = _f32(BACKWARD_MISTAKES[mistake](p, ref))
    tol = spec.tolerances()["backward"]
    kinds = {backward_diagnosis.explain(c, name, found, refs, tol)[0] for name in c.param_names}
    assert kinds - {"correct"} == ({mistake} if mistake != "correct" else set())


def test_forward_diagnosis_tells_every_candidate_apart():
    c = REGRESSION
    params, [(X, _)] = probe.generic(c, Dims(4, 4, 4), "forward", [5])
    reference = oracle.forward(c, params, X)
    tol = spec.tolerances()["forward"]
    outputs = dict(forward_diagnosis.variants(c, params, X))
    for names, output in outputs.items():
        got = np.asarray(output, dtype=np.float32).astype(np.float64)
        assert [n for n, o in outputs.items() if fits_variant(got, o, reference, tol)] == [names]
        assert not fits(got, reference, tol)


@pytest.mark.parametrize("seed", range(5))
def test_init_diagnosis_names_nothing_in_a_right_init(seed):
    c = REGRESSION
    torch.manual_seed(seed)
    params = {}
    for name, shape in c.param_shapes(c.dims).items():
        a = init_diagnosis.xavier_bound(shape[-1], shape[0]) if len(shape) == 2 else 0.0
        params[name] = ((torch.rand(shape) * 2 - 1) * a).double().numpy()
    assert not init_diagnosis.weights(c, params).findings
    assert not init_diagnosis.biases(params).findings


@pytest.mark.slow
def test_the_checks_work_without_the_diagnoses():
    """The student kit leaves grader/diagnosis out (its variants spell out the solution)
    and ships a known_diagnoses.py that registers none: the checks must import and fail as
    usual without them, only with no hint."""
    script = (
        "import sys, types\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[:2] == ['grader', 'diagnosis']:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from grader import kit\n"
        "kits = types.ModuleType('grader.known_diagnoses')\n"
        "exec(kit.NO_DIAGNOSES, kits.__dict__)\n"
        "sys.modules['grader.known_diagnoses'] = kits\n"
        "from grader import engine\n"
        "for name, check in (('tr-step-adds', 'training.step'), ('init-nonzero-biases', 'init.zero_biases')):\n"
        "    [o] = engine.grade(sys.argv[1] + '/' + name, only=[check]).outcomes\n"
        "    print(o.check.id, o.status, o.hint, 'grader.diagnosis' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script, str(ZOO)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("\n")[:2] == ["training.step failed None False", "init.zero_biases failed None False"]
