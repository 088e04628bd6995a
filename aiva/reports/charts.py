"""Server-side charts: pure functions that return self-contained inline SVG strings.

No JavaScript, no external resources: the SVG is embedded in the HTML report (and in
its print variant that weasyprint turns into a PDF). Every piece of text that reaches
the SVG (titles, labels, series names, colours) is escaped here, so a caller may mark
the result safe for the template engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

_FONT = "DejaVu Sans, Noto Sans, Noto Sans CJK SC, Noto Sans Arabic, sans-serif"
_AXIS = "#6b7280"
_GRID = "#e5e7eb"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (a count) and its fill colour."""

    label: str
    value: int
    color: str = "#4b5563"


@dataclass(frozen=True)
class Series:
    """One line of a line chart: its name, one value per x label, and its colour."""

    name: str
    values: Sequence[int]
    color: str = "#2563eb"


def _e(text: object) -> str:
    """Escape text for SVG element content and attribute values."""
    return escape(str(text), quote=True)


def _nice_max(value: int) -> int:
    """A round upper bound for an axis (1, 2, 5 times a power of ten), at least 1."""
    if value <= 0:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exp:
            return int(step * exp)
    return int(10 * exp)  # pragma: no cover - the loop always returns


def _shorten(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: max(1, limit - 1)] + "\u2026"


def _open_svg(title: str, width: int, height: int, css_class: str = "chart") -> list[str]:
    t = _e(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{_e(css_class)}" role="img" aria-label="{t}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{_e(_FONT)}" font-size="11">',
        f"<title>{t}</title>",
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" font-weight="bold" '
        f'fill="#111827">{t}</text>',
    ]


def _y_grid(parts: list[str], top: float, bottom: float, left: float, right: float, vmax: int) -> None:
    for i in range(5):
        v = vmax * i / 4
        y = bottom - (bottom - top) * i / 4
        label = f"{v:,.0f}" if vmax >= 4 or v == int(v) else ""
        parts.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{_GRID}" '
            'stroke-width="1"/>'
        )
        if label:
            parts.append(
                f'<text x="{left - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{_AXIS}">'
                f"{_e(label)}</text>"
            )


def bar_chart(title: str, bars: Sequence[Bar], *, width: int = 380, height: int = 220) -> str:
    """A vertical bar chart as an SVG string; each bar shows its count above it.

    An empty or all-zero input still draws the axes with a "no data" note, so the
    report's layout does not jump.
    """
    parts = _open_svg(title, width, height)
    left, right, top, bottom = 48.0, width - 10.0, 30.0, height - 34.0
    vmax = _nice_max(max((b.value for b in bars), default=0))
    _y_grid(parts, top, bottom, left, right, vmax)
    parts.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="{_AXIS}"/>'
    )
    n = len(bars)
    if n == 0 or all(b.value <= 0 for b in bars):
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
            f'fill="{_AXIS}">no data</text>'
        )
    slot = (right - left) / max(n, 1)
    bar_w = min(48.0, slot * 0.7)
    label_chars = max(3, int(slot / 6.5))
    for i, b in enumerate(bars):
        value = max(0, b.value)
        h = (bottom - top) * value / vmax
        x = left + slot * i + (slot - bar_w) / 2
        cx = left + slot * i + slot / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
            f'fill="{_e(b.color)}"><title>{_e(b.label)}: {value:,}</title></rect>'
        )
        parts.append(
            f'<text x="{cx:.1f}" y="{bottom - h - 4:.1f}" text-anchor="middle" fill="#111827">'
            f"{value:,}</text>"
        )
        parts.append(
            f'<text x="{cx:.1f}" y="{bottom + 15:.1f}" text-anchor="middle" fill="#374151">'
            f"{_e(_shorten(b.label, label_chars))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 560, height: int = 240
) -> str:
    """A line chart (one polyline per series, dots on each point, a legend) as an SVG string.

    `labels` are the x-axis labels; each series carries one value per label (missing
    values count as zero). A single point is drawn as dots only.
    """
    parts = _open_svg(title, width, height, "chart wide")
    left, right, top, bottom = 52.0, width - 36.0, 30.0, height - 52.0
    values = [v for s in series for v in s.values]
    vmax = _nice_max(max(values, default=0))
    _y_grid(parts, top, bottom, left, right, vmax)
    parts.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="{_AXIS}"/>'
    )
    n = len(labels)
    if n == 0:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" text-anchor="middle" '
            f'fill="{_AXIS}">no data</text>'
        )

    def x_at(i: int) -> float:
        return (left + right) / 2 if n <= 1 else left + (right - left) * i / (n - 1)

    every = max(1, math.ceil(n / 8))  # at most about 8 x labels
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            parts.append(
                f'<text x="{x_at(i):.1f}" y="{bottom + 15:.1f}" text-anchor="middle" fill="#374151">'
                f"{_e(_shorten(label, 14))}</text>"
            )
    for s in series:
        pts = [(x_at(i), bottom - (bottom - top) * max(0, (s.values[i] if i < len(s.values) else 0)) / vmax)
               for i in range(n)]
        color = _e(s.color)
        if len(pts) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        for i, (x, y) in enumerate(pts):
            v = s.values[i] if i < len(s.values) else 0
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                f"<title>{_e(s.name)} {_e(labels[i])}: {v:,}</title></circle>"
            )
    lx = left
    for s in series:
        name = _shorten(s.name, 24)
        parts.append(
            f'<rect x="{lx:.1f}" y="{height - 20:.1f}" width="10" height="10" fill="{_e(s.color)}"/>'
            f'<text x="{lx + 14:.1f}" y="{height - 11:.1f}" fill="#374151">{_e(name)}</text>'
        )
        lx += 24 + 7 * len(name)
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class HBar:
    """One horizontal bar: its label, its value (may be fractional), a tooltip note and its colour."""

    label: str
    value: float
    note: str = ""
    color: str = "#b91c1c"


