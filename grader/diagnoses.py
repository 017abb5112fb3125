"""The diagnoses, registered by check id: when a check fails, which known mistake its code fits.

A diagnosis module (grader/diagnosis/) registers a function for the checks it explains:

    @diagnoses("backward.matches_reference", "backward.latest_cache", clue="backward")
    def diagnose(ctx, clue) -> Diagnosis | None: ...

A check marks a failure with the clue (`Failed.clues`: its name, and what the diagnosis
needs, or None when it probes the submission itself) where a diagnosis can explain it;
`attach`, called by the check runner on every failure, runs the diagnoses registered for
that check and clue, in the order the clues were given (the innermost first). The checks never import a diagnosis:
the grader's entry points import grader/known_diagnoses.py, which registers them all, and
the student kit ships that module empty (kit.py): its registry stays empty.

A diagnosis never changes a score and never turns a failure into a grader error: its own
problems are recorded for the TA and the student's failure goes on unchanged. A failure
that timed out is not diagnosed (probing the code again would only wait again). Each
diagnosis runs at most once per submission (cached under its clue's name).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from grader import spec
from grader.context import Context
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

Diagnose = Callable[[Context, Any], "Diagnosis | None"]  # (the context, the clue's value)
REGISTRY: dict[str, dict[str, Diagnose]] = {}  # check id -> clue name -> diagnosis


def diagnoses(*check_ids: str, clue: str) -> Callable[[Diagnose], Diagnose]:
    """Register a diagnosis of the failures of these checks that carry `clue`."""
    unknown = set(check_ids) - spec.all_check_ids()
    if unknown:  # fail at import time if no rubric knows it
        raise KeyError(f"no assignment's rubric has a check {sorted(unknown)}")

    def register(fn: Diagnose) -> Diagnose:
        for check_id in check_ids:
            if clue in REGISTRY.setdefault(check_id, {}):
                raise ValueError(f"two diagnoses of {check_id} read the clue {clue!r}")
            REGISTRY[check_id][clue] = fn
        return fn

    return register


def attach(ctx: Context, check_id: str, failure: Failed) -> None:
    """Put on `failure` what the check's registered diagnoses of its clues find."""
    if failure.details.get("status") == "timeout":
        return
    registered = REGISTRY.get(check_id, {})
    for name, value in failure.clues.items():
        if name in registered:
            _apply(failure, cached(ctx, name, lambda: registered[name](ctx, value)))
    # Spent: a probe's failure is raised again, as the same object, by later checks, which
    # are diagnosed only on the clues they give it themselves.
    failure.clues.clear()


def _apply(failure: Failed, diagnosis: Diagnosis) -> None:
    if not diagnosis.findings and not diagnosis.evidence:
        return
    failure.details["diagnosis"] = diagnosis.to_json()
    if diagnosis.hint and not failure.hint:
        failure.hint = diagnosis.hint


def cached(ctx: Context, name: str, diagnose: Callable[[], Diagnosis | None]) -> Diagnosis:
    """The diagnosis `name` of this submission, computed at most once (it may call the
    student's code) and never raising."""
    return ctx.probe(f"diagnosis:{name}", lambda: _safely(diagnose))


def _safely(diagnose: Callable[[], Diagnosis | None]) -> Diagnosis:
    try:
        return diagnose() or NOTHING
    except Failed as failure:  # the student's code failed on the probe: nothing to compare
        return Diagnosis(evidence={"probe_failed": failure.message[:500]})
    except Exception:  # noqa: BLE001 - a diagnosis bug must not cost the student anything
        return Diagnosis(evidence={"diagnosis_error": traceback.format_exc()[-2000:]})
