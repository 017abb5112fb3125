"""Turn one check's `details` (free-form JSON written by the checks) into pieces a template
can lay out: the smallest failing example, the numbers compared, and the rest as tables or
text. Checks keep adding keys, so anything unknown is still shown, never dropped; nothing
here produces HTML (the templates escape every value)."""

from __future__ import annotations

import json
from typing import Any

from grader.report import fmt

COMPARISON_KEYS = ("compared", "max_abs_error", "max_rel_error", "worst_index", "expected_scale", "samples")
LOSS_KEYS = ("losses", "reference_losses", "expected_losses")
TEXT_CAP = 4000


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shape_of(value: Any) -> list[int]:
    """The shape of a nested list of numbers ([[1, 2], [3, 4]] -> [2, 2]); [] for a scalar."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def _cell(value: Any) -> str:
    return fmt.number(value, 6) if is_number(value) else str(value)


def array_text(value: Any) -> str:
    """A nested list as rows of aligned numbers, the way a student would print a tensor."""
    if not isinstance(value, list):
        return _cell(value)
    if value and all(isinstance(row, list) for row in value):
        rows = [[_cell(v) for v in row] if all(not isinstance(v, list) for v in row) else [json.dumps(row)]
                for row in value]
        width = max((len(c) for row in rows for c in row), default=0)
        return "\n".join("[" + "  ".join(c.rjust(width) for c in row) + "]" for row in rows)
    return "[" + ", ".join(_cell(v) for v in value) + "]"


def example_rows(example: Any) -> dict[str, Any] | None:
    """The smallest failing example: a dict of arrays becomes rows (name, shape, values);
    anything else (a repr string) is shown as text."""
    if example is None:
        return None
    if isinstance(example, dict):
        rows = []
        for key, value in example.items():
            shape = shape_of(value)
            rows.append({"name": str(key), "shape": "×".join(map(str, shape)) if shape else "",
                         "text": clip(array_text(value))})
        return {"rows": rows, "text": None}
    if isinstance(example, str):
        return {"rows": [], "text": clip(example)}
    return {"rows": [], "text": clip(json.dumps(example, default=str, indent=1))}


def comparison(details: dict[str, Any]) -> dict[str, Any] | None:
    """The numbers behind an `assert_close` failure: errors, where, and expected vs got."""
    if not any(key in details for key in COMPARISON_KEYS):
        return None
    samples = []
    for sample in details.get("samples") or []:
        if not isinstance(sample, dict):
            continue
        expected, got = sample.get("expected"), sample.get("got")
        diff = got - expected if is_number(got) and is_number(expected) else None
        samples.append({"index": _index(sample.get("index")), "expected": _cell(expected), "got": _cell(got),
                        "diff": "" if diff is None else fmt.number(diff, 4)})
    facts = [(label, fmt.number(details[key], 4)) for key, label in
             (("max_abs_error", "largest absolute error"), ("max_rel_error", "relative error"),
              ("expected_scale", "largest |expected|")) if key in details]
    if "worst_index" in details:
        facts.insert(1, ("at index", _index(details["worst_index"])))
    return {"compared": str(details.get("compared", "")), "facts": facts, "samples": samples}


def _index(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "" if value is None else str(value)


def clip(text: str, cap: int = TEXT_CAP) -> str:
    if len(text) <= cap:
        return text
    return text[:cap] + f"\n… ({len(text) - cap} more characters not shown)"


def other(details: dict[str, Any], skip: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every key not shown elsewhere, as a number, a line of numbers, a table or text."""
    items = []
    for key, value in details.items():
        if key in skip:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for v in value for k in v))
            items.append({"key": key, "kind": "table", "columns": columns,
                          "rows": [[_cell(v.get(c, "")) for c in columns] for v in value[:50]]})
        elif is_number(value):
            items.append({"key": key, "kind": "inline", "text": fmt.number(value, 6)})
        elif isinstance(value, list) and all(is_number(v) for v in value):
            items.append({"key": key, "kind": "inline", "text": clip(array_text(value))})
        elif isinstance(value, list) and all(isinstance(v, str) and len(v) < 80 for v in value):
            items.append({"key": key, "kind": "inline", "text": clip(", ".join(value))})
        elif isinstance(value, str) and "\n" not in value and len(value) < 200:
            items.append({"key": key, "kind": "inline", "text": value})
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str, indent=1)
            items.append({"key": key, "kind": "block", "text": clip(text)})
    return items
