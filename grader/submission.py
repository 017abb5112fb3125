"""A student's submission folder: where its code and checkpoint are, and what else is in it."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import course, spec
from grader.sources import Unreadable, kind_of, read_source

# The file in a submission folder that names the assignment it answers.
ASSIGNMENT_FILE = "assignment.toml"

# The first lines of a code file that grader intake made from a notebook or a script doing
# work at import (grader/intake/convert.py) start so: what was graded and what was left out.
CONVERSION_MARK = "# grader intake: "

# Files that Python would act on if they were loaded from a submission. The grader never
# loads them; it reports that they are there. (What pytest would act on is refused: below.)
FOREIGN_FILES = ("__init__.py", "sitecustomize.py", "usercustomize.py")

# Files pytest reads or runs when it meets them: configuration files (found upwards from the
# folder pytest is given, read before any plugin loads: `addopts = -p no:mlp_grader` would
# switch the grader off), conftest.py and test modules (pytest's default python_files). No
# grading run goes ahead while a submission folder holds one (grader/guard.py); `grader
# intake` never writes one.
PYTEST_CONFIG_FILES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini",
                       "setup.cfg")
PYTEST_TEST_MODULES = ("test_*.py", "*_test.py")


def pytest_role(name: str) -> str | None:
    """Why pytest would act on a file of this name, or None."""
    if name in PYTEST_CONFIG_FILES:
        return "a pytest configuration file: pytest reads it before any plugin and it can switch the grader off"
    if name == "conftest.py":
        return "a conftest.py: pytest runs it in the grader's process"
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in PYTEST_TEST_MODULES):
        return "a test module: pytest would run it in the grader's process if the grader were switched off"
    return None


def not_regular(path: Path) -> str | None:
    """Why the grader will not use `path` (a link, a pipe, a device...), or None for a
    regular file or a missing one. Never follows a link."""
    try:
        kind = kind_of(path.lstat().st_mode)
    except FileNotFoundError:
        return None
    if kind is None:
        return None
    target = f" (to {os.readlink(path)})" if path.is_symlink() else ""
    return (f"{path.name} is {kind}{target}: the grader uses only regular files inside the submission folder, "
            f"so this submission is not graded; hand in the file itself")


class CheckpointProblem(Exception):
    """No usable .pth could be chosen; the message says why."""


@dataclass(frozen=True)
class Submission:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def code(self) -> Path:
        return self.path / self.assignment()[0].contract.submission["code"]

    def checkpoint(self) -> Path:
        preferred = self.path / self.assignment()[0].contract.submission["checkpoint"]
        if os.path.lexists(preferred):
            return preferred
        suffix = preferred.suffix or ".pth"  # .npz for a numpy assignment
        found = sorted(self.path.glob(f"*{suffix}"))
        if not found:
            raise CheckpointProblem(f"no {suffix} file in the submission (expected {preferred.name})")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise CheckpointProblem(f"several {suffix} files ({names}) and none is named {preferred.name}: "
                                    f"rename the one to grade to {preferred.name}")
        return found[0]

    def conversion(self) -> list[str]:
        """What intake said when it made the code file from a notebook or a script doing work
        at import (its CONVERSION_MARK lines); empty for a file handed in as it is graded."""
        try:
            text = read_source(self.code)
        except Unreadable:
            return []
        marks = []
        for line in text.splitlines():
            if not line.startswith(CONVERSION_MARK):
                break
            marks.append(line[len(CONVERSION_MARK):])
        return marks

    def assignment(self) -> tuple[spec.Assignment, str | None]:
        """(the assignment this submission answers, a problem or None).

        The class's course file (grader/course.py) pins the assignment when there is one;
        otherwise `assignment.toml` in the folder says `assignment = "<name>"`, and without
        it the homework's default (`spec.DEFAULT`, mlp-regression) is graded, as the handout
        says. An unreadable file, an unknown name or, under a pin, another assignment's name
        is a problem (every check then fails with it); the pinned or default rubric lists
        the checks."""
        name, problem = self._assignment_name()
        return spec.assignment(name), problem

    def _assignment_name(self) -> tuple[str, str | None]:
        pin = course.pinned(self.path.parent)
        chosen, problem = self._chosen_assignment(pin or spec.DEFAULT)
        if problem:
            return pin or chosen, problem
        if pin is None or chosen == pin:
            return chosen, None
        return pin, (f"{ASSIGNMENT_FILE} names the assignment {chosen!r}, but this class is graded as {pin!r} "
                     f"(pinned by the TA in {course.course_file(self.path.parent)}): a submission cannot choose "
                     f'its assignment; hand in the {pin} homework, without {ASSIGNMENT_FILE} or with assignment = "{pin}"')

    def _chosen_assignment(self, default: str) -> tuple[str, str | None]:
        """What the submission's own assignment.toml says (`default` without one)."""
        path = self.path / ASSIGNMENT_FILE
        if not os.path.lexists(path):
            return default, None
        problem = not_regular(path)
        if problem:
            return default, problem
        try:
            with open(path, "rb") as fh:
                name = tomllib.load(fh).get("assignment")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return spec.DEFAULT, f"{ASSIGNMENT_FILE} cannot be read: {exc}"
        if not isinstance(name, str):
            return spec.DEFAULT, f'{ASSIGNMENT_FILE} must say assignment = "<name>" (one of {", ".join(spec.names())})'
        try:
            spec.assignment(name)
        except spec.UnknownAssignment:
            return spec.DEFAULT, (f"{ASSIGNMENT_FILE} names the assignment {name!r}, which the grader does not know "
                                  f"(known: {', '.join(spec.names())}): fix the name and resubmit")
        return name, None

    def unusable_file(self) -> str | None:
        """Why the folder, its code, its checkpoint or its assignment.toml cannot be used
        (a symbolic link, say to a classmate's file; a pipe; a device), or None. Every check
        of the submission then fails with this reason."""
        if self.path.is_symlink():
            return (f"the submission folder {self.name} is a symbolic link (to {os.readlink(self.path)}): "
                    f"the grader uses only regular files inside the submission folder")
        candidates = [self.code, self.path / ASSIGNMENT_FILE, *sorted(self.path.glob("*.pth")),
                      *sorted(self.path.glob("*.npz"))]
        return next(filter(None, map(not_regular, candidates)), None)

    def pytest_files(self) -> list[str]:
        """Files in the folder (at any depth) that pytest would read or run (`pytest_role`)."""
        found = []
        for folder, dirs, files in os.walk(self.path):  # never follows a link to a folder
            found += [os.path.relpath(os.path.join(folder, name), self.path)
                      for name in files + dirs if pytest_role(name)]
        return sorted(found)

    def foreign_files(self) -> list[str]:
        found = []
        for name in FOREIGN_FILES:
            found += [str(p.relative_to(self.path)) for p in self.path.rglob(name)]
        return sorted(found)


def is_submission_dir(path: Path) -> bool:
    """A folder directly inside the folder every assignment names `root_name`."""
    return path.is_dir() and path.parent.name == spec.root_name() and not path.name.startswith((".", "_"))
