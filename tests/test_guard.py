"""The worker's guard (grader/worker/guard.py) on its own, in fresh processes: what it
reports, and what it costs a freshly forked child."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

# Runs one watched backward pass and one forward-mode AD in a fresh interpreter; prints the
# reports and whether torch._dynamo was imported (optionally before the guard's first use).
PROBE = """
import json, sys, torch
if {preload}:
    import torch._dynamo
from grader.worker import guard
w = guard.Watch()
with w.part("backward"):
    a = torch.ones(3, 3, requires_grad=True)
    (a @ a).sum().backward()
plain = w.report()
w = guard.Watch()
with w.part("forward"):
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        fwAD.make_dual(torch.ones(2), torch.ones(2))
dual = w.report()
print(json.dumps({{"plain": plain, "dual": dual, "dynamo": "torch._dynamo" in sys.modules}}))
"""


def watched(preload: bool) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(preload=preload)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def test_the_guard_does_not_import_dynamo_in_a_fresh_child():
    """torch wraps a dispatch mode's method so that torch.compile skips it, and the wrapper
    imports torch._dynamo on its first call: 1.3 s in each check's fresh child."""
    assert watched(preload=False)["dynamo"] is False


def test_the_guard_reports_the_same_with_or_without_dynamo():
    """Once student code has loaded torch._dynamo, torch's own wrapper is used again."""
    without, loaded = watched(preload=False), watched(preload=True)
    assert loaded["dynamo"] is True
    assert without["plain"] == loaded["plain"]
    assert without["dual"] == loaded["dual"]
    assert without["plain"]["backward_passes"] == 1 and without["plain"]["tampering"] == []
    assert without["dual"]["autodiff"] == ["forward-mode AD (aten._has_same_storage_numel)", "torch._make_dual (forward-mode AD)"]
