"""Kernel objects that outlive the processes that made them, removed when a submission is
released: SysV shared memory segments, message queues and semaphore sets (listed in
/proc/sysvipc) and files in /dev/shm (POSIX shared memory and semaphores).

The seccomp filter already refuses the SysV and POSIX message queue calls, and Landlock
/dev/shm: this is the second line, for a kernel or platform where those are missing.
Inside bubblewrap the worker has an IPC namespace (and /dev) of its own, so everything
found there was made by a submission and goes. In the fallback the machine's IPC
namespace is shared: only objects owned or created by the submission's own uid go, and
without one (the fallback as a user: student code runs as the grader's uid) nothing is
touched, since the objects of the grader's user are not ours to remove.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

IPC_RMID = 0
SYSVIPC = Path("/proc/sysvipc")
DEV_SHM = Path("/dev/shm")
# /proc/sysvipc file -> its id column (each also has the owner's `uid` and the creator's `cuid`)
ID_COLUMNS = {"shm": "shmid", "msg": "msqid", "sem": "semid"}


def sysv_objects(kind: str) -> list[dict[str, int]]:
    """The SysV objects of `kind` (shm, msg or sem) in this IPC namespace, as columns."""
    try:
        lines = (SYSVIPC / kind).read_text().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    names = lines[0].split()
    rows = []
    for line in lines[1:]:
        values = line.split()
        try:
            rows.append({name: int(value) for name, value in zip(names, values)})
        except ValueError:
            continue
    return rows


def remove_leftovers(uid: int | None, everything: bool = False) -> list[str]:
    """Remove what a submission left: every SysV object and /dev/shm file when `uid` is None
    and `everything` (a private IPC namespace), else those of `uid`. Returns what went."""
    if uid is None and not everything:
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    removers = {"shm": lambda i: libc.shmctl(i, IPC_RMID, None), "msg": lambda i: libc.msgctl(i, IPC_RMID, None),
                "sem": lambda i: libc.semctl(i, 0, IPC_RMID)}
    removed = []
    for kind, id_column in ID_COLUMNS.items():
        for row in sysv_objects(kind):
            if everything or uid in (row.get("uid"), row.get("cuid")):
                if removers[kind](row[id_column]) == 0:
                    removed.append(f"{kind} {row[id_column]}")
    try:
        entries = list(os.scandir(DEV_SHM))
    except OSError:
        entries = []
    for entry in entries:
        try:
            if everything or entry.stat(follow_symlinks=False).st_uid == uid:
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:
            pass
    return removed
