"""Grade the same class with mlp-grader and with Otter-Grader's `otter run`; print both wall times and the ratio.

    python bench/bench_otter.py                                   # examples + 20 synthetic students
    python bench/bench_otter.py --n 5 --otter /tmp/otter-venv/bin/otter
    python bench/bench_otter.py --keep /tmp/otter-class --repeat 3

The class: the bundled mlp-regression examples (submissions/example-* without an
assignment.toml or with one naming mlp-regression) plus N synthetic students from
tests/classgen.py. mlp-grader grades it serially with ``python -m pytest submissions
-p no:cacheprovider -q`` in the class's folder, and one student cold with ``python -m pytest
submissions/example-correct`` in a fresh folder holding only that student. Otter grades each
submission (mlp.py + model.pth, zipped) with ``otter run`` against an autograder zip that
``otter generate`` builds from bench/otter/: Otter exception-format tests of the same
properties (forward and backward against a reference computed in the test with torch autograd,
finite differences, step, train()'s trajectory across learning-rate decays, state_dict, the
Xavier init, the checkpoint's keys and shapes). Not covered on the Otter side: the hidden
test set's MSE and the no-autograd source scan and watch. `otter run` installs nothing and
uses no Docker: it grades in the Python of its own venv (which needs ipykernel and torch).

--repeat R runs each timing R times and reports the median (default: the class once, one
student 3 times). How many synthetic students of each group each tool failed (score < max;
kinds from roster.json) shows that neither buys its speed by checking less: "buggy" is every
kind but correct and trains-on-import, which is counted apart (the handout accepts it after
`grader intake`, which this benchmark, grading with plain pytest, does not run; in Otter's
kernel __name__ is "__main__", so every submission's training block runs and fails alike).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from classgen import make_class, roster  # noqa: E402

ASSIGNMENT = "mlp-regression"
OTTER_TIMEOUT_S = 120.0  # Otter has no time limit of its own: an infinite loop would hang the run


def torch_pin() -> str:
    return next(line.strip() for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line.startswith("torch=="))


def install_hint() -> str:
    return ("Otter-Grader is not installed (no `otter` on PATH, no --otter). Install it in a venv of its own,\n"
            "away from this project's dependencies (the torch pin picks the CPU wheel on this machine's disk):\n"
            f"    python -m venv /tmp/otter-venv && /tmp/otter-venv/bin/pip install otter-grader ipykernel {torch_pin()}\n"
            "    python bench/bench_otter.py --otter /tmp/otter-venv/bin/otter")


def regression_examples() -> list[Path]:
    """The bundled examples of this homework: an mlp.py, and no assignment.toml naming another one."""
    found = []
    for folder in sorted((ROOT / "submissions").glob("example-*")):
        toml = folder / "assignment.toml"
        name = tomllib.loads(toml.read_text())["assignment"] if toml.is_file() else ASSIGNMENT
        if name == ASSIGNMENT and (folder / "mlp.py").is_file():
            found.append(folder)
    return found


def build_class(course: Path, n: int, seed: int) -> dict[str, str]:
    """Write the class into course/submissions; return name -> kind ("example" for the bundled ones)."""
    if not (course / "submissions").is_dir():
        make_class(course, n, seed)
        for example in regression_examples():
            shutil.copytree(example, course / "submissions" / example.name)
    (course / "pytest.ini").write_text("[pytest]\n")
    kinds = {p.name: "example" for p in (course / "submissions").iterdir()}
    return kinds | roster(course)


def timed(argv: list[str], cwd: Path, env: dict[str, str], log: Path, timeout: float | None = None) -> float | None:
    """Wall seconds of one command (its output into log), or None if it ran out of time."""
    began = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the Jupyter kernel too
            process.wait()
            return None
    return time.perf_counter() - began


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return env | extra


def mlp_grader_scores(reports: Path) -> dict[str, tuple[float, float]]:
    scores = {}
    for path in reports.glob("students/*/results.json"):
        data = json.loads(path.read_text())
        scores[path.parent.name] = (float(data["score"]), float(data["max_score"]))
    return scores


def grade_class_mlp_grader(course: Path) -> tuple[float, dict[str, tuple[float, float]]]:
    shutil.rmtree(course / "reports", ignore_errors=True)
    wall = timed([sys.executable, "-m", "pytest", "submissions", "-p", "no:cacheprovider", "-q"],
                 course, clean_env(), course / "mlp-grader-class.log")
    return wall, mlp_grader_scores(course / "reports")


def grade_one_mlp_grader(example: Path, work: Path) -> float:
    """One student in a class folder of its own: nothing cached, nothing graded before."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(example, work / "submissions" / example.name)
    (work / "pytest.ini").write_text("[pytest]\n")
    return timed([sys.executable, "-m", "pytest", f"submissions/{example.name}", "-p", "no:cacheprovider", "-q"],
                 work, clean_env(), work / "mlp-grader.log")


