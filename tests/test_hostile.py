"""Hostile and broken submissions (tests/hostile/) are graded without harm.

For each one, graded with `engine.grade` and only the checks it targets, the tests assert:
a result with a clear reason in the failing check; no points it did not earn; no process it
started still running (its processes carry the worker folder's name or the file's MARKER
in their command line); nothing outside its temporary folder changed (hashes of the repo's
reference/, reports/ and example submission, and of a classmate's folder and a reports
folder laid out beside it). A correct submission graded before and after the whole batch
gets the same results.

The behaviours contained by different means with and without bubblewrap (processes, and a
hang and a memory bomb as samples of the rest) are graded in both sandbox modes; the ones
only bubblewrap can stop (reading or writing other files, the network) with bubblewrap
only; the others once, in the default mode (tests/test_worker.py covers crashes, exits,
segfaults, hangs and output in both modes).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from grader import engine
from grader.worker import sandbox
from grader.results import SubmissionResult
from grader.worker.client import TIMEOUT_ENV

pytestmark = pytest.mark.slow  # hostile submissions graded for real

REPO = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).parent / "hostile"
CORRECT = REPO / "submissions" / "example-correct"
# Calls that hang get a short timeout; every other call a generous one, so that a loaded
# machine cannot turn a memory or process failure into a timeout.
HANG_TIMEOUT = 2.0
TIMEOUT = 10.0
HANGS = ("import_loop", "forward_loop")
CAP = int(sandbox.spec.limits()["size"]["max_output_bytes"])
LIMIT = int(sandbox.spec.limits()["process"]["max_processes"])

ONLY = {
    "import_loop": ["structure.imports"],
    "forward_loop": ["forward.matches_reference"],
    "exit_at_import": ["structure.imports"],
    "os_exit_backward": ["backward.matches_reference", "structure.state_dict"],
    "segfault": ["forward.matches_reference"],
    "memory_bomb": ["structure.imports"],
    "spawn_sleepers": ["structure.imports"],
    "fork_sleepers": ["forward.matches_reference"],
    "print_flood": ["structure.imports", "structure.api"],
    "copy_others": ["init.zero_biases"],
    "write_outside": ["structure.imports"],
    "network": ["structure.imports"],
    "nan_everywhere": ["init.xavier_bound", "forward.matches_reference"],
    "tensor_subclass": ["forward.matches_reference"],
    "monkeypatch_compare": ["structure.state_dict"],
    "pickle_bomb": ["checkpoint.loads"],
}
# Contained by different means with and without bubblewrap (PID namespace and the worker's
# own uid, or the host's watchdog and sweep): graded in both modes.
BOTH_MODES = ("import_loop", "memory_bomb", "spawn_sleepers", "fork_sleepers")
# Only bubblewrap stops these.
NEEDS_BWRAP = ("copy_others", "write_outside", "network")
# The same code path in both modes (tests/test_worker.py runs its probes in both): graded
# once, in the default mode.
ONCE = ("forward_loop", "os_exit_backward", "segfault", "print_flood", "exit_at_import", "nan_everywhere",
        "tensor_subclass", "monkeypatch_compare", "pickle_bomb")
CORRECT_CHECKS = ["structure.imports", "structure.api", "structure.state_dict", "init.zero_biases", "init.xavier_bound"]

BWRAP = sandbox.shutil.which("bwrap")
HAS_BWRAP = bool(BWRAP) and sandbox.bwrap_problem(BWRAP) is None
MODES = (["bwrap"] if HAS_BWRAP else []) + ["none"]
DEFAULT_MODE = MODES[0]


@dataclass
class Graded:
    """One hostile submission's grading and what it left behind."""

    result: SubmissionResult
    folder: Path
    survivors: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    knocks: int = 0

    def outcome(self, check_id: str):
        return next(o for o in self.result.outcomes if o.check.id == check_id)


@dataclass
class Batch:
    mode: str
    before: SubmissionResult
    graded: dict[str, Graded]
    after: SubmissionResult

    def __getitem__(self, name: str) -> Graded:
        return self.graded[name]


