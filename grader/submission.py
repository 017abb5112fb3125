"""A student's submission folder: where its code and checkpoint are, and what else is in it."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader import spec

# The file in a submission folder that names the assignment it answers.
ASSIGNMENT_FILE = "assignment.toml"

# Files that pytest or Python would act on if they were loaded from a submission. The
# grader never loads them; it reports that they are there.
FOREIGN_FILES = ("conftest.py", "pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", "__init__.py", "sitecustomize.py", "usercustomize.py")


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
        return self.path / spec.contract().submission["code"]

    def checkpoint(self) -> Path:
        preferred = self.path / spec.contract().submission["checkpoint"]
        if preferred.is_file():
            return preferred
        found = sorted(p for p in self.path.glob("*.pth") if p.is_file())
        if not found:
            raise CheckpointProblem(f"no .pth file in the submission (expected {preferred.name})")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise CheckpointProblem(f"several .pth files ({names}) and none is named {preferred.name}: "
                                    f"rename the one to grade to {preferred.name}")
        return found[0]

    def assignment(self) -> tuple[str, str | None]:
        """(the assignment this submission answers, a problem or None).

        `assignment.toml` in the folder says `assignment = "<name>"`; without it, the
        default assignment (mlp-regression). An unreadable file or an unknown name is a
        problem (every check then fails with it); the default's rubric is used to list the
        checks."""
        path = self.path / ASSIGNMENT_FILE
        if not path.is_file():
            return spec.DEFAULT, None
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

    def foreign_files(self) -> list[str]:
        found = []
        for name in FOREIGN_FILES:
            found += [str(p.relative_to(self.path)) for p in self.path.rglob(name)]
        return sorted(found)


def is_submission_dir(path: Path) -> bool:
    """A folder directly inside a folder named like the contract's `root_name`."""
    root_name = spec.contract().submission["root_name"]
    return path.is_dir() and path.parent.name == root_name and not path.name.startswith((".", "_"))
