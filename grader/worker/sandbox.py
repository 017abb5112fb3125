"""How the worker process is started: inside bubblewrap when it can be, else plainly.

A `Launcher` turns (workdir, output cap) into an argv and an environment. One worker
serves the submissions of a grading process one after another, each from its own copy in
the workdir (see grader/worker/client.py). The worker only ever sees a staged copy of
the worker's own modules (``runtime_dir()``): never the rest of the harness, the reference
solution or the TA configuration.

``MLP_GRADER_SANDBOX`` picks the launcher: ``auto`` (default: bubblewrap when it works
here, else the process fallback with a warning in every results.json), ``bwrap`` (fail
loudly without it) or ``none`` (the fallback, e.g. to test it). docs/ISOLATION.md says
what each one isolates.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from grader import spec
from grader.worker import landlock, seccomp

MODE_ENV = "MLP_GRADER_SANDBOX"
MODES = ("auto", "bwrap", "none")
WORKER_FILES = ("__init__.py", "worker/__init__.py", "worker/guard.py", "worker/host.py", "worker/ops.py",
                "worker/protocol.py", "worker/confine.py", "worker/landlock.py", "worker/seccomp.py", "worker/ipc.py",
                "worker/board.py", "worker/child.py", "worker/disk.py", "worker/processes.py", "worker/rlimits.py",
                "worker/watch.py", "worker/bindings.py", "worker/warm.py",
                "worker/hugepages.py")
# argv after -c: RUNTIME SITE_DIRS WORKDIR MAX_OUTPUT LIMITS_JSON. Python runs with -I -S -B:
# no environment variables, no user site, no .pth files (site-packages holds the editable
# install's finder, which points into the repository) and no .pyc written (-I ignores
# PYTHONDONTWRITEBYTECODE); the bootstrap adds the staged runtime and the folders torch
# and numpy live in, nothing else.
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv.pop(1)); sys.path += sys.argv.pop(1).split(':'); "
             "from grader.worker.host import main; sys.exit(main(sys.argv))")
# Where the sandbox shows the workdir (the submission copies) and the runtime (fixed, neutral paths).
INSIDE_WORKDIR = "/submissions"
INSIDE_RUNTIME = "/runtime"
# As root, every worker runs as its own unused uid from here on (see `sandbox_uid`).
UID_BASE = 2_000_000_000
_UIDS = itertools.count()


@functools.cache
def runtime_dir() -> Path:
    """A folder holding only the modules the worker needs (readable by the sandbox's
    unprivileged uids, writable by nobody but us).

    Its name carries a hash of those modules, so every grading process of this user and
    version shares one, made once and never left behind by a process that was killed; a
    folder of that name that is not ours and private is never used."""
    package = Path(__file__).parents[1]  # grader/
    digest = hashlib.sha256()
    for name in WORKER_FILES:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes())
    shared = Path(tempfile.gettempdir()) / f"mlp-grader-runtime-{os.getuid()}-{digest.hexdigest()[:16]}"
    if _ours_and_private(shared):
        return shared
    staging = Path(tempfile.mkdtemp(prefix="mlp-grader-runtime-"))
    for name in WORKER_FILES:
        target = staging / "grader" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / name, target)
        target.chmod(0o644)
    for folder in (staging, staging / "grader", staging / "grader" / "worker"):
        folder.chmod(0o755)
    try:
        os.rename(staging, shared)  # atomic; fails if another process was first
    except OSError:
        pass
    if _ours_and_private(shared):
        shutil.rmtree(staging, ignore_errors=True)
        return shared
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    return staging


def _ours_and_private(folder: Path) -> bool:
    """A real folder (not a link) owned by us that nobody else may write to, all the way down."""
    files = [folder / "grader" / name for name in WORKER_FILES]
    for path in (folder, folder / "grader", folder / "grader" / "worker", *files):
        try:
            info = path.lstat()
        except OSError:
            return False
        kind_ok = stat.S_ISDIR(info.st_mode) if path.suffix != ".py" else stat.S_ISREG(info.st_mode)
        if not kind_ok or info.st_uid != os.getuid() or info.st_mode & 0o022:
            return False
    return True


def clean_environment(home: str) -> dict[str, str]:
    """The environment student code sees: nothing of the grader's."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