def _nice_max_float(value: float) -> float:
    """A round upper bound for a fractional axis; whole numbers from 1 up (see `_nice_max`)."""
    if value <= 0:
        return 1.0
    if value < 1:
        return float(_nice_max(math.ceil(value * 10))) / 10
    return float(_nice_max(math.ceil(value)))


def hbar_chart(
    title: str, bars: Sequence[HBar], *, width: int = 560, row: int = 22, label_width: int = 180
) -> str:
    """A horizontal bar chart (labels on the left, values at the bar ends) as an SVG string.

    Suited to long labels (asset names) and fractional values (summed risk scores);
    an empty or all-zero input draws a "no data" note.
    """
    n = len(bars)
    height = int(30 + max(n, 1) * row + 26)
    parts = _open_svg(title, width, height, "chart wide")
    left, right, top = float(label_width), width - 48.0, 30.0
    bottom = top + max(n, 1) * row
    vmax = _nice_max_float(max((b.value for b in bars), default=0.0))
    for i in range(5):
        v = vmax * i / 4
        x = left + (right - left) * i / 4
        parts.append(
            f'<line x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{bottom:.1f}" stroke="{_GRID}" stroke-width="1"/>'
        )
        label = f"{v:,.0f}" if v == int(v) else f"{v:,.1f}"
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14:.1f}" text-anchor="middle" fill="{_AXIS}">{_e(label)}</text>'
        )
    parts.append(
        f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{bottom:.1f}" stroke="{_AXIS}"/>'
    )
    if n == 0 or all(b.value <= 0 for b in bars):
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2 + 4:.1f}" text-anchor="middle" '
            f'fill="{_AXIS}">no data</text>'
        )
    label_chars = max(4, int((label_width - 8) / 6.5))
    bar_h = row * 0.7
    for i, b in enumerate(bars):
        value = max(0.0, b.value)
        w = (right - left) * value / vmax
        y = top + row * i + (row - bar_h) / 2
        cy = top + row * i + row / 2 + 4
        tip = f"{b.label}: {value:,.1f}" + (f" ({b.note})" if b.note else "")
        parts.append(
            f'<rect x="{left:.1f}" y="{y:.1f}" width="{w:.1f}" height="{bar_h:.1f}" fill="{_e(b.color)}">'
            f"<title>{_e(tip)}</title></rect>"
        )
        parts.append(
            f'<text x="{left + w + 4:.1f}" y="{cy:.1f}" fill="#111827">{value:,.1f}</text>'
        )
        parts.append(
            f'<text x="{left - 6:.1f}" y="{cy:.1f}" text-anchor="end" fill="#374151">'
            f"{_e(_shorten(b.label, label_chars))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
