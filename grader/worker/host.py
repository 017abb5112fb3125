"""The worker process: ``host.main([prog, STAGE_DIR, MAX_OUTPUT, LIMITS_JSON])``, started
by a launcher of ``grader/sandbox.py``; STAGE_DIR holds one folder per submission.

On start it sets its resource limits, becomes a child subreaper and stops being dumpable
(as root it keeps only `sandbox.HOST_CAPABILITIES`; each child changes to its
submission's uid and confines itself (confine.py: Landlock, seccomp) before it imports
anything of the student's). It speaks the protocol on its original stdin/stdout
and moves everything else out of the way, preloads torch once, then forks a child per check
(see `Host`). The child imports the student's ``mlp.py`` and performs operations of
``ops.py``; the host relays each result, its captured output and how the call ended.
Forking from a host that has imported torch but run nothing costs milliseconds, and every
check starts from the same state whatever earlier checks did. When a child is done, every
process it started is killed, wherever it went.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import select
import shutil
import signal
import sys
import time
from pathlib import Path

from grader.worker import ipc, protocol, seccomp
from grader.worker.confine import confine

FRAME_CAP = 1 << 30  # the grader applies the real cap; this only bounds memory here
PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
WATCH_EVERY = 0.1  # seconds between two counts of the call's processes


def main(argv: list[str]) -> int:
    stage = Path(argv[1]).resolve()
    max_output = int(argv[2]) if len(argv) > 2 else 16384
    limits = json.loads(argv[3]) if len(argv) > 3 else {}
    apply_limits(limits)
    become_subreaper()
    _set_dumpable(False)  # a child running as our uid (no sandbox uid) cannot ptrace us
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    import torch  # noqa: F401  (preloaded once, shared by every forked child)

    torch.set_num_threads(1)
    from grader.worker import ops  # noqa: F401  (imports numpy/torch helpers before forking)

    if limits.get("confine", {}).get("seccomp"):
        seccomp.program()  # built once here, for every child

    _send(proto_out, {"hello": True, "torch": torch.__version__, "pid": os.getpid(), "uid": os.getuid()})
    host = Host(stage, max_output, (proto_in, proto_out), limits)
    while True:
        try:
            frame = protocol.read_frame(proto_in, FRAME_CAP)
        except EOFError:
            return 0
        request = protocol.decode(frame)
        _send(proto_out, host.serve(request, frame))


# ------------------------------------------------------------------ limits and privileges

def drop_privileges(uid: int | None) -> None:
    """As root inside bubblewrap (a child, before it imports mlp.py): become the
    submission's own unprivileged uid, for good.

    Root ignores RLIMIT_NPROC and may write any file it can see; the uid is unused
    elsewhere, so the process limit counts exactly this submission's processes. Changing
    uid from root also clears every capability."""
    if uid is None or os.getuid() != 0:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def apply_limits(limits: dict) -> None:
    """Set the rlimits every process of the worker inherits (the per-call CPU limit is set
    in each child). Why RLIMIT_DATA and RLIMIT_AS both: see docs/ISOLATION.md."""
    wanted = {
        resource.RLIMIT_DATA: limits.get("data_bytes"),
        resource.RLIMIT_AS: limits.get("address_space_bytes"),
        resource.RLIMIT_NOFILE: limits.get("open_files"),
        resource.RLIMIT_FSIZE: limits.get("max_file_bytes"),
        resource.RLIMIT_CORE: 0,  # a segfault must not write a core file (or call a dump helper)
    }
    if limits.get("max_processes"):
        # Counted per uid: in a fallback without our own uid, what runs already counts too.
        existing = _processes_of_uid(os.getuid()) if limits.get("count_existing_processes") else 0
        wanted[resource.RLIMIT_NPROC] = int(limits["max_processes"]) + existing
    for which, value in wanted.items():
        if value is None:
            continue
        soft, hard = resource.getrlimit(which)
        value = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(which, (value, value))


def _processes_of_uid(uid: int) -> int:
    """Threads of every process of `uid` (RLIMIT_NPROC counts threads)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:
                pass
    return count


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _set_dumpable(value: bool) -> None:
    _prctl(PR_SET_DUMPABLE, int(value))


