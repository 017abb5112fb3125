"""What one check's child costs the worker's host, and what the host's warm-up and huge
pages change (grader/worker/warm.py, grader/worker/hugepages.py): medians, with the load.

    python bench/bench_fork.py [--forks 30]

In this process, as the host does: import torch, one thread. Then, per stage, `--forks`
children that each run a small forward and backward (3-5-2 network, 8 samples) and exit:
the parent's fork() call, the child's work (and its page faults), exit and reap. Stages:
a cold host; after warm.warm_up(); after hugepages.collapse() as well.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from grader.worker import hugepages, warm  # noqa: E402


def small_forward_and_backward() -> None:
    X = torch.from_numpy(np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3))
    W1, b1, W2, b2 = torch.full((5, 3), 0.1), torch.zeros(5), torch.full((2, 5), 0.2), torch.zeros(2)
    Z1 = X @ W1.T + b1
    A1 = torch.relu(Z1)
    out = A1 @ W2.T + b2
    d_out = 2 * (out - 1) / out.shape[0]
    d_z1 = (d_out @ W2) * (Z1 > 0).float()
    float(((out - 1) ** 2).mean())
    (d_z1.T @ X).numpy().copy()


def one_child() -> tuple[float, float, float, int]:
    """fork() in the parent, the child's work, exit and reap (seconds); the child's page faults."""
    read, write = os.pipe()
    began = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        small_forward_and_backward()
        worked = time.perf_counter() - started
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        os.write(write, f"{worked} {faults}".encode())
        os._exit(0)
    forked = time.perf_counter() - began
    os.close(write)
    worked, faults = os.read(read, 100).split()
    os.close(read)
    ended = time.perf_counter()
    os.waitpid(pid, 0)
    return forked, float(worked), time.perf_counter() - ended, int(faults)


def stage(name: str, forks: int) -> None:
    rows = [one_child() for _ in range(forks)]
    fork_ms, work_ms, exit_ms = (statistics.median(row[i] for row in rows) * 1e3 for i in range(3))
    faults = statistics.median(row[3] for row in rows)
    print(f"  {name:32s} fork {fork_ms:5.2f} ms  child's work {work_ms:5.2f} ms ({faults:.0f} page faults)  "
          f"exit and reap {exit_ms:5.2f} ms", flush=True)


def anonymous_memory_mb() -> tuple[float, float]:
    with open("/proc/self/smaps_rollup") as rollup:
        fields = {line.split(":")[0]: int(line.split()[1]) for line in rollup if line.rstrip().endswith(" kB")}
    return fields.get("Anonymous", 0) / 1024, fields.get("AnonHugePages", 0) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forks", type=int, default=30)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; medians of {args.forks} children")
    stage("a cold host", args.forks)
    warm.warm_up()
    stage("after the warm-up", args.forks)
    began = time.perf_counter()
    folded = hugepages.collapse() >> 20
    anonymous, huge = anonymous_memory_mb()
    stage("after the warm-up and folding", args.forks)
    print(f"folding took {time.perf_counter() - began:.2f} s: {folded} MB asked, {huge:.0f} of {anonymous:.0f} MB "
          f"of anonymous memory now in huge pages; load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
