"""`grader intake SOURCE... [--into submissions/] [--assignment NAME] [--force]`: the one door
for submissions. Exit codes: 0 every student taken in; 1 some student refused (a name
collision, a folder already there: see the class log); 4 usage error (a source that cannot
be read, no pinned assignment); 5 no student found.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from grader import course, spec
from grader.intake import formats, policy, write
from grader.intake.convert import convert
from grader.intake.entries import Entry, SourceProblem, folder_entries, open_zip, zip_entries

TAKEN_IN = 0
SOME_REFUSED = 1
USAGE_ERROR = 4
NOTHING_FOUND = 5


class UsageProblem(Exception):
    """The intake cannot start as asked; the message says why."""


@dataclass
class Arrival:
    """One student as a download names them."""

    key: str
    source: str
    format: str
    files: list[tuple[str, Entry]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="a folder of student folders or of GitHub Classroom clones, or a Canvas, Moodle or "
                             "Gradescope download (.zip)")
    parser.add_argument("--into", default="submissions", help="where the students' folders go (default: submissions)")
    parser.add_argument("--assignment", default=None, choices=spec.names(),
                        help=f"the assignment of this class, pinned in INTO/{course.COURSE_FILE}; needed unless "
                             f"that file pins it already")
    parser.add_argument("--force", action="store_true",
                        help="replace the folders an earlier intake wrote (only the files it wrote)")


def run(args: argparse.Namespace) -> int:
    into = Path(args.into)
    try:
        pinned = pin(into, args.assignment)
        with contextlib.ExitStack() as stack:
            arrivals, class_log = [], []
            for source in args.sources:
                grouped = formats.group(read_source(Path(source), stack))
                class_log += [f"{source}: read as {grouped.format}", *(f"{source}: {n}" for n in grouped.notes)]
                class_log += [f"{source}: dropped {path}: {why}" for path, why in grouped.unplaced]
                arrivals += [Arrival(key, source, grouped.format, files) for key, files in grouped.students.items()]
            if not arrivals:
                return _fail(f"no student found in {', '.join(args.sources)}", NOTHING_FOUND)
            return take_in(into, pinned, arrivals, class_log, args.force)
    except (UsageProblem, SourceProblem, course.CourseFileProblem) as exc:
        return _fail(str(exc), USAGE_ERROR)


def pin(into: Path, assignment: str | None) -> str:
    """The class's assignment: the one INTO/course.toml pins, or --assignment (then written there)."""
    pinned = course.pinned(into)
    if assignment and pinned and assignment != pinned:
        raise UsageProblem(f"{course.course_file(into)} pins {pinned!r}, not {assignment!r}: one folder of "
                            f"submissions is one class, one assignment")
    if not (assignment or pinned):
        raise UsageProblem(f"which assignment is this class? Say --assignment NAME (one of {', '.join(spec.names())}); "
                            f"it is pinned in {course.course_file(into)} for every later intake and grading run")
    if not pinned:
        into.mkdir(parents=True, exist_ok=True)
        course.pin(into, assignment)
    return assignment or pinned


def read_source(path: Path, stack: contextlib.ExitStack) -> list[Entry]:
    if path.is_dir():
        return folder_entries(path)
    if path.is_file() and zipfile.is_zipfile(path):
        archive = stack.enter_context(open_zip(path))
        return zip_entries(archive, int(spec.limits()["intake"]["max_entries"]))
    raise SourceProblem(f"{path} is neither a folder nor a zip archive")


def take_in(into: Path, pinned: str, arrivals: list[Arrival], class_log: list[str], force: bool) -> int:
    rules = policy.Rules.of(pinned)
    by_name: dict[str | None, list[Arrival]] = {}
    for arrival in arrivals:
        by_name.setdefault(write.safe_name(arrival.key), []).append(arrival)
    refused = [f"refused {a.key!r} from {a.source}: no usable folder name in it" for a in by_name.pop(None, [])]
    for name, group in sorted(by_name.items()):
        if len(group) > 1:
            refused += [f"refused {a.key!r} from {a.source}: {len(group)} students would be {into / name} "
                        f"({', '.join(repr(b.key) for b in group)}); none is written, nothing is merged" for a in group]
    students = {name: group[0] for name, group in sorted(by_name.items()) if len(group) == 1}
    choices = {name: policy.choose(a.files, rules) for name, a in students.items()}
    _within_budget(choices, rules)
    written = 0
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, arrival in students.items():
        choice = choices[name]
        files = convert(policy.take(choice, rules, pinned), rules.code, choice.log)
        header = f"# grader intake {stamp}: {arrival.key!r} from {arrival.source} ({arrival.format}), assignment {pinned}"
        problem = write.write_student(into, name, files, [header, *choice.log], force)
        if problem:
            refused.append(f"refused {arrival.key!r} from {arrival.source}: {problem}")
            continue
        written += 1
        dropped = sum(line.startswith("dropped ") for line in choice.log)
        converted = [line.split(":")[0] for line in choice.log if line.startswith("converted ")]
        print(f"{name}: kept {', '.join(files) or 'nothing'}" + (f"; dropped {dropped}" if dropped else "") +
              "".join(f"; {c} (only its definitions are graded)" for c in converted) +
              f" (log: {write.log_path(into, name)})")
    log = write.append_class_log(into, [f"# grader intake {stamp} into {into}, assignment {pinned}", *class_log, *refused])
    for line in refused:
        print(line, file=sys.stderr)
    print(f"took in {written} of {len(arrivals)} students into {into} (assignment {pinned}); class log: {log}")
    return SOME_REFUSED if refused else TAKEN_IN


def _within_budget(choices: dict[str, policy.Choice], rules: policy.Rules) -> None:
    """Refuse the whole intake, before anything is read, when what it would write (as the
    sources' headers and listings say) exceeds limits.toml's intake.max_total_bytes."""
    budget = int(spec.limits()["intake"]["max_total_bytes"])
    total = sum(entry.size for c in choices.values() for name, (_, entry) in c.chosen.items()
                if entry.size <= rules.cap(name))
    if total > budget:
        raise UsageProblem(f"the submissions would take {total} bytes, more than the {budget} one intake writes")


def _fail(message: str, code: int) -> int:
    print(f"grader intake: {message}", file=sys.stderr)
    return code
