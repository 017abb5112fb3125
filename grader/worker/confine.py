"""What a forked child does to itself after it has changed to its submission's uid and
before it imports student code: Landlock and the seccomp filter, as the launcher asked
(`sandbox.confinement()` writes the rules; docs/ISOLATION.md says what each one stops)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from grader.worker import landlock, seccomp


def confine(rules: dict, copy: Path, private_tmp: Path | None) -> None:
    """Allow reading `rules["read"]`, reading and writing the submission's `copy`, its
    private tmp and `rules["devices"]`, and nothing else; no TCP; no signal or abstract
    socket beyond this child's own processes; the seccomp filter. Raises OSError when a
    layer the launcher promised cannot be set up (the child must then not go on)."""
    if private_tmp is not None:
        os.environ["TMPDIR"] = str(private_tmp)
        tempfile.tempdir = None
    if rules.get("landlock"):
        writable = [str(copy)] + ([str(private_tmp)] if private_tmp is not None else [])
        landlock.restrict(list(rules.get("read", [])), writable, list(rules.get("devices", [])))
    if rules.get("seccomp"):
        seccomp.install()
