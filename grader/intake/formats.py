"""Whose files are where in a download: the naming formats of the platforms a class hands
in through. docs/INTAKE.md states each format as assumed here.

* Canvas ("Download Submissions"): a flat zip of `<lastfirst>_<userid>_<attachmentid>_<file>`,
  `<lastfirst>_late_<userid>_<attachmentid>_<file>` for a late one (LATE in any case).
  Student: `<lastfirst>-<userid>`.
* Moodle ("Download all submissions"): `<Full Name>_<id>_assignsubmission_file_/<file>`
  (in folders) or `<Full Name>_<id>_assignsubmission_file_<file>` (flat); other plugins
  (`assignsubmission_onlinetext_`) hold nothing to grade. Student: `<Full Name>-<id>`.
* Gradescope ("Export Submissions"): `submission_<id>/<files>` beside
  `submission_metadata.yml` (possibly all inside one top folder), whose `:name:` entries
  name the submitters. Student: the submitters' names (`submission_<id>` without them).
* GitHub Classroom (clones of the students' repositories): `<assignment>-<username>/` folders
  holding `.git`. Student: the folder name without the prefix all clones share (when there
  are at least two).
* Folders: one folder per student (a zip of them too, also inside one top folder).
  Student: the folder's name.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from grader.intake.entries import Entry, ReadProblem, unsafe_path

CANVAS = re.compile(r"^(?P<name>[^_/]+?)(?:_late)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>[^/]+)$",
                    re.IGNORECASE)
MOODLE = re.compile(r"^(?P<name>[^/]+?)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)$")
GRADESCOPE_METADATA = "submission_metadata.yml"
GRADESCOPE_FOLDER = re.compile(r"^submission_(?P<id>\d+)$")
MAX_METADATA_BYTES = 16 << 20


@dataclass
class Grouped:
    """A download's files by student (the key is the name the download gives), and the
    files that belong to no student, with why."""

    format: str
    students: dict[str, list[tuple[str, Entry]]] = field(default_factory=dict)
    unplaced: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, student: str, path: str, entry: Entry) -> None:
        self.students.setdefault(student, []).append((path, entry))


def group(entries: list[Entry]) -> Grouped:
    """Recognise the download's format and sort its entries by student."""
    unsafe = [(e.path, unsafe_path(e.path)) for e in entries if unsafe_path(e.path)]
    entries = [e for e in entries if not unsafe_path(e.path)]
    metadata = _gradescope_metadata(entries)
    named = {"moodle": sum(map(bool, map(_moodle, (e.path for e in entries)))),
             "canvas": sum(map(bool, map(_canvas, (e.path for e in entries))))}
    if metadata:
        grouped = _gradescope(entries, metadata)
    elif max(named.values()) * 2 > len(entries):  # most members: one student's file names cannot decide
        grouped = _by_name("moodle", entries, _moodle) if named["moodle"] >= named["canvas"] else \
            _by_name("canvas", entries, _canvas)
    else:
        grouped = _folders(entries)
    grouped.unplaced[:0] = [(path, f"{why}: never written") for path, why in unsafe]
    return grouped


def _by_name(format_name: str, entries: list[Entry], place) -> Grouped:
    grouped = Grouped(format_name)
    for entry in entries:
        placed = place(entry.path)
        if placed is None:
            grouped.unplaced.append((entry.path, f"not named like a {format_name} submission"))
        else:
            grouped.add(*placed, entry)
    return grouped


def _canvas(path: str) -> tuple[str, str] | None:
    match = CANVAS.match(path)
    return (f"{match['name']}-{match['user']}", match["file"]) if match else None


def _moodle(path: str) -> tuple[str, str] | None:
    match = MOODLE.match(path)
    if not match or not match["rest"].lstrip("/"):
        return None
    return f"{match['name']}-{match['id']}", match["rest"].lstrip("/")


def _gradescope_metadata(entries: list[Entry]) -> Entry | None:
    """Gradescope's metadata file, at the top or inside a top folder that holds everything
    (so that a student's folder holding a file of that name decides nothing)."""
    for entry in entries:
        top, _, name = entry.path.rpartition("/")
        prefix = f"{top}/" if top else ""
        if name == GRADESCOPE_METADATA and "/" not in top and all(e.path.startswith(prefix) for e in entries):
            return entry
    return None


def _gradescope(entries: list[Entry], metadata: Entry) -> Grouped:
    grouped = Grouped("gradescope")
    base = metadata.path[:-len(GRADESCOPE_METADATA)]
    try:
        names = submitters(metadata.read(MAX_METADATA_BYTES)[:MAX_METADATA_BYTES].decode("utf-8", "replace"))
    except ReadProblem as exc:
        names = {}
        grouped.notes.append(f"{metadata.path}: {exc}; students are named by their submission folders")
    for entry in entries:
        if entry is metadata:
            continue
        folder, _, rest = entry.path[len(base):].partition("/")
        match = GRADESCOPE_FOLDER.match(folder)
        if not entry.path.startswith(base) or not match or not rest:
            grouped.unplaced.append((entry.path, "not inside a Gradescope submission_<id>/ folder"))
            continue
        grouped.add(" and ".join(names.get(folder, [])) or folder, rest, entry)
    return grouped


def submitters(text: str) -> dict[str, list[str]]:
    """`submission_<id>` -> its submitters' names, from Gradescope's submission_metadata.yml
    (YAML with Ruby-symbol keys, read line by line: only the `:name:` entries matter)."""
    names: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        top = re.match(r"^(submission_\d+):\s*$", line)
        if top:
            current = names.setdefault(top[1], [])
        elif not line.startswith((" ", "-")):
            current = None
        elif current is not None and (name := re.match(r"^\s*(?:-\s*)?:name:\s*(.*?)\s*$", line)):
            current.append(name[1].strip("'\""))
    return names


def _folders(entries: list[Entry]) -> Grouped:
    entries = _without_single_top(entries)
    grouped = Grouped("folders")
    for entry in entries:
        folder, _, rest = entry.path.partition("/")
        if rest:
            grouped.add(folder, rest, entry)
        else:
            grouped.unplaced.append((entry.path, "not inside a student's folder"))
    clones = [files for files in grouped.students.values() if any(p.split("/")[0] == ".git" for p, _ in files)]
    if len(grouped.students) >= 2 and len(clones) == len(grouped.students):
        grouped.format = "github-classroom"
        prefix = os.path.commonprefix(list(grouped.students))
        prefix = prefix[:prefix.rfind("-") + 1]
        if prefix:
            grouped.notes.append(f"GitHub Classroom clones: the prefix {prefix!r} is left out of the students' names")
            grouped.students = {key[len(prefix):]: files for key, files in grouped.students.items()}
    return grouped


def _without_single_top(entries: list[Entry]) -> list[Entry]:
    """A zip of the students' folders inside one top folder (`submissions/alice/...`):
    that top folder left out, when it holds at least two folders and no file."""
    tops = {e.path.split("/")[0] for e in entries}
    seconds = {tuple(e.path.split("/")[:2]) for e in entries}
    if len(tops) == 1 and all(e.path.count("/") >= 2 for e in entries) and len(seconds) >= 2:
        cut = len(tops.pop()) + 1
        return [Entry(e.path[cut:], e.size, e.kind, e.reader) for e in entries]
    return entries