def names_for(mode: str) -> tuple[str, ...]:
    return BOTH_MODES + (NEEDS_BWRAP if mode == "bwrap" else ()) + (ONCE if mode == DEFAULT_MODE else ())


BWRAP_ONLY = ["bwrap"] if HAS_BWRAP else []
_BATCHES: dict[str, Batch] = {}


@pytest.fixture
def batch(mode, tmp_path_factory) -> Batch:
    """The batch of this mode, graded once for the module: the correct example, every
    hostile submission of the mode, the correct example again."""
    if mode not in _BATCHES:
        _BATCHES[mode] = run_batch(mode, tmp_path_factory)
    return _BATCHES[mode]


def run_batch(mode: str, tmp_path_factory) -> Batch:
    sandbox.runtime_dir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sandbox.MODE_ENV, mode)
        mp.setenv(TIMEOUT_ENV, str(TIMEOUT))
        before = engine.grade(CORRECT, only=CORRECT_CHECKS)
        graded = {}
        for name in names_for(mode):
            mp.setenv(TIMEOUT_ENV, str(HANG_TIMEOUT if name in HANGS else TIMEOUT))
            graded[name] = grade_hostile(name, tmp_path_factory.mktemp(name))
        mp.setenv(TIMEOUT_ENV, str(TIMEOUT))
        after = engine.grade(CORRECT, only=CORRECT_CHECKS)
    return Batch(mode, before, graded, after)


def grade_hostile(name: str, tmp: Path) -> Graded:
    """Lay out <tmp>/submissions/<name>-<token> beside a classmate and a reports folder,
    grade it, then look for survivors, changed files and connections."""
    folder = tmp / "submissions" / f"{name}-{uuid.uuid4().hex[:8]}"
    shutil.copytree(HOSTILE / name, folder)
    shutil.copytree(CORRECT, tmp / "submissions" / "classmate")
    (tmp / "reports" / "students" / "classmate").mkdir(parents=True)
    (tmp / "reports" / "students" / "classmate" / "results.json").write_text('{"score": 41.0}')
    watched = [REPO / "reference", REPO / "reports", CORRECT, tmp / "submissions" / "classmate", tmp / "reports"]
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        (folder / "targets.json").write_text(json.dumps({
            "reference": str(REPO / "reference" / "mlp.py"), "classmate": str(tmp / "submissions" / "classmate" / "mlp.py"),
            "reports": str(tmp / "reports"), "port": server.getsockname()[1]}))
        if name == "pickle_bomb":
            arm_pickle(folder / "model.pth", tmp / "PWNED")
        before = snapshot(watched)
        result = engine.grade(folder, only=ONLY[name])
        graded = Graded(result, folder, knocks=knocks(server))
    graded.survivors = survivors([f"mlp-grader-{folder.name}-", marker_of(name)])
    graded.changed = changed(before, snapshot(watched))
    return graded


# ------------------------------------------------------------------ what is looked at

def marker_of(name: str) -> str:
    for line in (HOSTILE / name / "mlp.py").read_text().splitlines():
        if line.startswith("MARKER = "):
            return line.split("=", 1)[1].strip().strip('"')
    return f"mlp-hostile-marker-{name}"


def survivors(markers: list[str], seconds: float = 3.0) -> list[str]:
    """Command lines of live processes that carry a marker (a few seconds' grace for the
    kernel to finish killing)."""
    deadline = time.monotonic() + seconds
    while True:
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
                state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and any(m.encode() in cmdline for m in markers):
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:300])
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def snapshot(folders: list[Path]) -> dict[str, str]:
    hashes = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def knocks(server: socket.socket) -> int:
    server.settimeout(0.2)
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return count
        conn.close()
        count += 1


def arm_pickle(path: Path, marker: Path) -> None:
    """A model.pth whose unpickling writes `marker`; prove it is live with an unsafe load,
    then remove the marker again."""

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    torch.save({"W1": Payload(), "b1": torch.zeros(512), "W2": torch.zeros(1, 512), "b2": torch.zeros(1)}, path)
    torch.load(path, weights_only=False)  # all it does is write the marker
    assert marker.exists(), "the payload should run when loaded unsafely"
    marker.unlink()


