"""The grader's refusal to go near a submission folder that holds a file pytest would read
or run (a configuration file, a conftest.py, a test module), or a broken course file.

Every entry point that can see submission folders asks `refusal()` first: the plugin on
any pytest run (grader/plugin/), `grader grade` and `grader summary` (grader/cli.py).
Folders that came through `grader intake` never hold such a file; one that does was copied
in some other way, and pytest may already have read it (docs/INTAKE.md says why only
`grader intake` closes that door).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from grader import course, spec
from grader.submission import Submission, is_submission_dir, pytest_role


def submission_folders(paths: Iterable[str | Path]) -> list[Path]:
    """The submission folders a run given these paths (pytest's arguments) can reach: a
    submission folder itself (or a path inside one), the folders of a submissions root,
    and those of a submissions root directly inside a given folder."""
    root_name = spec.root_name()
    found: list[Path] = []
    for arg in paths:
        if str(arg).startswith("-"):
            continue
        path = Path(os.path.abspath(str(arg).split("::")[0]))
        inside = [p for p in (path, *path.parents) if is_submission_dir(p)]
        roots = [r for r in (path, path / root_name) if r.name == root_name and r.is_dir()]
        found += inside[-1:] + [child for root in roots for child in sorted(root.iterdir()) if is_submission_dir(child)]
    return sorted(set(found))


def refusal(paths: Iterable[str | Path]) -> str | None:
    """Why no grading may run on these paths (every offending file named), or None."""
    folders = submission_folders(paths)
    problems = []
    for root in sorted({folder.parent for folder in folders}):
        try:
            course.pinned(root)
        except course.CourseFileProblem as exc:
            problems.append(str(exc))
    for folder in folders:
        for relative in Submission(folder).pytest_files():
            problems.append(f"{folder / relative}: {pytest_role(Path(relative).name)}")
    if not problems:
        return None
    return ("refusing to grade: " + "\n  ".join(["the submissions hold what no grading run may see:", *problems]) +
            "\nTake the class in with `grader intake SOURCE... --into submissions/` (docs/INTAKE.md), which keeps "
            "only the files the assignment asks for, and grade what it wrote; never run pytest on a folder that "
            "still holds one of these files.")
