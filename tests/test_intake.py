"""`grader intake`: each download format lands as exactly the assignment's files, with a log
that says what was dropped and why; names are made safe, collisions refused, nothing
overwritten, the class's assignment pinned. (Hostile downloads: tests/test_hostile_intake.py.)"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from grader import course
from grader.cli import main

ROOT = Path(__file__).parents[1]
CODE = (ROOT / "submissions" / "example-correct" / "mlp.py").read_bytes()
MODEL = (ROOT / "submissions" / "example-correct" / "model.pth").read_bytes()


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_folders(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def intake(*args: str | Path) -> int:
    return main(["intake", *map(str, args)])


def landed(into: Path) -> dict[str, dict[str, bytes]]:
    """Every student folder intake wrote, with its files' bytes."""
    return {d.name: {f.name: f.read_bytes() for f in sorted(d.iterdir())}
            for d in sorted(into.iterdir()) if d.is_dir() and d.name != "_intake"}


def log_of(into: Path, student: str) -> list[str]:
    return (into / "_intake" / f"{student}.log").read_text().splitlines()[1:]  # without the dated header


def class_log(into: Path) -> list[str]:
    return (into / "_intake" / "_class.log").read_text().splitlines()[1:]


def test_a_folder_of_folders_lands_as_the_assignment_files_only(tmp_path):
    source = make_folders(tmp_path / "download", {
        "alice/mlp.py": CODE, "alice/model.pth": MODEL, "alice/README.md": b"notes",
        "alice/work/mlp.py": b"old", "bob/mlp.py": CODE, "loose.txt": b"x"})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"alice": {"mlp.py": CODE, "model.pth": MODEL}, "bob": {"mlp.py": CODE}}
    assert sorted(p.name for p in into.iterdir()) == ["_intake", "alice", "bob", "course.toml"]
    assert log_of(into, "alice") == [
        "dropped README.md: not part of the submission, which holds mlp.py (or mlp.ipynb), model.pth and assignment.toml",
        "dropped work/mlp.py: inside a folder: the submission holds mlp.py (or mlp.ipynb), model.pth and assignment.toml at its top",
        f"kept mlp.py ({len(CODE)} bytes)", f"kept model.pth ({len(MODEL)} bytes)"]
    assert class_log(into) == [f"{source}: read as folders",
                               f"{source}: dropped loose.txt: not inside a student's folder"]
    assert course.pinned(into) == "mlp-regression"


def test_a_canvas_download_is_sorted_by_student_late_and_renamed_copies_included(tmp_path):
    source = make_zip(tmp_path / "submissions.zip", {
        "doejane_12345_67890_mlp.py": CODE, "doejane_12345_67891_model.pth": MODEL,
        "roejohn_LATE_222_333_mlp-1.py": CODE, "roejohn_late_222_334_model.pth": MODEL,
        "roejohn_LATE_222_335_notes.txt": b"n", "grades.csv": b"x"})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"doejane-12345": {"mlp.py": CODE, "model.pth": MODEL},
                            "roejohn-222": {"mlp.py": CODE, "model.pth": MODEL}}
    assert log_of(into, "roejohn-222") == [
        "dropped notes.txt: not part of the submission, which holds mlp.py (or mlp.ipynb), model.pth and assignment.toml",
        "renamed mlp-1.py to mlp.py (the platform's copy of a re-uploaded file)",
        f"kept mlp.py ({len(CODE)} bytes)", f"kept model.pth ({len(MODEL)} bytes)"]
    assert class_log(into) == [f"{source}: read as canvas",
                               f"{source}: dropped grades.csv: not named like a canvas submission"]


