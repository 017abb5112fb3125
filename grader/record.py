"""Turn the outcomes a pytest run gathered for one student into that student's result, and
write it the moment the student's checks are in.

A run that did not run every check of a student (`-k`, `--lf`, `--deselect`, `-x`, an
interrupted run) never overwrites a grade: what it ran is merged into the student's
previous results.json, and without one the checks that did not run are recorded as
"not run" (never "passed"), and the gradebook leaves the student out until a full run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grader import spec
from grader.outcome import Outcome
from grader.results import NOT_RUN, UNNAMED_ASSIGNMENT, SubmissionResult, student_folder
from grader.submission import Submission

NOT_RUN_MESSAGE = "not run: this run left the check out (-k, --lf, --deselect, -x or an interrupted run)"


@dataclass
class Recorded:
    result: SubmissionResult
    ran: int  # checks run this time
    kept: int  # checks taken from the previous results.json
    previous_started: str | None  # when those previous results were graded


def previous_outcomes(reports_dir: Path, name: str, assignment: str) -> tuple[dict[str, dict], str | None]:
    """The outcomes of the student's last results.json (graded as the same assignment), by
    check id, and when they were graded; nothing when there is none or it cannot be read."""
    path = student_folder(reports_dir, name) / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        extra = data.get("extra_data") or {}
        if extra.get("assignment", UNNAMED_ASSIGNMENT) != assignment:
            return {}, None
        outcomes = {t["extra_data"]["id"]: t["extra_data"] for t in data["tests"]
                    if t["extra_data"]["status"] != NOT_RUN}
        return outcomes, str(extra.get("started", ""))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, None


def record(submission: Submission, outcomes: list[dict], notes: list[str], reports_dir: Path,
           node_path: str = "", seconds: float | None = None) -> Recorded:
    """The student's result in rubric order: this run's outcomes, then the previous run's for
    the checks this run left out, then "not run" for the rest. Its execution_time is
    `seconds` (the whole student, release included) when the grading process measured it,
    else the sum of the checks' own times (a run stopped before the student's last check)."""
    assignment, _ = submission.assignment()
    rubric = assignment.rubric
    ran = {o["id"]: o for o in outcomes}
    previous, previous_started = ({}, None)
    if len(ran) < len(rubric.checks):
        previous, previous_started = previous_outcomes(reports_dir, submission.name, assignment.name)
    rebuilt, kept = [], 0
    for check_spec in rubric.checks:
        if check_spec.id in ran:
            rebuilt.append(Outcome.from_json(check_spec, ran[check_spec.id]))
        elif check_spec.id in previous:
            rebuilt.append(Outcome.from_json(check_spec, previous[check_spec.id]))
            kept += 1
        else:
            rebuilt.append(Outcome(check_spec, 0.0, NOT_RUN, NOT_RUN_MESSAGE))
    notes = list(notes)
    if kept:
        notes.append(f"partial run: {len(ran)} of {len(rubric.checks)} checks re-run, the other {kept} "
                     f"kept from the results of {previous_started}")
    missing = len(rubric.checks) - len(ran) - kept
    if missing:
        notes.append(f"incomplete: {missing} of {len(rubric.checks)} checks have not run; not in grades.csv "
                     f"until a run grades them")
    if seconds is None:
        seconds = sum(float(o.get("seconds", 0.0)) for o in ran.values())
    result = SubmissionResult(submission.name, rebuilt, seconds, notes, assignment=assignment.name, node_path=node_path)
    return Recorded(result, len(ran), kept, previous_started)
