"""The grader's side of the worker: start it, send a call, wait with a timeout, restart.

A `Worker` serves one submission, through the worker process this grading process shares
between its submissions (`HostProcess`). Each call returns a `CallResult`; a crash, an exit
or a hang fails only that call, and if the host process itself died or stopped answering,
the next call starts a fresh one. ``MLP_GRADER_CALL_TIMEOUT`` (seconds) caps every call's
timeout: the harness's own tests use it to make hangs cheap.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from grader import spec
from grader.python2 import of_worker_error as python2_code
from grader.worker.sandbox import Launcher, chown_tree, default_launcher
from grader.worker import protocol
from grader.worker.disk import remove_tree
from grader.worker.processes import end_processes
from grader.worker.protocol import Hello, Release, Request, Response, Status, is_import_stage

START_TIMEOUT = 120.0
RELEASE_TIMEOUT = 30.0
TIMEOUT_ENV = "MLP_GRADER_CALL_TIMEOUT"
HOST_DIED = "the worker process ended"


@dataclass
class CallResult(Response):
    """A call's Response as the grader sees it: with its timeout, and a hint naming the
    limit it most likely ran into."""

    timeout: float = 0.0
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def problem(self) -> str:
        """What went wrong, in words a student can act on."""
        where = self.stage or "starting the worker"
        hints = "".join(f"\n{h}" for h in (self.hint, _import_hint(self)) if h)
        if self.status == Status.ERROR:
            python2 = python2_code(self.error) if is_import_stage(self.stage) else None
            if python2:  # one sentence, not a traceback
                return python2
            text = f"{self.error.get('type')} during {where}: {self.error.get('message')}"
            if self.error.get("traceback"):
                text += "\n" + self.error["traceback"].rstrip()
            return text + hints
        if self.status == Status.CRASHED:
            return f"the process {self.exit} during {where}" + hints
        if self.status == Status.TIMEOUT:
            return f"{where} did not finish within {self.timeout:g} s" + hints
        return f"the worker sent an invalid answer during {where}: {self.error.get('message', '')}"


def _import_hint(result: CallResult) -> str:
    if is_import_stage(result.stage):
        return (f"Hint: importing {result.stage[len('import '):]} must only define things. Put data loading, training "
                "and saving under `if __name__ == \"__main__\":`.")
    return ""


def _limit_hint(answer: dict, error: dict, limits: dict) -> str:
    """Name the limit a failure most likely ran into, so the message explains itself."""
    text = f"{error.get('type', '')} {error.get('message', '')} {answer.get('exit', '')}"
    if "MemoryError" in text or "allocate memory" in text or "Cannot allocate" in text:
        mb = int(limits["memory"]["data_bytes"]) // 2**20
        return f"(the grader allows {mb} MB of memory per process)"
    if "BlockingIOError" in text or "Resource temporarily unavailable" in text or "processes running" in text:
        return f"(the grader allows at most {int(limits['process']['max_processes'])} processes and threads; mlp.py should start none)"
    if "File too large" in text or "SIGXFSZ" in text:
        return f"(the grader allows files of at most {int(limits['process']['max_file_bytes']) // 2**20} MB)"
    if "No space left on device" in text:
        return f"(the grader's private /tmp holds at most {int(limits['process']['tmp_bytes']) // 2**20} MB)"
    if "Too many open files" in text:
        return f"(the grader allows {int(limits['process']['open_files'])} open files per process)"
    return ""


class HostProcess:
    """The worker process of this grading process: started once, then shared by the
    submissions graded here one after another (see `shared_host`), so torch is imported
    once per process rather than once per student. Each submission is a copy in the
    host's workdir; the host ends everything a submission started before it serves the
    next one (grader/worker/host.py, `Host`)."""

    def __init__(self, launcher: Launcher):
        self.launcher = launcher
        self.limits = spec.limits()
        self.process: subprocess.Popen | None = None
        self.frames: queue.Queue = queue.Queue()
        self.host_stderr = bytearray()
        self.workdir = Path(tempfile.mkdtemp(prefix="mlp-grader-workdir-"))
        self.workdir.chmod(0o711)  # each submission's uid may enter its own copy, and list nothing
        self.greeting = False  # launched, its hello not read yet

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> CallResult | None:
        self.launch()
        return self.greeted()

    def launch(self) -> None:
        """Start the process without waiting for it: it imports torch on another core while
        this process goes on (the grading process imports its checks meanwhile). `greeted`
        waits for its hello. (Not from a short-lived thread: bubblewrap's --die-with-parent
        follows the thread that started it.)"""
        self.close()
        argv, env = self.launcher.command(self.workdir, int(self.limits["size"]["max_output_bytes"]))
        self.host_stderr = bytearray()
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=self.workdir, start_new_session=True,
        )
        protocol.widen_pipe(self.process.stdin.fileno())
        protocol.widen_pipe(self.process.stdout.fileno())
        self.frames = queue.Queue()
        threading.Thread(target=self._read_frames, args=(self.process, self.frames), daemon=True).start()
        threading.Thread(target=self._drain_stderr, args=(self.process,), daemon=True).start()
        self.greeting = True

    def greeted(self) -> CallResult | None:
        """Wait for the hello of the process `launch` started (None once it has come)."""
        if not self.greeting:
            return None
        self.greeting = False
        hello = self.next_frame(START_TIMEOUT)
        if not Hello.is_one(hello):
            detail = self.host_stderr.decode(errors="replace")[-2000:]
            self.close()
            return CallResult(Status.PROTOCOL, error={"message": f"the worker did not start: {detail}"})
        return None

    def send(self, message: Request | Release) -> bool:
        try:
            self.process.stdin.write(protocol.encode(message.to_wire()))
            self.process.stdin.flush()
            return True
        except (BrokenPipeError, OSError, AttributeError):
            self.close()
            return False

    def next_frame(self, timeout: float):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        """Kill the process and everything it started (the workdir stays for a restart).
        With bubblewrap, killing the sandbox's processes ends its PID namespace too; the
        fallback has no namespace, so the sweep of its session is what catches processes
        a dying host leaves behind."""
        if self.process is not None:
            pid = self.process.pid
            end_processes(pid, pid, session=pid, wait=False, reap=False)
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None

    def shutdown(self) -> None:
        self.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _read_frames(self, process: subprocess.Popen, frames: queue.Queue) -> None:
        cap = int(self.limits["size"]["max_message_bytes"])
        try:
            while True:
                frames.put(protocol.decode(protocol.read_frame(process.stdout, cap)))
        except EOFError:
            frames.put(HOST_DIED)
        except (protocol.ProtocolError, OSError, ValueError) as exc:
            frames.put(f"unreadable answer from the worker: {exc}")

    def _drain_stderr(self, process: subprocess.Popen) -> None:
        for chunk in iter(lambda: process.stderr.read(4096), b""):
            if len(self.host_stderr) < 65536:
                self.host_stderr += chunk


_HOSTS: dict[Launcher, HostProcess] = {}  # keyed by the launcher object itself


def shared_host(launcher: Launcher) -> HostProcess:
    """This process's worker process for `launcher` (created on first use)."""
    if launcher not in _HOSTS:
        _HOSTS[launcher] = HostProcess(launcher)
    return _HOSTS[launcher]


