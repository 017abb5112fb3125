"""One cause, said once: when mlp.py is missing or does not compile, every check that runs
the code fails for that one reason. The first such failure of a student says it plainly
("submissions/alice/mlp.py is missing", "SyntaxError at line 4 of submissions/alice/mlp.py:
expected ':'") with the path the TA typed, not the sandbox's copy or the host's absolute
path; the others point to it. Scores and statuses are the checks' own: only words change.
"""

from __future__ import annotations

from grader.outcome import Outcome
from grader.sources import Unreadable, read_source
from grader.submission import Submission
from grader.worker.protocol import is_import_stage

UNREADABLE = "could not be read"  # the scan: "the source could not be read: ...", "... could not be read as Python"


def code_problem(submission: Submission, shown_as: str) -> str | None:
    """Why the student's code cannot even be imported, found without running it."""
    code = submission.code
    if not code.exists() and not code.is_symlink():
        return f"{shown_as} is missing"
    try:
        compile(read_source(code), shown_as, "exec", dont_inherit=True)
    except Unreadable as exc:
        return f"{shown_as}: {exc}"
    except SyntaxError as exc:
        return f"{type(exc).__name__} at line {exc.lineno} of {shown_as}: {exc.msg}"
    except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
        return f"{shown_as} cannot be compiled: {exc}"
    return None


def caused_by_code(outcome: Outcome) -> bool:
    return outcome.status in ("failed", "error") and (
        is_import_stage(outcome.details.get("stage")) or UNREADABLE in outcome.message)


def explain(outcome: Outcome, problem: str, first_node_id: str | None) -> None:
    """Say the cause in the first failure it causes; point to that one from the others."""
    if first_node_id is None:
        outcome.message = f"{problem}: every check that runs the code fails"
    else:
        outcome.message = f"{problem} (see {first_node_id})"
    outcome.hint = None
    outcome.details = {k: v for k, v in outcome.details.items() if k != "traceback"}
