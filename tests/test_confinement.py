"""The layers a worker's child puts on itself before it imports student code (Landlock, the
seccomp filter), what the host removes at release (SysV IPC, /dev/shm), and the grader's
side of the wire (known fields only, every string capped). Each probe runs in a forked
child of the test, so the test process itself is never confined.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from grader.worker import sandbox
from grader.checks import checkpoint
from grader.worker import client, ipc, landlock, protocol, seccomp
from grader.worker.disk import DiskWatch, empty

REPO = Path(__file__).resolve().parent.parent
needs_landlock = pytest.mark.skipif(landlock.abi() < 1, reason="no Landlock in this kernel")
needs_seccomp = pytest.mark.skipif(not seccomp.supported(), reason="no system call table for this machine")


def in_child(probe) -> dict:
    """Run `probe()` in a forked child; return the dict it returns (or its error)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            answer = probe()
        except BaseException as exc:  # noqa: BLE001
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write_fd, json.dumps(answer).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    return json.loads(data)


def attempt(action) -> str:
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def read(path) -> None:
    with open(path, "rb") as fh:
        fh.read(1)


# ------------------------------------------------------------------ Landlock

@needs_landlock
def test_landlock_allows_only_the_listed_folders(tmp_path):
    copy, tmp, elsewhere = tmp_path / "copy", tmp_path / "tmp", tmp_path / "elsewhere"
    for folder in (copy, tmp, elsewhere):
        folder.mkdir()
    (elsewhere / "secret").write_text("x")
    parent = os.getpid()
    pipe_r, pipe_w = os.pipe()

    def probe():
        gaps = landlock.restrict([str(p) for p in sandbox._bound_paths()] + list(sandbox.PROC_FILES),
                                 [str(copy), str(tmp)], ["/dev/null"])
        import numpy  # noqa: F401  (still importable: its folders are readable)
        return {
            "gaps": gaps,
            "reference": attempt(lambda: read(REPO / "reference" / "mlp.py")),
            "ta": attempt(lambda: read(REPO / "ta" / "config.toml") if (REPO / "ta").exists() else read("/nonexistent")),
            "elsewhere": attempt(lambda: read(elsewhere / "secret")),
            "etc_passwd": attempt(lambda: read("/etc/passwd")),
            "write_copy": attempt(lambda: (copy / "a").write_text("x")),
            "write_tmp": attempt(lambda: (tmp / "a").write_text("x")),
            "write_elsewhere": attempt(lambda: (elsewhere / "b").write_text("x")),
            "symlink_out": attempt(lambda: (os.symlink(elsewhere / "secret", copy / "link"), read(copy / "link"))),
            "hardlink_out": attempt(lambda: os.link(elsewhere / "secret", copy / "hard")),
            "dev_null": attempt(lambda: open("/dev/null", "w").write("x")),
            "python": attempt(lambda: read(sys.executable)),
            "own_proc": attempt(lambda: read(f"/proc/{os.getpid()}/status")),
            "parent_environ": attempt(lambda: read(f"/proc/{parent}/environ")),
            "parent_pipe": attempt(lambda: os.close(os.open(f"/proc/{parent}/fd/{pipe_w}", os.O_WRONLY))),
        }

    seen = in_child(probe)
    assert seen.pop("gaps") == landlock.missing(landlock.abi())
    assert seen == {"reference": "EACCES", "ta": "EACCES" if (REPO / "ta").exists() else "ENOENT",
                    "elsewhere": "EACCES", "etc_passwd": "EACCES", "write_copy": "ok", "write_tmp": "ok",
                    "write_elsewhere": "EACCES", "symlink_out": "EACCES", "hardlink_out": "EXDEV", "dev_null": "ok",
                    "python": "ok", "own_proc": "ok", "parent_environ": "EACCES", "parent_pipe": "EACCES"}
    os.close(pipe_r)
    os.close(pipe_w)


