"""Small, dependency-free SVG charts for the self-contained HTML report.

Every function returns an ``<svg>`` string sized by ``viewBox`` so the page scales it. Text is
escaped; there is no script, so the report renders anywhere without network or console errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 480, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 44
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


@dataclass(frozen=True)
class Series:
    """One named line: x and y values of equal length."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]


def _frame(title: str, body: str, x_label: str, y_label: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>'
        f'{body}'
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'class="axis-label">{escape(x_label)}</text>'
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" class="axis-label" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_label)}</text>'
        '</svg>')


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    span = (high - low) or 1.0
    return out_low + (value - low) / span * (out_high - out_low)


def _axes(x_max: float, y_max: float, ticks: int = 5, y_format: str = "{:.2f}",
          x_ticks: bool = True) -> str:
    parts = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
             f'y2="{HEIGHT - BOTTOM}" class="axis"/>',
             f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>']
    for i in range(ticks + 1):
        fx, fy = x_max * i / ticks, y_max * i / ticks
        px = _scale(fx, 0, x_max, LEFT, WIDTH - RIGHT)
        py = _scale(fy, 0, y_max, HEIGHT - BOTTOM, TOP)
        if x_ticks:
            parts.append(f'<text x="{px:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
                         f'class="tick">{fx:.2f}</text>')
        parts.append(f'<text x="{LEFT - 4}" y="{py + 3:.1f}" text-anchor="end" '
                     f'class="tick">{y_format.format(fy)}</text>')
        parts.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{WIDTH - RIGHT}" y2="{py:.1f}" '
                     'class="grid"/>')
    return "".join(parts)


def line_chart(title: str, series: Sequence[Series], *, x_label: str, y_label: str,
               x_max: float = 1.0, y_max: float | None = None, diagonal: bool = False) -> str:
    """Lines over a shared 0..x_max / 0..y_max frame; ``diagonal`` draws the chance line."""
    top = y_max if y_max is not None else max((max(s.ys, default=0) for s in series), default=1)
    top = top or 1.0
    body = [_axes(x_max, top)]
    if diagonal:
        body.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{TOP}" '
                    'class="diagonal"/>')
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = " ".join(
            f"{_scale(x, 0, x_max, LEFT, WIDTH - RIGHT):.1f},"
            f"{_scale(min(y, top), 0, top, HEIGHT - BOTTOM, TOP):.1f}"
            for x, y in zip(line.xs, line.ys))
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    'stroke-width="2"/>')
        body.append(f'<text x="{LEFT + 10}" y="{TOP + 14 + 14 * index}" fill="{colour}" '
                    f'class="legend">{escape(line.name)}</text>')
    return _frame(title, "".join(body), x_label, y_label)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, y_label: str,
              value_format: str = "{:.1%}", second: Sequence[float] | None = None,
              legend: tuple[str, str] = ("", "")) -> str:
    """Vertical bars, one per label; ``second`` draws a paired bar (e.g. predicted vs observed)."""
    top = max([*values, *(second or []), 0.0]) or 1.0
    top *= 1.15
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    width = slot * (0.38 if second else 0.7)
    body = [_axes(1.0, top, y_format="{:.0%}" if "%" in value_format else "{:.2f}",
                  x_ticks=False)]
    for i, (label, value) in enumerate(zip(labels, values)):
        x0 = LEFT + slot * i + slot * 0.15
        pairs = [(value, PALETTE[0])] + ([(second[i], PALETTE[1])] if second else [])
        for j, (v, colour) in enumerate(pairs):
            y = _scale(v, 0, top, HEIGHT - BOTTOM, TOP)
            x = x0 + j * width
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
                        f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{colour}"/>')
            body.append(f'<text x="{x + width / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                        f'class="value">{escape(value_format.format(v))}</text>')
        body.append(f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                    f'text-anchor="middle" class="tick">{escape(str(label))}</text>')
    if second:
        for j, name in enumerate(legend):
            body.append(f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 14 + 14 * j}" text-anchor="end" '
                        f'fill="{PALETTE[j]}" class="legend">{escape(name)}</text>')
    return _frame(title, "".join(body), "", y_label)


def horizontal_bars(title: str, labels: Sequence[str], values: Sequence[float], *,
                    value_format: str = "{:.3f}") -> str:
    """Horizontal bars, longest first as given (e.g. what drives scores overall)."""
    top = max([*values, 0.0]) or 1.0
    rows = max(len(labels), 1)
    row_h = min((HEIGHT - TOP - 10) / rows, 30.0)
    label_w = 170
    body = []
    for i, (label, value) in enumerate(zip(labels, values)):
        y = TOP + i * row_h
        length = _scale(value, 0, top, 0, WIDTH - RIGHT - label_w - 50)
        body.append(f'<text x="{label_w - 6}" y="{y + row_h * 0.65:.1f}" text-anchor="end" '
                    f'class="tick">{escape(label[:28])}</text>')
        body.append(f'<rect x="{label_w}" y="{y + row_h * 0.15:.1f}" width="{length:.1f}" '
                    f'height="{row_h * 0.7:.1f}" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{label_w + length + 4:.1f}" y="{y + row_h * 0.65:.1f}" '
                    f'class="value">{escape(value_format.format(value))}</text>')
    return _frame(title, "".join(body), "", "")
