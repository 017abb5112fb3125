"""Grade a synthetic class and say how long it took, where the time went and how much memory.

    python bench/bench_class.py                 # 100 students, pytest -n 2
    python bench/bench_class.py 20 --serial     # 20 students, -n 2 and then serially
    python bench/bench_class.py 20 --call-timeout 5 --keep /tmp/class20

Targets (issue 18): serially at most 2x the floor (torch imported once per process plus the
students' own code), under -n 2 close to half of that; harness overhead at most 0.3 s per
submission; the grades' digest (grader/report/digest.py) the same serially and under xdist. The class comes from tests/classgen.py (a stable mix of correct and buggy
students, a few of which hang or crash). Each run is
``python -m pytest submissions -n 2 -p no:cacheprovider`` in the class's folder, with
bench/probe.py loaded as a plugin (-p probe) to time worker starts, calls and the session's
phases in every pytest process.

Figures: wall time; the median and spread of results.json's execution_time (per
submission, inside a pytest worker); the share of time in student code (the sum of
tests[].extra_data.student_seconds over the sum of tests[].extra_data.seconds); peak memory
from getrusage(RUSAGE_CHILDREN) (the largest single process), per pytest worker from the
probe, and the whole process tree's RSS sampled every 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

from bench_one import fresh_import_seconds  # noqa: E402
from classgen import make_class, roster  # noqa: E402
from grader.report.digest import digest_of, read_results  # noqa: E402
from probe import Totals  # noqa: E402

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and all its descendants, in MB."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    parents[int(entry.name)] = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parents.items():
        children[ppid].append(pid)
    total_kb, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total_kb += int(fh.read().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            pass
    return total_kb / 1024


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.stop = pid, every, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.peak = max(self.peak, tree_rss_mb(self.pid))


def grade(course: Path, workers: int | None, label: str, extra: list[str], env_extra: dict[str, str]) -> dict:
    reports = course / f"reports-{label}"
    probes = course / f"probe-{label}"
    shutil.rmtree(reports, ignore_errors=True)
    shutil.rmtree(probes, ignore_errors=True)
    probes.mkdir()
    argv = [sys.executable, "-m", "pytest", "submissions", "-p", "no:cacheprovider", "-p", "probe",
            "--reports-dir", str(reports), *(["-n", str(workers)] if workers else []), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, [env.get("PYTHONPATH")])])
    env["MLP_BENCH_PROBE_DIR"] = str(probes)
    env["PYTHONUNBUFFERED"] = "1"  # progress lines as they come
    log = course / f"pytest-{label}.log"
    print(f"[{label}] {' '.join(argv[1:])}", flush=True)
    began = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sampler = TreeSampler(process.pid)
        sampler.start()
        for line in process.stdout:
            out.write(line)
            if "graded " in line:  # under xdist the line may follow the progress letters
                print(f"[{label} {time.perf_counter() - began:6.1f} s] {line[line.index('graded '):].rstrip()}", flush=True)
        code = process.wait()
        sampler.stop.set()
    wall = time.perf_counter() - began
    return {"label": label, "returncode": code, "wall_s": wall, "log": str(log), "reports": reports,
            "tree_peak_rss_mb": sampler.peak,
            "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "probes": [json.loads(p.read_text()) for p in sorted(probes.glob("*.json"))]}


def summarize(run: dict, kinds: dict[str, str]) -> dict:
    per_student, seconds, student_seconds, scores = {}, 0.0, 0.0, {}
    for path in sorted(Path(run["reports"]).glob("students/*/results.json")):
        data = json.loads(path.read_text())
        name = path.parent.name
        per_student[name] = float(data["execution_time"])
        scores[name] = data["score"]
        for test in data["tests"]:
            extra = test.get("extra_data") or {}
            seconds += float(extra.get("seconds", 0.0) or 0.0)
            student_seconds += float(extra.get("student_seconds", 0.0) or 0.0)
    times = sorted(per_student.values())
    by_kind: dict[str, list[float]] = defaultdict(list)
    for name, t in per_student.items():
        by_kind[kinds.get(name, "?")].append(t)
    workers = [p for p in run["probes"] if p["role"] != "controller"] or run["probes"]
    totals = Totals()
    for p in workers:
        for key, value in p["totals"].items():
            if key != "start_samples":
                setattr(totals, key, getattr(totals, key) + value)
    controller = next((p for p in run["probes"] if p["role"] == "controller"), None)
    phases = {}
    if controller:
        m = controller["marks"]
        phases = {"interpreter + imports until pytest_configure": m["configure"] - m["process_start"],
                  "configure .. first check starts (collection, xdist worker start-up)": m.get("first_test", m["sessionfinish"]) - m["configure"],
                  "checks (first start .. last end)": m.get("last_test", m["sessionfinish"]) - m.get("first_test", m["sessionfinish"]),
                  "session end: results.json, HTML, class summary": m["unconfigure"] - m["sessionfinish"]}
    worker_startup = [p["marks"]["first_test"] - p["marks"]["process_start"] for p in workers
                      if "first_test" in p["marks"] and p["role"] != "controller"]
    n = len(per_student)
    harness = (seconds - student_seconds) / n if n else 0.0
    return {
        "students": n, "wall_s": run["wall_s"], "returncode": run["returncode"],
        "per_submission_median_s": statistics.median(times) if times else None,
        "per_submission_p90_s": times[int(0.9 * (len(times) - 1))] if times else None,
        "per_submission_max_s": times[-1] if times else None,
        "median_by_kind_s": {k: statistics.median(v) for k, v in sorted(by_kind.items())},
        "check_seconds_total": seconds, "student_seconds_total": student_seconds,
        "student_share": student_seconds / seconds if seconds else 0.0,
        "harness_seconds_per_submission": harness,
        "breakdown_s": totals.breakdown(seconds),
        "worker_starts": totals.starts, "calls": totals.calls,
        "phases_s": phases, "pytest_worker_startup_s": worker_startup,
        "peak_rss_tree_mb": run["tree_peak_rss_mb"],
        "peak_rss_largest_process_mb": run["children_maxrss_mb"],
        "per_pytest_process_rss_mb": {p["role"]: p["rss_mb"] for p in run["probes"]},
        "mean_score": statistics.mean(scores.values()) if scores else None,
        "execution_time_total_s": sum(per_student.values()),
        "digest": digest_of(read_results(Path(run["reports"]))),
    }


def floor_report(s: dict, import_torch_s: float, workers: int | None) -> None:
    """The floor: torch imported once per process and the students' own code, nothing else;
    serially the wall time should stay within 2x of it, under -n N within 2x of its share."""
    processes = workers or 1
    floor = (processes * import_torch_s + s["student_seconds_total"]) / processes
    overhead = (s["wall_s"] - floor) * processes / s["students"] if s["students"] else 0.0
    print(f"  floor (python -c 'import torch' {import_torch_s:.2f} s per process + student code "
          f"{s['student_seconds_total']:.1f} s, over {processes} process(es)): {floor:.1f} s; wall / floor = "
          f"{s['wall_s'] / floor:.1f}x (target <= 2x); harness overhead {overhead:.2f} s per submission "
          f"(target <= 0.3 s)")
    print(f"  execution_time, summed over students: {s['execution_time_total_s']:.1f} s of "
          f"{s['wall_s'] * processes:.1f} process-seconds of wall; grades digest {s['digest']}")


def report(s: dict) -> None:
    print(f"  {s['students']} students graded in {s['wall_s']:.1f} s wall (pytest exit code {s['returncode']})")
    print(f"  per submission (results.json execution_time): median {s['per_submission_median_s']:.1f} s, "
          f"p90 {s['per_submission_p90_s']:.1f} s, max {s['per_submission_max_s']:.1f} s")
    print("  median by kind: " + ", ".join(f"{k} {v:.1f}" for k, v in s["median_by_kind_s"].items()))
    print(f"  student code: {s['student_seconds_total']:.1f} s of {s['check_seconds_total']:.1f} s in checks "
          f"({100 * s['student_share']:.1f} %); harness {s['harness_seconds_per_submission']:.1f} s per submission")
    print(f"  {s['worker_starts']} worker starts, {s['calls']} calls; where the check time went (all pytest workers):")
    for name, seconds in s["breakdown_s"].items():
        print(f"    {seconds:8.1f} s  {name}")
    if s["phases_s"]:
        print("  controller phases: " + "; ".join(f"{k} {v:.1f} s" for k, v in s["phases_s"].items()))
    if s["pytest_worker_startup_s"]:
        print("  pytest worker start to first check: " + ", ".join(f"{x:.1f} s" for x in s["pytest_worker_startup_s"]))
    print(f"  peak memory: whole process tree {s['peak_rss_tree_mb']:.0f} MB (sampled), largest single process "
          f"{s['peak_rss_largest_process_mb']:.0f} MB (RUSAGE_CHILDREN)")
    for role, rss in sorted(s["per_pytest_process_rss_mb"].items()):
        print(f"    {role}: itself {rss['self']:.0f} MB, its largest worker process {rss['children']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-n", "--workers", type=int, default=2, dest="workers")
    parser.add_argument("--serial", action="store_true", help="also grade serially (no xdist) and compare")
    parser.add_argument("--call-timeout", type=float, help="set MLP_GRADER_CALL_TIMEOUT (caps every call)")
    parser.add_argument("-k", dest="keyword", help="only the checks matching this pytest -k expression")
    parser.add_argument("--dist", help="pass --dist to pytest-xdist (e.g. loadgroup: see docs/BATCH.md)")
    parser.add_argument("--keep", type=Path, help="write the class here and keep it (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    course = args.keep or Path(tempfile.mkdtemp(prefix="mlp-bench-class-"))
    course.mkdir(parents=True, exist_ok=True)
    if not (course / "submissions").is_dir():
        make_class(course, args.n, args.seed)
    (course / "pytest.ini").write_text("[pytest]\n")
    kinds = roster(course)
    env_extra = {"MLP_GRADER_CALL_TIMEOUT": str(args.call_timeout)} if args.call_timeout else {}
    extra = ["-k", args.keyword] if args.keyword else []
    xdist_extra = ["--dist", args.dist] if args.dist else []
    load = os.getloadavg()
    print(f"class of {len(kinds)} in {course}; {os.cpu_count()} CPUs, load average before "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (a shared machine inflates every figure)", flush=True)

    import_torch_s = fresh_import_seconds("import torch")
    figures = {"n": len(kinds), "load_before": load, "cpus": os.cpu_count(), "call_timeout": args.call_timeout,
               "import_torch_s": import_torch_s}
    runs = [("xdist", args.workers)] + ([("serial", None)] if args.serial else [])
    for label, workers in runs:
        run = grade(course, workers, label, extra + (xdist_extra if workers else []), env_extra)
        summary = summarize(run, kinds)
        summary["load_after"] = os.getloadavg()
        figures[label] = summary
        print(f"[{label}]")
        report(summary)
        floor_report(summary, import_torch_s, workers)
    if args.serial:
        same = figures["xdist"]["digest"] == figures["serial"]["digest"]
        print(f"grades under xdist and serially: {'the same' if same else 'DIFFERENT'} "
              f"({figures['xdist']['digest']} / {figures['serial']['digest']})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    if not args.keep:
        shutil.rmtree(course, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