@pytest.mark.skipif(landlock.abi() < 6, reason="TCP needs Landlock ABI 4, scoping ABI 6")
def test_landlock_denies_tcp_and_signals_and_abstract_sockets_outside(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0mlp-grader-landlock-test-{os.getpid()}")
    abstract.listen(1)
    port, parent = server.getsockname()[1], os.getpid()

    def probe():
        landlock.restrict([str(p) for p in sandbox._bound_paths()], [str(tmp_path)], [])

        def connect(family, address):
            with socket.socket(family) as s:
                s.connect(address)

        def bind():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))

        return {"tcp": attempt(lambda: connect(socket.AF_INET, ("127.0.0.1", port))), "bind": attempt(bind),
                "abstract": attempt(lambda: connect(socket.AF_UNIX, f"\0mlp-grader-landlock-test-{parent}")),
                "signal": attempt(lambda: os.kill(parent, 0))}

    try:
        assert in_child(probe) == {"tcp": "EACCES", "bind": "EACCES", "abstract": "EPERM", "signal": "EPERM"}
    finally:
        server.close()
        abstract.close()


def test_landlock_says_what_an_old_kernel_cannot_enforce():
    assert landlock.missing(7) == landlock.missing(6) == []
    assert len(landlock.missing(3)) == 2 and "TCP" in landlock.missing(3)[0]
    assert landlock.handled_fs(1) == (1 << 13) - 1 and landlock.handled_fs(5) == (1 << 16) - 1


def test_a_repository_inside_a_readable_folder_is_cut_out(tmp_path):
    prefix = tmp_path / "venv"
    repo = prefix / "src" / "grader-checkout"
    for folder in (prefix / "lib", prefix / "bin", repo / "reference", prefix / "src" / "other"):
        folder.mkdir(parents=True)
    kept = sandbox.without([prefix, Path("/usr")], [repo])
    assert sorted(kept) == sorted([prefix / "lib", prefix / "bin", prefix / "src" / "other", Path("/usr")])
    assert sandbox.without([repo / "reference"], [repo]) == []


# ------------------------------------------------------------------ seccomp

@needs_seccomp
def test_seccomp_refuses_what_reaches_past_the_sandbox_and_keeps_torch_working():
    def probe():
        import threading

        import torch

        seccomp.install()
        libc = ctypes.CDLL(None, use_errno=True)

        def call(name, *args):
            def run():
                if getattr(libc, name)(*args) == -1:
                    raise OSError(ctypes.get_errno(), name)
            return run

        x = torch.randn(64, 32, requires_grad=True)
        (x @ x.T).sum().backward()
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()
        pid = os.fork()
        if pid == 0:
            os._exit(7)
        forked = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return {
            "torch": bool(x.grad is not None), "forked": forked,
            "inet": attempt(lambda: socket.socket(socket.AF_INET)),
            "unix": attempt(lambda: socket.socket(socket.AF_UNIX)),
            "socketpair": attempt(lambda: [s.close() for s in socket.socketpair()]),
            "ptrace": attempt(call("ptrace", 16, os.getppid(), 0, 0)),  # PTRACE_ATTACH
            "unshare": attempt(call("unshare", 0x10000000)),  # CLONE_NEWUSER
            "shmget": attempt(call("shmget", 0, 4096, 0o1666)),
            "msgget": attempt(call("msgget", 0, 0o1666)),
            "keyctl": attempt(call("syscall", 250, 0, 0, 0, 0)),
            "mount": attempt(call("mount", b"none", b"/tmp", b"tmpfs", 0, None)),
        }

    assert in_child(probe) == {"torch": True, "forked": 7, "inet": "EAFNOSUPPORT", "unix": "EAFNOSUPPORT",
                               "socketpair": "ok", "ptrace": "EPERM", "unshare": "EPERM", "shmget": "EPERM",
                               "msgget": "EPERM", "keyctl": "EPERM", "mount": "EPERM"}


