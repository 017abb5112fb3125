"""What a submission may hold, from the assignment spec's `[submission]` (its code file and
checkpoint) plus `assignment.toml`, and why everything else is left behind.

`choose()` decides from names and kinds alone (nothing is read); `take()` then reads the
chosen files under their caps. Every decision is a line of the student's intake log.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from grader import spec
from grader.intake.convert import notebook_name
from grader.intake.entries import TOOL_FOLDERS, Entry, ReadProblem
from grader.submission import ASSIGNMENT_FILE, FOREIGN_FILES, pytest_role

# Canvas renames a file a student uploads again: mlp.py becomes mlp-1.py.
COPY_SUFFIX = re.compile(r"^(?P<stem>.+)-\d+(?P<suffix>\.[^.]+)$")


@dataclass(frozen=True)
class Rules:
    """The files of one assignment's submissions, each with its size cap."""

    caps: dict[str, int]  # file name -> largest size taken
    checkpoint: str
    code: str
    notebook: str  # taken instead of the code file when there is none; intake converts it
    max_helpers: int = 0  # helper modules (*.py beside the code file) taken with it


    @classmethod
    def of(cls, assignment: str) -> "Rules":
        contract = spec.assignment(assignment).contract.submission
        sizes = spec.limits()
        notebook = notebook_name(contract["code"])
        caps = {contract["code"]: int(sizes["intake"]["max_code_bytes"]),
                contract["checkpoint"]: int(sizes["size"]["max_checkpoint_bytes"]),
                ASSIGNMENT_FILE: int(sizes["intake"]["max_small_file_bytes"]),
                notebook: int(sizes["intake"]["max_notebook_bytes"])}
        return cls(caps, contract["checkpoint"], contract["code"], notebook,
                   int(sizes["intake"].get("max_helper_modules", 0)))

    def described(self) -> str:
        return f"{self.code} (or {self.notebook}), {self.checkpoint} and {ASSIGNMENT_FILE}"

    def cap(self, name: str) -> int:
        if name not in self.caps and self.helper(name):
            return self.caps[self.code]
        return self.caps.get(name, self.caps[self.checkpoint])

    def helper(self, name: str) -> bool:
        """A module the code file may import, beside it: `layers.py` (not the code file,
        not a file Python or pytest would act on by itself)."""
        return (name.endswith(".py") and name[:-3].isidentifier() and name not in self.caps
                and name not in FOREIGN_FILES and pytest_role(name) is None)


@dataclass
class Choice:
    """One student's files: what to take and the log so far."""

    chosen: dict[str, tuple[str, Entry]] = field(default_factory=dict)  # name -> (path in the download, entry)
    log: list[str] = field(default_factory=list)

    def drop(self, path: str, why: str) -> None:
        self.log.append(f"dropped {path}: {why}")


def choose(files: list[tuple[str, Entry]], rules: Rules) -> Choice:
    choice = Choice()
    named: dict[str, list[tuple[str, Entry]]] = {}
    tool_folders = set()
    for path, entry in sorted(files, key=lambda f: f[0]):
        top = path.split("/")[0]
        if top in TOOL_FOLDERS:
            if top not in tool_folders:
                choice.drop(top + "/", TOOL_FOLDERS[top])
            tool_folders.add(top)
            continue
        why = _refused(path, entry, rules)
        if why:
            choice.drop(path, why)
        else:
            named.setdefault(_target(path, rules), []).append((path, entry))
    notebooks = sorted(name for name in named if name.endswith(".ipynb") and name != rules.notebook)
    if len(notebooks) == 1 and rules.notebook not in named and rules.code not in named:
        named[rules.notebook] = named.pop(notebooks[0])  # the only notebook, whatever its name
    suffix = "." + rules.checkpoint.rsplit(".", 1)[-1]  # .pth, or .npz for a numpy assignment
    lone = [name for name in named if name.endswith(suffix) and name not in rules.caps]
    lone_taken = len(lone) == 1 and rules.checkpoint not in named  # the grader takes a lone .pth
    helpers = {name for name in named if rules.helper(name) and len(named[name]) == 1}
    for name, found in sorted(named.items()):
        path, entry = found[0]
        if len(found) > 1:
            for other, _ in found:
                choice.drop(other, f"{len(found)} files would be {name} ({', '.join(p for p, _ in found)}): "
                                   f"none is taken, the intake cannot tell which one is meant")
        elif name == rules.notebook and rules.code in named:
            choice.drop(path, f"{rules.code} is graded: a notebook is taken only instead of it")
        elif name in rules.caps or (name in lone and lone_taken):
            choice.chosen[name] = (path, entry)
            if path != name:
                why = "the platform's copy of a re-uploaded file" if _target(path, rules) == name else \
                    f"the only notebook, and no {rules.code}"
                choice.log.append(f"renamed {path} to {name} ({why})")
        elif name in helpers:  # taken if the code file imports it (`take`)
            choice.chosen[name] = (path, entry)
        elif name in notebooks and rules.code not in named and rules.notebook not in named:
            choice.drop(path, f"one of several notebooks ({', '.join(notebooks)}) and none is named {rules.notebook}")
        elif name in lone and rules.checkpoint not in named:
            choice.drop(path, f"one of several {suffix} files ({', '.join(sorted(lone))}) and none is named "
                              f"{rules.checkpoint}")
        else:
            choice.drop(path, f"not part of the submission, which holds {rules.described()}")
    choice.log.sort()
    return choice


