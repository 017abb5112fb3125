"""One student graded from a cold process, as a student's self-check or a TA's regrade runs
it, against the floor: how long `python -c "import torch"` takes plus the student's own code.

    python bench/bench_cold.py                       # submissions/example-correct, 5 runs
    python bench/bench_cold.py PATH --repeat 9

Each run is ``python -m pytest submissions/<name> -p no:cacheprovider -q`` in a fresh course
folder holding a copy of the submission, interleaved with a fresh ``import torch``; the
figures are medians. Target (issue 18): at most 2x the floor. It also shows how much of the
wall time results.json's execution_time accounts for (the rest is the interpreter and
pytest starting and exiting), and checks that every run gave the same grades (the digest of
grader/report/digest.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_one import fresh_import_seconds  # noqa: E402
from grader.report.digest import digest_of, read_results  # noqa: E402


def graded_cold(submission: Path) -> tuple[float, dict]:
    """Wall time of one pytest run on a copy of `submission`, and its results.json."""
    with tempfile.TemporaryDirectory(prefix="mlp-bench-cold-") as folder:
        course = Path(folder)
        shutil.copytree(submission, course / "submissions" / submission.name)
        (course / "pytest.ini").write_text("[pytest]\n")
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", f"submissions/{submission.name}", "-p", "no:cacheprovider",
                        "-q"], cwd=course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - began
        results = read_results(course / "reports")
        if len(results) != 1:
            raise SystemExit(f"the run wrote {len(results)} results.json files, not 1: see pytest's output")
        return wall, results[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", type=Path, default=ROOT / "submissions" / "example-correct")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)
    submission = args.path.resolve()
    load_before = os.getloadavg()
    walls, torch_imports, student, execution, digests = [], [], [], [], set()
    for index in range(args.repeat):
        torch_imports.append(fresh_import_seconds("import torch", repeat=1))
        wall, results = graded_cold(submission)
        walls.append(wall)
        execution.append(float(results["execution_time"]))
        student.append(sum(float(t.get("extra_data", {}).get("student_seconds", 0.0) or 0.0)
                           for t in results["tests"]))
        digests.add(digest_of([results]))
        print(f"run {index + 1}/{args.repeat}: {wall:.2f} s wall, score {results['score']:g}, execution_time "
              f"{execution[-1]:.2f} s, student code {student[-1]:.2f} s", flush=True)
    figures = {name: statistics.median(values) for name, values in
               (("wall_s", walls), ("import_torch_s", torch_imports), ("student_s", student),
                ("execution_time_s", execution))}
    floor = figures["import_torch_s"] + figures["student_s"]
    load_after = os.getloadavg()
    print(f"\n{submission.name}, {args.repeat} cold runs; {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after (a shared machine inflates every figure)")
    print(f"median wall {figures['wall_s']:.2f} s; floor {floor:.2f} s (import torch {figures['import_torch_s']:.2f} s "
          f"+ student code {figures['student_s']:.2f} s); wall / floor = {figures['wall_s'] / floor:.1f}x "
          f"(target <= 2x)")
    print(f"execution_time {figures['execution_time_s']:.2f} s of the wall {figures['wall_s']:.2f} s (the rest: "
          f"python and pytest starting and ending)")
    print(f"grades: {'the same in every run' if len(digests) == 1 else 'DIFFERENT between runs'} "
          f"(digest {', '.join(sorted(digests))})")
    if args.json:
        args.json.write_text(json.dumps({**figures, "floor_s": floor, "digests": sorted(digests),
                                         "load": [load_before, load_after]}, indent=1))
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
