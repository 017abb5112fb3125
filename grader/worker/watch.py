"""The host's watch over one call: it passes the request to the child, collects the
child's result and output, and stops the call at its deadline or when the watchdog finds
too many processes or too much written; then it says how the call ended (a Response)."""

from __future__ import annotations

import dataclasses
import os
import select
import signal
import time
from typing import Callable

from grader.worker import protocol
from grader.worker.child import FRAME_CAP, ChildHandle
from grader.worker.disk import DiskWatch
from grader.worker.processes import descendants
from grader.worker.protocol import Response, Status

WATCH_EVERY = 0.1  # seconds between two counts of the call's processes


class Call:
    """One call being watched: the request to send, the result and output to read, the
    deadline, and the processes.

    The call is over when the child's result frame has arrived (its output, flushed before
    the result, is then read as far as it goes), when the child has ended (then whatever
    is already in the pipes is read and nothing more: processes it left behind may hold
    them open), when the deadline passes, or when the watchdog finds more processes than
    allowed.
    """

    def __init__(self, child: ChildHandle, request: bytes, deadline, max_output, max_processes, disk=None,
                 spare: int | None = None, meanwhile: Callable[[], int | None] | None = None):
        self.child = child
        self.spare = spare  # the host's child forked ahead for the next check: not this call's
        self.meanwhile = meanwhile  # run once the request is sent, while the child works; may give the spare
        self.disk: DiskWatch | None = disk
        self.pending = memoryview(request)
        self.result_bytes = bytearray()
        self.result_size: int | None = None  # the whole frame's, once its header has arrived
        self.output_bytes = bytearray()
        self.result: Response | None = None  # the child's answer, once its frame has arrived
        self.garbled: str | None = None  # why what the child sent could not be read
        self.deadline = deadline
        self.max_output = max_output
        self.max_processes = max_processes
        self.dropped = 0
        self.status = None  # the child's wait status if it has ended
        self.stopped = ""  # why the host stopped the call, if it did
        self.stage: str | None = None  # what the child last noted doing

    def collect(self) -> None:
        child = self.child
        reading = {child.result_r, child.output_r}
        next_watch = time.monotonic() + WATCH_EVERY
        while True:
            now = time.monotonic()
            if now >= self.deadline:
                self.stopped = "timeout"
                return
            if now >= next_watch:
                next_watch = now + WATCH_EVERY
                if self._over_a_limit():
                    return
            writing = [child.request_w] if self.pending else []
            ready_r, ready_w, _ = select.select(list(reading), writing, [], min(self.deadline - now, 0.05))
            if ready_w:
                self._write()
                if not self.pending and self.meanwhile is not None:
                    self.spare, self.meanwhile = self.meanwhile() or self.spare, None
            for fd in ready_r:
                if not self._read(fd):
                    reading.discard(fd)
            if self.result is not None or self.garbled is not None:
                self._drain(child.output_r)
                self._over_the_disk_quota()  # a call shorter than WATCH_EVERY is counted too
                return
            if not reading and not ready_r:
                time.sleep(0.005)
            done, status = os.waitpid(child.pid, os.WNOHANG)
            if done:
                self.status = status
                for fd in reading:  # what the child wrote before it ended
                    self._drain(fd)
                self._over_a_limit()  # what it left running or written counts too
                return

    def _write(self) -> None:
        try:
            written = os.write(self.child.request_w, self.pending)
        except BlockingIOError:
            return
        except OSError:  # the child is gone: waitpid will say how it ended
            written = len(self.pending)
        self.pending = self.pending[written:]

    def _drain(self, fd: int) -> None:
        while self._read(fd):
            pass

    def _read(self, fd: int):
        """Read one chunk: True if data came, False at end of file, None if none is ready."""
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return None
        except OSError:
            return False
        if not chunk:
            return False
        if fd == self.child.output_r:
            keep = max(0, self.max_output - len(self.output_bytes))
            self.output_bytes += chunk[:keep]
            self.dropped += len(chunk) - min(len(chunk), keep)
        elif len(self.result_bytes) + len(chunk) <= FRAME_CAP:
            self.result_bytes += chunk
            self._read_result()
        return True

    def _read_result(self) -> None:
        """Read the child's answer once its frame is complete (the child sends one frame
        per call; anything else it wrote there is garbled)."""
        try:
            if self.result_size is None:  # a batch's header is 40 KB of JSON: read it once, not per chunk
                self.result_size = protocol.frame_size(self.result_bytes, FRAME_CAP)
            size = self.result_size
            if size is None or size > len(self.result_bytes):
                return
            message = protocol.decode(bytes(self.result_bytes[:size]))
        except protocol.ProtocolError as exc:
            self.garbled = str(exc)
            return
        self.result = Response.from_child_frame(message)
        if self.result is None:
            self.garbled = "a frame that is not a result"

    def _over_a_limit(self) -> bool:
        """The watchdog: too many processes, or too much written (`stopped` says which)."""
        return self._too_many_processes() or self._over_the_disk_quota()

    def _too_many_processes(self) -> bool:
        if self.max_processes and len(set(descendants(os.getpid(), live_only=True)) - {self.spare}) > self.max_processes:
            self.stopped = f"was stopped: it had more than {self.max_processes} processes running at once"
        return bool(self.stopped)

    def _over_the_disk_quota(self) -> bool:
        if self.disk is not None and self.disk.exceeded():
            self.stopped = f"was stopped: {self.disk.describe()}"
        return bool(self.stopped)

    @property
    def output(self) -> bytes:
        return bytes(self.output_bytes)


def response(call: Call, seconds: float) -> Response:
    """How the call ended, for the grader: what the child answered (relayed as it came:
    the grader checks it), or why there is no answer."""
    known = {"stage": call.stage, "output": call.output.decode("utf-8", errors="replace"),
             "output_dropped": call.dropped, "seconds": seconds}
    status = call.status
    if call.stopped == "timeout":
        # the student's code ran until the deadline (the child never said how long it ran)
        return Response(Status.TIMEOUT, student_seconds=seconds, child_seconds=seconds, **known)
    if call.stopped:
        return Response(Status.CRASHED, exit=call.stopped, **known)
    if call.result is not None and (status is None or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)):
        return dataclasses.replace(call.result, **known)
    if call.garbled is not None:  # e.g. a tensor subclass whose .numpy() returns a string
        return Response(Status.ERROR, error={
            "type": "ContractError", "traceback": "",
            "message": f"the values returned could not be read as plain numbers ({call.garbled})"}, **known)
    return Response(Status.CRASHED, exit=describe_exit(status), **known)


SIGNAL_WORDS = {
    signal.SIGSEGV: "crashed with a segmentation fault",
    signal.SIGBUS: "crashed with a bus error",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "was killed",
    signal.SIGXCPU: "used up its CPU time limit",
    signal.SIGXFSZ: "wrote a file larger than the size limit",
}


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        words = SIGNAL_WORDS.get(sig, "was killed")
        return f"{words} (signal {sig}, {signal.Signals(sig).name})"
    return f"exited with code {os.WEXITSTATUS(status)} (os._exit or a crash of the interpreter)"

