"""The view of one student's results.json that the student page template lays out: scores
per category, each check with what went wrong, the training curve and what was run.

It reads the Gradescope-format dict (not the in-memory outcomes) so that a page can be
re-rendered from a stored results.json alone, and tolerates missing keys: a page that
cannot show one part must still show the rest."""

from __future__ import annotations

from typing import Any

from grader import spec
from grader.report import details as parts
from grader.report import fmt, svg

CURVE_CHECK = "training.loss_falls"
OUTPUT_CAP = 10_000
STUDENT_COLOR, REFERENCE_COLOR = "#2563eb", "#f97316"
STATUSES = ("passed", "partial", "failed", "error", "skipped", "not_run")
DID_NOT_RUN = ("skipped", "not_run")  # checked at grading time (the kit), or left out of a partial run


def capped_output(text: Any, cap: int = OUTPUT_CAP) -> dict[str, Any]:
    """A submission may print megabytes: keep the start, and say how much was cut."""
    text = "" if text is None else str(text)
    return {"text": text[:cap], "cut": max(0, len(text) - cap)}


def loss_curve(losses: Any, reference: Any, title: str, reference_label: str = "reference",
               width: int = 640) -> dict[str, Any] | None:
    """The chart and the table of per-epoch losses; None when neither list was recorded."""
    losses = losses if isinstance(losses, list) else []
    reference = reference if isinstance(reference, list) else []
    if not losses and not reference:
        return None
    series = [s for s in (svg.Series("your train()", losses, STUDENT_COLOR),
                          svg.Series(reference_label, reference, REFERENCE_COLOR, dashed=True)) if s.values]
    epochs = max(len(losses), len(reference))
    rows = [{"epoch": i + 1,
             "got": fmt.number(losses[i], 6) if i < len(losses) else "",
             "reference": fmt.number(reference[i], 6) if i < len(reference) else ""} for i in range(epochs)]
    return {"svg": svg.line_chart(series, title=title, width=width), "rows": rows,
            "has_losses": bool(losses), "has_reference": bool(reference), "reference_label": reference_label}


def check_view(test: dict[str, Any]) -> dict[str, Any]:
    extra = test.get("extra_data") or {}
    details = extra.get("details") if isinstance(extra.get("details"), dict) else {}
    status = extra.get("status") or test.get("status") or "failed"
    check_id = str(extra.get("id") or test.get("name", "?"))
    curve = None
    if check_id != CURVE_CHECK and ("losses" in details or "expected_losses" in details):
        curve = loss_curve(details.get("losses"), details.get("expected_losses"), f"{check_id}: loss per epoch")
    message = extra.get("message") if extra else test.get("output", "")
    return {
        "id": check_id,
        "node_id": str(extra.get("node_id") or check_id),
        "title": extra.get("title") or test.get("name", ""),
        "category": extra.get("category") or next(iter(test.get("tags") or []), "other"),
        "status": status if status in STATUSES else "failed",
        "score": fmt.points(extra.get("score", test.get("score"))),
        "max_score": fmt.points(extra.get("max_score", test.get("max_score"))),
        "visibility": extra.get("visibility") or test.get("visibility", ""),
        "message": message or "",
        "hint": extra.get("hint"),
        "example": parts.example_rows(details.get("example")),
        "comparison": parts.comparison(details),
        "curve": curve,
        "curve_above": check_id == CURVE_CHECK and any(k in details for k in parts.LOSS_KEYS),
        "traceback": parts.clip(str(details["traceback"])) if details.get("traceback") else None,
        # "diagnosis" is the TA's evidence (results.json keeps it); the page says it in words, the hint
        "other": parts.other(details, ("example", "traceback", "diagnosis", *parts.COMPARISON_KEYS,
                                       *parts.LOSS_KEYS)),
        "output": capped_output(extra.get("output")),
        "seconds": fmt.number(extra.get("seconds") or 0, 3),
        "student_seconds": fmt.number(extra.get("student_seconds") or 0, 3),
        "open": status not in ("passed", *DID_NOT_RUN),
    }


def category_rows(categories: dict[str, Any], checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Categories in the rubric's order (then any unknown ones), each with its checks."""
    names = [c for c in spec.CATEGORIES if c in categories or any(ch["category"] == c for ch in checks)]
    names += [c for c in [*categories, *(ch["category"] for ch in checks)] if c not in names]
    rows = []
    for name in dict.fromkeys(names):
        entry = categories.get(name) or {}
        mine = [ch for ch in checks if ch["category"] == name]
        rows.append({"name": name, "score": fmt.points(entry.get("score", 0)),
                     "max_score": fmt.points(entry.get("max_score", 0)),
                     "pending": bool(mine) and all(ch["status"] in DID_NOT_RUN for ch in mine),
                     "percent": fmt.percent(entry.get("score", 0), entry.get("max_score", 0)),
                     "checks": mine, "lost": sum(ch["status"] not in ("passed", *DID_NOT_RUN) for ch in mine)})
    return rows


def lost_points(tests: list[dict[str, Any]], checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The checks that cost points, most points first: what to fix, in order of payoff. A
    check that did not run cost nothing (yet)."""
    lost = []
    for test, ch in zip(tests, checks):
        if ch["status"] in DID_NOT_RUN:
            continue
        try:
            missing = float(test.get("max_score") or 0) - float(test.get("score") or 0)
        except (TypeError, ValueError):
            continue
        if missing > 1e-9:
            lost.append({**ch, "lost": fmt.points(missing), "missing": missing})
    return sorted(lost, key=lambda ch: -ch["missing"])


def student_view(results: dict[str, Any]) -> dict[str, Any]:
    extra = results.get("extra_data") or {}
    checks = [check_view(t) for t in results.get("tests") or []]
    curve_details = next((((t.get("extra_data") or {}).get("details") or {}) for t in results.get("tests") or []
                          if (t.get("extra_data") or {}).get("id") == CURVE_CHECK), {})
    notes = extra.get("notes")
    return {
        "name": str(extra.get("student", "student")),
        "score": fmt.points(results.get("score", 0)),
        "max_score": fmt.points(results.get("max_score", 0)),
        "percent": fmt.percent(results.get("score", 0), results.get("max_score", 0)),
        "pending": fmt.points(extra["pending_points"]) if extra.get("pending_points") else "",
        "categories": category_rows(extra.get("categories") or {}, checks),
        "counts": {s: sum(ch["status"] == s for ch in checks) for s in STATUSES},
        "lost": lost_points(results.get("tests") or [], checks),
        "checks": checks,
        "curve": loss_curve(curve_details.get("losses"), curve_details.get("reference_losses"),
                            "training loss per epoch: your train() and the reference's", width=980),
        "notes": [str(n) for n in notes] if isinstance(notes, list) else ([str(notes)] if notes else []),
        "run": {"assignment": extra.get("assignment", ""), "grader_version": extra.get("grader_version", ""),
                "started": fmt.timestamp(extra.get("started", "")), "duration": fmt.duration(results.get("execution_time")),
                "checks": len(checks)},
    }
