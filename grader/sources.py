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


def kind_of(mode: int) -> str | None:
    """What a file of this st_mode is, when it is not a regular file (None for one)."""
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


class NotRegular(OSError):
    """The path, opened without following a link, is not a regular file: `kind` says what it is."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def open_regular(path: Path | str) -> int:
    """A read-only descriptor of a regular file, opened without following a symbolic link
    and without blocking (a FIFO); raises OSError, or `NotRegular` for anything else."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    kind = kind_of(os.fstat(fd).st_mode)
    if kind:
        os.close(fd)
        raise NotRegular(kind)
    return fd


def read_at_most(fd: int, limit: int) -> bytes:
    """At most `limit + 1` bytes from `fd`: more than `limit` means the file is too large."""
    chunks, size = [], 0
    while size <= limit:
        chunk = os.read(fd, limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_source(path: Path) -> str:
    """The text of a regular file, read without following a symbolic link, without
    blocking (a FIFO) and up to limits.toml's size.max_source_bytes."""
    cap = int(spec.limits()["size"]["max_source_bytes"])
    try:
        fd = open_regular(path)
    except NotRegular:
        raise Unreadable(f"{path.name} is not a regular file") from None
    except OSError as exc:
        raise Unreadable(f"{path.name} cannot be opened ({exc.strerror}; a symbolic link is not followed)") from None
    try:
        size = os.fstat(fd).st_size
        if size > cap:
            raise Unreadable(f"{path.name} is {size} bytes, more than the {cap} a source file may have")
        data = read_at_most(fd, cap)
        if len(data) > cap:
            raise Unreadable(f"{path.name} is more than the {cap} bytes a source file may have")
    except OSError as exc:
        raise Unreadable(f"{path.name} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")