def become_subreaper() -> None:
    """Orphans of a call (double forks, setsid daemons) are re-parented to the host rather
    than to init, so the sweep after each call finds and kills them."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)


def _send(stream, message) -> None:
    stream.write(protocol.encode(message))
    stream.flush()


class Host:
    """One host serves the submissions of one grading process, one after another, and a
    child at a time.

    A request names its submission (a folder of the stage) and, as root, the uid that
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
    """

    def __init__(self, stage: Path, max_output: int, private, limits: dict):
        self.stage = stage
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
        self.child: _Child | None = None
        self.current: tuple | None = None  # (folder, uid) of the submission being served

    def serve(self, request: dict, frame: bytes) -> dict:
        """Serve one request (`frame` is its encoding, passed on to the child as it came)."""
        started = time.monotonic()
        if "release" in request:
            if self.current is not None and self.current[0].name == request["release"]:
                self.release()
            return {"released": True, "seconds": time.monotonic() - started}
        folder = (self.stage / str(request.get("submission", ""))).resolve()
        if not folder.is_relative_to(self.stage) or folder == self.stage or not folder.is_dir():
            return {"status": "protocol", "error": {"message": f"no submission folder {request.get('submission')!r}"}}
        uid = request.get("uid")
        if self.current != (folder, uid):
            self.release()
            self.current = (folder, uid)
        session = request.get("session")
        if self.child is not None and (session is None or session != self.child.session):
            self.end_child(wait=False)  # the last check's child: it ended normally
        if self.child is None:
            self.child = self._fork(folder, uid, session)
        timeout = float(request.get("timeout", 20.0))
        call = _Call(self.child, frame, started + timeout, self.max_output, self.max_processes,
                     self._disk_watch(folder))
        call.collect()
        call.stage = self.child.board.read()
        if session is None or call.status is not None or call.stopped or call.result is None:
            self.end_child()
        return _response(call, time.monotonic() - started)

    def _disk_watch(self, folder: Path) -> "DiskWatch | None":
        if self.max_disk_bytes is None:
            return None
        return DiskWatch([folder] + ([self.private_tmp] if self.private_tmp is not None else []), self.max_disk_bytes)

    def release(self) -> None:
        """End the submission being served: its child, every process it left anywhere
        below this host (ending a child sweeps them all; without a child none is left),
        whatever it wrote to the private /tmp, and the kernel objects that would outlive
        its processes (SysV IPC, /dev/shm: see `ipc.remove_leftovers`)."""
        self.end_child()
        if self.current is not None:
            if self.private_tmp is not None:
                _empty(self.private_tmp)
            ipc.remove_leftovers(self.current[1], everything=self.own_ipc)
        self.current = None

    def _fork(self, folder: Path, uid, session) -> "_Child":
        board = protocol.StageBoard()
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        output_r, output_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            for fd in (request_w, result_r, output_r):
                os.close(fd)
            for stream in self.private:
                os.close(stream.fileno())
            _run_child(folder, uid, request_r, result_w, output_w, board, self.confinement, self.private_tmp)
        for fd in (request_r, result_w, output_w):
            os.close(fd)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        return _Child(pid, session, request_w, result_r, output_r, board)

    def end_child(self, wait: bool = True) -> None:
        """End the child and every process below this host; with wait=False, without
        waiting for them to exit (see `end_call`)."""
        child, self.child = self.child, None
        if child is None:
            return
        for fd in (child.request_w, child.result_r, child.output_r):
            try:
                os.close(fd)
            except OSError:
                pass
        end_call(child.pid, wait)
        child.board.memory.close()


def _empty(folder: Path) -> None:
    """Remove everything inside `folder` (the sandbox's private /tmp), whoever wrote it."""
    for entry in os.scandir(folder):
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(path)
            else:
                path.unlink()
        except OSError:
            pass


def remove_tree(path: Path) -> None:
    """shutil.rmtree, after making every folder below `path` readable and writable: without
    root a submission runs as our own uid, and a folder it set to mode 000 would otherwise
    outlive its turn. Symbolic links are never followed; no recursion (any depth)."""
    todo = [str(path)] if os.path.isdir(path) and not os.path.islink(path) else []
    while todo:
        folder = todo.pop()
        try:
            os.chmod(folder, 0o700)
            todo += [e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
        except OSError:
            pass
    shutil.rmtree(path, ignore_errors=True)


class _Child:
    """The host's handle on a forked child: its pid, its session, its three pipes and the
    board it notes its stages on."""

    def __init__(self, pid: int, session, request_w: int, result_r: int, output_r: int, board):
        self.pid, self.session, self.board = pid, session, board
        self.request_w, self.result_r, self.output_r = request_w, result_r, output_r
        for fd in (request_w, result_r, output_r):
            os.set_blocking(fd, False)


def _run_child(folder: Path, uid, request_r: int, result_w: int, output_w: int, board, confinement: dict,
               private_tmp: Path | None) -> None:
    """Serve requests from the host until it closes the pipe (or ends this process)."""
    code = 0
    try:
        os.setpgid(0, 0)
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
        requests = os.fdopen(request_r, "rb")
        while True:
            try:
                request = protocol.decode(protocol.read_frame(requests, FRAME_CAP))
            except EOFError:
                break
            limit_cpu(float(request.get("timeout", 20.0)))
            board.clear()
            ops.serve(request, folder, result_w, board)
    except BaseException:  # noqa: BLE001 - the child must always end through os._exit
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def limit_cpu(timeout: float) -> None:
    """A CPU-time backstop behind the host's wall-clock timeout: this call may use
    `timeout` + 1 s of CPU on top of what the child has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + math.ceil(timeout) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


class _Call:
    """One call being watched: the request to send, the result and output to read, the
    deadline, and the processes.

    The call is over when the child's result frame has arrived (its output, flushed before
    the result, is then read as far as it goes), when the child has ended (then whatever
    is already in the pipes is read and nothing more: processes it left behind may hold
    them open), when the deadline passes, or when the watchdog finds more processes than
    allowed.
    """

    def __init__(self, child: _Child, request: bytes, deadline, max_output, max_processes, disk=None):
        self.child = child
        self.disk: DiskWatch | None = disk
        self.pending = memoryview(request)
        self.result_bytes = bytearray()
        self.output_bytes = bytearray()
        self.result: dict | None = None  # the child's answer, once its frame has arrived
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
            size = protocol.frame_size(self.result_bytes, FRAME_CAP)
            if size is None or size > len(self.result_bytes):
                return
            message = protocol.decode(bytes(self.result_bytes[:size]))
        except protocol.ProtocolError as exc:
            self.garbled = str(exc)
            return
        if isinstance(message, dict) and isinstance(message.get("result"), dict):
            self.result = message["result"]
        else:
            self.garbled = "a frame that is not a result"

    def _over_a_limit(self) -> bool:
        """The watchdog: too many processes, or too much written (`stopped` says which)."""
        return self._too_many_processes() or self._over_the_disk_quota()

    def _too_many_processes(self) -> bool:
        if self.max_processes and len(descendants(os.getpid(), live_only=True)) > self.max_processes:
            self.stopped = f"was stopped: it had more than {self.max_processes} processes running at once"
        return bool(self.stopped)

    def _over_the_disk_quota(self) -> bool:
        if self.disk is not None and self.disk.exceeded():
            self.stopped = f"was stopped: {self.disk.describe()}"
        return bool(self.stopped)

    @property
    def output(self) -> bytes:
        return bytes(self.output_bytes)


class DiskWatch:
    """The disk quota of a submission: what its copy and the private /tmp hold together
    (allocated blocks, so a sparse file counts what it really uses). Counted by the
    watchdog, every WATCH_EVERY and when a call ends, so a fast writer can overshoot by
    what it writes in that time (RLIMIT_FSIZE bounds each file). A tree of more than
    MAX_ENTRIES files and folders counts as over the quota: counting it would cost more
    than the call."""

    MAX_ENTRIES = 20000

    def __init__(self, folders: list[Path], max_bytes: int):
        self.folders, self.max_bytes = folders, max_bytes
        self.used, self.entries = 0, 0

    def exceeded(self) -> bool:
        self.used, self.entries = 0, 0
        todo = [str(f) for f in self.folders]
        while todo and self.entries <= self.MAX_ENTRIES:
            try:
                with os.scandir(todo.pop()) as found:
                    for entry in found:
                        self.entries += 1
                        info = entry.stat(follow_symlinks=False)
                        self.used += info.st_blocks * 512
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(entry.path)
            except OSError:
                continue
        return self.used > self.max_bytes or self.entries > self.MAX_ENTRIES

    def describe(self) -> str:
        mb = self.max_bytes // 2**20
        if self.entries > self.MAX_ENTRIES:
            return f"it made more than {self.MAX_ENTRIES} files and folders (the grader allows {mb} MB on disk)"
        return f"it wrote {self.used // 2**20} MB into its folder and /tmp (the grader allows {mb} MB on disk)"


# ------------------------------------------------------------------ ending every process

def process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, state) for every process /proc shows."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0].decode())
    return table


def descendants(root: int, live_only: bool = False, table: dict | None = None) -> list[int]:
    """Every process below `root` (the host is a subreaper, so orphans stay below it)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, state) in table.items():
        if not (live_only and state == "Z"):
            children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def end_call(pid: int, wait: bool = True) -> None:
    """Kill the child `pid` and every process below this host, wherever they went (their
    own process group or session included). Repeats until no process it has not killed
    is left, so a fork bomb that forks while being killed is caught by a later round.

    With `wait`, also until every one has exited and been reaped. Without, it reaps what
    has exited and leaves the rest to a later call: a process sent SIGKILL runs no more
    code, and waiting for a 300 MB child to be torn down took most of 12 ms per check."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    killed: set[int] = set()
    for _ in range(200):
        left = set(descendants(os.getpid(), live_only=not wait))
        if not wait:
            left -= killed
        if not left:
            break
        kill_all(left)
        killed |= left
        _reap()
        if wait:
            time.sleep(0.001)
    _reap()


def _reap() -> None:
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return


def _response(call: _Call, seconds: float) -> dict:
    result, garbled = call.result, call.garbled
    response = {
        "stage": call.stage,
        "output": call.output.decode("utf-8", errors="replace"),
        "output_dropped": call.dropped,
        "seconds": seconds,
    }
    status = call.status
    if call.stopped == "timeout":
        response["status"] = "timeout"
        # the student's code ran until the deadline (the child never said how long it ran)
        response["student_seconds"] = response["child_seconds"] = seconds
    elif call.stopped:
        response["status"] = "crashed"
        response["exit"] = call.stopped
    elif result is not None and (status is None or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)):
        response.update({k: v for k, v in result.items() if k in RESULT_KEYS})  # never the host's own keys
    elif garbled is not None:  # e.g. a tensor subclass whose .numpy() returns a string
        response["status"] = "error"
        response["error"] = {"type": "ContractError", "traceback": "",
                             "message": f"the values returned could not be read as plain numbers ({garbled})"}
    else:
        response["status"] = "crashed"
        response["exit"] = describe_exit(status)
    return response


RESULT_KEYS = ("status", "value", "error", "student_seconds", "child_seconds")

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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