@pytest.mark.skipif(os.geteuid() != 0, reason="only a child still running as root drops its capabilities")
def test_a_child_left_as_root_keeps_no_capability(tmp_path):
    """The fallback as root does not change uid: the child stays uid 0 without any
    capability, so it cannot raise its rlimits or regain one through exec."""
    def probe():
        import resource

        from grader.worker.confine import confine

        confine({}, tmp_path, None)
        status = dict(line.split(":\t", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":\t" in line)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

        def raise_rlimit():
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (hard + 1, hard + 1))
                return "ok"
            except ValueError:  # Python's word for EPERM here
                return "EPERM"

        shell = subprocess.run(["/bin/sh", "-c", "grep CapEff /proc/self/status"], capture_output=True, text=True)
        return {"uid": os.getuid(), "effective": status["CapEff"].strip(), "bounding": status["CapBnd"].strip(),
                "raise_rlimit": raise_rlimit() if hard != resource.RLIM_INFINITY else "EPERM",
                "after_exec": shell.stdout.split()[-1]}

    assert in_child(probe) == {"uid": 0, "effective": "0" * 16, "bounding": "0" * 16, "raise_rlimit": "EPERM",
                               "after_exec": "0" * 16}


# ------------------------------------------------------------------ what the host removes at release

IPC_PROBE = r"""
import ctypes, json, os, sys
from grader.worker import ipc
libc = ctypes.CDLL(None, use_errno=True)
made = {"shm": libc.shmget(0, 4096, 0o1600), "msg": libc.msgget(0, 0o1600), "sem": libc.semget(0, 1, 0o1600)}
assert min(made.values()) >= 0, made
ipc.DEV_SHM = __import__("pathlib").Path(sys.argv[1])
(ipc.DEV_SHM / "left").write_text("x")
before = {kind: len(ipc.sysv_objects(kind)) for kind in ("shm", "msg", "sem")}
other_uid = ipc.remove_leftovers(os.getuid() + 12345)
none_given = ipc.remove_leftovers(None)
everything = ipc.remove_leftovers(None, everything=True)
after = {kind: len(ipc.sysv_objects(kind)) for kind in ("shm", "msg", "sem")}
print(json.dumps({"before": before, "other_uid": other_uid, "none": none_given, "removed": len(everything),
                  "after": after, "dev_shm": os.listdir(ipc.DEV_SHM)}))
"""


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs unshare --ipc (root)")
def test_release_removes_sysv_objects_and_dev_shm_files(tmp_path):
    """In an IPC namespace of its own (so nothing of this machine's is touched): what a
    submission left is found and removed; another uid's objects are left alone."""
    result = subprocess.run(["unshare", "--ipc", sys.executable, "-c", IPC_PROBE, str(tmp_path)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen == {"before": {"shm": 1, "msg": 1, "sem": 1}, "other_uid": [], "none": [], "removed": 4,
                    "after": {"shm": 0, "msg": 0, "sem": 0}, "dev_shm": []}


def test_the_disk_watch_counts_the_copy_and_tmp_and_names_the_quota(tmp_path):
    copy, tmp = tmp_path / "copy", tmp_path / "tmp"
    (copy / "sub").mkdir(parents=True)
    tmp.mkdir()
    (copy / "sub" / "a.bin").write_bytes(os.urandom(3 << 20))
    (tmp / "b.bin").write_bytes(os.urandom(2 << 20))
    with open(copy / "sparse.bin", "wb") as fh:
        fh.truncate(1 << 30)  # a sparse file uses no disk
    assert not DiskWatch([copy, tmp], 6 << 20).exceeded()
    watch = DiskWatch([copy, tmp], 4 << 20)
    assert watch.exceeded() and watch.describe() == ("it wrote 5 MB into its folder and /tmp "
                                                     "(the grader allows 4 MB on disk)")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="bind-mounts a folder: root only")
def test_the_disk_watch_and_emptying_tmp_leave_a_folder_mounted_there_alone(tmp_path, monkeypatch):
    """The sandbox binds the Python installation read-only wherever it is, /tmp included (a
    student's virtualenv under /tmp): its files are not the student's, neither to count nor
    to remove."""
    tmp, installation = tmp_path / "tmp", tmp_path / "venv"
    tmp.mkdir()
    installation.mkdir()
    for index in range(60):
        (installation / f"module{index}.py").write_bytes(os.urandom(8192))
    monkeypatch.setattr(DiskWatch, "MAX_ENTRIES", 50)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(tmp)], check=True)  # the sandbox's /tmp
    (tmp / "venv").mkdir()
    (tmp / "student.bin").write_bytes(os.urandom(4096))
    subprocess.run(["mount", "--bind", "-o", "ro", str(installation), str(tmp / "venv")], check=True)
    try:
        watch = DiskWatch([tmp], 1 << 20)
        assert not watch.exceeded(), watch.describe()
        assert watch.entries == 1  # student.bin; the folder bound there is another file system
        empty(tmp)
        assert sorted(p.name for p in tmp.iterdir()) == ["venv"]
        assert len(list((tmp / "venv").iterdir())) == 60
    finally:
        subprocess.run(["umount", str(tmp / "venv")], check=True)
        subprocess.run(["umount", str(tmp)], check=True)


