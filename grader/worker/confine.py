"""What a forked child does to itself after it has changed to its submission's uid and
before it imports student code: Landlock and the seccomp filter, as the launcher asked
(`sandbox.confinement()` writes the rules; docs/ISOLATION.md says what each one stops),
and, if it still runs as root (the fallback as root), the end of every capability."""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

from grader.worker import landlock, seccomp

PR_CAPBSET_DROP, PR_SET_SECUREBITS = 24, 28
# SECBIT_NOROOT, _NO_SETUID_FIXUP, _KEEP_CAPS_LOCKED, _NO_CAP_AMBIENT_RAISE, each with its lock:
# uid 0 never regains a capability, by exec or setuid.
SECUREBITS_LOCKED_DOWN = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
CAPABILITY_VERSION_3 = 0x20080522
LAST_CAPABILITY = 63


def confine(rules: dict, copy: Path, private_tmp: Path | None) -> None:
    """Allow reading `rules["read"]`, reading and writing the submission's `copy`, its
    private tmp and `rules["devices"]`, and nothing else; no TCP; no signal or abstract
    socket beyond this child's own processes; the seccomp filter; no capability. Raises
    OSError when a layer the launcher promised cannot be set up (the child must then not
    go on)."""
    if private_tmp is not None:
        os.environ["TMPDIR"] = str(private_tmp)
        tempfile.tempdir = None
    if os.getuid() == 0:
        drop_capabilities()
    if rules.get("landlock"):
        writable = [str(copy)] + ([str(private_tmp)] if private_tmp is not None else [])
        landlock.restrict(list(rules.get("read", [])), writable, list(rules.get("devices", [])))
    if rules.get("seccomp"):
        seccomp.install()


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities() -> None:
    """Stay uid 0 but without any capability, for good: root's files stay readable by
    ownership (the Python installation may live in /root), but no rlimit can be raised,
    no file permission overridden, no process of another uid reniced or signalled."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECUREBITS, SECUREBITS_LOCKED_DOWN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECUREBITS)")
    for capability in range(LAST_CAPABILITY + 1):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {capability})")
    header, data = _CapHeader(CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
