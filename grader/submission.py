"""A student's submission folder: where its code and checkpoint are, and what else is in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import spec

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

    def foreign_files(self) -> list[str]:
        found = []
        for name in FOREIGN_FILES:
            found += [str(p.relative_to(self.path)) for p in self.path.rglob(name)]
        return sorted(found)


def is_submission_dir(path: Path) -> bool:
    """A folder directly inside a folder named like contract.toml's `root_name`."""
    root_name = spec.contract().submission["root_name"]
    return path.is_dir() and path.parent.name == root_name and not path.name.startswith((".", "_"))