# ------------------------------------------------------------------ the grader's side of the wire

def test_only_known_fields_are_taken_and_every_string_is_capped():
    big = "A" * 3_000_000
    limits = sandbox.spec.limits()
    answer = {"status": "ok", "output": big, "output_dropped": "many", "stage": big, "exit": big, "seconds": big,
              "error": {"type": big, "message": big, "traceback": big, "extra": big}, "extra": big,
              "value": {big: [big, {"type": big}], "n": 3}}
    result = client.result_from(answer, 1.0, limits)
    assert len(json.dumps(result.__dict__, default=str)) < 200_000
    assert len(result.output) <= int(limits["size"]["max_output_bytes"]) + len(protocol.CUT)
    assert set(result.error) == {"type", "message", "traceback"}
    assert result.output_dropped == 0 and result.seconds == 0.0
    assert result.value["n"] == 3 and len(json.dumps(result.value)) < protocol.VALUE_STRINGS_CAP + 1000
    assert client.result_from({"status": "passed"}, 1.0, limits).status == "protocol"



def test_the_short_names_of_a_large_batch_are_kept_whole():
    """A batch of hundreds of calls returns thousands of type and dtype names: the budget for
    all strings of one value is for long ones (a 300-example batch had its names cut)."""
    value = [{"type": "torch.Tensor", "dtype": "torch.float32", "key": f"grad_W{i % 2 + 1}"} for i in range(6000)]
    result = client.result_from({"status": "ok", "value": value}, 1.0, sandbox.spec.limits())
    assert result.value == value

def test_a_full_private_tmp_names_its_size():
    limits = sandbox.spec.limits()
    answer = {"status": "error", "error": {"type": "OSError", "message": "[Errno 28] No space left on device"}}
    mb = int(limits["process"]["tmp_bytes"]) // 2**20
    assert client.result_from(answer, 1.0, limits).hint == f"(the grader's private /tmp holds at most {mb} MB)"


def test_a_checkpoint_is_measured_unpacked_before_it_is_loaded(tmp_path):
    from tests.test_hostile_sandbox import arm_bomb

    arm_bomb(tmp_path / "model.pth", 8 << 20)
    assert (tmp_path / "model.pth").stat().st_size < 1 << 20
    assert checkpoint.unpacked_size(tmp_path / "model.pth") > 8 << 20
    (tmp_path / "legacy.pth").write_bytes(b"not a zip at all")
    assert checkpoint.unpacked_size(tmp_path / "legacy.pth") == 16


def test_the_worker_stages_its_new_modules():
    staged = sandbox.runtime_dir() / "grader" / "worker"
    assert {"confine.py", "landlock.py", "seccomp.py", "ipc.py"} <= {p.name for p in staged.iterdir()}
