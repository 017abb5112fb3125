"""The limits and privileges of the worker's processes: the rlimits the host sets at start
(inherited by every child), a child's CPU-time backstop, its change to the submission's
uid, and the host's own process attributes (subreaper, not dumpable)."""

from __future__ import annotations

import ctypes
import math
import os
import resource

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4


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


def limit_cpu(timeout: float) -> None:
    """A CPU-time backstop behind the host's wall-clock timeout: this call may use
    `timeout` + 1 s of CPU on top of what the child has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + math.ceil(timeout) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


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


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_dumpable(value: bool) -> None:
    """Not dumpable: a child running as our uid (no sandbox uid) cannot ptrace us."""
    _prctl(PR_SET_DUMPABLE, int(value))


def become_subreaper() -> None:
    """Orphans of a call (double forks, setsid daemons) are re-parented to the host rather
    than to init, so the sweep after each call finds and kills them."""
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
