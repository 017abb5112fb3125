"""Grade one submission several times in this process and say where the time goes.

    python bench/bench_one.py                          # submissions/example-correct, 5 runs
    python bench/bench_one.py PATH --repeat 3 --profile

Every check runs except checkpoint.test_mse (the hidden test set's MSE, which only loads a
file and runs one matrix product, but needs the TA configuration and a model.pth).
Target: a median of at most 10 s per submission. The first run in a process is reported
apart: it also pays one-time costs (loading the reference, staging the worker's runtime,
probing bubblewrap, Hypothesis' first strategies).

Besides the runs it measures, in fresh processes, ``import torch`` and ``import
grader.engine``, and in this one the round trip of the cheapest call (``api``) and one
scan of /proc (the host sweeps the process table after every call).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import probe  # noqa: E402


def fresh_import_seconds(statement: str, repeat: int = 3) -> float:
    """Median wall time of `python -c statement` (interpreter start included)."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, cwd=ROOT)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", default=str(ROOT / "submissions" / "example-correct"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile one more run with cProfile")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    figures: dict = {"load_average": os.getloadavg(), "cpus": os.cpu_count()}
    figures["python_import_torch_s"] = fresh_import_seconds("import torch")
    figures["python_import_grader_engine_s"] = fresh_import_seconds("import grader.engine, grader.checks")
    began = time.perf_counter()
    from grader import engine
    from grader.worker import sandbox
    from grader.worker import processes
    from grader.worker.client import Worker
    figures["import_engine_here_s"] = time.perf_counter() - began
    figures["launcher"] = sandbox.default_launcher().name

    totals = probe.install()
    only = [c for c in engine.check_ids() if c != "checkpoint.test_mse"]
    path = Path(args.path)
    runs = []
    for index in range(args.repeat):
        before = probe.Totals(**{k: v for k, v in asdict(totals).items() if k != "start_samples"})
        began = time.perf_counter()
        result = engine.grade(path, only=only)
        wall = time.perf_counter() - began
        delta = probe.Totals(**{k: getattr(totals, k) - getattr(before, k)
                                for k in asdict(totals) if k != "start_samples"})
        check_seconds = sum(o.seconds for o in result.outcomes)
        student = sum(o.student_seconds for o in result.outcomes)
        run = {"wall_s": wall, "score": result.score, "student_s": student, "student_share": student / wall,
               "calls": delta.calls, "starts": delta.starts,
               "breakdown_s": delta.breakdown(check_seconds),
               "slowest_checks": sorted(((o.check.id, round(o.seconds, 2)) for o in result.outcomes),
                                        key=lambda x: -x[1])[:6]}
        runs.append(run)
        print(f"run {index + 1}/{args.repeat}: {wall:6.2f} s, score {result.score:g}, student code "
              f"{student:5.2f} s ({100 * student / wall:4.1f} %), {delta.calls} calls, {delta.starts} worker start(s)",
              flush=True)

    steady = runs[1:] or runs
    figures["first_run_s"] = runs[0]["wall_s"]
    figures["median_wall_s"] = statistics.median(r["wall_s"] for r in steady)
    figures["median_student_share"] = statistics.median(r["student_share"] for r in steady)
    figures["calls_per_submission"] = steady[0]["calls"]
    names = list(steady[0]["breakdown_s"])
    figures["median_breakdown_s"] = {n: statistics.median(r["breakdown_s"][n] for r in steady) for n in names}
    figures["worker_start_samples_s"] = totals.start_samples
    figures["runs"] = runs

    # Micro-benchmarks: the cheapest call, and one scan of /proc.
    with Worker(path) as worker:
        worker.call("api")
        samples = []
        for _ in range(20):
            began = time.perf_counter()
            worker.call("api")
            samples.append(time.perf_counter() - began)
    figures["api_call_roundtrip_median_s"] = statistics.median(samples)
    began = time.perf_counter()
    for _ in range(20):
        table = processes.process_table()
    figures["proc_scan_s"] = (time.perf_counter() - began) / 20
    figures["proc_entries"] = len(table)

    print()
    print(f"machine: {figures['cpus']} CPUs, load average {', '.join(f'{x:.1f}' for x in figures['load_average'])}"
          f" (shared machine: figures include contention), launcher {figures['launcher']}")
    print(f"python -c 'import torch': {figures['python_import_torch_s']:.2f} s; "
          f"'import grader.engine': {figures['python_import_grader_engine_s']:.2f} s")
    print(f"first run {figures['first_run_s']:.2f} s; median of the others {figures['median_wall_s']:.2f} s "
          f"(target <= 10 s); student code {100 * figures['median_student_share']:.1f} % of it; "
          f"{figures['calls_per_submission']} calls per submission")
    print("median breakdown:")
    for name, seconds in figures["median_breakdown_s"].items():
        print(f"  {seconds:7.2f} s  {name}")
    print(f"api call round trip (fork + import mlp.py + sweep): {1000 * figures['api_call_roundtrip_median_s']:.0f} ms;"
          f" one scan of /proc ({figures['proc_entries']} processes): {1000 * figures['proc_scan_s']:.1f} ms")
    print("slowest checks of the last run:", ", ".join(f"{c} {s:g} s" for c, s in runs[-1]["slowest_checks"]))

    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        engine.grade(path, only=only)
        profiler.disable()
        print("\ncProfile of one more run (cumulative, top 25):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
