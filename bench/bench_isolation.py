"""What each isolation layer costs per student: medians, with the machine's load.

    python bench/bench_isolation.py [--students 8] [--repeat 200] [SUBMISSION]

Per student, in a running worker: a first call (fork a child, confine it, import mlp.py),
one more call of the same check, and the release (everything it started ended, /tmp
emptied, SysV IPC and /dev/shm cleared). Measured with bubblewrap and with the fallback,
each with the child's Landlock + seccomp confinement and without it (the launcher's rules
emptied). Then the layers alone, in a forked child of this process: fork + exit, + Landlock,
+ seccomp; one release's IPC sweep; one count of the disk watch over a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from grader.worker import sandbox
from grader.worker import ipc, landlock, seccomp
from grader.worker.client import Worker, shutdown_hosts
from grader.worker.disk import DiskWatch

REPO = Path(__file__).resolve().parent.parent


def unconfined(launcher: sandbox.Launcher) -> sandbox.Launcher:
    """The same launcher, but its children skip Landlock and seccomp."""
    command = launcher.command

    def without_confinement(stage, max_output):
        argv, env = command(stage, max_output)
        limits = json.loads(argv[-1])
        limits["confine"] = {}
        return [*argv[:-1], json.dumps(limits)], env

    launcher.command = without_confinement
    return launcher


def per_student(launcher: sandbox.Launcher, submission: Path, students: int) -> list[float]:
    shutdown_hosts()
    with Worker(submission, launcher) as warm:  # start the worker (torch's import) outside the timing
        assert warm.call("api").ok
    times = []
    for _ in range(students):
        began = time.perf_counter()
        with Worker(submission, launcher) as worker:
            first = worker.call("api", session="bench")
            again = worker.call("construct", dims=[3, 5, 2], session="bench")
            assert first.ok and again.ok, (first.problem(), again.problem())
        times.append(time.perf_counter() - began)
    shutdown_hosts()
    return times


def in_forked_child(repeat: int, action) -> float:
    """Median seconds of fork + action + exit + wait."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                action()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def layers_alone(repeat: int, submission: Path) -> dict[str, float]:
    rules = sandbox.confinement(str(sandbox.runtime_dir()), [REPO])
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "copy"
        shutil.copytree(submission, copy)
        figures = {"fork + exit": in_forked_child(repeat, lambda: None)}
        if landlock.abi() >= 1:
            figures["fork + Landlock + exit"] = in_forked_child(
                repeat, lambda: landlock.restrict(rules["read"], [str(copy)], rules["devices"]))
        if seccomp.supported():
            figures["fork + seccomp + exit"] = in_forked_child(repeat, seccomp.install)
        sweeps = []
        for _ in range(repeat):
            began = time.perf_counter()
            ipc.remove_leftovers(sandbox.UID_BASE - 1)  # an unused uid: the sweep only looks
            sweeps.append(time.perf_counter() - began)
        figures["IPC and /dev/shm sweep (one release)"] = statistics.median(sweeps)
        watch, counts = DiskWatch([copy], 1 << 30), []
        for _ in range(repeat):
            began = time.perf_counter()
            watch.exceeded()
            counts.append(time.perf_counter() - began)
        figures[f"disk watch, one count ({watch.entries} files)"] = statistics.median(counts)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission", nargs="?", default=str(REPO / "submissions" / "example-correct"))
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    submission = Path(args.submission)
    print(f"load average before: {os.getloadavg()}; Landlock ABI {landlock.abi()}, seccomp {seccomp.supported()}")
    modes = {"fallback": sandbox.Launcher}
    bwrap = shutil.which("bwrap")
    if bwrap and sandbox.bwrap_problem(bwrap) is None:
        modes["bwrap"] = lambda: sandbox.BwrapLauncher(bwrap)
    results: dict[str, list[float]] = {}
    for _ in range(2):  # alternate, so a change of load hits every variant
        for mode, make in modes.items():
            for confined in (True, False):
                name = f"{mode}, {'with' if confined else 'without'} Landlock + seccomp"
                launcher = make() if confined else unconfined(make())
                results.setdefault(name, []).extend(per_student(launcher, submission, args.students // 2))
    print(f"\nper student (first call, a second call, release), median of {args.students}:")
    for name, times in results.items():
        print(f"  {name:45s} {statistics.median(times) * 1000:8.1f} ms  (min {min(times) * 1000:.1f}, "
              f"max {max(times) * 1000:.1f})")
    print(f"\nthe layers alone, median of {args.repeat}:")
    for name, seconds in layers_alone(args.repeat, submission).items():
        print(f"  {name:45s} {seconds * 1e6:8.0f} us")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
