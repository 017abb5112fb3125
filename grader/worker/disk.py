"""A submission's files in the worker: the disk quota the watch loop counts, and removing
whatever a submission wrote (its copy, the private /tmp) whatever modes it set."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class DiskWatch:
    """The disk quota of a submission: what its copy and the private /tmp hold together
    (allocated blocks, so a sparse file counts what it really uses). Counted by the
    watchdog, every WATCH_EVERY and when a call ends, so a fast writer can overshoot by
    what it writes in that time (RLIMIT_FSIZE bounds each file). A tree of more than
    MAX_ENTRIES files and folders counts as over the quota: counting it would cost more
    than the call. Only the watched folders' own file systems count: the sandbox binds the
    Python installation read-only wherever it lies, /tmp included (a virtualenv there held
    30000 files, and every call of a correct submission was stopped)."""

    MAX_ENTRIES = 20000

    def __init__(self, folders: list[Path], max_bytes: int):
        self.folders, self.max_bytes = folders, max_bytes
        self.used, self.entries = 0, 0

    def exceeded(self) -> bool:
        self.used, self.entries = 0, 0
        todo = [(str(f), _device(f)) for f in self.folders]
        while todo and self.entries <= self.MAX_ENTRIES:
            folder, device = todo.pop()
            try:
                with os.scandir(folder) as found:
                    for entry in found:
                        info = entry.stat(follow_symlinks=False)
                        if info.st_dev != device:
                            continue  # another file system mounted here, read-only
                        self.entries += 1
                        self.used += info.st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            todo.append((entry.path, device))
            except OSError:
                continue
        return self.used > self.max_bytes or self.entries > self.MAX_ENTRIES

    def describe(self) -> str:
        mb = self.max_bytes // 2**20
        if self.entries > self.MAX_ENTRIES:
            return f"it made more than {self.MAX_ENTRIES} files and folders (the grader allows {mb} MB on disk)"
        return f"it wrote {self.used // 2**20} MB into its folder and /tmp (the grader allows {mb} MB on disk)"


def _device(path) -> int | None:
    try:
        return os.stat(path, follow_symlinks=False).st_dev
    except OSError:
        return None


def empty(folder: Path) -> None:
    """Remove everything inside `folder` (the sandbox's private /tmp), whoever wrote it."""
    device = _device(folder)
    for entry in os.scandir(folder):
        path = Path(entry.path)
        try:
            if entry.stat(follow_symlinks=False).st_dev != device:
                continue  # a folder the sandbox binds there (a virtualenv under /tmp), not the student's
            if entry.is_dir(follow_symlinks=False):
                remove_tree(path)
            else:
                path.unlink()
        except OSError:
            pass


def remove_tree(path: Path) -> None:
    """shutil.rmtree, after making every folder below `path` readable and writable: without
    root a submission runs as our own uid, and a folder it set to mode 000 would otherwise
    outlive its turn. Symbolic links are never followed; no recursion (any depth)."""
    todo = [str(path)] if os.path.isdir(path) and not os.path.islink(path) else []
    while todo:
        folder = todo.pop()
        try:
            os.chmod(folder, 0o700)
            todo += [e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)
