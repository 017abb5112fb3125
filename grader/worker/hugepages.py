"""The worker's host keeps its anonymous memory in transparent huge pages (2 MB), so that
forking a child and ending it cost less.

A fork copies the parent's page tables, and the end of a child tears its copy down: with
the 150 MB of anonymous memory a host holds after importing torch, that is 37 000 page
table entries each way, most of a child's 8 ms of fork, exit and reap on this machine. With
huge pages, a fork shares one entry per 2 MB (bench/bench_fork.py: fork 2-5 -> 0.7-1 ms,
exit and reap 1-6 -> 0.2-1 ms). A child still copies only the 4 KB pages it writes to: the
kernel splits a huge page that a write finds shared.

Linux folds memory into huge pages on request (madvise MADV_COLLAPSE, Linux 6.1) where
transparent huge pages are not turned off; where the request fails (an older kernel, THP
set to "never", a region the kernel will not fold), nothing changes but the speed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

HUGE_PAGE = 2 << 20
MADV_HUGEPAGE = 14
MADV_COLLAPSE = 25


def _madvise():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def anonymous_regions(maps: str) -> list[tuple[int, int]]:
    """The whole huge pages (start, end) within the private, writable anonymous mappings
    (the heap among them) of a /proc/<pid>/maps text."""
    regions = []
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        low, high = (int(bound, 16) for bound in fields[0].split("-"))
        start, end = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
        if end > start:
            regions.append((start, end))
    return regions


def collapse() -> int:
    """Ask Linux to keep this process's anonymous memory in huge pages, from now on and for
    what is there already; the bytes it folded (0 where it cannot)."""
    madvise = _madvise()
    if madvise is None:
        return 0
    try:
        with open("/proc/self/maps") as maps:
            regions = anonymous_regions(maps.read())
    except OSError:
        return 0
    folded = 0
    for start, end in regions:
        madvise(start, end - start, MADV_HUGEPAGE)
        if madvise(start, end - start, MADV_COLLAPSE) == 0:
            folded += end - start
    return folded