def launch_early(launcher: Launcher | None = None) -> None:
    """Launch this process's worker process now, before the first check needs it: it
    imports torch on the other core while this process imports the checks. If it cannot
    be launched (no sandbox where one is required, say), nothing happens here: the first
    call tries again and its check says why."""
    try:
        host = shared_host(launcher or default_launcher())
        if not host.alive:
            host.launch()
    except (OSError, RuntimeError, ValueError):
        return


@atexit.register
def shutdown_hosts() -> None:
    """Stop every shared worker process of this process and remove their workdirs."""
    while _HOSTS:
        _HOSTS.popitem()[1].shutdown()


class Worker:
    """One submission's side of the shared worker process, restarted on demand."""

    def __init__(self, submission: Path, launcher: Launcher | None = None):
        self.submission = Path(submission)
        self.launcher = launcher or default_launcher()
        self.limits = spec.limits()
        self.host: HostProcess | None = None
        self.copy: Path | None = None
        self.uid: int | None = None
        self.starts = 0  # worker processes started for this submission's calls

    def _start(self) -> CallResult | None:
        """Make sure the shared worker process runs (starting it if needed) and holds a
        copy of this submission."""
        self.host = shared_host(self.launcher)
        self.host.greeted()  # one launched early: if it failed, the start below says why
        if not self.host.alive:
            self.starts += 1
            failed = self.host.start()
            if failed:
                return failed
        if self.copy is None or not self.copy.is_dir():
            # The submission's name in the folder's name: its processes are easy to tell apart.
            label = re.sub(r"[^A-Za-z0-9_.-]", "_", self.submission.name)[:40]
            self.copy = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.host.workdir))
            _copy_submission(self.submission, self.copy)
            self.uid = self.launcher.submission_uid()
            if self.uid is not None:
                chown_tree(self.copy, self.uid)
        return None

    def close(self) -> None:
        """End this submission in the worker (everything it started, its /tmp) and remove
        its copy. If the worker does not confirm, it is stopped altogether."""
        if self.copy is None:
            return
        host = self.host
        if host is not None and host.alive:
            released = host.send(Release(self.copy.name)) and isinstance(host.next_frame(RELEASE_TIMEOUT), dict)
            if not released:
                host.close()
        remove_tree(self.copy)
        self.copy = None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------
    def call(self, op: str, timeout: float | None = None, session: str | None = None, **args) -> CallResult:
        """Run `op` in a child of the worker. Calls with the same `session` share one child
        (and its imported mlp.py) until a call with another session, or none, comes."""
        timeout = call_timeout(timeout or self.limits["time"]["call"])
        if self.host is None or not self.host.alive or self.copy is None:
            failed = self._start()
            if failed:
                return failed
        model = args.pop("model", None) or default_model()
        request = Request(op, args, model, timeout, self.copy.name, session, self.uid)
        if not self.host.send(request):
            return CallResult(Status.PROTOCOL, error={"message": "the worker stopped accepting calls"})
        answer = self.host.next_frame(timeout + self.limits["time"]["grace"])
        if not isinstance(answer, dict):
            self.host.close()
            if answer == HOST_DIED:  # student code killed the host itself (or it ran out of memory)
                return CallResult(Status.CRASHED, stage=op, timeout=timeout,
                                  exit="took down the whole worker process (a fresh one serves the next call)")
            return CallResult(Status.TIMEOUT if answer is None else Status.PROTOCOL, timeout=timeout, stage=op,
                              error={"message": str(answer)})
        return result_from(answer, timeout, self.limits)


