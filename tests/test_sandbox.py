"""The sandbox's launchers: which one is chosen, and what bubblewrap shows the worker.

The bubblewrap tests run small shell or bare-Python commands in the very sandbox the worker
gets (the launcher's argv with the worker's command swapped for a probe), so they take
milliseconds each. tests/test_worker.py covers the worker itself inside it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.worker import sandbox

REPO = Path(__file__).resolve().parent.parent
BWRAP_PROBLEM = sandbox.bwrap_problem(sandbox.shutil.which("bwrap")) if sandbox.shutil.which("bwrap") else "no bwrap"
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=f"bubblewrap unusable here: {BWRAP_PROBLEM}")


@pytest.fixture
def fresh_launchers():
    """Forget the cached launcher choice before and after a test that changes PATH."""
    sandbox._launcher_for.cache_clear()
    yield
    sandbox._launcher_for.cache_clear()


# ------------------------------------------------------------------ choosing a launcher

def test_mode_defaults_to_auto_and_rejects_unknown_values(monkeypatch):
    monkeypatch.delenv(sandbox.MODE_ENV, raising=False)
    assert sandbox.sandbox_mode() == "auto"
    monkeypatch.setenv(sandbox.MODE_ENV, "BWRAP")
    assert sandbox.sandbox_mode() == "bwrap"
    monkeypatch.setenv(sandbox.MODE_ENV, "docker")
    with pytest.raises(ValueError, match="auto, bwrap, none"):
        sandbox.sandbox_mode()


def test_none_forces_the_fallback_with_a_visible_note(monkeypatch):
    monkeypatch.setenv(sandbox.MODE_ENV, "none")
    launcher = sandbox.default_launcher()
    assert type(launcher) is sandbox.Launcher and not launcher.isolated
    note = sandbox.isolation_note()
    assert note and "turned off" in note and "plain process" in note


@pytest.mark.parametrize("layers, says", [
    ((7, True), ["Landlock (ABI 7) and a seccomp filter", "cannot read the repository", "cannot open any socket"]),
    ((3, True), ["TCP is not restricted", "signals and abstract unix sockets are not scoped"]),
    ((0, True), ["no Landlock", "CAN READ every file", "reference/"]),
    ((0, False), ["nothing here can confine student code", "CAN READ every file", "use the network",
                  "TA's seed and test set never reach it"]),
])
def test_the_fallback_warning_says_what_student_code_can_do_here(monkeypatch, layers, says):
    monkeypatch.setattr(sandbox, "layers", lambda: layers)
    warning = sandbox.Launcher().warning
    assert warning.startswith("bubblewrap (bwrap) is not installed: ")
    for words in says:
        assert words in warning, words


def test_without_bwrap_auto_falls_back_and_bwrap_fails_loudly(monkeypatch, tmp_path, fresh_launchers):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap there
    monkeypatch.setenv(sandbox.MODE_ENV, "auto")
    assert "not installed" in sandbox.isolation_note()
    monkeypatch.setenv(sandbox.MODE_ENV, "bwrap")
    with pytest.raises(RuntimeError, match="cannot run here"):
        sandbox.default_launcher()


@needs_bwrap
def test_auto_uses_bwrap_when_it_works(monkeypatch):
    monkeypatch.setenv(sandbox.MODE_ENV, "auto")
    assert isinstance(sandbox.default_launcher(), sandbox.BwrapLauncher)
    assert sandbox.isolation_note() is None


def test_fallback_command_is_isolated_python_with_a_clean_environment(tmp_path):
    argv, env = sandbox.Launcher().command(tmp_path, 1234)
    assert argv[:5] == [sys.executable, "-I", "-S", "-B", "-c"]
    assert env == sandbox.clean_environment(str(tmp_path))
    limits = json.loads(argv[-1])
    assert limits["max_processes"] == sandbox.spec.limits()["process"]["max_processes"]
    assert limits["count_existing_processes"] is True
    assert argv[-2] == "1234" and argv[-3] == str(tmp_path)


def test_a_runtime_folder_someone_else_could_write_to_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox.tempfile, "tempdir", str(tmp_path))
    sandbox.runtime_dir.cache_clear()
    try:
        shared = sandbox.runtime_dir()
        assert shared.parent == tmp_path and shared.name.startswith(f"mlp-grader-runtime-{os.getuid()}-")
        sandbox.runtime_dir.cache_clear()
        assert sandbox.runtime_dir() == shared, "every process of this user shares it"
        (shared / "grader" / "worker" / "ops.py").chmod(0o666)
        sandbox.runtime_dir.cache_clear()
        private = sandbox.runtime_dir()
        assert private != shared and private.parent == tmp_path
        assert (private / "grader" / "worker" / "ops.py").read_bytes() == (REPO / "grader" / "worker" / "ops.py").read_bytes()
    finally:
        sandbox.runtime_dir.cache_clear()


def test_runtime_holds_only_the_worker_modules():
    files = sorted(str(p.relative_to(sandbox.runtime_dir())) for p in sandbox.runtime_dir().rglob("*") if p.is_file())
    assert files == sorted(f"grader/{name}" for name in sandbox.WORKER_FILES)


# ------------------------------------------------------------------ inside bubblewrap

def sandbox_prefix(workdir: Path) -> tuple[list[str], dict[str, str], str]:
    """The worker's bwrap argv up to its `--`, its environment, and Python code that
    changes uid the way the host's children do first thing (as root)."""
    launcher = sandbox.BwrapLauncher(sandbox.shutil.which("bwrap"))
    argv, env = launcher.command(workdir, 100)
    uid = launcher.submission_uid()
    if uid is not None:
        sandbox.chown_tree(workdir, uid)
    drop = f"import os; os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n" if uid is not None else ""
    return argv[:argv.index("--") + 1], env, drop


