"""One kill loop serves the host (a call's child and its tree) and the grader (a worker
process, its tree and its session)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from grader.worker import processes

# A process that starts a child below it and an orphan (double fork) that only its session
# ties to it, prints their pids, then waits.
TREE = """
import os, sys, time
child = os.fork()
if child == 0:
    time.sleep(60); os._exit(0)
reader, writer = os.pipe()
if os.fork() == 0:
    orphan = os.fork()
    if orphan == 0:
        time.sleep(60); os._exit(0)
    os.write(writer, str(orphan).encode()); os._exit(0)
os.wait()  # the orphan's parent
orphan = int(os.read(reader, 32))
print(child, orphan, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    state = processes.process_table().get(pid)
    return state is not None and state[2] != "Z"


def test_the_grader_ends_a_worker_its_tree_and_its_session():
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, start_new_session=True)
    child, orphan = map(int, root.stdout.readline().split())
    assert orphan not in processes.descendants(root.pid) and orphan in processes.in_session(root.pid)
    processes.end_processes(root.pid, root.pid, session=root.pid, wait=False, reap=False)
    root.wait(timeout=10)
    root.stdout.close()
    deadline = time.monotonic() + 10
    while (alive(child) or alive(orphan)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not alive(child) and not alive(orphan)


def test_without_reaping_the_grader_leaves_its_other_children_alone():
    """Another child of the grading process that has exited stays for its own Popen to reap."""
    other = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while processes.process_table().get(other.pid, (0, 0, ""))[2] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    root = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    processes.end_processes(root.pid, root.pid, session=root.pid, wait=False, reap=False)
    assert root.wait(timeout=10) != 0
    assert processes.process_table()[other.pid][2] == "Z"
    other.wait()
