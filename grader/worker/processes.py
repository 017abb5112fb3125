"""Finding and ending processes, for the worker's host (a call's child and everything it
started) and for the grader (a worker process and everything it left): one kill loop."""

from __future__ import annotations

import os
import signal
import time


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


def in_session(session: int, live_only: bool = False, table: dict | None = None) -> list[int]:
    """Every process of the session `session` but its leader (a daemon that left the tree)."""
    table = process_table() if table is None else table
    return [pid for pid, (_, sid, state) in table.items()
            if sid == session and pid != session and not (live_only and state == "Z")]


def kill_all(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def end_processes(root: int, group: int, session: int | None = None, wait: bool = True,
                  reap: bool = True, spare: int | None = None) -> None:
    """Kill the process group `group` and every process below `root` (and, with `session`,
    every process of that session), wherever they went. Repeats until no process it has
    not killed is left, so a fork bomb that forks while being killed is caught by a later
    round.

    With `wait`, also until every one has exited and been reaped. Without, what has not
    exited yet is left to a later call: a process sent SIGKILL runs no more code, and
    waiting for a 300 MB child to be torn down took most of 12 ms per check. `reap` (the
    host, whose children these are) reaps what has exited; the grader, whose other
    children are not ours to reap, passes False. `spare` (the host's child forked ahead,
    which has run nothing) is left alone."""
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
    killed: set[int] = set()
    for _ in range(200):
        table = process_table()
        left = set(descendants(root, live_only=not wait, table=table))
        if session is not None:
            left |= set(in_session(session, live_only=not wait, table=table))
        if not wait:
            left -= killed
        left.discard(spare)
        if not left:
            break
        kill_all(left)
        killed |= left
        if reap:
            reap_exited()
        if wait:
            time.sleep(0.001)
    if reap:
        reap_exited()


def reap_exited() -> None:
    """Collect every child of this process that has exited (without waiting for the others)."""
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return