def assert_contained(graded: Graded) -> None:
    assert graded.survivors == [], "processes outlived the grading"
    assert graded.changed == [], "files outside the submission's temporary folder changed"


def assert_fails(graded: Graded, check_id: str, *words: str, status: str | None = None) -> None:
    outcome = graded.outcome(check_id)
    assert outcome.score == 0.0, f"{check_id} earned {outcome.score}"
    if status:
        assert outcome.status == status
    for word in words:
        assert word in outcome.message, f"{word!r} not in {outcome.message!r}"


def assert_full(graded: Graded, check_id: str) -> None:
    outcome = graded.outcome(check_id)
    assert outcome.score == outcome.check.points, outcome.message


# ------------------------------------------------------------------ the batch as a whole

def comparable(result: SubmissionResult) -> list[tuple]:
    return [(o.check.id, o.status, o.score, o.message, json.dumps(o.details, sort_keys=True, default=str), o.output)
            for o in result.outcomes]


@pytest.mark.parametrize("mode", MODES)
def test_a_correct_submission_gets_the_same_results_after_the_hostile_batch(batch):
    assert all(o.status == "passed" for o in batch.before.outcomes), comparable(batch.before)
    assert comparable(batch.after) == comparable(batch.before)
    assert batch.after.notes == batch.before.notes


@pytest.mark.parametrize("mode", MODES)
def test_results_say_how_isolated_the_grading_was(batch):
    note = [n for n in batch.before.notes if n.startswith("reduced isolation")]
    if batch.mode == "bwrap":
        assert note == []
    else:
        assert len(note) == 1 and "turned off" in note[0]


# ------------------------------------------------------------------ process-level behaviours

@pytest.mark.parametrize("mode", MODES)
def test_import_loop_times_out_at_import(batch):
    graded = batch["import_loop"]
    assert_fails(graded, "structure.imports", f"import mlp.py did not finish within {HANG_TIMEOUT:g} s",
                 "Hint: importing mlp.py must only define things", status="error")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_forward_loop_gets_nothing_for_forward(batch):
    graded = batch["forward_loop"]
    assert_fails(graded, "forward.matches_reference", f"forward() did not finish within {HANG_TIMEOUT:g} s", status="error")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_os_exit_in_backward_fails_backward_only(batch):
    graded = batch["os_exit_backward"]
    assert_fails(graded, "backward.matches_reference", "the process exited with code 0", "during backward()",
                 status="error")
    assert_full(graded, "structure.state_dict")  # the next call is served as usual
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_segfault_is_reported_as_such(batch):
    graded = batch["segfault"]
    assert_fails(graded, "forward.matches_reference", "segmentation fault (signal 11, SIGSEGV) during forward()",
                 status="error")
    assert_contained(graded)


@pytest.mark.parametrize("mode", MODES)
def test_memory_bomb_hits_the_memory_limit(batch):
    graded = batch["memory_bomb"]
    mb = int(sandbox.spec.limits()["memory"]["data_bytes"]) // 2**20
    assert_fails(graded, "structure.imports", "can't allocate memory", f"allows {mb} MB of memory")
    assert_contained(graded)


@pytest.mark.parametrize("mode", MODES)
def test_spawned_sleepers_fail_the_import_and_are_all_killed(batch):
    graded = batch["spawn_sleepers"]
    # bubblewrap: the 17th process cannot start (RLIMIT_NPROC of the worker's own uid);
    # fallback as root: the host's watchdog stops the call. Both name the limit.
    assert_fails(graded, "structure.imports", f"at most {LIMIT} processes")
    assert_contained(graded)


@pytest.mark.parametrize("mode", MODES)
def test_forked_sleepers_fail_forward_and_are_all_killed(batch):
    graded = batch["fork_sleepers"]
    assert_fails(graded, "forward.matches_reference", f"at most {LIMIT} processes")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_print_flood_is_capped_and_earns_what_the_code_earns(batch):
    graded = batch["print_flood"]
    assert_full(graded, "structure.imports")
    assert_full(graded, "structure.api")
    output = graded.outcome("structure.imports").output
    assert len(output) < CAP + 200
    assert "more bytes of output not kept]" in output
    dropped = int(output.rsplit("[... ", 1)[1].split()[0])
    assert dropped + CAP >= 100 * 1024 * 1024
    assert_contained(graded)