def site_dirs() -> list[str]:
    """The folders the worker imports torch and numpy (and their dependencies) from."""
    found = []
    for name in ("torch", "numpy"):
        module = importlib.util.find_spec(name)
        if module and module.origin:
            found.append(str(Path(module.origin).resolve().parent.parent))
    paths = sysconfig.get_paths()
    found += [paths["purelib"], paths["platlib"]]
    return list(dict.fromkeys(p for p in found if Path(p).is_dir()))


def worker_limits() -> dict:
    """The resource limits the host applies to itself (and so to every child) at start."""
    limits = spec.limits()
    return {
        "data_bytes": int(limits["memory"]["data_bytes"]),
        "address_space_bytes": int(limits["memory"]["address_space_bytes"]),
        "max_processes": int(limits["process"]["max_processes"]),
        "open_files": int(limits["process"]["open_files"]),
        "max_file_bytes": int(limits["process"]["max_file_bytes"]),
        "max_disk_bytes": int(limits["process"]["max_disk_bytes"]),
    }


# Device files a child may read and write (nothing else under /dev), and the files of /etc
# the dynamic loader and time functions read (bubblewrap binds the same ones).
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime")
# Of /proc, only the child's own folder (the child opens "/proc/self" for its rule: its own
# pid) and what torch's CPU detection reads. Without bubblewrap, /proc shows the grader's
# processes: their environment, and their pipes through /proc/<pid>/fd, stay out of reach.
PROC_FILES = ("/proc/self", "/proc/cpuinfo", "/proc/meminfo")


def confinement(runtime: str, hidden: list[Path]) -> dict:
    """The rules each child applies to itself before it imports student code (see
    grader/worker/confine.py): Landlock where this kernel has it, reading only the system
    and Python folders (less anything in `hidden`), the runtime and its own /proc entry;
    the seccomp filter where its system call table is known."""
    read = [str(p) for p in without(_bound_paths(), hidden)]
    read += [runtime, *PROC_FILES, *(f"/etc/{name}" for name in ETC_FILES)]
    abi, has_seccomp = layers()
    return {"landlock": abi >= 1, "seccomp": has_seccomp, "read": read, "devices": list(DEVICES)}


def without(folders: list[Path], hidden: list[Path]) -> list[Path]:
    """`folders`, with any of `hidden` inside one of them cut out: such a folder is replaced
    by its entries, recursively, less the hidden ones (Landlock can only allow, so a
    repository inside the Python prefix must not be covered by the prefix's rule)."""
    kept = []
    for folder in folders:
        if any(folder.is_relative_to(h) for h in hidden):
            continue
        if any(h.is_relative_to(folder) for h in hidden):
            try:
                kept += without(sorted(folder.iterdir()), hidden)
            except OSError:
                pass
        else:
            kept.append(folder)
    return kept


@functools.cache
def layers() -> tuple[int, bool]:
    """(the kernel's Landlock ABI, whether the seccomp filter can be installed), probed once."""
    return landlock.abi(), seccomp.supported()


def fallback_summary() -> str:
    """What student code can and cannot do in the fallback here, in plain words."""
    abi, has_seccomp = layers()
    if abi >= 1:
        cannot = ["read the repository (reference/, ta/, submissions/, reports/), other students' copies, other "
                  "processes' /proc entries or any file outside the system and Python folders",
                  "write outside its copy and a private tmp"]
        if has_seccomp:
            cannot.append("open any socket, trace processes, use SysV IPC or namespaces")
        if abi >= 6:
            cannot.append("signal processes other than its own")
        gaps = "".join(f"; {gap}" for gap in landlock.missing(abi))
        return (f"student code runs as a plain process confined by Landlock (ABI {abi})"
                + (" and a seccomp filter" if has_seccomp else "") + ": it cannot " + ", cannot ".join(cannot)
                + gaps + ". It still runs as this user (as root: uid 0 without any capability), and shares the CPU "
                "and memory bandwidth of this machine.")
    if has_seccomp:
        return ("this kernel has no Landlock: student code runs as a plain process with a seccomp filter "
                "(no sockets, no tracing, no SysV IPC), resource limits and a temporary folder, but it CAN READ "
                "every file this user can read, the reference solution under reference/, ta/ and other students' "
                "submissions included, and write where this user can.")
    return ("nothing here can confine student code (no bubblewrap, Landlock or seccomp, e.g. on macOS): it runs as "
            "a plain process with a clean environment, resource limits and a temporary folder, but it CAN READ every "
            "file this user can read (the reference solution under reference/, ta/, other students' submissions), "
            "write where this user can, and use the network. Hidden checks and the checkpoint metric still run only "
            "in the grader, so the TA's seed and test set never reach it. Grade a class only where bubblewrap or "
            "Landlock works.")