def _refused(path: str, entry: Entry, rules: Rules) -> str | None:
    name = path.split("/")[-1]
    if entry.kind:
        return f"{entry.kind}: only regular files are taken"
    if pytest_role(name):
        return pytest_role(name)
    if "/" in path:
        return f"inside a folder: the submission holds {rules.described()} at its top"
    return None


def _target(name: str, rules: Rules) -> str:
    """The name a file is taken under: its own, or the name it had before the platform
    added a copy suffix."""
    copy = COPY_SUFFIX.match(name)
    if name not in rules.caps and copy and copy["stem"] + copy["suffix"] in rules.caps:
        return copy["stem"] + copy["suffix"]
    return name


def take(choice: Choice, rules: Rules, pinned: str) -> dict[str, bytes]:
    """Read the chosen files, each under its cap; the log says what was kept and what not.
    Helper modules last: only those the code file (or the notebook) imports, up to
    [intake] max_helper_modules of them by name."""
    taken: dict[str, bytes] = {}
    files = sorted(choice.chosen.items(), key=lambda item: (rules.helper(item[0]), item[0]))
    helpers_kept = 0
    for name, (path, entry) in files:
        if rules.helper(name):
            code = taken.get(rules.code, taken.get(rules.notebook, b""))
            if not re.search(rb"(?:from|import)\s+" + re.escape(name[:-3].encode()) + rb"\b", code):
                choice.drop(path, f"a .py file {rules.code} does not import: not part of the submission")
                continue
            if helpers_kept >= rules.max_helpers:
                choice.drop(path, f"more than {rules.max_helpers} helper modules beside {rules.code} "
                                  f"(the first {rules.max_helpers} by name are taken)")
                continue
        cap = rules.cap(name)
        if entry.size > cap:
            choice.drop(path, f"{entry.size} bytes, more than the {cap} allowed for {name}")
            continue
        try:
            data = entry.read(cap)
        except ReadProblem as exc:
            choice.drop(path, str(exc))
            continue
        if len(data) > entry.size:
            choice.drop(path, f"holds more than the {entry.size} bytes it was listed with (an archive "
                                    f"member inflating beyond its header, or a file that grew)")
            continue
        taken[name] = data
        if rules.helper(name):
            helpers_kept += 1
            choice.log.append(f"kept {name} ({len(data)} bytes): a helper module {rules.code} imports, graded and "
                              f"scanned with it")
            continue
        choice.log.append(f"kept {name} ({len(data)} bytes)")
        if name == ASSIGNMENT_FILE:
            note = assignment_note(data, pinned)
            if note:
                choice.log.append(note)
    return taken


def assignment_note(data: bytes, pinned: str) -> str | None:
    """A warning for the log when the student's assignment.toml names another assignment."""
    try:
        named = tomllib.loads(data.decode("utf-8")).get("assignment")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        named = "(unreadable)"
    if named == pinned:
        return None
    return (f"warning: {ASSIGNMENT_FILE} names the assignment {named!r}, but the class is pinned to {pinned!r}: "
            f"the grader will refuse this submission")
