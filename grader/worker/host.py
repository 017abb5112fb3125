"""The worker process: ``host.main([prog, WORKDIR, MAX_OUTPUT, LIMITS_JSON])``, started by a
launcher of ``grader/worker/sandbox.py``; WORKDIR holds one folder per submission.

On start it sets its resource limits, becomes a child subreaper and stops being dumpable
(rlimits.py; as root it keeps only `sandbox.HOST_CAPABILITIES`). It speaks the protocol
(protocol.py) on its original stdin/stdout and moves everything else out of the way,
preloads torch once, then forks a child per check (see `Host`; child.py: each child
changes to its submission's uid and confines itself before it imports anything of the
student's). The child imports the student's ``mlp.py`` and performs operations of
``ops.py``; the host watches each call (watch.py) and relays its result, its captured
output and how it ended. Forking from a host that has imported torch but run nothing costs
milliseconds, and every check starts from the same state whatever earlier checks did. When
a child is done, every process it started is killed, wherever it went (processes.py).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path

from grader.worker import disk, hugepages, ipc, protocol, seccomp
from grader.worker.child import FRAME_CAP, ChildHandle, fork_child
from grader.worker.processes import end_processes
from grader.worker.protocol import Release, Released, Request, Response, Status
from grader.worker.rlimits import apply_limits, become_subreaper, set_dumpable
from grader.worker.watch import Call, response


def main(argv: list[str]) -> int:
    workdir = Path(argv[1]).resolve()
    max_output, limits = int(argv[2]), json.loads(argv[3])  # from limits.toml (sandbox.py)
    apply_limits(limits)
    become_subreaper()
    set_dumpable(False)
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    import torch  # noqa: F401  (preloaded once, shared by every forked child)

    torch.set_num_threads(1)
    from grader.worker import warm  # imports ops.py, numpy and torch's helpers before forking

    warm.warm_up()  # torch's and numpy's first-use set-up, done once for every child

    if limits.get("confine", {}).get("seccomp"):
        seccomp.program()  # built once here, for every child
    # Every object so far stays for the host's life: a collection in a forked child then
    # never walks (and copies, page by page) the 300 MB it shares with the host.
    gc.freeze()

    _send(proto_out, protocol.Hello(torch.__version__, os.getpid(), os.getuid()))
    host = Host(workdir, max_output, (proto_in, proto_out), limits)
    folded = False
    while True:
        try:
            frame = protocol.read_frame(proto_in, FRAME_CAP)
        except EOFError:
            return 0
        answer = host.serve(protocol.routing(frame), frame)
        _send(proto_out, answer)
        if isinstance(answer, Released) and not folded:
            # Once, when the first student is done, while the grader starts the next one:
            # folding takes 0.3 s, which a student graded alone should not wait for.
            hugepages.collapse()
            folded = True


def _send(stream, message) -> None:
    stream.write(protocol.encode(message.to_wire()))
    stream.flush()


class Host:
    """One host serves the submissions of one grading process, one after another, and a
    child at a time.

    A request names its submission (a folder of the workdir) and, as root, the uid that
    submission runs as. A request for another submission than the last one first ends
    everything the last one started and empties the private /tmp: nothing of one student
    outlives their turn, and every student starts from this same, clean host.

    A request that names a `session` (the grader uses the check's id) is served by the
    child that served the previous request of that session, which keeps mlp.py imported:
    a check's Hypothesis examples then cost a pipe round trip each, not a fork, an import
    and a sweep. Any other request ends that child first (every process it started is
    killed), and a request without a session gets a child of its own for that call only.
    A child that crashed, hung or broke a limit is ended at once; the next call forks a
    fresh one from this host, which has imported torch and never runs student code.

    As root (each submission its own uid), the child of the next check is forked ahead,
    during a call, while the child works and the grader waits (a fork of this 300 MB
    process took 5 ms of every check). It waits for its first request as root, having run
    nothing: the student's processes, of another uid, can neither signal nor trace it; it
    changes uid and confines itself only then, as any child does (child.py). A submission's
    release ends it; it is never counted among the submission's processes.
    """

    def __init__(self, workdir: Path, max_output: int, private, limits: dict):
        self.workdir = workdir
        self.max_output = max_output
        self.private = private
        self.max_processes = int(limits.get("max_processes", 0)) or None
        self.max_disk_bytes = int(limits.get("max_disk_bytes", 0)) or None
        self.private_tmp = Path(limits["private_tmp"]) if limits.get("private_tmp") else None
        if self.private_tmp is not None and not self.private_tmp.is_dir():
            self.private_tmp.mkdir()
            self.private_tmp.chmod(0o1777)  # every submission's uid may write it; none another's files
        self.confinement = limits.get("confine") or {}
        self.own_ipc = bool(limits.get("own_ipc_namespace"))
        self.child: ChildHandle | None = None
        self.spare: ChildHandle | None = None  # forked ahead for the submission being served
        self.current: tuple | None = None  # (folder, uid) of the submission being served

    def serve(self, body, frame: bytes) -> Response | Released:
        """Serve one request (`frame` is its encoding, passed on to the child as it came)."""
        started = time.monotonic()
        try:
            request = protocol.request_from_wire(body)
        except protocol.ProtocolError as exc:
            return Response(Status.PROTOCOL, error={"message": str(exc)})
        if isinstance(request, Release):
            if self.current is not None and self.current[0].name == request.submission:
                self.release()
            return Released(time.monotonic() - started)
        folder = (self.workdir / request.submission).resolve()
        if not folder.is_relative_to(self.workdir) or folder == self.workdir or not folder.is_dir():
            return Response(Status.PROTOCOL, error={"message": f"no submission folder {request.submission!r}"})
        return self._call(request, frame, folder, started)

    def _call(self, request: Request, frame: bytes, folder: Path, started: float) -> Response:
        if self.current != (folder, request.uid):
            self.release()
            self.current = (folder, request.uid)
        session = request.session
        if self.child is not None and (session is None or session != self.child.session):
            self.end_child(wait=False)  # the last check's child: it ended normally
        if self.child is None:
            self.child = self._take_spare(session) or self._fork(session)
        call = Call(self.child, frame, started + request.timeout, self.max_output, self.max_processes,
                    self._disk_watch(folder), spare=self.spare.pid if self.spare is not None else None,
                    meanwhile=self.fork_ahead)
        call.collect()
        call.stage = self.child.board.read()
        if session is None or call.status is not None or call.stopped or call.result is None:
            self.end_child()
        return response(call, time.monotonic() - started)

    def _fork(self, session) -> ChildHandle:
        folder, uid = self.current
        others = tuple(handle for handle in (self.child, self.spare) if handle is not None)
        return fork_child(folder, uid, session, self.private, self.confinement, self.private_tmp, others)

    def fork_ahead(self) -> int | None:
        """Fork the child the submission's next check will ask for, if there is none yet
        (as root only: without a uid of its own, a waiting child would count among the
        submission's processes); its pid."""
        if self.current is not None and self.current[1] is not None and self.spare is None:
            self.spare = self._fork(None)
        return self.spare.pid if self.spare is not None else None

    def _take_spare(self, session) -> ChildHandle | None:
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        try:
            ended, _ = os.waitpid(spare.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped
            ended = spare.pid
        if ended:  # never, unless the system killed it: fork another
            spare.close()
            return None
        spare.session = session
        return spare

    def _disk_watch(self, folder: Path) -> disk.DiskWatch | None:
        if self.max_disk_bytes is None:
            return None
        return disk.DiskWatch([folder] + ([self.private_tmp] if self.private_tmp is not None else []), self.max_disk_bytes)

    def release(self) -> None:
        """End the submission being served: its child, every process it left anywhere
        below this host (ending a child sweeps them all; without a child none is left),
        whatever it wrote to the private /tmp, and the kernel objects that would outlive
        its processes (SysV IPC, /dev/shm: see `ipc.remove_leftovers`)."""
        spare, self.spare = self.spare, None
        if spare is not None:
            spare.close()
            end_processes(os.getpid(), spare.pid)
        self.end_child()
        if self.current is not None:
            if self.private_tmp is not None:
                disk.empty(self.private_tmp)
            ipc.remove_leftovers(self.current[1], everything=self.own_ipc)
        self.current = None

    def end_child(self, wait: bool = True) -> None:
        """End the child and every process below this host; with wait=False, without
        waiting for them to exit (see `processes.end_processes`)."""
        child, self.child = self.child, None
        if child is not None:
            child.close()
            end_processes(os.getpid(), child.pid, wait=wait, spare=self.spare.pid if self.spare is not None else None)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
