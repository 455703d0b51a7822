"""Charts as inline SVG, drawn on the server: no script, no font, no request to any host.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that says what
it shows in words; every mark carries its value as text (a ``<title>`` tooltip and a
``data-value``), series differ by line style and marker shape as well as colour, and the
page prints the same numbers in a table beside it. Shares are 0..1; None is "no data".
"""

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 150, 16, 40  # room for the axis, the end labels, the days
LABEL_WIDTH = 48  # px an x label ("30 Nov", "day 12") needs with a gap


@dataclass(frozen=True)
class Series:
    """One line: its name, a share per x position, and how it is drawn."""

    name: str
    values: Sequence[float | None]
    css: str  # a class of static/dashboard/dashboard.css: colour, dash, marker


@dataclass(frozen=True)
class Segment:
    """One part of a 100 % bar: its name, a count per bar, and how it is drawn."""

    name: str
    counts: Sequence[int]
    css: str


def percent(share: float | None, digits: int = 1) -> str:
    """``0.4167`` as ``41.7%``; no data as an en dash."""
    return "\N{EN DASH}" if share is None else f"{share * 100:.{digits}f}%"


def _svg(title: str, desc: str, body: list[str], height: int = HEIGHT) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="{{id}}-t {{id}}-d">'
    )
    ident = "c" + hashlib.sha256(f"{title}\n{desc}".encode()).hexdigest()[:10]
    parts = [
        head.replace("{id}", ident),
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
        *body,
        "</svg>",
    ]
    # Every text and attribute value from outside went through escape() above.
    return Markup("".join(parts))  # noqa: S704


def _y_axis(plot_width: float, plot_height: float, top: float) -> list[str]:
    marks = []
    step = _tick_step(top)
    for n in range(round(top / step) + 1):
        y = TOP + plot_height * (1 - n * step / top)
        marks.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_width}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{percent(n * step, 0)}</text>"
        )
    return marks


def _tick_step(top: float) -> float:
    return 0.05 if top <= 0.2 else 0.1 if top <= 0.5 else 0.2 if top < 1 else 0.25


def _nice_top(values: Sequence[float | None]) -> float:
    """The y axis' top: the next tick above the largest share (at least 10 %)."""
    largest = max((v for v in values if v is not None), default=0.0)
    top = max(math.ceil(largest * 10 - 1e-9) / 10, 0.1)
    step = _tick_step(top)
    return min(math.ceil(top / step - 1e-9) * step, 1.0)


def line_chart(title: str, desc: str, x_labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Shares over x positions (days), one line per series, each end labelled with its value."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top([v for s in series for v in s.values])
    step = plot_w / max(len(x_labels) - 1, 1)
    body = _y_axis(plot_w, plot_h, top)
    every = math.ceil(LABEL_WIDTH / step) if len(x_labels) > 1 else 1
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            body.append(
                f'<text class="tick" x="{LEFT + i * step:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    for s in series:
        points = [
            (LEFT + i * step, TOP + plot_h * (1 - v / top), v)
            for i, v in enumerate(s.values)
            if v is not None
        ]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        body.append(f'<g class="series {s.css}" data-series="{escape(s.name)}">')
        body.append(f'<polyline points="{path}"/>')
        for (x, y, v), label in zip(points, x_labels, strict=False):
            body.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" data-value="{v:.6f}">'
                f"<title>{escape(s.name)}, {escape(label)}: {percent(v)}</title></circle>"
            )
        x, y, v = points[-1]
        body.append(
            f'<text class="end-label" x="{x + 8:.1f}" y="{y + 4:.1f}">'
            f"{escape(s.name)} {percent(v)}</text></g>"
        )
    return _svg(title, desc, body)


def stacked_bars(
    title: str, desc: str, x_labels: Sequence[str], segments: Sequence[Segment]
) -> Markup:
    """One 100 % bar per x position (a day), split into the segments' shares of its total."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(x_labels), 1)
    width = max(min(slot * 0.7, 48), 2)
    body = [
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="hatch-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="hatch-line"/></pattern></defs>',
        *_y_axis(plot_w, plot_h, 1.0),
    ]
    every = math.ceil(LABEL_WIDTH / slot)  # a label per bar while they fit side by side
    for i, label in enumerate(x_labels):
        total = sum(seg.counts[i] for seg in segments)
        x = LEFT + i * slot + (slot - width) / 2
        if i % every == 0 or i == len(x_labels) - 1:
            body.append(
                f'<text class="tick" x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
        bottom = float(TOP + plot_h)
        for seg in segments:
            count = seg.counts[i]
            if not total or not count:
                continue
            share = count / total
            h = plot_h * share
            bottom -= h
            body.append(
                f'<rect class="segment {seg.css}" x="{x:.1f}" y="{bottom:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}" data-value="{share:.6f}">'
                f"<title>{escape(label)}, {escape(seg.name)}: {percent(share)} "
                f"({count} of {total})</title></rect>"
            )
    legend_x = WIDTH - RIGHT + 16
    for n, seg in enumerate(reversed(segments)):
        y = TOP + 10 + n * 22
        body.append(
            f'<rect class="segment {seg.css}" x="{legend_x}" y="{y - 10}" width="14" height="14"/>'
            f'<text class="legend" x="{legend_x + 20}" y="{y + 2}">{escape(seg.name)}</text>'
        )
    return _svg(title, desc, body)


def bar_list(title: str, desc: str, bars: Sequence[tuple[str, float | None, str]]) -> Markup:
    """Horizontal bars, one per (label, share, detail), each labelled with its value."""
    row, label_w = 30, 130
    height = TOP + row * max(len(bars), 1) + 8
    plot_w = WIDTH - label_w - 210
    body = []
    for i, (label, share, detail) in enumerate(bars):
        y = TOP + i * row
        body.append(
            f'<text class="bar-label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="track" x="{label_w}" y="{y + 2}" width="{plot_w}" height="18"/>'
        )
        if share is not None:
            body.append(
                f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{plot_w * share:.1f}" '
                f'height="18" data-value="{share:.6f}"><title>{escape(label)}: {percent(share)} '
                f"({escape(detail)})</title></rect>"
            )
        body.append(
            f'<text class="bar-value" x="{label_w + plot_w + 8}" y="{y + 15}">'
            f'{percent(share)} <tspan class="detail">{escape(detail)}</tspan></text>'
        )
    return _svg(title, desc, body, height)
