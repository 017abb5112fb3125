"""Landlock (Linux >= 5.13, unprivileged): a forked child confines itself, before it imports
student code, to the files it needs, no TCP, and (ABI 6) no signals or abstract unix
sockets outside its own processes. Inherited by everything the child starts; it cannot be
lifted. Plain ctypes system calls (the same numbers on every architecture).

`restrict(read, write, devices)` allows reading (and executing) below `read`, everything
below `write` but making devices, and reading and writing the device files `devices`;
nothing else on the file system. What the running kernel could not enforce is returned as
words for the grader's note.
"""

from __future__ import annotations

import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

READ = EXECUTE | READ_FILE | READ_DIR
FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # what a rule on a file may allow
WANTED_ABI = 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class LandlockError(OSError):
    """The kernel refused a Landlock step the child needs: the child must not run student code."""


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def abi() -> int:
    """The kernel's Landlock ABI version, 0 where it has none (not Linux, too old, turned off)."""
    if not os.uname().sysname == "Linux":
        return 0
    version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def handled_fs(version: int) -> int:
    rights = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if version >= 2:
        rights |= REFER
    if version >= 3:
        rights |= TRUNCATE
    if version >= 5:
        rights |= IOCTL_DEV
    return rights


def missing(version: int) -> list[str]:
    """What this ABI cannot enforce, in words (empty at WANTED_ABI and above)."""
    gaps = []
    if version < 4:
        gaps.append("TCP is not restricted (Landlock ABI 4, Linux 6.7)")
    if version < 6:
        gaps.append("signals and abstract unix sockets are not scoped (Landlock ABI 6, Linux 6.12)")
    return gaps


def set_no_new_privs() -> None:
    if _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise LandlockError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")


def restrict(read: list[str], write: list[str], devices: list[str]) -> list[str]:
    """Confine this process (and all it will start) for good. Paths that do not exist are
    skipped. Returns what the kernel could not enforce; raises LandlockError on failure."""
    version = abi()
    if version < 1:
        raise LandlockError(0, "Landlock is not available in this kernel")
    libc = _libc()
    fs_rights = handled_fs(version)
    attr = _RulesetAttr(fs_rights, NET_BIND_TCP | NET_CONNECT_TCP if version >= 4 else 0,
                        SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if version >= 6 else 0)
    size = 8 if version < 4 else 16 if version < 6 else 24
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        raise LandlockError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        writable = fs_rights & ~(MAKE_CHAR | MAKE_BLOCK)
        for paths, rights in ((read, READ), (write, writable), (devices, READ_FILE | WRITE_FILE | IOCTL_DEV)):
            for path in paths:
                _allow(libc, ruleset, path, rights & fs_rights)
        set_no_new_privs()
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
            raise LandlockError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return missing(version)


def _allow(libc, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # nothing there to allow
    try:
        if not os.path.isdir(path):
            rights &= FILE_ONLY
        rule = _PathBeneathAttr(rights, fd)
        if libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise LandlockError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)
