"""The grader's side of the worker: start it, send a call, wait with a timeout, restart.

A `Worker` serves one submission. Each call returns a `CallResult`; a crash, an exit or a
hang fails only that call, and if the host process itself died or stopped answering, the
next call starts a fresh one.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import spec
from grader.sandbox import Launcher, default_launcher
from grader.worker import protocol

START_TIMEOUT = 120.0


@dataclass
class CallResult:
    status: str  # ok | error | crashed | timeout | protocol
    value: Any = None
    error: dict = field(default_factory=dict)
    stage: str | None = None
    output: str = ""
    output_dropped: int = 0
    seconds: float = 0.0
    student_seconds: float = 0.0
    exit: str = ""
    timeout: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def problem(self) -> str:
        """What went wrong, in words a student can act on."""
        where = self.stage or "starting the worker"
        if self.status == "error":
            text = f"{self.error.get('type')} during {where}: {self.error.get('message')}"
            if self.error.get("traceback"):
                text += "\n" + self.error["traceback"].rstrip()
            return text + _import_hint(self)
        if self.status == "crashed":
            return f"the process {self.exit} during {where}" + _import_hint(self)
        if self.status == "timeout":
            return f"{where} did not finish within {self.timeout:g} s" + _import_hint(self)
        return f"the worker sent an invalid answer during {where}: {self.error.get('message', '')}"


def _import_hint(result: CallResult) -> str:
    if result.stage == "import mlp.py":
        return ("\nHint: importing mlp.py must only define things. Put data loading, training "
                "and saving under `if __name__ == \"__main__\":`.")
    return ""


class Worker:
    """One submission's worker process, restarted on demand."""

    def __init__(self, submission: Path, launcher: Launcher | None = None):
        self.submission = Path(submission)
        self.launcher = launcher or default_launcher()
        self.limits = spec.limits()
        self.process: subprocess.Popen | None = None
        self.frames: queue.Queue = queue.Queue()
        self.workdir: Path | None = None
        self.host_stderr = bytearray()
        self.starts = 0

    # -- lifecycle ---------------------------------------------------------------------
    def _start(self) -> CallResult | None:
        self.close()
        self.workdir = Path(tempfile.mkdtemp(prefix="mlp-grader-"))
        copy = self.workdir / "submission"
        _copy_submission(self.submission, copy)
        argv, env = self.launcher.command(copy, int(self.limits["size"]["max_output_bytes"]))
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=copy, start_new_session=True,
        )
        self.starts += 1
        self.frames = queue.Queue()
        threading.Thread(target=self._read_frames, args=(self.process, self.frames), daemon=True).start()
        threading.Thread(target=self._drain_stderr, args=(self.process,), daemon=True).start()
        hello = self._next_frame(START_TIMEOUT)
        if not isinstance(hello, dict) or not hello.get("hello"):
            detail = self.host_stderr.decode(errors="replace")[-2000:]
            self.close()
            return CallResult("protocol", error={"message": f"the worker did not start: {detail}"})
        return None

    def close(self) -> None:
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------
    def call(self, op: str, timeout: float | None = None, **args) -> CallResult:
        timeout = float(timeout or self.limits["time"]["call"])
        if self.process is None or self.process.poll() is not None:
            failed = self._start()
            if failed:
                return failed
        try:
            self.process.stdin.write(protocol.encode({"op": op, "args": args, "timeout": timeout}))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self.close()
            return CallResult("protocol", error={"message": "the worker stopped accepting calls"})
        answer = self._next_frame(timeout + self.limits["time"]["grace"])
        if not isinstance(answer, dict):
            self.close()
            return CallResult("timeout" if answer is None else "protocol", timeout=timeout,
                              error={"message": str(answer)})
        return _result_from(answer, timeout)

    def _next_frame(self, timeout: float):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def _read_frames(self, process: subprocess.Popen, frames: queue.Queue) -> None:
        cap = int(self.limits["size"]["max_message_bytes"])
        try:
            while True:
                frames.put(protocol.decode(protocol.read_frame(process.stdout, cap)))
        except EOFError:
            frames.put("the worker process ended")
        except (protocol.ProtocolError, OSError, ValueError) as exc:
            frames.put(f"unreadable answer from the worker: {exc}")

    def _drain_stderr(self, process: subprocess.Popen) -> None:
        for chunk in iter(lambda: process.stderr.read(4096), b""):
            if len(self.host_stderr) < 65536:
                self.host_stderr += chunk


def _result_from(answer: dict, timeout: float) -> CallResult:
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    return CallResult(
        status=str(answer.get("status", "protocol")),
        value=answer.get("value"),
        error={k: str(v) for k, v in error.items()},
        stage=answer.get("stage") if isinstance(answer.get("stage"), str) else None,
        output=str(answer.get("output", "")),
        output_dropped=int(answer.get("output_dropped", 0) or 0),
        seconds=float(answer.get("seconds", 0.0) or 0.0),
        student_seconds=float(answer.get("student_seconds", 0.0) or 0.0),
        exit=str(answer.get("exit", "")),
        timeout=timeout,
    )


def _copy_submission(source: Path, target: Path) -> None:
    """Copy the student's folder for the worker: its code, not checkpoints or large files."""
    def ignore(directory, names):
        skipped = []
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or name.endswith((".pth", ".pt")) or name == "__pycache__":
                skipped.append(name)
            elif path.is_file() and path.stat().st_size > 16 * 1024 * 1024:
                skipped.append(name)
        return skipped

    shutil.copytree(source, target, ignore=ignore)