# ------------------------------------------------------------------ what only bubblewrap stops

@pytest.mark.parametrize("mode", BWRAP_ONLY)
def test_copying_the_reference_or_a_classmate_finds_nothing(batch):
    graded = batch["copy_others"]
    assert_fails(graded, "init.zero_biases", "b1")  # its own code, not the copied one
    assert "copied from: []" in graded.outcome("init.zero_biases").output
    assert_contained(graded)


@pytest.mark.parametrize("mode", BWRAP_ONLY)
def test_writing_outside_its_folder_changes_nothing(batch):
    graded = batch["write_outside"]
    assert_full(graded, "structure.imports")  # the rest of the file is a plausible import
    # It believes it wrote into the reports folder: a copy of that path inside the
    # sandbox's private /tmp, gone with it. The classmate's file it could not even open.
    assert graded.outcome("structure.imports").output.startswith("wrote: [")
    assert "classmate" not in graded.outcome("structure.imports").output
    assert_contained(graded)


@pytest.mark.parametrize("mode", BWRAP_ONLY)
def test_no_network_connection_reaches_the_host(batch):
    graded = batch["network"]
    assert graded.knocks == 0
    assert "no network:" in graded.outcome("structure.imports").output
    assert_full(graded, "structure.imports")
    assert_contained(graded)


# ------------------------------------------------------------------ tricks the grader's design defeats

@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_exit_at_import_fails_the_import(batch):
    graded = batch["exit_at_import"]
    assert_fails(graded, "structure.imports", "SystemExit during import mlp.py: the code called sys.exit(0)",
                 status="error")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_nan_everywhere_is_named(batch):
    graded = batch["nan_everywhere"]
    assert_fails(graded, "init.xavier_bound", "NaN")
    assert_fails(graded, "forward.matches_reference", "NaN")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_a_tensor_subclass_cannot_fake_its_values(batch):
    graded = batch["tensor_subclass"]
    assert_fails(graded, "forward.matches_reference", "is a mlp.AlwaysRight, expected a torch.Tensor")
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_monkeypatched_comparisons_only_fool_the_worker(batch):
    graded = batch["monkeypatch_compare"]
    assert_fails(graded, "structure.state_dict", "is not the loaded value")
    # The grader's process compares, and its functions are the real ones.
    assert not np.allclose(0.0, 1.0) and not np.array_equal([0], [1]) and not torch.allclose(torch.zeros(1), torch.ones(1))
    assert_contained(graded)


@pytest.mark.parametrize("mode", [DEFAULT_MODE])
def test_a_malicious_pickle_runs_no_code(batch):
    graded = batch["pickle_bomb"]
    assert_fails(graded, "checkpoint.loads", "cannot be loaded with torch.load(weights_only=True)")
    assert not (graded.folder.parent.parent / "PWNED").exists()
    assert_contained(graded)


def test_a_conftest_in_the_submission_is_never_loaded(tmp_path):
    """`pytest submissions/` refuses the class while a folder holds a conftest.py, naming it
    (`grader intake` leaves it behind: tests/test_hostile_intake.py), and the conftest never
    even runs."""
    root = tmp_path / "submissions"
    shutil.copytree(HOSTILE / "conftest_cheat", root / "cheater")
    # Stored under another name, or `pytest tests` would load it while collecting tests/.
    (root / "cheater" / "conftest.py.hostile").rename(root / "cheater" / "conftest.py")
    (root / "honest").mkdir()
    shutil.copy(HOSTILE / "conftest_cheat" / "mlp.py", root / "honest" / "mlp.py")
    env = {**os.environ, TIMEOUT_ENV: str(TIMEOUT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(root), "-p", "no:cacheprovider", "-q", "--reports-dir", str(tmp_path / "reports"),
         "-k", "structure.imports or init.zero_biases"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert not (root / "cheater" / "CONFTEST_WAS_LOADED").exists(), result.stdout
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{root}/cheater/conftest.py: a conftest.py: pytest runs it in the grader's process" in result.stderr
    assert not (tmp_path / "reports").exists()