def call_timeout(requested: float) -> float:
    """The call's timeout, capped by MLP_GRADER_CALL_TIMEOUT when that is set."""
    cap = os.environ.get(TIMEOUT_ENV, "").strip()
    return min(float(requested), float(cap)) if cap else float(requested)


def default_model() -> dict:
    """The student's names of the default assignment, for a call that names none (a
    benchmark's bare `api` call): checks send their assignment's."""
    return spec.assignment(spec.DEFAULT).contract.wire()


def result_from(answer: dict, timeout: float, limits: dict) -> CallResult:
    """The CallResult of one answer (or one item of a batch), taking only its known fields,
    each checked and capped (`protocol.Response.from_wire`)."""
    result = CallResult.from_wire(answer, int(limits["size"]["max_output_bytes"]))
    result.timeout = timeout
    result.hint = _limit_hint({"exit": result.exit}, result.error, limits)
    return result


def _copy_submission(source: Path, target: Path) -> None:
    """Copy the student's folder for the worker: its code, not checkpoints or large files."""
    def ignore(directory, names):
        skipped = []
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or name.endswith((".pth", ".pt", ".npz")) or name == "__pycache__":
                skipped.append(name)
            elif not (path.is_file() or path.is_dir()):  # a pipe or device: copying would block or fail
                skipped.append(name)
            elif path.is_file() and path.stat().st_size > 16 * 1024 * 1024:
                skipped.append(name)
        return skipped

    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
