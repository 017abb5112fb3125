"""Charts drawn as inline SVG in Python: a report must be one self-contained file that works
offline, so no charting library, script or image is loaded. The numbers come from a
submission and may be NaN, infinite, negative or missing: they are never allowed to break
the drawing, and every piece of text goes through `escape`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from markupsafe import Markup, escape

from grader.report import fmt

FONT = "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\" font-size=\"12\""
AXIS = "#94a3b8"
GRID = "#e2e8f0"
INK = "#334155"


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[Any]
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class Frame:
    """The plot area inside the SVG and the data range it maps."""
    width: int
    height: int
    left: int = 64
    right: int = 20
    top: int = 34
    bottom: int = 44

    @property
    def inner_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def base(self) -> int:
        return self.top + self.inner_height


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if hi <= lo:
        spread = abs(lo) * 0.1 or 1.0
        lo, hi = lo - spread, hi + spread
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values for a log axis over [10**lo, 10**hi]: decades, then 1-2-5, then linear."""
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    for mantissas in ((1,), (1, 2, 5)):
        ticks = [m * 10.0 ** k for k in decades for m in mantissas if lo - 1e-9 <= math.log10(m) + k <= hi + 1e-9]
        if len(ticks) > 8:
            stride = math.ceil(len(ticks) / 6)
            ticks = ticks[::stride]
        if len(ticks) >= 3:
            return ticks
    return [t for t in _nice_ticks(10 ** lo, 10 ** hi, 4) if t > 0 and lo <= math.log10(t) <= hi]


