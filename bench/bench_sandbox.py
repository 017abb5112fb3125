"""What the sandbox costs per submission: worker start-up and per-call round trip, with
bubblewrap and with the process fallback (median of several runs).

    python bench/bench_sandbox.py [--runs 5] [--calls 20] [SUBMISSION]

Start-up is from launching the worker to its first answer (an `api` call, which forks a
child that imports mlp.py); a round trip is one more `construct` call in a running worker;
"sandbox alone" starts `true` inside the worker's bubblewrap (or plainly), which isolates
bubblewrap's own cost from torch's import. Runs alternate between the modes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from grader.worker import sandbox
from grader.worker.client import Worker, shutdown_hosts

REPO = Path(__file__).resolve().parent.parent


def measure_worker(mode: str, submission: Path, calls: int) -> tuple[float, list[float]]:
    """One worker start (to its first answer) and `calls` round trips."""
    os.environ[sandbox.MODE_ENV] = mode
    shutdown_hosts()  # a fresh worker process: its start is what is measured
    with Worker(submission) as worker:
        began = time.perf_counter()
        first = worker.call("api")
        start = time.perf_counter() - began
        assert first.ok, first.problem()
        trips = []
        for _ in range(calls):
            began = time.perf_counter()
            result = worker.call("construct", dims=[3, 5, 2])
            trips.append(time.perf_counter() - began)
            assert result.ok, result.problem()
    return start, trips


def measure_bare(mode: str, runs: int) -> float:
    """The sandbox alone: starting `true` in it (bwrap) or plainly (none), median seconds."""
    with tempfile.TemporaryDirectory() as folder:
        command = ["/usr/bin/env", "true"]
        if mode == "bwrap":
            argv, _ = sandbox.default_launcher().command(Path(folder), 100)
            command = argv[:argv.index("--") + 1] + command
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run(command, check=True)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def measure(modes: list[str], submission: Path, runs: int, calls: int) -> dict[str, dict[str, float]]:
    """Runs alternate between the modes, so a change in the machine's load hits both."""
    starts: dict[str, list[float]] = {m: [] for m in modes}
    trips: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(runs):
        for mode in modes:
            start, calls_taken = measure_worker(mode, submission, calls)
            starts[mode].append(start)
            trips[mode] += calls_taken
    figures = {}
    for mode in modes:
        os.environ[sandbox.MODE_ENV] = mode
        figures[mode] = {"start": statistics.median(starts[mode]), "start_min": min(starts[mode]),
                         "start_max": max(starts[mode]), "call": statistics.median(trips[mode]),
                         "bare": measure_bare(mode, 20)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(REPO / "submissions" / "example-correct"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    modes = ["none"]
    bwrap = sandbox.shutil.which("bwrap")
    if bwrap and sandbox.bwrap_problem(bwrap) is None:
        modes.append("bwrap")
    else:
        print("bubblewrap is not usable here: measuring the fallback only")
    sandbox.runtime_dir()
    measure_worker(modes[0], Path(args.submission), 1)  # warm the page cache first
    figures = measure(modes, Path(args.submission), args.runs, args.calls)
    print(f"{'mode':8s} {'worker start-up (median, min-max)':>36s} {'round trip':>12s} {'sandbox alone':>14s}")
    for mode, f in figures.items():
        print(f"{mode:8s} {f['start']:>18.2f} s ({f['start_min']:.2f}-{f['start_max']:.2f} s) "
              f"{f['call'] * 1000:>9.1f} ms {f['bare'] * 1000:>11.1f} ms")
    if len(figures) == 2:
        print(f"bubblewrap: {figures['bwrap']['start'] - figures['none']['start']:+.2f} s per worker start, "
              f"{(figures['bwrap']['call'] - figures['none']['call']) * 1000:+.1f} ms per call, "
              f"{(figures['bwrap']['bare'] - figures['none']['bare']) * 1000:+.1f} ms to set up the sandbox itself")


if __name__ == "__main__":
    main()
