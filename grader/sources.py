"""Reading a file a student handed in, in the grading process: a regular file only, never
through a symbolic link, never blocking (a FIFO), and never more than limits.toml's
size.max_source_bytes (a link to /dev/zero or a 2 GB file must not stall or fill the
grader that reads it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from grader import spec


class Unreadable(Exception):
    """A source file that is not a regular file, is too large, or cannot be read."""


def read_source(path: Path) -> str:
    """The text of a regular file, read without following a symbolic link, without
    blocking (a FIFO) and up to limits.toml's size.max_source_bytes."""
    cap = int(spec.limits()["size"]["max_source_bytes"])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(f"{path.name} cannot be opened ({exc.strerror}; a symbolic link is not followed)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{path.name} is not a regular file")
        if info.st_size > cap:
            raise Unreadable(f"{path.name} is {info.st_size} bytes, more than the {cap} a source file may have")
        chunks, size = [], 0
        while size <= cap:
            chunk = os.read(fd, cap + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise Unreadable(f"{path.name} is more than the {cap} bytes a source file may have")
    except OSError as exc:
        raise Unreadable(f"{path.name} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="replace")
