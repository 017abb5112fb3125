"""What the worker's host does before and between its children, for speed only: it runs
each operation once on a network of its own (warm.py) and keeps its memory in huge pages
(hugepages.py). Neither may change what a child starts from."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from grader.worker import hugepages, ops, warm

MAPS = """\
55d0c0a00000-55d0c5e00000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000300000 rw-p 00000000 00:00 0
7f0000400000-7f0000500000 rw-p 00000000 00:00 0
7f1000000000-7f1000400000 r--p 00000000 08:01 1234                       /usr/lib/libtorch_cpu.so
7f1000400000-7f1000800000 rw-p 00400000 08:01 1234                       /usr/lib/libtorch_cpu.so
7f2000000000-7f2000800000 r-xp 00000000 00:00 0
7ffd00000000-7ffd00800000 rw-p 00000000 00:00 0                          [stack]
"""


def test_the_regions_folded_are_the_whole_huge_pages_of_the_heap_and_anonymous_mappings():
    assert hugepages.anonymous_regions(MAPS) == [
        (0x55d0c0a00000, 0x55d0c5e00000),  # the heap, already on 2 MB bounds
        (0x7f0000000000, 0x7f0000200000),  # 3 MB: its one whole huge page
    ]  # not the 1 MB mapping, a library's data, memory that is not writable, nor the stack


def transparent_huge_pages() -> bool:
    try:
        return "[never]" not in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return False


def test_folding_puts_anonymous_memory_in_huge_pages_and_keeps_what_it_holds():
    code = textwrap.dedent("""
        from grader.worker import hugepages
        buffer = bytearray(64 << 20)  # private anonymous memory, as the host's heap and mappings
        for offset in range(0, len(buffer), 4096):
            buffer[offset] = offset // 4096 % 251
        folded = hugepages.collapse()
        with open("/proc/self/smaps_rollup") as rollup:
            huge = next(int(line.split()[1]) for line in rollup if line.startswith("AnonHugePages:"))
        kept = all(buffer[offset] == offset // 4096 % 251 for offset in range(0, len(buffer), 4096))
        print(folded >> 20, huge >> 10, kept)
    """)
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    folded_mb, huge_mb, kept = shown.stdout.split()
    assert kept == "True"
    if transparent_huge_pages():  # elsewhere the kernel folds nothing, and nothing else changes
        assert int(folded_mb) >= 60 and int(huge_mb) >= 60, shown.stdout  # the whole 2 MB pages of 64 MB


def test_warming_up_runs_every_operation_of_the_worker():
    course_only = {"train_iterations"}  # bindings.py's, for a course's own numpy API
    assert {name for name, _ in warm.calls()} == set(ops.OPERATIONS) - course_only
    assert warm.warm_up() == []


def test_warming_up_leaves_nothing_a_child_would_start_from():
    numpy_state, python_state = np.random.get_state(), random.getstate()
    modules, path, argv = set(sys.modules), list(sys.path), list(sys.argv)
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    assert warm.warm_up() == []
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) and after[2:] == numpy_state[2:]
    assert random.getstate() == python_state
    assert set(sys.modules) - modules == set() and sys.path == path and sys.argv == argv
    assert (torch.get_default_dtype(), torch.is_grad_enabled()) == (dtype, grad)
    assert (ops._STUDENT, ops.CHILD, ops.MODEL) == ({}, None, {})
