"""The text the TA's terminal shows: a failed check, a failing example, the score table
(grader/plugin/progress.py writes the progress lines and the table through pytest's reporter).

Everything a submission controls (its output, its error messages, its folder name) passes
through `printable` first: a clear-screen, an OSC 52 clipboard write or a cursor move in a
student's print() must reach the terminal as visible text, never as a command.
"""

from __future__ import annotations

import json
import re
from typing import Any

from grader import spec
from grader.outcome import Outcome
from grader.report import fmt
from grader.report.details import shape_of

# C0 controls but tab and newline, DEL, and the C1 controls (ESC [ ... has an 8-bit twin).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
EXAMPLE_CELLS = 8


def printable(text: Any) -> str:
    """`text` with every control character but newline and tab spelled out (\\x1b)."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def example_table(example: Any) -> str:
    """The smallest failing example as a small table: one row per argument with its shape and
    its first values (the HTML report shows them all)."""
    if not isinstance(example, dict):
        return json.dumps(example, default=str)[:1500]
    rows = []
    for name, value in example.items():
        flat, shape = _flatten(value), shape_of(value)
        cells = " ".join(fmt.number(v, 4) if isinstance(v, (int, float)) else str(v) for v in flat[:EXAMPLE_CELLS])
        more = f" … ({len(flat) - EXAMPLE_CELLS} more)" if len(flat) > EXAMPLE_CELLS else ""
        rows.append((str(name), "×".join(map(str, shape)) or "scalar", cells + more))
    name_width = max((len(r[0]) for r in rows), default=0)
    shape_width = max((len(r[1]) for r in rows), default=0)
    return "\n".join(f"  {n:<{name_width}}  {s:>{shape_width}}  {c}" for n, s, c in rows)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for v in value for x in _flatten(v)]
    return [value]


def format_failure(outcome: Outcome) -> str:
    """The first line is what pytest's short summary (FAILED <node id> - ...) shows."""
    lines = [f"{outcome.score:g}/{outcome.check.points:g} points: {outcome.message}"]
    if outcome.hint:
        lines.append(f"Hint: {outcome.hint}")
    example = outcome.details.get("example")
    if example is not None:
        lines.append("Smallest failing example:\n" + example_table(example))
    if outcome.output:
        lines.append("Your code printed:\n" + outcome.output[:2000])
    return printable("\n".join(lines))


def score_table(results: list) -> list[str]:
    """One line per student (full names), after a line of each assignment's maxima."""
    categories = list(spec.CATEGORIES)
    name_width = max([len("student"), *(len(printable(r.name)) for r in results)])
    assignment_width = max([len("assignment"), *(len(r.assignment) for r in results)])
    widths = [max(len(c), 6) for c in categories]

    def line(name: str, assignment: str, score: str, cells: list[str]) -> str:
        return (f"{name:<{name_width}}  {assignment:<{assignment_width}}  {score:>7}  "
                + "  ".join(f"{c:>{w}}" for c, w in zip(cells, widths)))

    lines = [line("student", "assignment", "score", categories)]
    for assignment in sorted({r.assignment for r in results}):
        rubric = spec.assignment(assignment).rubric
        points = rubric.category_points()
        lines.append(line("(max)", assignment, fmt.points(rubric.total),
                          [fmt.points(points[c]) if c in points else "-" for c in categories]))
    for r in results:
        cats = r.category_scores()
        score = fmt.points(r.score) + ("" if r.complete else "*")
        lines.append(line(printable(r.name), r.assignment, score,
                          [fmt.points(cats[c]["score"]) if c in cats else "-" for c in categories]))
    if not all(r.complete for r in results):
        lines.append("* some checks have not run yet: not in grades.csv until a run grades them")
    return lines
