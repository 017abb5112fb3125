"""Reading a download safely: the files of a folder or a zip archive as `Entry`s, without
following a link, opening a pipe or device, extracting anything, or reading more than a cap.

An entry only *describes* a file (its path inside the source, what kind of file it is, the
size it claims); its bytes are read on demand, at most `limit + 1` of them, so a file larger
than its cap or an archive member that inflates beyond what its header says is caught
after reading one byte too many, never after filling the disk.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grader.sources import NotRegular, kind_of, open_regular, read_at_most

CHUNK = 1 << 16
# Folders of tools, not of students: listed once, never descended into.
TOOL_FOLDERS = {".git": "git metadata (the repository's history is not graded)",
                "__MACOSX": "macOS archive metadata", "__pycache__": "Python's bytecode cache"}


class SourceProblem(Exception):
    """A source that cannot be taken in at all (not a folder or zip, unreadable, too many entries)."""


class ReadProblem(Exception):
    """One entry whose bytes could not be read; the message says why."""


@dataclass(frozen=True)
class Entry:
    path: str  # inside the source, "/"-separated, as the source names it
    size: int  # what the folder's lstat or the archive's header says
    kind: str | None = None  # None: a regular file; else why it is not one ("a symbolic link", ...)
    reader: Callable[[int], bytes] | None = None  # reads at most limit + 1 bytes

    def read(self, limit: int) -> bytes:
        """The file's bytes; more than `limit` of them means it is larger than allowed."""
        if self.reader is None:
            raise ReadProblem(f"{self.path} is {self.kind}")
        return self.reader(limit)


def unsafe_path(path: str) -> str | None:
    """Why an archive member's name may not become a path on disk, or None."""
    if "\\" in path or "\0" in path:
        return "its name holds a backslash or NUL byte"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "an absolute path"
    parts = path.rstrip("/").split("/")
    if ".." in parts:
        return "a path that climbs out with '..'"
    if any(part in ("", ".") for part in parts):
        return "a path with an empty or '.' component"
    return None


def _read_stream(stream, limit: int) -> bytes:
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(CHUNK, limit + 1 - len(data)))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# ------------------------------------------------------------------------------ folders

def folder_entries(root: Path) -> list[Entry]:
    """Every file below `root`, links and special files described but never followed or
    opened; a tool folder (.git, ...) is one entry, not descended into."""
    entries = []
    for folder, dirs, files in os.walk(root):
        for name in sorted(dirs):
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            if os.path.islink(full):
                entries.append(Entry(relative, 0, f"a symbolic link (to {os.readlink(full)})"))
            elif name in TOOL_FOLDERS:
                entries.append(Entry(relative + "/", 0, "a folder"))
        dirs[:] = sorted(d for d in dirs if d not in TOOL_FOLDERS and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            info = os.lstat(full)
            kind = kind_of(info.st_mode)
            if kind == "a symbolic link":
                kind += f" (to {os.readlink(full)})"
            entries.append(Entry(relative, info.st_size, kind, None if kind else _file_reader(full)))
    return entries


def _file_reader(path: str) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            fd = open_regular(path)
        except NotRegular as exc:  # swapped for something else since it was listed
            raise ReadProblem(f"became {exc.kind} while being read") from None
        except OSError as exc:
            raise ReadProblem(f"cannot be opened: {exc.strerror}") from None
        try:
            return read_at_most(fd, limit)
        except OSError as exc:
            raise ReadProblem(f"cannot be read: {exc.strerror}") from None
        finally:
            os.close(fd)
    return read


# ------------------------------------------------------------------------------ archives

def zip_entries(archive: zipfile.ZipFile, max_entries: int) -> list[Entry]:
    """The archive's members as entries, checked before anything is read: their number, their
    names (no absolute path, no '..'), their type (no link or device); folders are left out."""
    members = archive.infolist()
    if len(members) > max_entries:
        raise SourceProblem(f"{archive.filename} has {len(members)} entries, more than the {max_entries} "
                            f"grader intake opens")
    entries = []
    for info in members:
        if info.is_dir():
            continue
        kind = _member_kind(info)
        entries.append(Entry(info.filename, info.file_size, kind, None if kind else _member_reader(archive, info)))
    return entries


def _member_kind(info: zipfile.ZipInfo) -> str | None:
    unsafe = unsafe_path(info.filename)
    if unsafe:
        return unsafe
    if info.flag_bits & 0x1:
        return "an encrypted archive member"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode):  # made on Unix: the mode says the type
        return kind_of(mode)
    return None


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[int], bytes]:
    def read(limit: int) -> bytes:
        try:
            with archive.open(info) as stream:
                return _read_stream(stream, limit)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
            raise ReadProblem(f"cannot be read from the archive: {exc}") from None
    return read


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise SourceProblem(f"{path} is not a readable zip archive: {exc}") from None
