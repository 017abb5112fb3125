"""`grader kit`: the folder (or zip) students get to check themselves before the deadline.

It holds the harness, the handouts, the data command, mlp-regression's training set
(`data/train.pt`: its teacher network is the TA's secret, so students cannot make it
themselves) and an empty submission template of the chosen assignment (grader/template.py,
written from its spec), and nothing of the reference solution, the
TA configuration or the bundled example submissions (one of them is a full solution). Without `reference/` and
`ta/config.toml`, the checks that compare with them are skipped with "checked at grading
time"; every visible check runs as it will at grading.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from grader import spec, template
from grader.submission import ASSIGNMENT_FILE

ROOT = Path(__file__).parents[1]
INCLUDED = ("grader", "pyproject.toml", "constraints.txt", "scripts/install.sh", "ASSIGNMENT.md", "docs/assignments")
EXCLUDED_NAMES = {"__pycache__", "calibrate.py", "kit.py", "template.py", "diagnosis"}

# The kit's grader/known_diagnoses.py: without grader/diagnosis/ no diagnosis registers, and
# a failed check gets no hint (grader/diagnoses.py).
NO_DIAGNOSES = '''"""The student kit has no diagnoses (their variants spell out the solution): importing
this module registers none, and a failed check gets no hint."""
'''

README = '''# Checking your homework yourself

This kit runs the same visible checks the course grader runs. It contains no solution.

Every command runs from this folder (the one holding this README):

    bash scripts/install.sh                  # once: installs the checker (Python 3.11)
    {data_step}
    cp -r submissions/your-name submissions/<your-name>
    # write your code in submissions/<your-name>/{code}, then:
    python submissions/<your-name>/{code} 3  # train 3 {unit} (seconds): writes submissions/<your-name>/{checkpoint}
    pytest submissions/<your-name>           # run the checks

`python submissions/<your-name>/{code}` without a number trains the handout's {count} {unit} and
writes `submissions/<your-name>/{checkpoint}`, the file to hand in{timing}. A model trained for
3 {unit} is enough to try every check, but scores low on the hidden test set.

The template in submissions/your-name is {assignment}'s ({handout}). Another assignment of
the family (its handout is in docs/assignments/)? Put its name in
`submissions/<your-name>/assignment.toml` (`assignment = "sin-fit"`) and write its data with
`python -m grader data --assignment sin-fit`.

Then open `reports/students/<your-name>/index.html`: every check with its points, what
failed, the smallest failing example and the numbers compared. A failing check is re-run
alone by the id the report and the terminal show: `pytest submissions/<your-name>::backward.finite_differences`.

The score here is out of the visible checks' points. The hidden checks ("checked at grading
time", in grey) compare your code with the course's reference solution or score your
{checkpoint} on the hidden test set; they run only when the TAs grade, and the report says how
many points they hold.

Everything else (structure, initialisation, finite-difference gradients, no autograd, the
training loop, loading your {checkpoint}) runs here exactly as at grading time.

The checks here draw their random examples (networks, batches) from public seeds; at
grading time the same checks draw them from a secret seed. Code that is right for every
input gets the same score either way; code tuned to the examples it saw here does not.
'''


# How long the handout's full training takes, where it was measured (for the README).
TIMING = {"mlp-regression": ": about 3 to 4 minutes\nsingle-threaded for a vectorised implementation on a 2-core "
                            "machine under load (1.3 s per\nepoch, measured with the course's solution); a loop over "
                            "samples takes much longer"}


def readme(contract: spec.Contract) -> str:
    """The kit's README for `contract`'s template: its code file, checkpoint, data and training length."""
    shipped = spec.assignment(spec.DEFAULT).contract.data["file"]  # the one training set the kit holds
    data = contract.data["file"]
    data_step = (f"# {data}, the training set, comes with this kit" if data == shipped else
                 f"python -m grader data --assignment {contract.name}  # writes {data}, the training set")
    unit, key = ("iterations", "num_iters") if contract.binding["train"] == "iterations" else ("epochs", "epochs")
    return README.format(assignment=contract.name, handout=contract.handout, code=contract.submission["code"],
                         checkpoint=contract.submission["checkpoint"], data_step=data_step, unit=unit,
                         count=contract.training[key], timing=TIMING.get(contract.name, ""))


# The list of files a kit folder holds, with their sha256, written last into the folder: what
# `grader kit --force` may replace there (and nothing else).
MANIFEST = ".mlp-grader-kit.json"


class KitRefused(Exception):
    """The kit would overwrite something it did not write; the message says what to do."""


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=lambda d, names: [n for n in names if n in EXCLUDED_NAMES])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_the_grader_itself(out: Path) -> None:
    resolved = out.resolve()
    for name in ("", *INCLUDED):
        source = (ROOT / name).resolve()
        if resolved == source or resolved.is_relative_to(source) and name:
            raise KitRefused(f"--out {out} is the grader's own {name or 'repository'}: choose a folder outside it "
                             f"(the default is dist/mlp-grader-kit.zip)")


def _clear_previous_kit(out: Path, force: bool) -> None:
    """Make room in `out`: nothing there, an empty folder, or (with --force) a kit that this
    command wrote, of which only its unchanged files are removed."""
    if not out.exists():
        return
    if not out.is_dir():
        raise KitRefused(f"{out} exists and is not a folder; nothing was changed")
    if not any(out.iterdir()):
        return
    if not force:
        raise KitRefused(f"{out} exists: pass --force to replace the kit written there, or choose another --out; "
                         f"nothing was changed")
    manifest = out / MANIFEST
    if not manifest.is_file():
        raise KitRefused(f"{out} is not a kit written by `grader kit` (it has no {MANIFEST}): --force replaces "
                         f"only a kit's own files; choose another --out; nothing was changed")
    files: dict[str, str] = json.loads(manifest.read_text())
    changed = sorted(name for name, digest in files.items()
                     if (out / name).is_file() and not (out / name).is_symlink() and _digest(out / name) != digest)
    if changed:
        raise KitRefused(f"{out}: files of the kit were changed since it was written ({', '.join(changed[:5])}"
                         f"{' …' if len(changed) > 5 else ''}): move them elsewhere first; nothing was changed")
    for name in files:
        path = out / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    for folder in sorted({p for name in files for p in (out / name).parents if p != out and p.is_relative_to(out)},
                         key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # only the folders the kit's files left empty
    manifest.unlink()


def build(out: Path, force: bool = False, assignment: str = spec.DEFAULT) -> Path:
    """Write the kit folder at `out`, its template of `assignment`, and return it. An existing
    `out` is refused unless it is empty, or `force` is given and it holds a kit this command
    wrote (whose files are replaced; anything else in the folder is left alone)."""
    out = Path(out)
    _refuse_the_grader_itself(out)
    _clear_previous_kit(out, force)
    with tempfile.TemporaryDirectory() as tmp:
        staged = _write_kit(Path(tmp) / "kit", spec.assignment(assignment).contract)
        files = {str(p.relative_to(staged)): _digest(p) for p in sorted(staged.rglob("*")) if p.is_file()}
        clashes = sorted(name for name in files if (out / name).exists())
        if clashes:
            raise KitRefused(f"{out} already holds {', '.join(clashes[:5])}{' …' if len(clashes) > 5 else ''}, "
                             f"which the kit did not write: choose another --out; nothing was changed")
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(staged / name, out / name)
        (out / MANIFEST).write_text(json.dumps(files, indent=1))
    return out


def _write_kit(out: Path, contract: spec.Contract) -> Path:
    out.mkdir(parents=True)
    for name in INCLUDED:
        source, target = ROOT / name, out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            _copy_tree(source, target)
        else:
            shutil.copy2(source, target)
    folder = out / "submissions" / "your-name"
    folder.mkdir(parents=True)
    (folder / contract.submission["code"]).write_text(template.render(contract))
    if contract.name != spec.DEFAULT:
        (folder / ASSIGNMENT_FILE).write_text(f'assignment = "{contract.name}"\n')
    (out / "README.md").write_text(readme(contract))
    (out / ".gitignore").write_text("reports/\n__pycache__/\n")
    (out / "grader" / "known_diagnoses.py").write_text(NO_DIAGNOSES)
    _write_training_set(out)
    return out


def _write_training_set(out: Path) -> None:
    """The default homework's training set, made here with the TA's teacher (the kit's
    `grader data` cannot make it: no TA configuration)."""
    from grader import data

    contract = spec.assignment(spec.DEFAULT).contract  # the kit's data/ is the default homework's
    data.write_training_set(contract, out / contract.data["file"])



def _is_kit_zip(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(Path(name).name == MANIFEST for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def build_zip(out_zip: Path, force: bool = False, assignment: str = spec.DEFAULT) -> Path:
    """Write the kit as a zip (one top folder named like the zip). Built in a temporary
    folder: nothing next to the zip is touched; an existing file is replaced only with
    `force`, and only when it is a kit zip."""
    out_zip = Path(out_zip)
    _refuse_the_grader_itself(out_zip)
    if out_zip.exists() or out_zip.is_symlink():
        if not force:
            raise KitRefused(f"{out_zip} exists: pass --force to replace it, or choose another --out; "
                             f"nothing was changed")
        if not out_zip.is_file() or not _is_kit_zip(out_zip):
            raise KitRefused(f"{out_zip} is not a kit zip written by `grader kit`: --force replaces only those; "
                             f"nothing was changed")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_zip.parent) as tmp:
        folder = build(Path(tmp) / out_zip.stem, assignment=assignment)
        partial = Path(tmp) / "kit.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                archive.write(path, Path(folder.name) / path.relative_to(folder))
        os.replace(partial, out_zip)
    return out_zip
