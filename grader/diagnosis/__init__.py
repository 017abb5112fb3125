"""Bug signatures: when a check fails, say which known mistake the student's code fits.

Each module here (one per rubric category) compares what the student's code returns with
the reference and with small named functions that compute the reference's known-wrong
variants in float64 (a missing factor 2, a transposed gradient, no learning-rate decay...).
The variants are built from the active assignment's spec (activation, loss, layout,
biases, init scheme, weight decay: grader/diagnosis/maths.py), so every assignment gets
the signatures of its own maths.
A mistake is named only when the student's values equal that variant within the check's
tolerance (an exact fit); otherwise the diagnosis states only measured facts, or nothing.

The result reaches the student as `Failed.hint` and the TA as `details["diagnosis"]`
(stable ids, for the bug zoo's confusion table, plus the evidence).

Note for the student kit: the variants spell out the reference's maths, so this package
belongs with the reference solution, not in the kit; the diagnoses that compare with the
reference do nothing where `oracle.available()` is False.
"""

from __future__ import annotations

import contextlib
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from grader.outcome import Failed


@dataclass(frozen=True)
class Finding:
    """One mistake (or one measured fact, when `id` is None) in plain words."""

    id: str | None
    text: str


@dataclass(frozen=True)
class Diagnosis:
    findings: tuple[Finding, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.id for f in self.findings if f.id))

    @property
    def hint(self) -> str | None:
        return " ".join(f.text for f in self.findings) or None

    def to_json(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "evidence": self.evidence}


NOTHING = Diagnosis()


def attach(ctx, failure: Failed, name: str, diagnose: Callable[[], Diagnosis | None]) -> None:
    """Diagnose once per submission (cached under `name`) and put the result on `failure`.

    A diagnosis never changes a score and never turns a failure into a grader error: its
    own problems are recorded for the TA and the student's failure goes on unchanged. A
    check that timed out is not diagnosed (probing it again would only wait again)."""
    if failure.details.get("status") == "timeout":
        return
    _apply(failure, cached(ctx, name, diagnose))


def with_diagnosis(failure: Failed, diagnose: Callable[[], Diagnosis | None]) -> Failed:
    """`failure` with the diagnosis attached, for checks that need no extra call into the
    student's code (`raise with_diagnosis(Failed(...), lambda: ...)`)."""
    _apply(failure, _safely(diagnose))
    return failure


def _apply(failure: Failed, diagnosis: Diagnosis) -> None:
    if not diagnosis.findings and not diagnosis.evidence:
        return
    failure.details["diagnosis"] = diagnosis.to_json()
    if diagnosis.hint and not failure.hint:
        failure.hint = diagnosis.hint


def cached(ctx, name: str, diagnose: Callable[[], Diagnosis | None]) -> Diagnosis:
    """The diagnosis `name` of this submission, computed at most once (it may call the
    student's code) and never raising."""
    return ctx.probe(f"diagnosis:{name}", lambda: _safely(diagnose))


@contextlib.contextmanager
def explained(ctx, name: str, diagnose: Callable[[], Diagnosis | None]) -> Iterator[None]:
    """Run a check's body; if it fails, attach the diagnosis `name` to the failure."""
    try:
        yield
    except Failed as failure:
        attach(ctx, failure, name, diagnose)
        raise


def _safely(diagnose: Callable[[], Diagnosis | None]) -> Diagnosis:
    try:
        return diagnose() or NOTHING
    except Failed as failure:  # the student's code failed on the probe: nothing to compare
        return Diagnosis(evidence={"probe_failed": failure.message[:500]})
    except Exception:  # noqa: BLE001 - a diagnosis bug must not cost the student anything
        return Diagnosis(evidence={"diagnosis_error": traceback.format_exc()[-2000:]})
