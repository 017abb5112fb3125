"""Issue 13, graded as a class: every hostile submission of tests/hostile/ in one class with
two honest classmates, graded by `grader grade submissions/` as a TA runs it, with bubblewrap
and with bubblewrap hidden from PATH.

Asserted per mode: the run completes (never an internal error or a hang); every student has a
results.json and a report, and every check that lost points says why; a hostile student scores
below 100 unless its code is otherwise fine (then exactly 100); each honest classmate gets
exactly the results it gets graded alone, and its known score; no file outside the class's
copies changed or appeared (the repository's reference/, reports/ and submissions/, the
class folder), and no file named with a MARKER anywhere a submission might drop one; nothing
reached the test's listeners; nothing the run started, and no process carrying a MARKER,
is left running. docs/ISOLATION.md, "Graded as a class".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from grader.worker.client import TIMEOUT_ENV
from tests.test_hostile import (CORRECT, HAS_BWRAP, HOSTILE, NEEDS_BWRAP, REPO, arm_pickle, changed, marker_of,
                                snapshot, survivors)

pytestmark = pytest.mark.slow

# Hostile folders that are not plain submissions: the class run cannot give them what their
# point needs.
NOT_IN_CLASS = {
    "conftest_cheat": "its point is its conftest.py, and a class holding one is refused as a whole "
                      "(tests/test_hostile.py, tests/test_hostile_intake.py)",
}
# Hostile folders whose code is otherwise the correct one (tests/hostile/README.md): with a
# correct checkpoint they earn exactly 100, their hostile act changes nothing. (A row's "full
# points" may be for its targeted checks only: own_layers_module has no train() or state_dict.)
FINE = {
    "write_outside": "full points (the code is fine)",
    "print_flood": "full points, output capped at 16 KB",
    "network": "structure.imports full (tests/test_hostile.py); the rest is the correct code",
    "checkpoint_bomb": "the code itself is fine (its bomb is written by tests/test_hostile_sandbox.py)",
    "write_everywhere": "structure.imports full; the rest is the correct code",
    "phone_home": "every attempt fails; the rest is the correct code",
    # Not fine: huge_send reaches into sys.modules, ipc_leave and ipc_read import ctypes, and
    # the autograd scan names both as ways into the grader's or torch's internals (no_autograd.source).
}
# Files the test writes into a hostile copy before grading (the hostile part of it).
SETUP = {"pickle_bomb": lambda folder, class_root: arm_pickle(folder / "model.pth", class_root / "PWNED")}
# Honest classmates: one graded before every hostile student, one after all of them (and the
# one whose mlp.py the vandals aim at); their scores on main (tests/test_examples.py).
HONEST = {"adam": ("example-forgot-factor-2", 77.52), "zoe": ("example-correct", 100.0)}
TARGET = "zoe"
# Every call's timeout capped at 10 s (train(): 60 s otherwise); after a student's first
# timeout its calls get 3 s anyway. 2 s made honest calls time out on a loaded machine.
TIMEOUT = "10"
TIMINGS = {"execution_time", "started", "seconds", "student_seconds"}
MODES = [pytest.param("bwrap", marks=pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap cannot run here")),
         "hidden"]


def hostile_names(mode: str) -> list[str]:
    """Every folder of tests/hostile/ but those declared above; without bubblewrap, also not
    those only bubblewrap stops (tests/test_hostile.py: as root they would really write)."""
    skipped = {**NOT_IN_CLASS, **({} if mode == "bwrap" else dict.fromkeys(NEEDS_BWRAP))}
    return sorted(p.name for p in HOSTILE.iterdir() if p.is_dir() and p.name not in skipped)


# ------------------------------------------------------------------ building and grading a class

@dataclass
class ClassRun:
    root: Path  # holds submissions/ and reports/
    returncode: int
    output: str
    changed: list[str]
    marker_files: list[str]
    knocks: int
    survivors: list[str]


class Listeners:
    """What the hostile code is told to reach (targets.json): TCP, UDP, a named and an
    abstract unix socket, all listening; `knocks` counts what reached them."""

    def __init__(self, folder: Path):
        self.abstract_name = f"mlp-hostile-class-{uuid.uuid4().hex}"
        self.unix_path = str(folder / "grader.sock")
        self.sockets = [socket.create_server(("127.0.0.1", 0)), socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
                        socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)]
        for sock, address in zip(self.sockets[1:], [("127.0.0.1", 0), self.unix_path, "\0" + self.abstract_name]):
            sock.bind(address)
        for sock in self.sockets[2:]:
            sock.listen(8)

    def targets(self) -> dict:
        return {"port": self.sockets[0].getsockname()[1], "udp_port": self.sockets[1].getsockname()[1],
                "unix": self.unix_path, "abstract": self.abstract_name}

    def knocks(self) -> int:
        count = 0
        for sock in self.sockets:
            sock.settimeout(0.2)
            while True:
                try:
                    sock.recv(64) if sock.type == socket.SOCK_DGRAM else sock.accept()[0].close()
                except OSError:
                    break
                count += 1
        return count

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def outside_folders(root: Path) -> list[Path]:
    """Where a marker file must never appear: the class, its reports, a classmate, the
    repository, the machine's temporary folders and the grader's home."""
    return [root, root / "submissions", root / "submissions" / TARGET, root / "reports", REPO,
            Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path.home()]


def marker_files(root: Path, markers: list[str]) -> list[str]:
    return sorted(str(p) for folder in dict.fromkeys(outside_folders(root)) if folder.is_dir()
                  for p in folder.iterdir() if any(m in p.name for m in markers))


def build_class(root: Path, names: list[str], listeners: Listeners, token: str) -> list[str]:
    """<root>/submissions/: the hostile copies (each with targets.json, a unique MARKER and
    the correct checkpoint unless it has its own) and the honest classmates. Returns the markers."""
    subs = root / "submissions"
    for name, (example, _) in HONEST.items():
        shutil.copytree(REPO / "submissions" / example, subs / name)
    markers = []
    for name in names:
        folder = subs / name
        shutil.copytree(HOSTILE / name, folder)
        marker = marker_of(name)
        markers.append(f"{marker}-{token}")
        code = folder / "mlp.py"
        code.write_text(code.read_text().replace(f'"{marker}"', f'"{markers[-1]}"'))
        (folder / "targets.json").write_text(json.dumps({
            **listeners.targets(), "repo": str(REPO), "class": str(subs), "reference": str(REPO / "reference" / "mlp.py"),
            "ta_config": str(REPO / "ta" / "config.toml"), "classmate": str(subs / TARGET / "mlp.py"),
            "reports": str(root / "reports"), "outside": [str(p) for p in outside_folders(root)]}))
        if not (folder / "model.pth").exists():
            shutil.copy(CORRECT / "model.pth", folder / "model.pth")
        if name in SETUP:
            SETUP[name](folder, root)
    return markers


def environment(mode: str, tmp: Path) -> dict[str, str]:
    """bwrap: the sandbox required. hidden: `auto` with no bwrap on PATH, as on a machine
    without it. The worker's workdirs go under `tmp`, so a process left running names it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({TIMEOUT_ENV: TIMEOUT, "TMPDIR": str(tmp), "MLP_GRADER_SANDBOX": "bwrap" if mode == "bwrap" else "auto"})
    if mode == "hidden":
        env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if d and not os.path.exists(Path(d, "bwrap")))
    return env