class Launcher:
    """The fallback: a plain process with resource limits, a clean environment and a
    temporary copy of each submission, confined by Landlock and a seccomp filter where the
    kernel has them (`fallback_summary` says what that leaves)."""

    name = "process"
    isolated = False

    def __init__(self, reason: str = "bubblewrap (bwrap) is not installed"):
        self.reason = reason

    @property
    def warning(self) -> str | None:
        return f"{self.reason}: {fallback_summary()}"

    def command(self, workdir: Path, max_output: int) -> tuple[list[str], dict[str, str]]:
        limits = worker_limits()
        # RLIMIT_NPROC counts every process of our uid: the host adds what already runs.
        limits["count_existing_processes"] = True
        limits["private_tmp"] = str(workdir / ".tmp")  # the host makes it and empties it between two submissions
        hidden = [p for p in (repository_root(), workdir) if p is not None]
        limits["confine"] = confinement(str(runtime_dir()), hidden)
        argv = [sys.executable, "-I", "-S", "-B", "-c", BOOTSTRAP, str(runtime_dir()), ":".join(site_dirs()),
                str(workdir), str(max_output), json.dumps(limits)]
        return argv, clean_environment(str(workdir))

    def submission_uid(self) -> int | None:
        """The uid a submission's code runs as (None: the worker's own)."""
        return None


class BwrapLauncher(Launcher):
    """The worker inside bubblewrap: its own mount, PID, network, IPC and UTS namespaces;
    read-only system and Python folders; the workdir and a private /tmp as its only writable
    places; no view of the repository. As root each submission also runs as an
    unprivileged uid of its own. Each child adds Landlock and the seccomp filter inside."""

    name = "bwrap"
    isolated = True

    def __init__(self, bwrap: str):
        super().__init__("")
        self.bwrap = bwrap

    @property
    def warning(self) -> str | None:
        return None

    def command(self, workdir: Path, max_output: int) -> tuple[list[str], dict[str, str]]:
        limits = worker_limits()
        limits["private_tmp"] = "/tmp"  # the host empties it between two submissions
        limits["own_ipc_namespace"] = True  # so every SysV object and /dev/shm file there is a submission's
        limits["confine"] = confinement(INSIDE_RUNTIME, [])
        env = clean_environment(INSIDE_WORKDIR)
        python = [sys.executable, "-I", "-S", "-B", "-c", BOOTSTRAP, INSIDE_RUNTIME, ":".join(site_dirs()),
                  INSIDE_WORKDIR, str(max_output), json.dumps(limits)]
        argv = [self.bwrap, *namespace_flags(), *filesystem_flags(workdir), "--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, value]
        return [*argv, "--chdir", INSIDE_WORKDIR, "--", *python], env

    def submission_uid(self) -> int | None:
        return sandbox_uid() if os.geteuid() == 0 else None


# As root, the host keeps these (and nothing else) to run each submission's children as that
# submission's uid, to kill what they leave behind and to empty /tmp after them. A child
# loses every capability when it changes uid, before it imports mlp.py.
HOST_CAPABILITIES = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER")


def namespace_flags() -> list[str]:
    """--unshare-all, except as root: there a user namespace would map uid 0 to root (so
    RLIMIT_NPROC would not apply and children could not run as their own uid). Instead
    bubblewrap drops every capability but HOST_CAPABILITIES."""
    common = ["--die-with-parent", "--new-session"]
    if os.geteuid() != 0:
        return ["--unshare-all", *common]
    caps = [flag for cap in HOST_CAPABILITIES for flag in ("--cap-add", cap)]
    return ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", *common,
            "--cap-drop", "ALL", *caps]