def build_otter_autograder(otter: str, folder: Path) -> Path:
    """The autograder zip, made by `otter generate` from bench/otter's tests and support package."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(HERE / "otter", folder)
    (folder / "requirements.txt").write_text(torch_pin() + "\n")  # for a Gradescope image; `otter run` installs nothing
    (folder / "otter_config.json").write_text(json.dumps({"logo": False}) + "\n")
    subprocess.run([otter, "generate", "-t", "tests", "-o", "autograder.zip", "-r", "requirements.txt",
                    "-c", "otter_config.json", "mlp_reference"],
                   cwd=folder, env=otter_env(folder), check=True, stdout=subprocess.DEVNULL)
    return folder / "autograder.zip"


def otter_env(scratch: Path) -> dict[str, str]:
    env = clean_env(TMPDIR=str(scratch))  # Otter's temporary grading folders stay in the class folder
    env.pop("PYTHONPATH", None)  # Otter runs in its own venv, not on this worktree
    return env


def otter_submission(folder: Path, out: Path) -> Path:
    """What a student hands in to Otter: their top-level files (mlp.py, model.pth), zipped."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name != "assignment.toml":
                archive.write(path, path.name)
    return out


def otter_score(results: Path) -> tuple[float, float] | None:
    if not results.is_file():
        return None
    tests = json.loads(results.read_text()).get("tests", [])  # none after an Otter error
    return (sum(t.get("score") or 0 for t in tests), sum(t.get("max_score") or 0 for t in tests))


def grade_one_otter(otter: str, autograder: Path, submission: Path, out: Path) -> tuple[float | None, tuple | None]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wall = timed([otter, "run", "-a", str(autograder), "-o", str(out), "--no-logo", str(submission)],
                 out, otter_env(out), out / "otter.log", timeout=OTTER_TIMEOUT_S)
    return wall, otter_score(out / "results.json")


def grade_class_otter(otter: str, autograder: Path, zips: dict[str, Path], out: Path) -> tuple[float, dict, list[str]]:
    scores, timed_out = {}, []
    began = time.perf_counter()
    for name, submission in zips.items():
        wall, scores[name] = grade_one_otter(otter, autograder, submission, out / name)
        if wall is None:
            timed_out.append(name)
    return time.perf_counter() - began, scores, timed_out


def failed(score: tuple[float, float] | None) -> bool:
    return score is None or score[1] == 0 or score[0] < score[1]


def group(kind: str) -> str:
    return kind if kind in ("correct", "trains-on-import", "example") else "buggy"


def failure_counts(scores: dict, kinds: dict[str, str]) -> str:
    """How many synthetic students of each group the tool failed."""
    counts = []
    for name in ("buggy", "correct", "trains-on-import"):
        students = [n for n, k in kinds.items() if group(k) == name]
        counts.append(f"{sum(failed(scores.get(n)) for n in students)}/{len(students)} {name}")
    return "failed " + ", ".join(counts)


def median(samples: list[float | None]) -> float | None:
    done = [s for s in samples if s is not None]
    return statistics.median(done) if done else None


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def find_otter(path: str | None) -> str | None:
    if path:
        if not os.access(path, os.X_OK):
            sys.exit(f"--otter {path}: not an executable")
        return path
    return shutil.which("otter")


def fmt(score: tuple[float, float] | None) -> str:
    return "none" if score is None else f"{score[0]:g}/{score[1]:g}"


