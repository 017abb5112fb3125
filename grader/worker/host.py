"""The worker process: ``python -m grader.worker.host SUBMISSION_DIR``.

It speaks the protocol on its original stdin/stdout and moves everything else out of the
way, preloads torch once, then forks a child per request. The child imports the student's
``mlp.py`` and performs one operation of ``ops.py``; the host relays the child's result,
its captured output and how it ended. Forking from a host that has imported torch but run
nothing costs milliseconds, and every call starts from the same state whatever earlier
calls did.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from pathlib import Path

from grader.worker import protocol

FRAME_CAP = 1 << 30  # the grader applies the real cap; this only bounds memory here


def main(argv: list[str]) -> int:
    submission = Path(argv[1]).resolve()
    max_output = int(argv[2]) if len(argv) > 2 else 16384
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    import torch  # noqa: F401  (preloaded once, shared by every forked child)

    torch.set_num_threads(1)
    from grader.worker import ops  # noqa: F401  (imports numpy/torch helpers before forking)

    _send(proto_out, {"hello": True, "torch": torch.__version__, "pid": os.getpid()})
    while True:
        try:
            request = protocol.decode(protocol.read_frame(proto_in, FRAME_CAP))
        except EOFError:
            return 0
        response = _serve(request, submission, max_output, (proto_in, proto_out))
        _send(proto_out, response)


def _send(stream, message) -> None:
    stream.write(protocol.encode(message))
    stream.flush()


def _serve(request: dict, submission: Path, max_output: int, private) -> dict:
    timeout = float(request.get("timeout", 20.0))
    result_r, result_w = os.pipe()
    output_r, output_w = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(result_r)
        os.close(output_r)
        for stream in private:
            os.close(stream.fileno())
        _run_child(request, submission, result_w, output_w)
    os.close(result_w)
    os.close(output_w)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass
    frames, output, dropped, status = _collect(pid, result_r, output_r, started + timeout, max_output)
    _kill_group(pid)
    return _response(frames, output, dropped, status, time.monotonic() - started)


def _run_child(request: dict, submission: Path, result_w: int, output_w: int) -> None:
    code = 0
    try:
        os.setpgid(0, 0)
        os.dup2(output_w, 1)
        os.dup2(output_w, 2)
        os.close(output_w)
        from grader.worker import ops

        os.chdir(submission)
        ops.serve(request, submission, result_w)
    except BaseException:  # noqa: BLE001 - the child must always end through os._exit
        code = 70
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
        os._exit(code)


def _collect(pid, result_r, output_r, deadline, max_output):
    """Read the child's result and output until it has ended and closed its result pipe.

    Returns (frames, output, dropped_bytes, exit_status or None if it ran out of time).
    Processes the child left behind may keep the output pipe open: once the child itself
    has ended, what they write later is not waited for.
    """
    result = bytearray()
    output = bytearray()
    dropped = 0
    open_fds = {result_r, output_r}
    status = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        ready, _, _ = select.select(list(open_fds), [], [], min(remaining, 0.05)) if open_fds else ([], [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
            elif fd == output_r:
                keep = max(0, max_output - len(output))
                output += chunk[:keep]
                dropped += len(chunk) - min(len(chunk), keep)
            elif len(result) + len(chunk) > FRAME_CAP:
                open_fds.discard(fd)
            else:
                result += chunk
        if result_r not in open_fds:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = wait_status
                break
        elif not ready and not open_fds:
            time.sleep(0.002)
    for fd in (result_r, output_r):
        os.close(fd)
    return _split_frames(bytes(result)), bytes(output), dropped, status


def _split_frames(data: bytes) -> list[dict]:
    import io

    stream = io.BytesIO(data)
    frames = []
    while True:
        try:
            frames.append(protocol.decode(protocol.read_frame(stream, FRAME_CAP)))
        except EOFError:
            return frames
        except protocol.ProtocolError:
            frames.append({"garbled": True})
            return frames


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _response(frames, output, dropped, status, seconds) -> dict:
    stage = None
    result = None
    for frame in frames:
        if "stage" in frame:
            stage = frame["stage"]
        if "result" in frame:
            result = frame
    response = {
        "stage": stage,
        "output": output.decode("utf-8", errors="replace"),
        "output_dropped": dropped,
        "seconds": seconds,
    }
    if status is None:
        response["status"] = "timeout"
    elif result is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        response.update(result["result"])
    else:
        response["status"] = "crashed"
        response["exit"] = _describe_exit(status)
    return response


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {sig} ({signal.Signals(sig).name})"
    return f"exited with code {os.WEXITSTATUS(status)}"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
