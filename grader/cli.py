"""The `grader` command (also `python -m grader`): what pytest's own CLI does not fit.

Exit codes of `grader grade`: 0 when grading completed, whatever the students scored;
3 when the grader itself failed (an internal error or an interrupted run); 4 for a usage
error; 5 when there was nothing to grade. CI can rely on them: a student's zero is 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grader

GRADED = 0
GRADER_FAILED = 3
USAGE_ERROR = 4
NOTHING_TO_GRADE = 5


def cmd_data(args: argparse.Namespace) -> int:
    from grader import data, spec

    contract = spec.assignment(args.assignment).contract
    try:
        path = data.write_training_set(contract, Path(args.out or contract.data["file"]))
    except data.TeacherUnavailable as exc:
        print(f"grader data: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(f"wrote the training set of {args.assignment} to {path}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from grader import calibrate, spec

    contract = spec.assignment(args.assignment).contract
    value = calibrate.run(contract, threads=args.threads)
    metric = contract.checkpoint["metric"]
    if metric == "test_mse_ratio":
        print(f"reference test-set MSE: {value:.6f} (written to the TA configuration)")
    else:
        print(f"{args.assignment}: the reference's {metric} is {value:.6f}; write it, and the bounds derived "
              f"from it, into the [checkpoint] section of grader/assignments/{args.assignment}.toml")
    return 0


def _assignment_option(parser: argparse.ArgumentParser) -> None:
    from grader import spec

    parser.add_argument("--assignment", default=spec.DEFAULT, choices=spec.names(),
                        help=f"which assignment spec (default: {spec.DEFAULT})")


def cmd_grade(args: argparse.Namespace) -> int:
    import pytest

    from grader import guard

    missing = [p for p in args.paths if not Path(p.split("::")[0]).exists()]
    if missing:
        print(f"grader: no such folder: {', '.join(missing)}", file=sys.stderr)
        return USAGE_ERROR
    refused = guard.refusal(args.paths)
    if refused:
        print(f"grader: {refused}", file=sys.stderr)
        return USAGE_ERROR
    ini = Path(__file__).with_name("pytest-grading.ini")
    options = [*args.paths, "-c", str(ini), "--rootdir", str(Path.cwd()), "-p", "no:cacheprovider", "-q"]
    if args.reports_dir:
        options += ["--reports-dir", args.reports_dir]
    if args.workers:
        options += ["-n", str(args.workers), "--dist", "loadgroup"]
    code = pytest.main(options + list(args.pytest_args))
    return {0: GRADED, 1: GRADED, 5: NOTHING_TO_GRADE, 4: USAGE_ERROR}.get(int(code), GRADER_FAILED)


def cmd_summary(args: argparse.Namespace) -> int:
    from grader import guard, spec
    from grader.report import write_class_reports

    reports_dir = Path(args.reports_dir)
    if not reports_dir.is_dir():
        print(f"grader: no such folder: {reports_dir}", file=sys.stderr)
        return USAGE_ERROR
    # The submissions beside the reports: a file there that pytest runs could have forged them.
    refused = guard.refusal([reports_dir.resolve().parent / spec.root_name()])
    if refused:
        print(f"grader: {refused}", file=sys.stderr)
        return USAGE_ERROR
    if not (reports_dir / "students").is_dir() and any(reports_dir.glob("*/results.json")):
        print(f"grader: {reports_dir} holds results in the layout of earlier versions ({reports_dir}/<name>/); "
              f"move those folders into {reports_dir}/students/ to include them", file=sys.stderr)
    for path in write_class_reports(reports_dir):
        print(f"wrote {path}")
    return 0


def cmd_intake(args: argparse.Namespace) -> int:
    from grader.intake import command

    return command.run(args)


def cmd_kit(args: argparse.Namespace) -> int:
    from grader import kit

    out = Path(args.out)
    try:
        build = kit.build_zip if out.suffix == ".zip" else kit.build
        path = build(out, args.force, args.assignment)
    except kit.KitRefused as exc:
        print(f"grader kit: {exc}", file=sys.stderr)
        return USAGE_ERROR
    print(f"wrote the student kit to {path}")
    return 0


GRADE_EPILOG = f"""exit codes:
  {GRADED}  grading completed, whatever the students scored
  {GRADER_FAILED}  the grader itself failed (an internal error or an interrupted run)
  {USAGE_ERROR}  usage error (a folder that does not exist, a bad option)
  {NOTHING_TO_GRADE}  nothing to grade (no student folder in the paths)

Arguments after -- go to pytest, e.g. grader grade submissions/ -- --shard 1/4"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {grader.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="write the students' public training set")
    data.add_argument("--out", default=None, help="where to write it (default: the spec's data.file, "
                                                 "data/train.pt for mlp-regression)")
    _assignment_option(data)
    data.set_defaults(fn=cmd_data)

    calibrate = sub.add_parser("calibrate", help="train the reference per the handout and measure its checkpoint "
                                                 "metric (mlp-regression: store its hidden test-set MSE in the TA "
                                                 "configuration; slow)")
    calibrate.add_argument("--threads", type=int, default=1,
                           help="torch threads for the training (default: %(default)s; more changes no result)")
    _assignment_option(calibrate)
    calibrate.set_defaults(fn=cmd_calibrate)

    grade = sub.add_parser("grade", help="grade submission folders (a thin wrapper over pytest)",
                           formatter_class=argparse.RawDescriptionHelpFormatter, epilog=GRADE_EPILOG)
    grade.add_argument("paths", nargs="+", help="submission folders, or a submissions/ folder; "
                                                "submissions/<name>::<check> grades one check")
    grade.add_argument("--reports-dir", default=None, metavar="DIR",
                       help="where results and reports go (default: ./reports)")
    grade.add_argument("-n", "--workers", default=None, help="parallel workers (pytest-xdist), e.g. auto")
    grade.set_defaults(fn=cmd_grade)

    intake = sub.add_parser("intake", help="take submissions in from a download (folders, Canvas, Moodle, "
                                           "Gradescope, GitHub Classroom): only what the assignment asks for")
    from grader.intake.command import add_arguments
    add_arguments(intake)
    intake.set_defaults(fn=cmd_intake)

    # Help lines broken by hand: wrapped, the default path would break at one of its hyphens.
    kit = sub.add_parser("kit", help="build the student kit: the checker without the solution or hidden data",
                         formatter_class=argparse.RawTextHelpFormatter)
    kit.add_argument("--out", default="dist/mlp-grader-kit.zip",
                     help="a .zip file or a folder (default: %(default)s);\nan existing one is refused")
    kit.add_argument("--force", action="store_true",
                     help="replace a kit that `grader kit` wrote there before\n(only its own unchanged files)")
    _assignment_option(kit)  # the assignment whose code template the kit holds
    kit.set_defaults(fn=cmd_kit)

    summary = sub.add_parser("summary", help="rebuild the class summary (index.html) and grades.csv from the "
                                             "results.json files already on disk (after a regrade or a merge)")
    summary.add_argument("reports_dir", nargs="?", default="reports",
                         help="the reports folder holding students/<name>/results.json (default: %(default)s)")
    summary.set_defaults(fn=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to pytest untouched (argparse would take it for paths).
    passthrough = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return USAGE_ERROR if exc.code else 0
    args.pytest_args = passthrough
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
