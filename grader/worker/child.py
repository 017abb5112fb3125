"""A child of the worker's host: forked for a check, it changes to its submission's uid,
confines itself, imports nothing of the student's before that, and serves the calls the
host passes on (ops.py) until the host closes its pipe."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grader.worker import protocol
from grader.worker.board import StageBoard
from grader.worker.confine import confine
from grader.worker.rlimits import drop_privileges, limit_cpu

FRAME_CAP = 1 << 30  # the grader applies the real cap; this only bounds memory here


class ChildHandle:
    """The host's handle on a forked child: its pid, its session, its three pipes and the
    board it notes its stages on."""

    def __init__(self, pid: int, session, request_w: int, result_r: int, output_r: int, board: StageBoard):
        self.pid, self.session, self.board = pid, session, board
        self.request_w, self.result_r, self.output_r = request_w, result_r, output_r
        for fd in (request_w, result_r, output_r):
            os.set_blocking(fd, False)

    def close(self) -> None:
        """Close the host's ends of the pipes and the board (the child itself is ended
        by processes.end_processes)."""
        for fd in (self.request_w, self.result_r, self.output_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.board.memory.close()


def fork_child(folder: Path, uid, session, private_streams, confinement: dict,
               private_tmp: Path | None, others: tuple[ChildHandle, ...] = ()) -> ChildHandle:
    """Fork a child for the submission in `folder`, in a process group of its own; it
    closes the host's `private_streams` (the protocol's) and the host's ends of the `others`
    children's pipes first thing. It waits for its first request before it changes uid and
    confines itself, so the host may fork it ahead (see `Host`)."""
    board = StageBoard()
    request_r, request_w = os.pipe()
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    protocol.widen_pipe(request_w)
    protocol.widen_pipe(result_w)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        for fd in (request_w, result_r, output_r):
            os.close(fd)
        for stream in private_streams:
            os.close(stream.fileno())
        for other in others:
            other.close()
        _run_child(folder, uid, request_r, result_w, output_w, board, confinement, private_tmp)
    for fd in (request_r, result_w, output_w):
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    return ChildHandle(pid, session, request_w, result_r, output_r, board)


def _run_child(folder: Path, uid, request_r: int, result_w: int, output_w: int, board: StageBoard,
               confinement: dict, private_tmp: Path | None) -> None:
    """Serve requests from the host until it closes the pipe (or ends this process)."""
    code = 0
    try:
        os.setpgid(0, 0)
        requests = os.fdopen(request_r, "rb")
        request = _next_request(requests)  # a child forked ahead waits here, having run nothing
        if request is None:
            return
        drop_privileges(uid)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        os.close(output_w)
        try:
            confine(confinement, folder, private_tmp)
        except OSError as exc:
            print(f"the grader could not confine student code here ({exc}): it was not run", flush=True)
            raise
        from grader.worker import ops

        os.chdir(folder)
        os.environ["HOME"] = os.environ["PWD"] = str(folder)
        while request is not None:
            limit_cpu(request.timeout)
            board.clear()
            ops.serve(request, folder, result_w, board)
            request = _next_request(requests)
    except BaseException:  # noqa: BLE001 - the child must always end through os._exit
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _next_request(requests) -> protocol.Request | None:
    """The host's next request (None once it has closed the pipe)."""
    try:
        return protocol.Request.from_wire(protocol.decode(protocol.read_frame(requests, FRAME_CAP)))
    except EOFError:
        return None
