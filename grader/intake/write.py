"""Writing what intake took: `submissions/<student>/` and its log in `submissions/_intake/`,
never over anything intake did not write.

A student's folder name is made safe (ASCII letters, digits, '.', '-'; no leading dot,
dash or underscore, so never hidden, never `..`, never the log folder); two students whose
names come out the same are both refused, never merged.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import unicodedata
from pathlib import Path

from grader.course import COURSE_FILE

LOG_FOLDER = "_intake"  # beside the students' folders; a leading underscore is never a submission
CLASS_LOG = "_class.log"  # inside LOG_FOLDER; a student's log is <student>.log
KEPT = re.compile(r"^kept (?P<name>.+) \(\d+ bytes\)$")
MAX_NAME = 64


def safe_name(raw: str) -> str | None:
    """The folder name of a student called `raw` in a download, or None when nothing usable is left."""
    text = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"[^a-z0-9.]+", "-", text)
    text = re.sub(r"\.{2,}", ".", text).strip("-.")[:MAX_NAME].strip("-.")
    return text if text and text != COURSE_FILE else None


def log_path(into: Path, student: str) -> Path:
    return into / LOG_FOLDER / f"{student}.log"


def write_student(into: Path, student: str, files: dict[str, bytes], log: list[str], force: bool) -> str | None:
    """Write one student's folder and log; or, without writing anything, why not."""
    target = into / student
    if os.path.lexists(target):
        if not force:
            return (f"{target} already exists: intake never overwrites a submission (--force replaces what an "
                    f"earlier intake wrote there)")
        problem = remove_earlier(into, student)
        if problem:
            return problem
    staging = Path(tempfile.mkdtemp(prefix=f".intake-{student}-", dir=into))
    try:
        for name, data in files.items():
            with open(staging / name, "xb") as fh:
                fh.write(data)
        staging.chmod(0o755)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log_path(into, student).parent.mkdir(exist_ok=True)
    log_path(into, student).write_text("\n".join(log) + "\n", encoding="utf-8")
    return None


def remove_earlier(into: Path, student: str) -> str | None:
    """Remove a folder an earlier intake wrote: only the files its log says it kept, and only
    when nothing else is there."""
    target, log = into / student, log_path(into, student)
    if target.is_symlink() or not target.is_dir() or not log.is_file():
        return (f"{target} exists and no earlier intake wrote it (no {log}): not replaced; move it away "
                f"first")
    written = {m["name"] for line in log.read_text(encoding="utf-8").splitlines() if (m := KEPT.match(line))}
    present = {p.name: p.lstat().st_mode for p in target.iterdir()}
    others = sorted(name for name, mode in present.items() if name not in written or not stat.S_ISREG(mode))
    if others:
        return (f"{target} holds what the earlier intake did not write ({', '.join(others)}): not replaced; "
                f"move it away first")
    for name in present:
        (target / name).unlink()
    target.rmdir()
    return None


def append_class_log(into: Path, lines: list[str]) -> Path:
    path = into / LOG_FOLDER / CLASS_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return path