@dataclass
class Figures:
    class_s: float | None        # median wall time of the class, graded serially
    one_s: float | None          # median wall time of example-correct alone, cold
    scores: dict[str, tuple[float, float] | None]
    timed_out: list[str] = field(default_factory=list)


def bench_mlp_grader(course: Path, class_runs: int, one_runs: int) -> Figures:
    runs = [grade_class_mlp_grader(course) for _ in range(class_runs)]
    example = course / "submissions" / "example-correct"
    one = [grade_one_mlp_grader(example, course / "one-mlp-grader") for _ in range(one_runs)]
    return Figures(median([wall for wall, _ in runs]), median(one), runs[-1][1])


def bench_otter(otter: str, course: Path, names: list[str], class_runs: int, one_runs: int) -> Figures:
    autograder = build_otter_autograder(otter, course / "otter-autograder")
    zips = {name: otter_submission(course / "submissions" / name, course / "otter-submissions" / f"{name}.zip")
            for name in names}
    runs = [grade_class_otter(otter, autograder, zips, course / "otter-results") for _ in range(class_runs)]
    one = [grade_one_otter(otter, autograder, zips["example-correct"], course / "one-otter")[0] for _ in range(one_runs)]
    return Figures(median([wall for wall, _, _ in runs]), median(one), runs[-1][1], runs[-1][2])


def summary(tool: str, figures: Figures, kinds: dict[str, str], class_runs: int, one_runs: int) -> str:
    return (f"{tool}: class {seconds(figures.class_s)} (median of {class_runs}, serial), one student cold "
            f"{seconds(figures.one_s)} (median of {one_runs}); {failure_counts(figures.scores, kinds)}; "
            f"load average after {load()}")


def ratio_line(what: str, ours: float | None, theirs: float | None) -> str:
    line = f"{what}: mlp-grader {seconds(ours)}, otter run {seconds(theirs)}"
    return line + (f" -> otter/mlp-grader {theirs / ours:.1f}x" if ours and theirs else "")


def seconds(value: float | None) -> str:
    return "did not finish" if value is None else f"{value:.1f} s"


def print_examples(ours: Figures, theirs: Figures, kinds: dict[str, str]) -> None:
    print(f"  {'bundled example':32s} {'mlp-grader':>10s} {'otter run':>10s}   (score/max)")
    for name in sorted(n for n, k in kinds.items() if k == "example"):
        print(f"  {name:32s} {fmt(ours.scores.get(name)):>10s} {fmt(theirs.scores.get(name)):>10s}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20, help="synthetic students besides the bundled examples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, help="runs per timing (default: the class 1, one student 3)")
    parser.add_argument("--keep", type=Path, help="write the class, the autograder and all results here and keep them")
    parser.add_argument("--otter", help="the otter executable (default: `otter` on PATH)")
    args = parser.parse_args(argv)
    class_runs, one_runs = args.repeat or 1, args.repeat or 3
    otter = find_otter(args.otter)

    course = args.keep or Path(tempfile.mkdtemp(prefix="mlp-bench-otter-"))
    course.mkdir(parents=True, exist_ok=True)
    kinds = build_class(course, args.n, args.seed)
    examples = sum(k == "example" for k in kinds.values())
    print(f"class of {len(kinds)} ({examples} bundled {ASSIGNMENT} examples + {len(kinds) - examples} synthetic) "
          f"in {course}")
    print(f"{os.cpu_count()} CPUs, load average before {load()} (a shared machine inflates every figure)", flush=True)

    ours = bench_mlp_grader(course, class_runs, one_runs)
    print(summary("mlp-grader", ours, kinds, class_runs, one_runs), flush=True)
    if otter is None:
        print(install_hint())
    else:
        theirs = bench_otter(otter, course, sorted(kinds), class_runs, one_runs)
        print(summary("otter run", theirs, kinds, class_runs, one_runs))
        if theirs.timed_out:
            print(f"  otter run stopped after {OTTER_TIMEOUT_S:.0f} s (counted as failed): {', '.join(theirs.timed_out)}")
        print_examples(ours, theirs, kinds)
        print()
        print(ratio_line(f"class of {len(kinds)}, serially", ours.class_s, theirs.class_s))
        print(ratio_line("one student cold", ours.one_s, theirs.one_s))
    if not args.keep:
        shutil.rmtree(course, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