def python_inside(submission: Path, code: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run Python `code` in the worker's sandbox, as the worker's uid."""
    prefix, env, drop = sandbox_prefix(submission)
    return subprocess.run([*prefix, sys.executable, "-I", "-S", "-c", drop + code], env=env,
                          capture_output=True, text=True, timeout=timeout)


@needs_bwrap
def test_repository_and_grader_files_are_invisible(tmp_path):
    hidden = [REPO, REPO / "reference" / "mlp.py", REPO / "ta", REPO / "reports", REPO / "submissions", REPO / "tests",
              Path.cwd()]
    code = f"import os; print([p for p in {[str(p) for p in hidden]!r} if os.path.exists(p)])"
    result = python_inside(tmp_path, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@needs_bwrap
def test_editable_install_finder_points_nowhere(tmp_path):
    """site-packages is visible (torch lives there) but the editable install's finder
    only names a folder that does not exist in the sandbox, and -S never runs it."""
    finders = [p for d in sandbox.site_dirs() for p in Path(d).glob("__editable__*finder.py")]
    code = ("import sys, os; print(json.dumps({'grader': [m for m in sys.modules if m.startswith('grader')], "
            "'repo': os.path.exists(%r)}))" % str(REPO))
    result = python_inside(tmp_path, "import json; " + code)
    assert json.loads(result.stdout) == {"grader": [], "repo": False}, result.stderr
    if finders:
        assert str(REPO) in finders[0].read_text()  # the finder does point at the repository ...


@needs_bwrap
def test_only_the_submission_and_a_private_tmp_are_writable(tmp_path):
    secret = Path("/tmp") / f"mlp-grader-test-secret-{os.getpid()}"
    secret.write_text("host tmp")
    try:
        targets = ["/usr/pwned", "/etc/pwned", f"{sys.prefix}/pwned", f"{sandbox.INSIDE_RUNTIME}/pwned",
                   f"{sandbox.INSIDE_WORKDIR}/ok", "/tmp/ok"]
        code = (f"import os\nout = {{}}\nfor t in {targets!r}:\n"
                "    try:\n        open(t, 'w').write('x'); out[t] = 'written'\n"
                "    except OSError:\n        out[t] = 'refused'\n"
                f"out['secret'] = os.path.exists({str(secret)!r})\nprint(repr(out))")
        result = python_inside(tmp_path, code)
        out = eval(result.stdout)  # noqa: S307 - our own probe's repr
    finally:
        secret.unlink()
    assert out.pop("secret") is False, "the sandbox's /tmp must be its own"
    assert out == {**{t: "refused" for t in targets[:4]}, **{t: "written" for t in targets[4:]}}
    assert (tmp_path / "ok").read_text() == "x"
    assert not Path(sys.prefix, "pwned").exists()


@needs_bwrap
def test_no_network_not_even_loopback_to_the_host(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = ("import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=2); print('connected')\n"
                "except OSError as e:\n    print(type(e).__name__)") % port
        result = python_inside(tmp_path, code)
        server.settimeout(0.2)
        with pytest.raises(OSError):  # socket.timeout: nobody knocked
            server.accept()
    assert result.stdout.strip() in ("ConnectionRefusedError", "OSError"), result.stdout + result.stderr


@needs_bwrap
def test_environment_is_stripped_and_processes_outside_are_invisible(tmp_path, monkeypatch):
    monkeypatch.setenv("MLP_GRADER_TEST_SECRET", "token")
    code = "import os, json; print(json.dumps([dict(os.environ), [p for p in os.listdir('/proc') if p.isdigit()]]))"
    result = python_inside(tmp_path, code)
    env, pids = json.loads(result.stdout)
    env.pop("PWD", None)  # bubblewrap sets it for --chdir
    assert env == sandbox.clean_environment(sandbox.INSIDE_WORKDIR)
    assert len(pids) <= 3, pids  # bubblewrap's init, python, nothing of the host


@needs_bwrap
def test_every_process_dies_with_the_sandbox(tmp_path):
    """Even one that left the session: killing the launcher's process ends the namespace."""
    marker = f"mlp-grader-test-marker-{os.getpid()}"
    prefix, env, drop = sandbox_prefix(tmp_path)
    script = drop + (f"import os, subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-I', '-S', '-c', 'import time; time.sleep(600)', {marker!r}], "
              f"start_new_session=True)\nprint('started', flush=True)\ntime.sleep(600)")
    process = subprocess.Popen([*prefix, sys.executable, "-I", "-S", "-c", script], env=env,
                               stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout.readline().strip() == b"started"
    assert processes_with(marker), "the probe should be running"
    os.killpg(process.pid, 9)
    process.wait()
    assert wait_until_gone(marker) == []


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes()
                state = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmdline and state != "Z":
                found.append(int(entry.name))
    return found


def wait_until_gone(marker: str, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