def filesystem_flags(workdir: Path) -> list[str]:
    """Read-only system and Python folders, a fresh /proc, /dev and /tmp, the runtime
    read-only and the workdir writable. When the repository lies inside a bound
    folder (a virtualenv inside it, say), a tmpfs over it hides it; binds below it (the
    virtualenv) come after, so they stay visible."""
    flags = ["--proc", "/proc", "--dev", "/dev"]
    tmp_size = int(spec.limits()["process"]["tmp_bytes"])
    flags += ["--perms", "1777", *(["--size", str(tmp_size)] if _bwrap_has("--size") else []), "--tmpfs", "/tmp"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            flags += ["--symlink", os.readlink(top), top]
    bound = _bound_paths()
    mounts = [(path, ["--ro-bind", str(path), str(path)]) for path in bound]
    repo = repository_root()
    if repo is not None and any(repo.is_relative_to(path) for path in bound):
        mounts.append((repo, ["--tmpfs", str(repo)]))
    # bwrap would create a bind's missing parents with the modes of the real ones (/root is
    # 0700): make them 0755 first, so the unprivileged uid can reach what is bound below.
    parents = {parent for path in bound for parent in path.parents
               if parent != Path("/") and not any(parent.is_relative_to(b) for b in bound)}
    mounts += [(parent, ["--perms", "0755", "--dir", str(parent)]) for parent in parents]
    for _, args in sorted(mounts, key=lambda m: (len(m[0].parts), m[1][0] != "--perms")):
        flags += args
    for name in ETC_FILES:
        flags += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    flags += ["--ro-bind", str(runtime_dir()), INSIDE_RUNTIME, "--bind", str(workdir), INSIDE_WORKDIR]
    # The root is bubblewrap's own tmpfs, with no size limit. Without root the sandbox's
    # user owns the folders bubblewrap made on it (/etc, /root...), and could fill memory
    # with files there: read-only, it leaves the workdir and the sized /tmp as the only
    # writable places.
    flags += ["--remount-ro", "/"]
    return flags


def _bound_paths() -> list[Path]:
    """/usr, the real top-level folders that are not symlinks into it, and the Python
    installation: prefixes, the interpreter's folder and the site folders torch is in.
    Folders inside another bound folder are left out (the outer bind shows them)."""
    candidates = [Path("/usr")]
    candidates += [Path(top) for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
                   if os.path.isdir(top) and not os.path.islink(top)]
    candidates += [Path(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}]
    candidates += [Path(sys.executable).parent, Path(sys.executable).resolve().parent]
    candidates += [Path(p) for p in site_dirs()]
    resolved = {Path(os.path.realpath(p)) for p in candidates if p.exists()}
    resolved |= {p for p in candidates if p.exists() and not p.is_symlink()}
    return sorted(p for p in resolved if not any(p != q and p.is_relative_to(q) for q in resolved))


def repository_root() -> Path | None:
    """The grader's source checkout (reference/, ta/, reports/, submissions/), if the
    package runs from one: an editable install."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() else None


def sandbox_uid() -> int:
    """A uid of its own for each submission: RLIMIT_NPROC counts processes per uid (and
    root is exempt), so a private uid makes the limit exact and keeps students apart."""
    return UID_BASE + (((os.getpid() % (1 << 20)) << 10) | (next(_UIDS) % 1024))


def chown_tree(path: Path, uid: int) -> None:
    """Give a submission's copy to its uid, and to nobody else (mode 0700)."""
    path.chmod(0o700)
    for folder, dirs, files in os.walk(path):
        os.chown(folder, uid, uid)
        for name in files:
            os.lchown(os.path.join(folder, name), uid, uid)


@functools.cache
def _bwrap_has(option: str) -> bool:
    """Whether this bwrap knows an option (--size appeared in 0.7; Ubuntu 22.04 has 0.6)."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    result = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10)
    return option in result.stdout + result.stderr


@functools.cache
def bwrap_problem(bwrap: str) -> str | None:
    """Why bubblewrap cannot run here (no user namespaces in a container, say), or None."""
    argv = [bwrap, *namespace_flags(), "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/lib", "/lib64"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
    argv += ["--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/env", "true"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if result.returncode == 0 else (result.stderr.strip() or f"exit code {result.returncode}")


def sandbox_mode() -> str:
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {', '.join(MODES)}")
    return mode


def default_launcher() -> Launcher:
    return _launcher_for(sandbox_mode())


@functools.cache
def _launcher_for(mode: str) -> Launcher:
    if mode == "none":
        return Launcher(f"the sandbox is turned off ({MODE_ENV}=none)")
    bwrap = shutil.which("bwrap")
    problem = bwrap_problem(bwrap) if bwrap else "bwrap is not on PATH"
    if problem is None:
        return BwrapLauncher(bwrap)
    if mode == "bwrap":
        raise RuntimeError(f"{MODE_ENV}=bwrap, but bubblewrap cannot run here: {problem}")
    if bwrap:
        return Launcher(f"bubblewrap is installed but cannot create its sandbox here ({problem[:200]})")
    return Launcher()


def isolation_note() -> str | None:
    launcher = default_launcher()
    return None if launcher.isolated else launcher.warning
