"""How the worker process is started: with bubblewrap when it is installed, else plainly.

A `Launcher` turns (submission copy, output cap) into an argv and an environment. The worker
only ever sees a staged copy of the worker's own modules (``runtime_dir()``): never the
rest of the harness, the reference solution or the TA configuration.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from pathlib import Path

WORKER_FILES = ("__init__.py", "worker/__init__.py", "worker/host.py", "worker/ops.py", "worker/protocol.py")
BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv.pop(1)); from grader.worker.host import main; sys.exit(main(sys.argv))"


@functools.cache
def runtime_dir() -> Path:
    """A private folder holding only the modules the worker needs."""
    root = Path(tempfile.mkdtemp(prefix="mlp-grader-runtime-"))
    package = Path(__file__).parent
    for name in WORKER_FILES:
        target = root / "grader" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / name, target)
    return root


def clean_environment(home: str) -> dict[str, str]:
    """The environment student code sees: nothing of the grader's."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }


class Launcher:
    """Builds the command that starts the worker host for one submission copy."""

    name = "process"
    isolated = False
    warning = ("bubblewrap (bwrap) is not installed: student code runs as a plain process "
               "with a clean environment and a temporary folder, but it can read files on this machine.")

    def command(self, submission: Path, max_output: int) -> tuple[list[str], dict[str, str]]:
        argv = [sys.executable, "-I", "-c", BOOTSTRAP, str(runtime_dir()), str(submission), str(max_output)]
        # -I drops PYTHONPATH, the user site and the current folder from sys.path; the
        # bootstrap then adds the staged runtime only.
        return argv, clean_environment(str(submission))


@functools.cache
def default_launcher() -> Launcher:
    return Launcher()


def isolation_note() -> str | None:
    launcher = default_launcher()
    return None if launcher.isolated else launcher.warning