class YScale:
    """Maps values to SVG y: log10 when every finite value is positive, else linear."""

    def __init__(self, finite: list[float], frame: Frame, log: bool = True):
        self.frame = frame
        self.log = log and all(v > 0 for v in finite)
        if self.log:
            lo, hi = math.log10(min(finite)), math.log10(max(finite))
            pad = (hi - lo) * 0.05 if hi > lo else 0.3
            self.lo, self.hi = lo - pad, hi + pad
            self.ticks = _log_ticks(self.lo, self.hi)
        else:
            self.ticks = _nice_ticks(min(finite), max(finite))
            self.lo, self.hi = self.ticks[0], self.ticks[-1]

    def y(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.frame.base - (v - self.lo) / (self.hi - self.lo) * self.frame.inner_height


def _open(frame: Frame, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
            f'width="100%" style="max-width:{frame.width}px;height:auto" role="img" '
            f'aria-label="{escape(label)}" {FONT}><title>{escape(label)}</title>')


def _y_axis(frame: Frame, ticks: list[float], position, label: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = position(tick)
        parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')
        parts.append(f'<text x="{frame.left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
                     f'{escape(fmt.number(tick, 3))}</text>')
    parts.append(f'<line x1="{frame.left}" x2="{frame.left}" y1="{frame.top}" y2="{frame.base}" stroke="{AXIS}"/>')
    parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{frame.base}" y2="{frame.base}" '
                 f'stroke="{AXIS}"/>')
    parts.append(f'<text x="14" y="{frame.top + frame.inner_height / 2:.1f}" text-anchor="middle" fill="{INK}" '
                 f'transform="rotate(-90 14 {frame.top + frame.inner_height / 2:.1f})">{escape(label)}</text>')
    return parts


def _legend(frame: Frame, series: Sequence[Series]) -> list[str]:
    parts, x = [], frame.left
    for s in series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(f'<line x1="{x}" x2="{x + 22}" y1="14" y2="14" stroke="{s.color}" stroke-width="2.5"{dash}/>')
        parts.append(f'<text x="{x + 28}" y="18" fill="{INK}">{escape(s.label)}</text>')
        x += 40 + 7 * len(s.label)
    return parts


def line_chart(series: Sequence[Series], *, title: str, x_label: str = "epoch", y_label: str = "loss",
               width: int = 640, height: int = 300) -> Markup | None:
    """One line per series over x = 1..n (log-scale y when possible); None when no series has
    a single finite value. Non-finite values break the line and are marked at the top edge."""
    series = [Series(s.label, [_as_float(v) for v in (s.values or [])], s.color, s.dashed) for s in series]
    finite = [v for s in series for v in s.values if math.isfinite(v)]
    if not finite:
        return None
    frame = Frame(width, height)
    scale = YScale(finite, frame)
    n = max(len(s.values) for s in series)

    def x_of(i: int) -> float:
        return frame.left + (frame.inner_width / 2 if n == 1 else i / (n - 1) * frame.inner_width)

    y_label = f"{y_label} (log scale)" if scale.log else y_label
    parts = [_open(frame, title), *_y_axis(frame, scale.ticks, scale.y, y_label)]
    stride = max(1, math.ceil(n / 12))
    for i in range(0, n, stride):
        parts.append(f'<text x="{x_of(i):.1f}" y="{frame.base + 16}" text-anchor="middle" fill="{INK}">{i + 1}</text>')
    parts.append(f'<text x="{frame.left + frame.inner_width / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'fill="{INK}">{escape(x_label)}</text>')
    for s in series:
        parts.extend(_series_marks(s, x_of, scale, frame))
    parts.extend(_legend(frame, series))
    parts.append("</svg>")
    return Markup("".join(parts))


def _series_marks(s: Series, x_of, scale: YScale, frame: Frame) -> list[str]:
    dash = ' stroke-dasharray="6 4"' if s.dashed else ""
    parts, run = [], []
    for i, v in enumerate([*s.values, math.nan]):
        if math.isfinite(v):
            run.append(f"{x_of(i):.1f},{scale.y(v):.1f}")
            continue
        if len(run) > 1:
            parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{s.color}" stroke-width="2.5" '
                         f'stroke-linejoin="round"{dash}/>')
        run = []
    for i, v in enumerate(s.values):
        label = escape(f"{s.label}, epoch {i + 1}: {fmt.number(v, 6)}")
        if math.isfinite(v):
            parts.append(f'<circle cx="{x_of(i):.1f}" cy="{scale.y(v):.1f}" r="3.5" fill="{s.color}">'
                         f'<title>{label}</title></circle>')
        else:
            parts.append(f'<text x="{x_of(i):.1f}" y="{frame.top + 4}" text-anchor="middle" fill="{s.color}" '
                         f'font-weight="bold" class="nonfinite">×<title>{label}</title></text>')
    return parts


def histogram(values: Sequence[Any], max_score: float, *, bins: int = 10, title: str = "score distribution",
              width: int = 640, height: int = 240) -> Markup:
    """Counts of `values` in `bins` equal slices of [0, max_score]; the top slice includes
    max_score itself, so full marks land in the last bar."""
    frame = Frame(width, height, left=44, top=20)
    top = float(max_score) if max_score and float(max_score) > 0 else 1.0
    counts = [0] * bins
    for value in values:
        v = _as_float(value)
        if math.isfinite(v):
            counts[min(bins - 1, max(0, int(v / top * bins)))] += 1
    ticks = [t for t in _nice_ticks(0, max(counts) or 1, 4) if t == int(t)]
    high = ticks[-1]

    def y_of(count: float) -> float:
        return frame.base - count / high * frame.inner_height

    parts = [_open(frame, title), *_y_axis(frame, ticks, y_of, "students")]
    slot = frame.inner_width / bins
    for k, count in enumerate(counts):
        lo, hi = fmt.points(top * k / bins), fmt.points(top * (k + 1) / bins)
        x = frame.left + k * slot
        label = escape(f"{count} student{'s' if count != 1 else ''} with {lo}–{hi} points")
        parts.append(f'<rect class="hist-bar" x="{x + 3:.1f}" y="{y_of(count):.1f}" width="{slot - 6:.1f}" '
                     f'height="{frame.base - y_of(count):.1f}" rx="3" fill="#6366f1"><title>{label}</title></rect>')
        if count:
            parts.append(f'<text x="{x + slot / 2:.1f}" y="{y_of(count) - 5:.1f}" text-anchor="middle" '
                         f'fill="{INK}" font-weight="600">{count}</text>')
        parts.append(f'<text x="{x + slot / 2:.1f}" y="{frame.base + 16}" text-anchor="middle" fill="{INK}" '
                     f'font-size="11">{lo}–{hi}</text>')
    parts.append(f'<text x="{frame.left + frame.inner_width / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'fill="{INK}">points</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
