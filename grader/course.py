"""The class's course file: `submissions/course.toml`, written by the TA (or by
`grader intake --assignment NAME`), pins the assignment every submission beside it answers.

    assignment = "mlp-regression"

It is a file directly inside the submissions folder, so it is never taken for a
submission (a submission is a folder). With a pin, a student's `assignment.toml` that
names another assignment is refused; without one, each submission's `assignment.toml`
chooses (the bundled examples mix assignments). A broken course file is the TA's error: it
stops the run, naming the file.
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from grader import spec

COURSE_FILE = "course.toml"


class CourseFileProblem(ValueError):
    """The course file exists but does not pin a known assignment; the message says why."""


def course_file(submissions_root: Path) -> Path:
    return Path(submissions_root) / COURSE_FILE


def pinned(submissions_root: Path) -> str | None:
    """The assignment the course file beside the submissions pins, or None without one."""
    path = course_file(submissions_root)
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(mode):
        raise CourseFileProblem(f"{path} is not a regular file")
    try:
        with open(path, "rb") as fh:
            name = tomllib.load(fh).get("assignment")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseFileProblem(f"{path} cannot be read: {exc}") from None
    if name not in spec.names():
        raise CourseFileProblem(f'{path} must say assignment = "<name>", one of {", ".join(spec.names())} '
                                f"(it says {name!r})")
    return name


def pin(submissions_root: Path, assignment: str) -> Path:
    """Write the course file pinning `assignment` (the caller checked it is not pinned otherwise)."""
    spec.assignment(assignment)  # unknown names raise
    path = course_file(submissions_root)
    path.write_text(f"# The assignment every submission in this folder answers (docs/INTAKE.md).\n"
                    f'assignment = "{assignment}"\n', encoding="utf-8")
    return path