def grade(root: Path, target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "grade", target], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1800)


def outside_the_copies(root: Path) -> dict[str, str]:
    """Hashes of everything the run must not change: the repository's reference, reports and
    examples, and the class folder but for what the grader writes there (the reports)."""
    written = (f"{root / 'reports'}{os.sep}",)
    hashes = snapshot([REPO / "reference", REPO / "reports", REPO / "submissions", root])
    return {path: digest for path, digest in hashes.items() if not path.startswith(written)}


def grade_class(mode: str, tmp: Path) -> ClassRun:
    root, workdirs = tmp / "class", tmp / "tmp"
    root.mkdir()
    workdirs.mkdir()
    listeners = Listeners(tmp)
    try:
        markers = build_class(root, hostile_names(mode), listeners, uuid.uuid4().hex[:8])
        before = outside_the_copies(root)
        done = grade(root, "submissions/", environment(mode, workdirs))
        return ClassRun(root, done.returncode, done.stdout + done.stderr,
                        changed(before, outside_the_copies(root)), marker_files(root, markers), listeners.knocks(),
                        survivors([*markers, str(tmp)]))
    finally:
        listeners.close()


def grade_alone(mode: str, name: str, tmp: Path) -> dict:
    """One honest classmate in a clean class of its own: `grader grade submissions/<name>`."""
    root = tmp / f"alone-{name}"
    shutil.copytree(REPO / "submissions" / HONEST[name][0], root / "submissions" / name)
    (tmp / "tmp").mkdir(exist_ok=True)
    done = grade(root, f"submissions/{name}", environment(mode, tmp / "tmp"))
    assert done.returncode == 0, done.stdout + done.stderr
    return results(root, name)


