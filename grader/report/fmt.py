"""Number formatting shared by the HTML pages, the SVG charts and the gradebook, so a score
reads the same (``58``, ``12.5``) everywhere a TA or a student may compare them."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any


def points(value: Any) -> str:
    """Points without float noise: 58.0 -> "58", 12.5 -> "12.5", 1/3 -> "0.33"."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if not math.isfinite(number):
        return str(number)
    return f"{round(number, 2):g}"


def number(value: Any, digits: int = 4) -> str:
    """A measured value (an error, a loss) with `digits` significant digits; NaN/inf spelled out."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def percent(score: Any, max_score: Any) -> float:
    """Score as a percentage of max_score, 0 when there is nothing to earn."""
    try:
        top = float(max_score)
        return max(0.0, min(100.0, 100.0 * float(score) / top)) if top > 0 else 0.0
    except (TypeError, ValueError):
        return 0.0


def duration(seconds: Any) -> str:
    """Seconds as "19.1 s" or "2 min 5 s": the run time of a grading session."""
    try:
        total = float(seconds)
    except (TypeError, ValueError):
        return ""
    if total < 60:
        return f"{total:.1f} s"
    minutes, rest = divmod(int(round(total)), 60)
    return f"{minutes} min {rest} s"


def timestamp(value: Any) -> str:
    """results.json's "2026-03-01T09:30:00+0000" as "2026-03-01 09:30:00 +0000"; other text as is."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z").strftime("%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return "" if value is None else str(value)
