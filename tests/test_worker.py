"""The worker survives whatever one call does, and leaves nothing behind.

One probe submission misbehaves on demand: ``TwoLayerMLP(99, code, 1)`` runs behaviour
`code` (crash, exit, segfault, hang, flood, ...) and any other dims build a normal model.
So one worker (one torch import) serves a whole module of calls, in both sandbox modes;
after each misbehaving call an ordinary call must succeed in the same worker.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from grader import spec
from grader.worker import sandbox
from grader.worker.client import TIMEOUT_ENV, Worker, shutdown_hosts

pytestmark = pytest.mark.slow  # every test talks to a real worker process (torch preloaded, sandboxed)

MARKER = f"mlp-grader-worker-test-{os.getpid()}"
TIMEOUT = 3.0

PROBE = '''
import ctypes, json, os, resource, signal, subprocess, sys, tempfile, time

import torch

MARKER = {marker!r}


def report():
    names = ["RLIMIT_DATA", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE", "RLIMIT_CORE", "RLIMIT_CPU"]
    print(json.dumps({{"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(os.environ),
                      "limits": {{n: resource.getrlimit(getattr(resource, n)) for n in names}}}}))


def sleeper_in_own_session():
    subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(600)", MARKER],
                     start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fork_holding_pipes():
    if os.fork() == 0:  # keeps every pipe of the call open, then sleeps
        ctypes.CDLL(None).prctl(15, b"mlpholder", 0, 0, 0)  # PR_SET_NAME
        time.sleep(600)
        os._exit(0)


def fork_bomb():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)


BEHAVIOURS = {{
    1: lambda: 1 / 0,
    2: lambda: sys.exit(3),
    3: lambda: os._exit(5),
    4: lambda: ctypes.string_at(0),
    5: lambda: [None for _ in iter(int, 1)],
    6: lambda: sys.stdout.write("x" * 10_000_000),
    7: sleeper_in_own_session,
    8: lambda: (os.kill(os.getppid(), signal.SIGKILL), time.sleep(30)),
    9: fork_holding_pipes,
    10: report,
    11: lambda: bytearray(3 * 1024 ** 3),
    12: fork_bomb,
    13: lambda: open("big.bin", "wb").write(b"x" * (80 * 1024 * 1024)),
    14: lambda: print(next(CALLS)),
    15: lambda: open(os.path.join(tempfile.gettempdir(), "mlp-grader-leak"), "w").write("left by an earlier student"),
    16: lambda: print(json.dumps({{"uid": os.getuid(), "tmp": os.listdir(tempfile.gettempdir()), "workdir": workdir_listing()}})),
    17: lambda: locked_folder(os.path.join(tempfile.gettempdir(), "mlp-grader-locked")),
    18: lambda: print(processes_up_to_the_limit()),
    19: lambda: print(stop_everyone_else()),
    20: lambda: print(huge_pages_kb()),
}}


def huge_pages_kb():
    """The anonymous memory this process maps in huge pages (a child maps its host's)."""
    with open("/proc/self/smaps_rollup") as rollup:
        return next(int(line.split()[1]) for line in rollup if line.startswith("AnonHugePages:"))


def processes_up_to_the_limit():
    """This process and {max_processes} - 1 children at once: as many as allowed, no more."""
    children = []
    for _ in range({max_processes} - 1):
        try:
            pid = os.fork()
        except OSError:  # RLIMIT_NPROC also counts threads
            break
        if pid == 0:
            time.sleep(0.6)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    return len(children)


def stop_everyone_else():
    """SIGSTOP every process near this one that this code may signal, but itself (/proc
    may be out of sight: pids are guessed)."""
    stopped = 0
    for pid in range(max(2, os.getpid() - 300), os.getpid() + 300):
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped += 1
            except OSError:
                pass
    return stopped


def locked_folder(path):
    os.makedirs(path + "/inner")
    open(path + "/inner/left", "w").write("by an earlier student")
    os.chmod(path + "/inner", 0)
    os.chmod(path, 0)


def workdir_listing():
    try:
        return os.listdir("..")
    except OSError as exc:
        return type(exc).__name__
CALLS = iter(range(1, 1000))  # how many calls this import of mlp.py has served


class TwoLayerMLP:
    def __init__(self, in_dim=256, hidden_dim=512, out_dim=1):
        if in_dim == 99:
            BEHAVIOURS[hidden_dim]()
        self.W1 = torch.zeros(hidden_dim, in_dim)
        self.b1 = torch.zeros(hidden_dim)
        self.W2 = torch.zeros(out_dim, hidden_dim)
        self.b2 = torch.zeros(out_dim)
'''

MODES = ["none"] + (["bwrap"] if sandbox.shutil.which("bwrap") and sandbox.bwrap_problem(sandbox.shutil.which("bwrap")) is None else [])


def probe() -> str:
    return PROBE.format(marker=MARKER, max_processes=int(spec.limits()["process"]["max_processes"]))


@pytest.fixture(scope="module", params=MODES)
def worker(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "mlp.py").write_text(probe())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sandbox.MODE_ENV, request.param)
        mp.setenv(TIMEOUT_ENV, str(TIMEOUT))
        shutdown_hosts()  # a worker process of its own: starts are counted from here
        with Worker(folder) as w:
            w.mode = request.param
            yield w


def behave(worker: Worker, code: int):
    return worker.call("construct", dims=[99, code, 1])


def assert_still_serves(worker: Worker, starts: int = 1) -> None:
    """An ordinary call works afterwards, in the same worker unless a restart was due."""
    result = worker.call("construct", dims=[2, 3, 1])
    assert result.ok, result.problem()
    assert worker.starts == starts


def processes_named(text: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z" and (text.encode() in cmdline or f"({text})" in stat):
            found.append(int(entry.name))
    return found


def test_an_ordinary_call_works(worker):
    assert_still_serves(worker)


@pytest.mark.parametrize("code, status, words", [
    (1, "error", "ZeroDivisionError during TwoLayerMLP(99, 1, 1)"),
    (2, "error", "SystemExit during TwoLayerMLP(99, 2, 1): the code called sys.exit(3)"),
    (3, "crashed", "the process exited with code 5"),
    (4, "crashed", "the process crashed with a segmentation fault (signal 11, SIGSEGV)"),
    (5, "timeout", f"TwoLayerMLP(99, 5, 1) did not finish within {TIMEOUT:g} s"),
    (11, "error", "MemoryError during TwoLayerMLP(99, 11, 1)"),
    (13, "error", "OSError during TwoLayerMLP(99, 13, 1): [Errno 27] File too large"),
])
def test_a_failing_call_fails_alone_with_a_clear_message(worker, code, status, words):
    result = behave(worker, code)
    assert result.status == status
    assert words in result.problem()
    assert_still_serves(worker)


def test_a_hang_is_time_spent_in_student_code(worker):
    result = behave(worker, 5)
    assert result.status == "timeout"
    assert TIMEOUT <= result.student_seconds < TIMEOUT + 2
    assert_still_serves(worker, worker.starts)


def test_memory_failures_name_the_limit(worker):
    mb = int(spec.limits()["memory"]["data_bytes"]) // 2**20
    assert f"allows {mb} MB of memory" in behave(worker, 11).problem()


def test_output_is_captured_and_capped(worker):
    result = behave(worker, 6)
    cap = int(spec.limits()["size"]["max_output_bytes"])
    assert result.ok
    assert result.output == "x" * cap
    assert result.output_dropped == 10_000_000 - cap


def test_a_process_in_its_own_session_does_not_outlive_the_call(worker):
    result = behave(worker, 7)
    assert result.ok, result.problem()
    assert processes_named(MARKER) == []
    assert_still_serves(worker)


def test_a_forked_child_holding_the_pipes_neither_delays_nor_survives_the_call(worker):
    started = time.monotonic()
    result = behave(worker, 9)
    assert result.ok, result.problem()
    assert time.monotonic() - started < TIMEOUT
    assert processes_named("mlpholder") == []


def test_a_fork_bomb_is_stopped_and_cleaned_up(worker):
    result = behave(worker, 12)
    assert not result.ok
    limit = int(spec.limits()["process"]["max_processes"])
    # Where RLIMIT_NPROC applies the bomb cannot grow and runs into the timeout; as root
    # in the fallback the watchdog stops it.
    assert result.status == "timeout" or f"more than {limit} processes" in result.problem()
    assert_still_serves(worker)


def test_the_limits_and_environment_student_code_sees(worker):
    result = behave(worker, 10)
    assert result.ok, result.problem()
    seen = json.loads(result.output.splitlines()[0])
    limits = spec.limits()
    expected = {
        "RLIMIT_DATA": limits["memory"]["data_bytes"], "RLIMIT_AS": limits["memory"]["address_space_bytes"],
        "RLIMIT_NOFILE": limits["process"]["open_files"], "RLIMIT_FSIZE": limits["process"]["max_file_bytes"],
        "RLIMIT_CORE": 0, "RLIMIT_CPU": int(TIMEOUT) + 1,
    }
    for name, value in expected.items():
        assert seen["limits"][name][0] == value, name
    assert seen["limits"]["RLIMIT_NPROC"][0] >= limits["process"]["max_processes"]
    assert set(seen["env"]) - {"PWD", "TMPDIR"} == set(sandbox.clean_environment("/").keys())  # TMPDIR: the private tmp
    if worker.mode == "bwrap":
        assert seen["cwd"] == f"{sandbox.INSIDE_WORKDIR}/{worker.copy.name}"
        assert seen["limits"]["RLIMIT_NPROC"][0] == limits["process"]["max_processes"]
        if os.geteuid() == 0:
            assert seen["uid"] >= sandbox.UID_BASE, "as root, the worker must run as its own uid"


def test_killing_the_host_fails_that_call_and_a_fresh_worker_takes_over(worker):
    starts = worker.starts
    result = behave(worker, 8)
    # The submission runs as its own uid, or Landlock (ABI 6) scopes its signals to its own
    # processes: the host is out of its reach.
    if worker.uid is not None or sandbox.layers()[0] >= 6:
        assert result.status == "error" and "PermissionError" in result.problem()
        assert_still_serves(worker, starts)
        return
    assert result.status == "crashed"
    assert "took down the whole worker process" in result.problem()
    assert_still_serves(worker, starts + 1)


# -- sessions: the calls of one check share a child -----------------------------------

def counts(results) -> list[int]:
    assert all(r.ok for r in results), [r.problem() for r in results]
    return [int(r.output) for r in results]


def test_calls_of_one_session_share_one_import_and_others_do_not(worker):
    in_a = [worker.call("construct", dims=[99, 14, 1], session="a") for _ in range(3)]
    in_b = [worker.call("construct", dims=[99, 14, 1], session="b") for _ in range(2)]
    alone = [behave(worker, 14) for _ in range(2)]
    assert counts(in_a) == [1, 2, 3]
    assert counts(in_b) == [1, 2]
    assert counts(alone) == [1, 1]
    assert_still_serves(worker, worker.starts)


def test_an_exception_keeps_the_sessions_child_and_a_crash_or_hang_replaces_it(worker):
    worker.call("construct", dims=[2, 3, 1], session="c")
    assert counts([worker.call("construct", dims=[99, 14, 1], session="c")]) == [1]
    assert worker.call("construct", dims=[99, 1, 1], session="c").status == "error"
    assert counts([worker.call("construct", dims=[99, 14, 1], session="c")]) == [2]
    assert worker.call("construct", dims=[99, 3, 1], session="c").status == "crashed"
    assert counts([worker.call("construct", dims=[99, 14, 1], session="c")]) == [1]
    assert worker.call("construct", dims=[99, 5, 1], session="c").status == "timeout"
    assert counts([worker.call("construct", dims=[99, 14, 1], session="c")]) == [1]
    assert_still_serves(worker, worker.starts)


def test_output_is_kept_per_call_within_a_session(worker):
    flood = worker.call("construct", dims=[99, 6, 1], session="d")
    after = worker.call("construct", dims=[99, 14, 1], session="d")
    assert flood.ok and after.ok
    assert flood.output_dropped == 10_000_000 - int(spec.limits()["size"]["max_output_bytes"])
    assert after.output == "1\n" and after.output_dropped == 0


def test_a_batch_runs_its_calls_in_order_each_as_it_would_run_alone(worker):
    result = worker.call("batch", session="g", calls=[
        {"op": "construct", "args": {"dims": [99, 14, 1]}},
        {"op": "construct", "args": {"dims": [99, 1, 1]}},  # 1 / 0
        {"op": "construct", "args": {"dims": [99, 14, 1]}},
        {"op": "batch", "args": {"calls": []}},
    ])
    assert result.ok, result.problem()
    items = result.value["results"]
    assert [item["status"] for item in items] == ["ok", "error", "ok", "error"]
    assert items[1]["error"]["type"] == "ZeroDivisionError" and items[1]["stage"] == "TwoLayerMLP(99, 1, 1)"
    assert "a batch within a batch" in items[3]["error"]["message"]
    assert result.output == "1\n2\n"  # one import of mlp.py served the batch, in order
    crashed = worker.call("batch", session="g", calls=[{"op": "construct", "args": {"dims": [99, 3, 1]}}])
    assert crashed.status == "crashed"  # a crash ends the whole batch, as it ends a call
    assert_still_serves(worker, worker.starts)


def test_a_check_may_run_as_many_processes_as_allowed_beside_the_child_forked_ahead(worker):
    """The host forks the next check's child during a call (as root): it is not one of the
    submission's processes."""
    worker.call("construct", dims=[2, 3, 1], session="h")
    result = worker.call("construct", dims=[99, 18, 1], session="h")  # the spare exists by now
    assert result.ok, result.problem()
    assert int(result.output) >= 1
    assert_still_serves(worker, worker.starts)


def test_a_check_that_stops_every_process_it_can_does_not_stop_the_next_check(worker):
    """Nor the child forked ahead for it: it is root (or Landlock scopes the student's
    signals) until its check begins."""
    result = worker.call("construct", dims=[99, 19, 1], session="i")
    assert result.ok, result.problem()
    started = time.monotonic()
    after = worker.call("construct", dims=[2, 3, 1], session="j")
    assert after.ok, after.problem()
    assert time.monotonic() - started < TIMEOUT
    assert_still_serves(worker, worker.starts)


def test_what_a_session_started_ends_with_the_session(worker):
    result = worker.call("construct", dims=[99, 7, 1], session="e")
    assert result.ok, result.problem()
    assert processes_named(MARKER), "the sleeper runs while its session lasts"
    assert worker.call("construct", dims=[2, 3, 1], session="f").ok
    assert processes_named(MARKER) == []
    assert_still_serves(worker, worker.starts)


# -- one worker process, many submissions ---------------------------------------------

def test_nothing_of_one_submission_reaches_the_next(worker, tmp_path):
    """The worker process is shared by the submissions a grading process grades in turn:
    what one left running, in /tmp or in its folder is gone when the next one runs."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlp.py").write_text(probe())
    assert worker.call("construct", dims=[99, 7, 1], session="x").ok  # a process in its own session
    # /tmp: bubblewrap's private one; in the fallback the host's private tmp (TMPDIR)
    assert worker.call("construct", dims=[99, 15, 1], session="x").ok
    assert worker.call("construct", dims=[99, 17, 1], session="x").ok  # a folder of mode 000
    assert processes_named(MARKER), "the sleeper runs until the submission is released"
    with Worker(other) as next_student:
        # the same session: the release between submissions, not a new check, ends the sleeper
        seen = next_student.call("construct", dims=[99, 16, 1], session="x")
        assert seen.ok, seen.problem()
        assert next_student.starts == 0, "the second submission reuses the worker process"
        seen, copy = json.loads(seen.output), next_student.copy
        assert processes_named(MARKER) == []
        assert seen["tmp"] == []
        if next_student.uid is not None:
            assert seen["uid"] == next_student.uid != worker.uid
        if next_student.uid is not None or sandbox.layers()[0] >= 1:  # its own uid, or Landlock
            assert seen["workdir"] == "PermissionError", "a student may not list the other copies"
    assert not copy.exists()
    assert_still_serves(worker, worker.starts)


def test_closing_one_submission_leaves_the_one_being_served_alone(worker, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlp.py").write_text(probe())
    next_student = Worker(other)
    assert next_student.call("construct", dims=[2, 3, 1]).ok
    assert counts([worker.call("construct", dims=[99, 14, 1], session="r")]) == [1]
    next_student.close()  # not the submission being served: its release changes nothing
    assert counts([worker.call("construct", dims=[99, 14, 1], session="r")]) == [2]


def transparent_huge_pages() -> bool:
    try:
        return "[never]" not in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not transparent_huge_pages(), reason="transparent huge pages are turned off on this machine")
def test_once_a_submission_is_released_every_child_shares_the_hosts_memory_in_huge_pages(worker, tmp_path):
    """grader/worker/hugepages.py: a fork and the end of a child cost less."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "mlp.py").write_text(probe())
    with Worker(other) as first:
        assert first.call("construct", dims=[2, 3, 1]).ok
    # `first` was released: the host folded its memory before answering the next call
    shared = behave(worker, 20)
    assert shared.ok, shared.problem()
    assert int(shared.output) >= 32 * 1024, f"{shared.output.strip()} kB in huge pages"
    assert_still_serves(worker, worker.starts)


def test_an_errors_message_is_the_same_whatever_the_copys_folder(tmp_path):
    """The worker grades a copy of the submission in a folder with a random name; a traceback
    names the student's file as the student knows it, so a regrade gives the same message."""
    folder = tmp_path / "dora"
    folder.mkdir()
    (folder / "mlp.py").write_text("import torch\n\nopen('data/missing.pt')\n")
    messages = set()
    for _ in range(2):
        with Worker(folder) as worker:
            result = worker.call("api")
        assert result.error["type"] == "FileNotFoundError", result.problem()
        messages.add(result.problem())
    assert len(messages) == 1, messages
    (message,) = messages
    assert 'File "mlp.py", line 3, in <module>' in message and "dora-" not in message, message