# ------------------------------------------------------------------ reading what it wrote

def report_folder(root: Path, name: str) -> Path:
    """Where a student's reports are: reports/students/<name>/, else reports/<name>/."""
    new = root / "reports" / "students" / name
    return new if (new / "results.json").exists() else root / "reports" / name


def results(root: Path, name: str) -> dict:
    return json.loads((report_folder(root, name) / "results.json").read_text())


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def lost_without_reason(data: dict) -> list[str]:
    return [t["extra_data"]["id"] for t in data["tests"]
            if t["score"] < t["max_score"] and not t["extra_data"]["message"].strip()]


# ------------------------------------------------------------------ the tests

_RUNS: dict[str, ClassRun] = {}


@pytest.fixture
def run(mode, tmp_path_factory) -> ClassRun:
    """The class of this mode, graded once for the module."""
    if mode not in _RUNS:
        _RUNS[mode] = grade_class(mode, tmp_path_factory.mktemp(f"class-{mode}"))
    return _RUNS[mode]


@pytest.mark.parametrize("mode", MODES)
def test_the_class_run_completes_and_everyone_gets_a_report_with_reasons(run, mode):
    assert run.returncode == 0, run.output[-5000:]
    for name in [*HONEST, *hostile_names(mode)]:
        folder = report_folder(run.root, name)
        assert (folder / "index.html").is_file(), name
        data = results(run.root, name)
        assert lost_without_reason(data) == [], name
        isolation = [n for n in data["extra_data"]["notes"] if n.startswith("reduced isolation")]
        if mode == "bwrap":
            assert isolation == [], name
        else:  # graded by the fallback, and told why
            assert [n.split(":")[1] for n in isolation] == [" bubblewrap (bwrap) is not installed"], name


@pytest.mark.parametrize("mode", MODES)
def test_no_hostile_student_earns_points_it_did_not_earn(run, mode):
    scores = {name: results(run.root, name)["score"] for name in hostile_names(mode)}
    assert {n: s for n, s in scores.items() if (s == 100) != (n in FINE)} == {}


@pytest.mark.parametrize("mode", MODES)
def test_honest_classmates_get_exactly_their_results_alone(run, mode, tmp_path):
    for name, (_, score) in HONEST.items():
        in_class = results(run.root, name)
        assert in_class["score"] == score, name
        assert without_timings(in_class) == without_timings(grade_alone(mode, name, tmp_path)), name


@pytest.mark.parametrize("mode", MODES)
def test_nothing_outside_the_copies_changed_nothing_connected_nothing_survives(run, mode):
    graded = sorted(p.parent.name for p in (run.root / "reports").rglob("results.json"))  # none planted
    assert {"changed": run.changed, "marker files": run.marker_files, "connections": run.knocks,
            "survivors": run.survivors, "results for": graded} == {
        "changed": [], "marker files": [], "connections": 0, "survivors": [],
        "results for": sorted([*HONEST, *hostile_names(mode)])}
