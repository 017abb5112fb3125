"""The sandbox's hostile suite (issue 13): submissions that read what they must not, leave
kernel state for the next student, write outside their folder, phone home, fill the disk,
bloat results.json through the worker's own send function, or hand in a checkpoint that
inflates, graded the way a TA grades: `pytest submissions/<name>` alone, and the whole
class in one `pytest submissions/`, with bubblewrap and without it (bwrap hidden from
PATH: the fallback, confined by Landlock and seccomp where the kernel has them).

Every run asserts: a results.json and an HTML report for each student, with a clear reason
in the failing check; no points the code did not earn; a classmate (graded last, after
every hostile one, by the same worker) gets exactly what it gets alone; no marker file
anywhere outside the copies; no connection reaches a listener of the test; nothing the
submissions started is left running.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from grader.worker import sandbox
from grader.worker.client import TIMEOUT_ENV

pytestmark = pytest.mark.slow  # whole classes of hostile submissions graded in the sandbox

REPO = Path(__file__).resolve().parent.parent
HOSTILE = Path(__file__).parent / "hostile"
CORRECT = REPO / "submissions" / "example-correct"
NAMES = ("checkpoint_bomb", "disk_fill", "huge_send", "ipc_leave", "ipc_read", "phone_home", "read_reference",
         "write_everywhere")
CLASSMATE = "zz-classmate"  # graded after every hostile submission of the class
CHECKS = "structure.imports or init.zero_biases or checkpoint.loads"
TIMEOUT = 20.0
LIMITS = sandbox.spec.limits()
DISK_MB = int(LIMITS["process"].get("max_disk_bytes", 0)) // 2**20
RESULTS_CAP = 1 << 20  # a results.json above 1 MB means something was not capped (the limit is 5 MB)
IPC_KEY = 0x6D6C7033  # tests/hostile/ipc_*/mlp.py
MARKERS = ("mlp-hostile-marker-", "mlp-grader-workdir-")

BWRAP = shutil.which("bwrap")
HAS_BWRAP = bool(BWRAP) and sandbox.bwrap_problem(BWRAP) is None
MODES = (["bwrap"] if HAS_BWRAP else []) + ["no-bwrap"]


@dataclass
class Run:
    """One `pytest submissions/...` run (or several, one per student) and what it left."""

    checks: dict[str, dict[str, dict]] = field(default_factory=dict)  # student -> check id -> test entry
    sizes: dict[str, int] = field(default_factory=dict)  # student -> bytes of results.json
    reports: dict[str, list[str]] = field(default_factory=dict)  # student -> files of their report folder
    stdout: str = ""


@dataclass
class Graded:
    mode: str
    alone: Run
    together: Run
    outside: list[str]  # marker files found outside the copies
    knocks: dict[str, int]  # listener -> connections that reached it
    survivors: list[str]


# ------------------------------------------------------------------ laying out a class

def arm_bomb(path: Path, inflated_bytes: int) -> None:
    """A valid torch checkpoint, except that its first tensor's record is a deflated run of
    zeros that inflates to `inflated_bytes` (the file stays a few hundred kB)."""
    source = io.BytesIO()
    torch.save({"W1": torch.zeros(512, 256), "b1": torch.zeros(512), "W2": torch.zeros(1, 512), "b2": torch.zeros(1)},
               source)
    source.seek(0)
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for info in zin.infolist():
            if not info.filename.endswith("/data/0"):
                zout.writestr(info, zin.read(info.filename))
                continue
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with zout.open(entry, "w", force_zip64=True) as out:
                chunk = bytes(1 << 20)
                for _ in range(inflated_bytes >> 20):
                    out.write(chunk)


class Listeners:
    """A TCP, a UDP, a named unix and an abstract unix socket the submissions may try."""

    def __init__(self, folder: Path):
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        folder.mkdir(mode=0o777, exist_ok=True)
        folder.chmod(0o777)
        self.unix_path = str(folder / "grader.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.abstract_name = f"mlp-grader-test-{os.getpid()}-{time.monotonic_ns()}"
        self.abstract = socket.socket(socket.AF_UNIX)
        self.abstract.bind("\0" + self.abstract_name)
        for s in (self.unix, self.abstract):
            s.listen(8)

    def targets(self) -> dict:
        return {"port": self.tcp.getsockname()[1], "udp_port": self.udp.getsockname()[1], "unix": self.unix_path,
                "abstract": self.abstract_name}

    def knocks(self) -> dict[str, int]:
        counts = {}
        for name, s in (("tcp", self.tcp), ("unix", self.unix), ("abstract", self.abstract)):
            s.settimeout(0.1)
            counts[name] = 0
            while True:
                try:
                    s.accept()[0].close()
                    counts[name] += 1
                except OSError:
                    break
        self.udp.settimeout(0.1)
        counts["udp"] = 0
        while True:
            try:
                self.udp.recv(64)
                counts["udp"] += 1
            except OSError:
                break
        return counts

    def close(self) -> None:
        for s in (self.tcp, self.udp, self.unix, self.abstract):
            s.close()


def outside_folders(root: Path) -> list[Path]:
    """Where write_everywhere drops its marker: the class, the reports, a classmate, the
    repository, the machine's temporary folders and the grader's home."""
    return [root, root / "submissions", root / "submissions" / CLASSMATE, root / "reports", REPO,
            Path(sandbox.tempfile.gettempdir()), Path("/var/tmp"), Path("/dev/shm"), Path.home()]


def lay_out(root: Path, listeners: Listeners) -> Path:
    submissions = root / "submissions"
    shutil.copytree(CORRECT, submissions / CLASSMATE)
    for name in NAMES:
        folder = submissions / name
        shutil.copytree(HOSTILE / name, folder)
        (folder / "targets.json").write_text(json.dumps({
            **listeners.targets(), "repo": str(REPO), "class": str(submissions),
            "reference": str(REPO / "reference" / "mlp.py"), "ta_config": str(REPO / "ta" / "config.toml"),
            "classmate": str(submissions / CLASSMATE / "mlp.py"),
            "outside": [str(p) for p in outside_folders(root)]}))
    arm_bomb(submissions / "checkpoint_bomb" / "model.pth", 4 * int(LIMITS["size"]["max_checkpoint_bytes"]))
    (root / "reports").mkdir()
    return submissions


# ------------------------------------------------------------------ grading and looking

def environment(mode: str, empty_bin: Path) -> dict[str, str]:
    env = {**os.environ, TIMEOUT_ENV: str(TIMEOUT), sandbox.MODE_ENV: "auto"}
    if mode == "no-bwrap":
        env["PATH"] = str(empty_bin)  # bwrap is not found: the fallback runs
    return env


def pytest_grade(target: Path, reports: Path, env: dict, run: Run) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(target), "-p", "no:cacheprovider", "-q", "--reports-dir", str(reports),
         "-k", CHECKS], cwd=target.parent if target.name != "submissions" else target.parent,
        env=env, capture_output=True, text=True, timeout=1200)
    run.stdout += result.stdout[-5000:] + result.stderr[-3000:]
    students = reports / "students"  # each student's results and page (the class files beside it)
    for folder in sorted(p for p in students.iterdir() if p.is_dir()) if students.is_dir() else []:
        results = folder / "results.json"
        if not results.is_file() or folder.name in run.checks:
            continue
        run.sizes[folder.name] = results.stat().st_size
        run.reports[folder.name] = sorted(p.name for p in folder.iterdir())
        data = json.loads(results.read_text())
        run.checks[folder.name] = {t["extra_data"]["id"]: t for t in data["tests"]}


def outside_markers(root: Path) -> list[str]:
    found = []
    for folder in outside_folders(root):
        found += [str(p) for p in folder.glob("mlp-hostile-marker-*")]
    return found


def survivors(seconds: float = 3.0) -> list[str]:
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
            if state != "Z" and b"mlp-hostile-marker-" in cmdline:
                found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def remove_leftovers(root: Path) -> None:
    """What an unconfined run (old code) may leave on this machine: markers, the IPC keys."""
    for path in outside_markers(root):
        Path(path).unlink(missing_ok=True)
    for flag in ("-M", "-Q", "-S"):
        subprocess.run(["ipcrm", flag, hex(IPC_KEY)], capture_output=True)
    tmp = Path(sandbox.tempfile.gettempdir())
    for path in [Path("/dev/shm/mlp-hostile-ipc"), Path("/dev/mqueue/mlp-hostile-ipc"), tmp / "mlp-hostile-ipc",
                 *tmp.glob("fill_*.bin")]:
        path.unlink(missing_ok=True)


_GRADED: dict[str, Graded] = {}


@pytest.fixture
def graded(mode, tmp_path_factory) -> Graded:
    if mode not in _GRADED:
        _GRADED[mode] = grade_class(mode, tmp_path_factory.mktemp(f"class-{mode}"))
    return _GRADED[mode]


def grade_class(mode: str, root: Path) -> Graded:
    (root / "bin").mkdir()
    listeners = Listeners(root / "sockets")
    try:
        submissions = lay_out(root, listeners)
        env = environment(mode, root / "bin")
        together, alone = Run(), Run()
        pytest_grade(submissions, root / "reports", env, together)
        for name in (*NAMES, CLASSMATE):
            (root / "alone" / name).mkdir(parents=True)
            pytest_grade(submissions / name, root / "alone" / name, env, alone)
        outside = outside_markers(root)
        return Graded(mode, alone, together, outside, listeners.knocks(), survivors())
    finally:
        listeners.close()
        remove_leftovers(root)


# ------------------------------------------------------------------ what every run shows

def runs(graded: Graded):
    return (("alone", graded.alone), ("in a class", graded.together))


def check(run: Run, student: str, check_id: str) -> dict:
    return run.checks[student][check_id]


def message(run: Run, student: str, check_id: str) -> str:
    return check(run, student, check_id)["extra_data"]["message"] or ""


def output(run: Run, student: str, check_id: str) -> str:
    return check(run, student, check_id)["extra_data"].get("output") or ""


@pytest.mark.parametrize("mode", MODES)
def test_every_student_gets_a_small_results_json_and_a_report(graded):
    for how, run in runs(graded):
        assert set(run.checks) == {*NAMES, CLASSMATE}, (how, run.stdout)
        for student, size in run.sizes.items():
            assert size < RESULTS_CAP, (how, student, size)
            assert any(name.endswith(".html") for name in run.reports[student]), (how, student, run.reports[student])
    # the terminal says plainly what student code could do (bubblewrap: nothing to say)
    assert ("reduced isolation: bubblewrap (bwrap) is not installed: " in graded.together.stdout) == \
        (graded.mode == "no-bwrap"), graded.together.stdout


@pytest.mark.parametrize("mode", MODES)
def test_the_classmate_graded_after_them_gets_what_it_gets_alone(graded):
    def seen(run):
        return {cid: (t["score"], t["extra_data"]["status"], t["extra_data"]["message"]) for cid, t in run.checks[CLASSMATE].items()}

    assert seen(graded.together) == seen(graded.alone)
    assert check(graded.alone, CLASSMATE, "structure.imports")["status"] == "passed"
    assert check(graded.alone, CLASSMATE, "init.zero_biases")["status"] == "passed"


@pytest.mark.parametrize("mode", MODES)
def test_no_student_gets_another_result_in_a_class_than_alone(graded):
    for student in NAMES:
        for cid, alone in graded.alone.checks[student].items():
            together = graded.together.checks[student][cid]
            assert (together["score"], together.get("status")) == (alone["score"], alone.get("status")), (student, cid)


@pytest.mark.parametrize("mode", MODES)
def test_nothing_is_left_running_or_written_outside_and_nothing_gets_out(graded):
    assert graded.survivors == []
    assert graded.outside == []
    assert graded.knocks == {"tcp": 0, "unix": 0, "abstract": 0, "udp": 0}


# ------------------------------------------------------------------ finding 2: reading what it must not

@pytest.mark.parametrize("mode", MODES)
def test_the_reference_the_ta_and_classmates_are_out_of_reach(graded):
    for how, run in runs(graded):
        assert output(run, "read_reference", "structure.imports").startswith("found: [] seen: []"), how
        # its own b1 (0.01) fails: the reference's TwoLayerMLP was never found
        assert check(run, "read_reference", "init.zero_biases")["score"] == 0.0, how
        assert "b1" in message(run, "read_reference", "init.zero_biases"), how


@pytest.mark.parametrize("mode", MODES)
def test_writing_outside_its_folder_fails_everywhere(graded):
    # bubblewrap's /tmp is the sandbox's own (emptied after each student): no file outside
    # the copies appears on the machine (test_nothing_is_left_running_or_written_outside...)
    allowed = "wrote outside: ['/tmp']" if graded.mode == "bwrap" else "wrote outside: []"
    for how, run in runs(graded):
        assert output(run, "write_everywhere", "structure.imports").startswith(allowed), how
        assert check(run, "write_everywhere", "structure.imports")["status"] == "passed", how


@pytest.mark.parametrize("mode", MODES)
def test_no_socket_reaches_anything(graded):
    for how, run in runs(graded):
        assert output(run, "phone_home", "structure.imports").startswith("reached: []"), how


# ------------------------------------------------------------------ finding 3: state that outlives a student

@pytest.mark.parametrize("mode", MODES)
def test_kernel_state_of_one_student_never_reaches_the_next(graded):
    for how, run in runs(graded):
        assert output(run, "ipc_read", "structure.imports").startswith("found: []"), how
        # what it could leave at all: only a file in its own temporary folder (emptied at release)
        assert output(run, "ipc_leave", "structure.imports").startswith("left: ['tmp']"), how


# ------------------------------------------------------------------ findings 7b, 7d, 7e

@pytest.mark.parametrize("mode", MODES)
def test_a_checkpoint_that_inflates_is_refused_unopened(graded):
    cap = int(LIMITS["size"]["max_checkpoint_bytes"])
    for how, run in runs(graded):
        assert check(run, "checkpoint_bomb", "checkpoint.loads")["score"] == 0.0, how
        text = message(run, "checkpoint_bomb", "checkpoint.loads")
        assert "model.pth unpacks to" in text and f"more than the {cap} allowed" in text, (how, text)
        assert check(run, "checkpoint_bomb", "structure.imports")["status"] == "passed", how


@pytest.mark.parametrize("mode", MODES)
def test_filling_the_disk_is_stopped_at_the_quota(graded):
    for how, run in runs(graded):
        text = message(run, "disk_fill", "structure.imports")
        assert check(run, "disk_fill", "structure.imports")["score"] == 0.0, how
        assert f"(the grader allows {DISK_MB} MB on disk)" in text, (how, text)
        assert "during import mlp.py" in text, (how, text)


@pytest.mark.parametrize("mode", MODES)
def test_a_wrapped_send_cannot_bloat_the_results(graded):
    for how, run in runs(graded):
        assert run.sizes["huge_send"] < 256 * 1024, (how, run.sizes["huge_send"])
        for cid, entry in run.checks["huge_send"].items():
            assert "A" * 5000 not in json.dumps(entry), (how, cid)
            assert entry["extra_data"]["message"] != "internal error in the grader (not your fault; tell the TA)"
        assert check(run, "huge_send", "init.zero_biases")["status"] == "passed", how  # its code is right


# ------------------------------------------------------------------ where nothing confines: what is never sent

def test_the_worker_is_never_sent_the_ta_seed_the_test_set_or_the_reference(monkeypatch):
    """Where nothing can confine student code (macOS), it could read any file; but the
    grader itself never hands the worker the TA's seed, a row of the hidden test set or the
    reference's code: hidden checks and the checkpoint metric compare in the grader."""
    from grader import data, engine, ta_config
    from grader.worker import client

    config = ta_config.load()
    if config is None:
        pytest.skip("no ta/config.toml here")
    sent: list[dict] = []
    send = client.HostProcess.send
    monkeypatch.setattr(client.HostProcess, "send", lambda self, message: (sent.append(message), send(self, message))[1])
    monkeypatch.setenv(sandbox.MODE_ENV, "none")
    monkeypatch.setenv(TIMEOUT_ENV, str(TIMEOUT))
    hidden = [c.id for c in sandbox.spec.assignment(sandbox.spec.DEFAULT).rubric.checks if c.visibility == "hidden"]
    result = engine.grade(CORRECT, only=hidden)
    assert all(o.status == "passed" for o in result.outcomes), [(o.check.id, o.message) for o in result.outcomes]
    X_test, _ = data.test_set(sandbox.spec.assignment(sandbox.spec.DEFAULT).contract, config.test_seed)

    def leaves(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    found = list(leaves(sent))
    assert sent and config.test_seed not in [v for v in found if isinstance(v, int) and not isinstance(v, bool)]
    rows = {X_test[i].astype("float64").tobytes() for i in range(len(X_test))}
    for array in (v for v in found if hasattr(v, "shape") and getattr(v, "ndim", 0) == 2):
        for row in array.astype("float64"):
            assert row.tobytes() not in rows, "a row of the hidden test set was sent to the worker"
    assert not any(isinstance(v, str) and "class TwoLayerMLP" in v for v in found)  # no code of the reference
