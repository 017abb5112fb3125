"""Hostile submissions at the door (issue 13, findings 1, 6a, 6d).

A student's pytest configuration file, conftest.py or test module that forges results, links
and pipes in place of mlp.py or model.pth, archives with escaping paths, link members and
bombs, and a student choosing an easier assignment: `grader intake` leaves each behind with
its reason, and every entry point that meets a folder that did not come through intake
(`pytest`, `grader grade`, `grader summary`, the grading of one submission) refuses, naming
the file. No forged result and no marker of the student's code ever appears.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import engine, spec
from grader.cli import main
from tests.test_intake import CODE, MODEL, landed, log_of, make_folders, make_zip

RUBRIC = spec.assignment(spec.DEFAULT).rubric  # the default assignment's

ROOT = Path(__file__).parents[1]
FORGE = '''
import json, pathlib
def test_forge():
    here = pathlib.Path(__file__).resolve().parent
    (here.parent.parent / "FORGED").write_text("the student's test ran in the TA's process")
    out = here.parent.parent / "reports" / here.name
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"score": 100.0, "tests": []}))
'''
CONFTEST = 'import pathlib\n(pathlib.Path(__file__).resolve().parents[2] / "FORGED").write_text("conftest ran")\n'
DISABLE = {"pytest.ini": "[pytest]\naddopts = -p no:mlp_grader\n",
           "tox.ini": "[pytest]\naddopts = -p no:mlp_grader\n",
           "setup.cfg": "[tool:pytest]\naddopts = -p no:mlp_grader\n",
           "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-p no:mlp_grader"\n'}
REASONS = {"config": "a pytest configuration file: pytest reads it before any plugin and it can switch the grader off",
           "conftest.py": "a conftest.py: pytest runs it in the grader's process",
           "test_forge.py": "a test module: pytest would run it in the grader's process if the grader were switched off"}


def run(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def hostile_files(config: str) -> dict[str, bytes]:
    return {"eve/mlp.py": CODE, "eve/model.pth": MODEL, f"eve/{config}": DISABLE[config].encode(),
            "eve/conftest.py": CONFTEST.encode(), "eve/test_forge.py": FORGE.encode(), "alice/mlp.py": CODE}


def no_forgery(course: Path) -> None:
    assert not (course / "FORGED").exists()
    for forged in (course / "reports" / "eve" / "results.json", course / "reports" / "students" / "eve" / "results.json"):
        assert not forged.exists() or json.loads(forged.read_text())["score"] != 100.0


# ---------------------------------------------------------------- intake leaves them behind

@pytest.mark.parametrize("config", sorted(DISABLE))
def test_intake_drops_pytest_configuration_conftest_and_test_modules(tmp_path, config):
    source = make_folders(tmp_path / "download", hostile_files(config))
    into = tmp_path / "course" / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {"mlp.py": CODE}, "eve": {"mlp.py": CODE, "model.pth": MODEL}}
    dropped = sorted([f"dropped {config}: {REASONS['config']}", f"dropped conftest.py: {REASONS['conftest.py']}",
                      f"dropped test_forge.py: {REASONS['test_forge.py']}"])
    assert log_of(into, "eve") == [*dropped, f"kept mlp.py ({len(CODE)} bytes)", f"kept model.pth ({len(MODEL)} bytes)"]


@pytest.mark.slow
def test_pytest_on_an_intaken_folder_grades_it_and_the_students_files_never_run(tmp_path):
    source = make_folders(tmp_path / "download", hostile_files("pytest.ini"))
    course = tmp_path / "course"
    assert main(["intake", str(source), "--into", str(course / "submissions"), "--assignment", "mlp-regression"]) == 0
    result = run(course, "-m", "pytest", "submissions/eve", "-p", "no:cacheprovider", "-q", "-k", "structure.imports")
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads((course / "reports" / "students" / "eve" / "results.json").read_text())
    assert results["score"] == RUBRIC["structure.imports"].points
    no_forgery(course)


# ---------------------------------------------------------------- a folder that skipped intake

@pytest.mark.parametrize("planted", [*sorted(DISABLE), "conftest.py", "test_forge.py"])
def test_grader_grade_refuses_a_folder_holding_a_pytest_file(tmp_path, planted):
    course = make_folders(tmp_path / "course", {f"submissions/{k}": v for k, v in hostile_files("pytest.ini").items()
                                               if k.startswith("alice/") or k in ("eve/mlp.py", f"eve/{planted}")})
    if planted in DISABLE:
        (course / "submissions" / "eve" / planted).write_text(DISABLE[planted])
    result = run(course, "-m", "grader", "grade", "submissions/eve")
    assert result.returncode == 4, result.stdout + result.stderr
    reason = REASONS.get(planted, REASONS["config"])
    assert f"{course}/submissions/eve/{planted}: {reason}" in result.stderr
    assert not (course / "reports").exists()
    no_forgery(course)


def test_pytest_on_the_class_refuses_when_one_folder_holds_pytest_files(tmp_path):
    course = make_folders(tmp_path / "course", {f"submissions/{k}": v for k, v in hostile_files("pytest.ini").items()})
    result = run(course, "-m", "pytest", "submissions", "-p", "no:cacheprovider", "-q")
    assert result.returncode == 4, result.stdout + result.stderr
    for name, reason in (("conftest.py", REASONS["conftest.py"]), ("pytest.ini", REASONS["config"]),
                         ("test_forge.py", REASONS["test_forge.py"])):
        assert f"{course}/submissions/eve/{name}: {reason}" in result.stderr
    assert not (course / "reports").exists()
    no_forgery(course)


def test_pytest_on_one_folder_with_a_conftest_and_a_test_module_refuses(tmp_path):
    course = make_folders(tmp_path / "course", {f"submissions/{k}": v for k, v in hostile_files("pytest.ini").items()
                                               if not k.endswith("pytest.ini")})
    result = run(course, "-m", "pytest", "submissions/eve", "-p", "no:cacheprovider", "-q")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{course}/submissions/eve/conftest.py: {REASONS['conftest.py']}" in result.stderr
    assert f"{course}/submissions/eve/test_forge.py: {REASONS['test_forge.py']}" in result.stderr
    no_forgery(course)


def test_pytest_far_above_the_class_stops_at_the_folder_holding_a_test_module(tmp_path):
    course = make_folders(tmp_path / "course", {"term/submissions/eve/mlp.py": CODE,
                                               "term/submissions/eve/test_forge.py": FORGE.encode()})
    result = run(tmp_path, "-m", "pytest", "course", "-p", "no:cacheprovider", "-q")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{course}/term/submissions/eve/test_forge.py: {REASONS['test_forge.py']}" in result.stdout
    assert "Interrupted: 1 error during collection" in result.stdout
    assert not (course / "term" / "FORGED").exists()


@pytest.mark.xfail(strict=True, reason="pytest reads the student's pytest.ini before any plugin loads, so a raw "
                                       "folder given to pytest alone can switch the grader off: only `grader intake` "
                                       "(and `grader grade`, which passes -c) close this door; docs/INTAKE.md")
def test_pytest_on_one_raw_folder_whose_ini_switches_the_grader_off(tmp_path):
    course = make_folders(tmp_path / "course", {f"submissions/{k}": v for k, v in hostile_files("pytest.ini").items()})
    run(course, "-m", "pytest", "submissions/eve", "-p", "no:cacheprovider", "-q")
    no_forgery(course)


def test_grader_summary_refuses_reports_beside_a_folder_holding_a_test_module(tmp_path):
    course = make_folders(tmp_path / "course", {"submissions/eve/mlp.py": CODE,
                                               "submissions/eve/test_forge.py": FORGE.encode(),
                                               "reports/eve/results.json": b'{"score": 100.0, "tests": []}'})
    result = run(course, "-m", "grader", "summary", "reports")
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"{course}/submissions/eve/test_forge.py: {REASONS['test_forge.py']}" in result.stderr
    assert not (course / "reports" / "index.html").exists()


# ---------------------------------------------------------------- links, pipes, devices (6a)

def graded_alone(folder: Path, checks: list[str]):
    return engine.grade(folder, only=checks)


@pytest.fixture
def classmates(tmp_path) -> Path:
    root = tmp_path / "submissions"
    shutil.copytree(ROOT / "submissions" / "example-correct", root / "alice")
    (root / "mallory").mkdir()
    return root


def test_a_checkpoint_linked_to_a_classmates_is_refused_for_that_student_only(classmates):
    (classmates / "mallory" / "mlp.py").write_bytes(CODE)
    (classmates / "mallory" / "model.pth").symlink_to(classmates / "alice" / "model.pth")
    mallory = graded_alone(classmates / "mallory", ["checkpoint.loads"])
    assert [(o.score, o.message) for o in mallory.outcomes] == [(0.0, (
        f"model.pth is a symbolic link (to {classmates}/alice/model.pth): the grader uses only regular files "
        f"inside the submission folder, so this submission is not graded; hand in the file itself"))]
    alice = graded_alone(classmates / "alice", ["checkpoint.loads"])
    assert [o.score for o in alice.outcomes] == [RUBRIC["checkpoint.loads"].points]


def test_code_linked_to_a_classmates_is_refused(classmates):
    (classmates / "mallory" / "mlp.py").symlink_to("../alice/mlp.py")
    mallory = graded_alone(classmates / "mallory", ["no_autograd.source", "checkpoint.loads"])
    assert {o.message for o in mallory.outcomes} == {
        "mlp.py is a symbolic link (to ../alice/mlp.py): the grader uses only regular files inside the "
        "submission folder, so this submission is not graded; hand in the file itself"}
    assert mallory.score == 0


def test_a_pipe_in_place_of_the_code_fails_that_student_instead_of_hanging_the_grader(classmates):
    os.mkfifo(classmates / "mallory" / "mlp.py")
    mallory = graded_alone(classmates / "mallory", ["no_autograd.source"])
    assert mallory.outcomes[0].message.startswith("mlp.py is a named pipe (FIFO): the grader uses only regular files")


@pytest.mark.slow
def test_a_pipe_beside_the_code_is_left_out_of_the_workers_copy(classmates):
    """It used to make copying the folder fail: an internal error instead of a grade."""
    (classmates / "mallory" / "mlp.py").write_bytes(CODE)
    os.mkfifo(classmates / "mallory" / "junk")
    mallory = graded_alone(classmates / "mallory", ["structure.imports"])
    assert [(o.score, o.status) for o in mallory.outcomes] == [(RUBRIC["structure.imports"].points, "passed")]


def test_a_submission_folder_that_is_a_link_is_refused(classmates):
    (classmates / "mallory").rmdir()
    (classmates / "mallory").symlink_to(classmates / "alice")
    mallory = graded_alone(classmates / "mallory", ["checkpoint.loads"])
    assert mallory.outcomes[0].message == (f"the submission folder mallory is a symbolic link (to {classmates}/alice): "
                                           f"the grader uses only regular files inside the submission folder")


# ---------------------------------------------------------------- the pinned assignment (6d)

def test_under_a_pin_a_student_choosing_another_assignment_is_refused(classmates):
    (classmates / "course.toml").write_text('assignment = "mlp-regression"\n')
    (classmates / "mallory" / "mlp.py").write_bytes(CODE)
    (classmates / "mallory" / "assignment.toml").write_text('assignment = "sin-fit"\n')
    mallory = graded_alone(classmates / "mallory", ["structure.imports"])
    assert mallory.assignment == "mlp-regression"
    assert mallory.outcomes[0].score == 0.0
    assert mallory.outcomes[0].message == (
        f"assignment.toml names the assignment 'sin-fit', but this class is graded as 'mlp-regression' (pinned by "
        f"the TA in {classmates}/course.toml): a submission cannot choose its assignment; hand in the mlp-regression "
        f'homework, without assignment.toml or with assignment = "mlp-regression"')


def test_a_pin_decides_the_assignment_of_a_folder_without_assignment_toml(classmates):
    (classmates / "course.toml").write_text('assignment = "sin-fit"\n')
    shutil.copy(ROOT / "submissions" / "example-sin-correct" / "mlp.py", classmates / "mallory" / "mlp.py")
    mallory = graded_alone(classmates / "mallory", ["no_autograd.source"])
    assert mallory.assignment == "sin-fit"
    assert mallory.outcomes[0].score == spec.assignment("sin-fit").rubric["no_autograd.source"].points


def test_a_broken_course_file_stops_grading_naming_it(classmates):
    (classmates / "course.toml").write_text('assignment = "easiest"\n')
    result = run(classmates.parent, "-m", "grader", "grade", "submissions/alice")
    assert result.returncode == 4
    assert (f"{classmates}/course.toml must say assignment = \"<name>\", one of {', '.join(spec.names())} "
            f"(it says 'easiest')") in result.stderr


# ---------------------------------------------------------------- hostile archives

def member(name: str, data: bytes, mode: int | None = None) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    if mode is not None:
        info.create_system = 3
        info.external_attr = mode << 16
    return info, data


def write_zip(path: Path, members: list[tuple[zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def test_an_archive_cannot_write_outside_or_plant_links_or_pipes(tmp_path):
    source = write_zip(tmp_path / "class.zip", [
        member("../evil.py", b"x"), member("/tmp/evil-abs.py", b"x"), member("eve/../../evil2.py", b"x"),
        member("eve/mlp.py", b"../alice/mlp.py", stat.S_IFLNK | 0o777), member("eve/model.pth", b"", stat.S_IFIFO | 0o644),
        member("eve\\..\\evil3.py", b"x"), member("alice/mlp.py", CODE, stat.S_IFREG | 0o644)])
    into = tmp_path / "course" / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {"mlp.py": CODE}, "eve": {}}
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*evil*")) == []
    assert not Path("/tmp/evil-abs.py").exists()
    assert (into / "_intake" / "_class.log").read_text().splitlines()[1:] == [
        f"{source}: read as folders",
        f"{source}: dropped ../evil.py: a path that climbs out with '..': never written",
        f"{source}: dropped /tmp/evil-abs.py: an absolute path: never written",
        f"{source}: dropped eve/../../evil2.py: a path that climbs out with '..': never written",
        f"{source}: dropped eve\\..\\evil3.py: its name holds a backslash or NUL byte: never written"]
    assert log_of(into, "eve") == ["dropped mlp.py: a symbolic link: only regular files are taken",
                                   "dropped model.pth: a named pipe (FIFO): only regular files are taken"]


def test_a_zip_bomb_is_dropped_by_its_header_before_anything_is_read(tmp_path, monkeypatch):
    monkeypatch.setitem(spec.limits()["size"], "max_checkpoint_bytes", 10_000)
    source = write_zip(tmp_path / "class.zip", [member("alice/mlp.py", CODE), member("alice/model.pth", bytes(10**6))])
    assert source.stat().st_size < 20_000
    into = tmp_path / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {"mlp.py": CODE}}
    assert log_of(into, "alice") == [f"kept mlp.py ({len(CODE)} bytes)",
                                     "dropped model.pth: 1000000 bytes, more than the 10000 allowed for model.pth"]


def test_a_member_inflating_beyond_its_header_is_dropped(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("alice/mlp.py", CODE)
    data = bytearray(buffer.getvalue())
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, 10)  # the central directory's size: 10 bytes
    source = tmp_path / "class.zip"
    source.write_bytes(bytes(data))
    into = tmp_path / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {}}
    assert log_of(into, "alice") == ["dropped mlp.py: cannot be read from the archive: Bad CRC-32 for file 'alice/mlp.py'"]


def test_an_archive_with_too_many_entries_or_bytes_is_refused_whole(tmp_path, monkeypatch, capsys):
    source = write_zip(tmp_path / "class.zip", [member(f"s{i}/mlp.py", CODE) for i in range(4)])
    into = tmp_path / "submissions"
    monkeypatch.setitem(spec.limits()["intake"], "max_entries", 3)
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 4
    assert f"{source} has 4 entries, more than the 3 grader intake opens" in capsys.readouterr().err
    monkeypatch.setitem(spec.limits()["intake"], "max_entries", 100)
    monkeypatch.setitem(spec.limits()["intake"], "max_total_bytes", 3 * len(CODE))
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 4
    assert (f"the submissions would take {4 * len(CODE)} bytes, more than the {3 * len(CODE)} one intake writes"
            in capsys.readouterr().err)
    assert landed(into) == {}


def test_links_and_pipes_in_a_folder_download_are_dropped_unread(tmp_path):
    source = make_folders(tmp_path / "download", {"alice/mlp.py": CODE, "alice/model.pth": MODEL})
    (source / "eve").mkdir()
    (source / "eve" / "mlp.py").symlink_to(source / "alice" / "mlp.py")
    (source / "eve" / "model.pth").symlink_to("../alice/model.pth")
    os.mkfifo(source / "eve" / "assignment.toml")
    (source / "eve" / "work").symlink_to(source / "alice")
    into = tmp_path / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {"mlp.py": CODE, "model.pth": MODEL}, "eve": {}}
    assert log_of(into, "eve") == [
        "dropped assignment.toml: a named pipe (FIFO): only regular files are taken",
        f"dropped mlp.py: a symbolic link (to {source}/alice/mlp.py): only regular files are taken",
        "dropped model.pth: a symbolic link (to ../alice/model.pth): only regular files are taken",
        f"dropped work: a symbolic link (to {source}/alice): only regular files are taken"]


def test_one_students_file_names_cannot_change_how_the_class_download_is_read(tmp_path):
    folders = make_folders(tmp_path / "download", {
        "alice/mlp.py": CODE, "bob/mlp.py": CODE, "eve/mlp.py": CODE, "eve/submission_metadata.yml": b"submission_1:\n",
        "eve/x_1_assignsubmission_file_y.py": b"x", "eve/doe_1_2_z.py": b"x"})
    into = tmp_path / "a" / "submissions"
    assert main(["intake", str(folders), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"alice": {"mlp.py": CODE}, "bob": {"mlp.py": CODE}, "eve": {"mlp.py": CODE}}
    canvas = make_zip(tmp_path / "canvas.zip", {"doejane_1_2_mlp.py": CODE, "roejohn_3_4_mlp.py": CODE,
                                                "eveevil_5_6_Foo_9_assignsubmission_file_mlp.py": CODE})
    into = tmp_path / "b" / "submissions"
    assert main(["intake", str(canvas), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert sorted(landed(into)) == ["doejane-1", "eveevil-5", "roejohn-3"]


def test_a_member_listed_twice_is_taken_from_neither_copy(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"):
        source = write_zip(tmp_path / "class.zip", [member("eve/mlp.py", CODE), member("eve/mlp.py", b"# other")])
    into = tmp_path / "submissions"
    assert main(["intake", str(source), "--into", str(into), "--assignment", "mlp-regression"]) == 0
    assert landed(into) == {"eve": {}}
    assert log_of(into, "eve") == ["dropped mlp.py: 2 files would be mlp.py (mlp.py, mlp.py): none is taken, the "
                                   "intake cannot tell which one is meant"] * 2
