"""Timers for the benchmarks: where a grading run spends its time, without changing the grader.

`install()` wraps three functions of the grading process in place:

- ``HostProcess.greeted``: waiting for a worker process to start (bwrap, a fresh
  interpreter, ``import torch``, the hello frame): what is left of its start when the first
  call needs it (it is launched at collection, while the checks load), and every restart;
- ``Worker.call``: one call into the worker, wall time seen by the grader, minus any start;
- ``client.result_from``: the host's answer, which carries ``seconds`` (fork to the end of
  the process sweep, on the host), ``child_seconds`` (the child's own serve(), including
  importing mlp.py) and ``student_seconds`` (time inside student code, import included).

Everything else a check spends (Hypothesis drawing and shrinking examples, the reference in
float64, comparisons, validation) is the check's time minus its calls. `Totals` adds it up.

Loaded as a pytest plugin (``-p probe`` with bench/ on PYTHONPATH, which is what
bench_class.py does), it also writes one JSON file per pytest process (controller and each
xdist worker) into ``$MLP_BENCH_PROBE_DIR``: those totals, timestamps of the session's
phases, the process's own peak RSS and the peak RSS of the worker processes it started.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

IMPORTED_AT = time.time()


@dataclass
class Totals:
    starts: int = 0
    start_seconds: float = 0.0
    calls: int = 0
    call_seconds: float = 0.0      # grader-side wall time of calls, starts excluded
    host_seconds: float = 0.0      # host: fork .. sweep done
    child_seconds: float = 0.0     # child: serve() (import mlp.py + operation + encoding)
    student_seconds: float = 0.0   # inside student code (import included)
    start_samples: list[float] = field(default_factory=list)

    def breakdown(self, check_seconds: float) -> dict[str, float]:
        """Seconds per component; they add up to check_seconds (+ starts, which checks include)."""
        return {
            "worker start, as waited for (bwrap + python + import torch)": self.start_seconds,
            "IPC: encode/send/receive/decode (call wall - host)": self.call_seconds - self.host_seconds,
            "host: fork, watch, sweep (host - child)": self.host_seconds - self.child_seconds,
            "child harness: ops, describe, encode (child - student)": self.child_seconds - self.student_seconds,
            "student code (import mlp.py included)": self.student_seconds,
            "grader: Hypothesis, reference, compare (rest)": check_seconds - self.start_seconds - self.call_seconds,
        }


TOTALS = Totals()
_lock = threading.Lock()
_installed = False


def install() -> Totals:
    global _installed
    if _installed:
        return TOTALS
    _installed = True
    from grader.worker import client

    original_greeted, original_call, original_result = client.HostProcess.greeted, client.Worker.call, client.result_from
    in_start = threading.local()

    def _start(self):
        if not self.greeting:  # no start under way
            return original_greeted(self)
        began = time.perf_counter()
        in_start.seconds = getattr(in_start, "seconds", 0.0)
        try:
            return original_greeted(self)
        finally:
            spent = time.perf_counter() - began
            in_start.seconds += spent
            with _lock:
                TOTALS.starts += 1
                TOTALS.start_seconds += spent
                TOTALS.start_samples.append(round(spent, 3))

    def call(self, op, timeout=None, **args):
        in_start.seconds = 0.0
        began = time.perf_counter()
        try:
            return original_call(self, op, timeout=timeout, **args)
        finally:
            spent = time.perf_counter() - began - in_start.seconds
            with _lock:
                TOTALS.calls += 1
                TOTALS.call_seconds += spent

    def result_from(answer, timeout, limits):
        with _lock:
            TOTALS.host_seconds += float(answer.get("seconds", 0.0) or 0.0)
            TOTALS.child_seconds += float(answer.get("child_seconds", 0.0) or 0.0)
            TOTALS.student_seconds += float(answer.get("student_seconds", 0.0) or 0.0)
        return original_result(answer, timeout, limits)

    client.HostProcess.greeted = _start
    client.Worker.call = call
    client.result_from = result_from
    return TOTALS


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MB) of this process and of its largest finished child."""
    return {"self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


# ------------------------------------------------------------------ as a pytest plugin

_marks: dict[str, float] = {"imported": IMPORTED_AT}


def _process_started() -> float:
    """When this process started (epoch seconds), from /proc."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return IMPORTED_AT


def pytest_configure(config) -> None:
    if os.environ.get("MLP_BENCH_PROBE_DIR"):
        install()
        _marks["process_start"] = _process_started()
        _marks["configure"] = time.time()


def pytest_collection_finish(session) -> None:
    _marks["collected"] = time.time()


def pytest_runtest_logstart(nodeid, location) -> None:
    _marks.setdefault("first_test", time.time())


def pytest_runtest_logfinish(nodeid, location) -> None:
    _marks["last_test"] = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session) -> None:
    _marks["sessionfinish"] = time.time()


def pytest_unconfigure(config) -> None:
    folder = os.environ.get("MLP_BENCH_PROBE_DIR")
    if not folder:
        return
    _marks["unconfigure"] = time.time()
    role = getattr(config, "workerinput", {}).get("workerid", "controller")
    data = {"role": role, "pid": os.getpid(), "marks": _marks, "totals": asdict(TOTALS), "rss_mb": peak_rss_mb()}
    Path(folder, f"{role}-{os.getpid()}.json").write_text(json.dumps(data, indent=1))