def test_a_moodle_download_in_folders_or_flat(tmp_path):
    source = make_zip(tmp_path / "moodle.zip", {
        "Jane Doe_1001_assignsubmission_file_/mlp.py": CODE,
        "Jane Doe_1001_assignsubmission_file_/model.pth": MODEL,
        "Jane Doe_1001_assignsubmission_onlinetext_onlinetext.html": b"<p>hi</p>",
        "Zoë Smith_1002_assignsubmission_file_mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"jane-doe-1001": {"mlp.py": CODE, "model.pth": MODEL}, "zoe-smith-1002": {"mlp.py": CODE}}
    assert log_of(into, "jane-doe-1001")[0] == (
        "dropped onlinetext.html: not part of the submission, which holds mlp.py (or mlp.ipynb), model.pth and assignment.toml")


GRADESCOPE_METADATA = b"""---
submission_111:
  :submitters:
  - :name: Jane Doe
    :sid: '42'
    :email: jane@example.edu
  :created_at: 2026-11-01 10:00:00 UTC
  :score: 0.0
submission_222:
  :submitters:
  - :name: Ann Lee
    :sid: '43'
  - :name: Bo Li
    :sid: '44'
  :created_at: 2026-11-01 11:00:00 UTC
"""


def test_a_gradescope_export_is_named_by_its_submitters(tmp_path):
    source = make_zip(tmp_path / "export.zip", {
        "assignment_9_export/submission_metadata.yml": GRADESCOPE_METADATA,
        "assignment_9_export/submission_111/mlp.py": CODE, "assignment_9_export/submission_111/model.pth": MODEL,
        "assignment_9_export/submission_222/mlp.py": CODE, "assignment_9_export/submission_333/mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"ann-lee-and-bo-li": {"mlp.py": CODE}, "jane-doe": {"mlp.py": CODE, "model.pth": MODEL},
                            "submission-333": {"mlp.py": CODE}}


def test_github_classroom_clones_lose_their_git_folder_and_common_prefix(tmp_path):
    source = make_folders(tmp_path / "hw-mlp-submissions", {
        "hw-mlp-alice/.git/config": b"[core]", "hw-mlp-alice/.git/objects/ab/cdef": b"blob",
        "hw-mlp-alice/mlp.py": CODE, "hw-mlp-alice/model.pth": MODEL,
        "hw-mlp-bob-smith/.git/HEAD": b"ref", "hw-mlp-bob-smith/mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"alice": {"mlp.py": CODE, "model.pth": MODEL}, "bob-smith": {"mlp.py": CODE}}
    assert log_of(into, "alice")[0] == "dropped .git/: git metadata (the repository's history is not graded)"
    assert class_log(into) == [f"{source}: read as github-classroom",
                               f"{source}: GitHub Classroom clones: the prefix 'hw-mlp-' is left out of the students' names"]


def test_a_lone_checkpoint_under_another_name_is_kept_as_the_grader_takes_it(tmp_path):
    source = make_folders(tmp_path / "d", {"alice/mlp.py": CODE, "alice/weights.pth": MODEL,
                                           "bob/mlp.py": CODE, "bob/a.pth": MODEL, "bob/b.pth": MODEL})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"alice": {"mlp.py": CODE, "weights.pth": MODEL}, "bob": {"mlp.py": CODE}}
    assert log_of(into, "bob")[:2] == ["dropped a.pth: one of several .pth files (a.pth, b.pth) and none is named model.pth",
                                       "dropped b.pth: one of several .pth files (a.pth, b.pth) and none is named model.pth"]


def test_students_whose_names_come_out_the_same_are_both_refused(tmp_path):
    source = make_folders(tmp_path / "d", {"Alice/mlp.py": CODE, "alice/mlp.py": b"other", "carol/mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 1
    assert landed(into) == {"carol": {"mlp.py": CODE}}
    refusal = "2 students would be {}/alice ('Alice', 'alice'); none is written, nothing is merged".format(into)
    assert class_log(into)[1:] == [f"refused 'Alice' from {source}: {refusal}", f"refused 'alice' from {source}: {refusal}"]


@pytest.mark.parametrize("raw, safe", [("Jane Doe", "jane-doe"), ("..", None), (".hidden", "hidden"),
                                       ("_intake", "intake"), ("../../etc", "etc"), ("Zoë O'Brien", "zoe-o-brien"),
                                       ("course.toml", None), ("a..b", "a.b"), ("-x-", "x")])
def test_folder_names_are_made_safe(raw, safe):
    from grader.intake.write import safe_name
    assert safe_name(raw) == safe


def test_an_existing_folder_is_never_overwritten_and_force_replaces_only_what_intake_wrote(tmp_path, capsys):
    source = make_folders(tmp_path / "d", {"alice/mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    (source / "alice" / "mlp.py").write_bytes(b"# second version\n")
    assert intake(source, "--into", into) == 1
    assert landed(into) == {"alice": {"mlp.py": CODE}}
    assert f"{into}/alice already exists: intake never overwrites a submission" in capsys.readouterr().err
    assert intake(source, "--into", into, "--force") == 0
    assert landed(into) == {"alice": {"mlp.py": b"# second version\n"}}
    (into / "alice" / "feedback.txt").write_text("the TA's")
    assert intake(source, "--into", into, "--force") == 1
    assert landed(into)["alice"]["feedback.txt"] == b"the TA's"
    assert f"{into}/alice holds what the earlier intake did not write (feedback.txt)" in capsys.readouterr().err
    (into / "bob").mkdir()
    make_folders(source, {"bob/mlp.py": CODE})
    assert intake(source, "--into", into, "--force") == 1
    assert f"{into}/bob exists and no earlier intake wrote it" in capsys.readouterr().err


def test_the_class_assignment_must_be_pinned_and_cannot_change(tmp_path, capsys):
    source = make_folders(tmp_path / "d", {"alice/mlp.py": CODE})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into) == 4
    assert "which assignment is this class? Say --assignment NAME" in capsys.readouterr().err
    assert not into.exists()
    assert intake(source, "--into", into, "--assignment", "sin-fit") == 0
    assert intake(source, "--into", into, "--assignment", "mlp-regression", "--force") == 4
    assert f"{into}/course.toml pins 'sin-fit', not 'mlp-regression'" in capsys.readouterr().err
    assert course.pinned(into) == "sin-fit"


def test_an_assignment_toml_naming_another_assignment_is_kept_with_a_warning(tmp_path):
    toml = b'assignment = "sin-fit"\n'
    source = make_folders(tmp_path / "d", {"alice/mlp.py": CODE, "alice/assignment.toml": toml})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"alice": {"assignment.toml": toml, "mlp.py": CODE}}
    assert log_of(into, "alice") == [
        f"kept assignment.toml ({len(toml)} bytes)",
        "warning: assignment.toml names the assignment 'sin-fit', but the class is pinned to 'mlp-regression': "
        "the grader will refuse this submission",
        f"kept mlp.py ({len(CODE)} bytes)"]


def test_files_over_their_cap_are_dropped_unread(tmp_path, monkeypatch):
    from grader import spec
    monkeypatch.setitem(spec.limits()["intake"], "max_code_bytes", 100)
    source = make_folders(tmp_path / "d", {"alice/mlp.py": b"#" * 101, "bob/mlp.py": b"#" * 100})
    into = tmp_path / "submissions"
    assert intake(source, "--into", into, "--assignment", "mlp-regression") == 0
    assert landed(into) == {"alice": {}, "bob": {"mlp.py": b"#" * 100}}
    assert log_of(into, "alice") == ["dropped mlp.py: 101 bytes, more than the 100 allowed for mlp.py"]


def test_a_source_that_is_neither_folder_nor_zip_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert intake(tmp_path / "notes.txt", "--into", tmp_path / "s", "--assignment", "mlp-regression") == 4
    assert f"{tmp_path}/notes.txt is neither a folder nor a zip archive" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert intake(empty, "--into", tmp_path / "s") == 5
