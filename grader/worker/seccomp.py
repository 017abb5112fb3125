"""A seccomp filter a forked child installs on itself before it imports student code: the
system calls student code has no use for, and that reach past the sandbox, fail with
EPERM (network sockets: EAFNOSUPPORT). Inherited by everything the child starts; it cannot
be removed. A small BPF program built here, installed with prctl(PR_SET_SECCOMP) through
ctypes. Only x86_64's system call numbers are listed: elsewhere `install` says so.

Denied: tracing and reading other processes (ptrace, process_vm_readv/writev, kcmp), keys,
bpf, perf_event_open, io_uring, userfaultfd, mounting and namespaces (mount and the new
mount API, pivot_root, chroot, unshare, setns, clone with a namespace flag), kernel modules,
kexec, reboot, swap, clocks, quotas, file handles (open_by_handle_at), SysV shared memory,
message queues and semaphores and POSIX message queues (state that would outlive the
student), and socket() of every family: no network, no netlink, and no unix socket either
(Landlock cannot stop a connect() to a named one such as docker.sock or D-Bus).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import platform
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_NO_NEW_PRIVS = 22, 2, 38
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
# BPF opcodes
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
NR_OFFSET, ARCH_OFFSET, ARG0_OFFSET = 0, 4, 16
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

DENIED_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321, "perf_event_open": 298,
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "userfaultfd": 323,
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
    "mount_setattr": 442, "init_module": 175, "finit_module": 313, "delete_module": 176,
    "kexec_load": 246, "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
    "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
    "iopl": 172, "ioperm": 173, "syslog": 103, "quotactl": 179, "quotactl_fd": 443, "vhangup": 153,
    "sethostname": 170, "setdomainname": 171, "lookup_dcookie": 212, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304,
    "shmget": 29, "shmat": 30, "shmctl": 31, "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220,
    "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "mq_open": 240, "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
    "mq_getsetattr": 245,
}
SOCKET, CLONE, CLONE3 = 41, 56, 435


class SeccompError(OSError):
    """The kernel refused the filter: the child must not run student code."""


def supported() -> bool:
    return platform.system() == "Linux" and platform.machine() == "x86_64"


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


@functools.cache  # built once in the host, before it forks
def program() -> bytes:
    """The filter: other architectures and x32 calls killed or refused, the denied list
    refused, socket() refused for every family (socketpair() still works), clone() without
    namespace flags only, clone3() reported missing (so that libc falls back to clone(),
    whose flags the filter can read)."""
    eperm, enosys, eafnosupport = (RET_ERRNO | e for e in (errno.EPERM, errno.ENOSYS, errno.EAFNOSUPPORT))
    ops = [_op(LD_W_ABS, ARCH_OFFSET), _op(JEQ_K, AUDIT_ARCH_X86_64, 1, 0), _op(RET_K, RET_KILL_PROCESS),
           _op(LD_W_ABS, NR_OFFSET), _op(JGE_K, X32_SYSCALL_BIT, 0, 1), _op(RET_K, eperm)]
    for number in DENIED_X86_64.values():
        ops += [_op(JEQ_K, number, 0, 1), _op(RET_K, eperm)]
    ops += [_op(JEQ_K, CLONE3, 0, 1), _op(RET_K, enosys)]
    ops += [_op(JEQ_K, SOCKET, 0, 1), _op(RET_K, eafnosupport)]
    ops += [_op(JEQ_K, CLONE, 0, 4), _op(LD_W_ABS, ARG0_OFFSET), _op(JSET_K, CLONE_NAMESPACES, 0, 1),
            _op(RET_K, eperm), _op(RET_K, RET_ALLOW)]
    ops.append(_op(RET_K, RET_ALLOW))
    return b"".join(ops)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    """Install the filter on this process (no_new_privs is set first, as the kernel requires)."""
    if not supported():
        raise SeccompError(0, f"no system call table for {platform.system()} {platform.machine()}")
    code = program()
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise SeccompError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
