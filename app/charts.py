"""Server-drawn SVG charts for the console: stacked columns, ranked bars, a line against a limit.

No JavaScript library: the page reads without scripts, the CSP needs no exception (shapes use
presentation attributes, never style attributes), and a chart is a few kilobytes of markup. An SVG
scales its text with its width, so each chart is drawn twice, for a wide card and for a phone, and the
stylesheet shows the one that fits (dashboard.css); the legend is HTML, so it wraps. Every chart has a
<title> and an aria-label for screen readers, and each shape a <title> with its exact figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

FONT = 12
MUTED, GRID, INK = "#66707a", "#e3e6ea", "#1d2329"
WIDE, NARROW = 560, 340  # viewBox widths: a half-width card at 1280 px, and a 390 px phone
Draw = Callable[[int], str]


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k at or above `value` (at least 1): an axis top."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * power + 1e-9:
            return float(step * power)
    return float(10 * power)


def short_number(value: float) -> str:
    """1234 → "1234", 12345 → "1.2万", 123456789 → "1.2亿" (how a Chinese reader counts)."""
    if value >= 1e8:
        return f"{value / 1e8:.1f}亿".replace(".0亿", "亿")
    if value >= 1e4:
        return f"{value / 1e4:.1f}万".replace(".0万", "万")
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


STEPS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


def label_step(labels: Sequence[str], room: float, steps: Sequence[int] = STEPS) -> int:
    """Label every n-th column so that labels do not collide in `room` px (n the first of `steps` that fits)."""
    if not labels:
        return 1
    needed = (max(len(s) for s in labels) * FONT * 0.62 + 10) * len(labels)
    for step in steps:
        if needed / step <= room:
            return step
    return max(1, len(labels) // 4)


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = FONT, color: str = MUTED) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" text-anchor="{anchor}">'
            f"{escape(content)}</text>")


def _svg(title: str, width: int, height: int, body: list[str], cls: str) -> str:
    return (f'<svg class="chart {cls}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="inherit"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def _y_axis(body: list[str], ceiling: float, left: int, right: int, top: int, plot_h: float, fmt: str) -> None:
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_text(left - 6, y + 4, fmt.format(short_number(ceiling * frac)), anchor="end", size=11))


def legend(entries: Sequence[tuple[str, str, str]]) -> str:
    """HTML colour keys (they wrap on a phone): (name, colour, "box" | "line" | "dash")."""
    items = []
    for name, color, kind in entries:
        dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
        mark = (f'<rect width="12" height="12" rx="2" fill="{color}"/>' if kind == "box"
                else f'<line x1="0" y1="6" x2="14" y2="6" stroke="{color}" stroke-width="3"{dash}/>')
        items.append(f'<li><svg width="14" height="12" aria-hidden="true">{mark}</svg>{escape(name)}</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


def chart(draw: Draw, entries: Sequence[tuple[str, str, str]] = (), wide: int = WIDE) -> Markup:
    """The chart drawn for both widths, with its legend."""
    parts = [legend(entries)] if entries else []
    parts += [draw(wide).replace('class="chart ', 'class="chart wide ', 1),
              draw(NARROW).replace('class="chart ', 'class="chart narrow ', 1)]
    return Markup("".join(parts))  # noqa: S704  (every text in it went through escape(); the rest is ours)


def columns(title: str, labels: Sequence[str], series: Sequence[Series], *, line: Series | None = None,
            height: int = 200, wide: int = WIDE, keys: Sequence[int] | None = None,
            steps: Sequence[int] = STEPS) -> Markup:
    """Stacked columns, one per label, with an optional line series on the same axis.

    A column's label shows when its key (default: its position) is a multiple of the label step, so
    minutes can be labelled on the round ones (:00, :10 …) whatever minute the chart starts at.
    """
    marks = list(keys) if keys is not None else list(range(len(labels)))

    def draw(width: int) -> str:
        left, right, top, bottom = 38, 8, 10, 22
        n = max(1, len(labels))
        totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
        ceiling = nice_ceiling(max([*totals, *(line.values if line else []), 0]))
        plot_w, plot_h = width - left - right, height - top - bottom
        slot = plot_w / n
        body: list[str] = []
        _y_axis(body, ceiling, left, width - right, top, plot_h, "{}")
        step = label_step(labels, plot_w, steps)
        for i, label in enumerate(labels):
            x, y = left + i * slot + slot * 0.12, top + plot_h
            for s in series:
                value = s.values[i]
                if value > 0:
                    h = plot_h * value / ceiling
                    y -= h
                    body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.76:.1f}" height="{h:.1f}" '
                                f'fill="{s.color}"><title>{escape(label)} {escape(s.name)}: {value:g}</title></rect>')
            if marks[i] % step == 0:
                body.append(_text(left + i * slot + slot / 2, height - 6, label, anchor="middle", size=11))
        if line is not None:
            points = " ".join(f"{left + i * slot + slot / 2:.1f},{top + plot_h * (1 - v / ceiling):.1f}"
                              for i, v in enumerate(line.values))
            body.append(f'<polyline points="{points}" fill="none" stroke="{line.color}" stroke-width="2" '
                        'stroke-linejoin="round"/>')
        return _svg(title, width, height, body, "columns")

    entries = [(s.name, s.color, "box") for s in series] + ([(line.name, line.color, "line")] if line else [])
    return chart(draw, entries if len(entries) > 1 else (), wide)


def ranked_bars(title: str, items: Sequence[tuple[str, float]], *, color: str = "#c8102e") -> Markup:
    """Horizontal bars, in the order given (largest first): a ranking of provinces or cities, not a map."""

    def draw(width: int) -> str:
        row, label_chars = 24, 6
        label_w, value_w = FONT * label_chars + 8, 44
        height = max(1, len(items)) * row + 4
        peak = max([v for _, v in items] + [1])
        body: list[str] = []
        if not items:
            body.append(_text(0, 18, "—"))
        for i, (name, value) in enumerate(items):
            y = 2 + i * row
            shown = name if len(name) <= label_chars else name[:label_chars - 1] + "…"
            body.append(f"<g><title>{escape(name)}: {value:g}</title>")
            body.append(_text(0, y + row * 0.66, shown, color=INK))
            bar = max(2.0, (width - label_w - value_w) * value / peak) if value else 0
            body.append(f'<rect x="{label_w}" y="{y + 5:.1f}" width="{bar:.1f}" height="{row - 10}" rx="2" '
                        f'fill="{color}"/>')
            body.append(_text(label_w + bar + 5, y + row * 0.66, short_number(value), color=INK))
            body.append("</g>")
        return _svg(title, width, height, body, "bars")

    return chart(draw)


def line_to_limit(title: str, points: Sequence[tuple[int, float]], *, limit: float, ticks: Sequence[tuple[int, str]],
                  names: tuple[str, str, str], projection: tuple[int, float] | None = None, fmt: str = "{}",
                  colors: tuple[str, str] = ("#c8102e", INK), height: int = 200) -> Markup:
    """A cumulative line over time (x: unix s) against a limit drawn across, with an optional dashed
    projection from the last point to (when, value). `ticks`: (unix s, label) candidates for the x axis
    (e.g. every local midnight), thinned to fit. `names`: the line, the limit, the projection."""
    start = points[0][0] if points else 0
    last = points[-1][0] if points else 1
    end = max(last, start + 86_400)
    if projection is not None:
        # A projection far in the future would squash the history: show at most as much again.
        end = max(end, min(projection[0], last + max(last - start, 7 * 86_400)))

    def draw(width: int) -> str:
        left, right, top, bottom = 50, 12, 10, 22
        plot_w, plot_h = width - left - right, height - top - bottom
        ceiling = nice_ceiling(max([v for _, v in points] + [limit, 0]))

        def xy(ts: float, v: float) -> tuple[float, float]:
            return left + plot_w * (ts - start) / (end - start), top + plot_h * (1 - v / ceiling)

        body: list[str] = []
        _y_axis(body, ceiling, left, width - right, top, plot_h, fmt)
        if limit > 0:
            y = xy(start, limit)[1]
            body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="{colors[1]}" '
                        'stroke-dasharray="6 4" stroke-width="1.5"/>')
        inside = [(ts, label) for ts, label in ticks if start <= ts <= end]
        step = label_step([label for _, label in inside], plot_w - 20)
        for k, (ts, label) in enumerate(inside):
            if k % step == 0:
                x = xy(ts, 0)[0]
                anchor = "end" if x > width - right - 20 else "start" if x < left + 20 else "middle"
                body.append(_text(x, height - 6, label, anchor=anchor, size=11))
        if projection is not None and points:
            (x0, y0), (x1, y1) = xy(*points[-1]), xy(*projection)
            if projection[0] > end:  # clip at the right edge
                t = (end - points[-1][0]) / (projection[0] - points[-1][0])
                x1, y1 = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
            body.append(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" stroke="{colors[0]}" '
                        'stroke-dasharray="3 4" stroke-width="2"/>')
        if points:
            coords = " ".join("{:.1f},{:.1f}".format(*xy(ts, v)) for ts, v in points)
            body.append(f'<polyline points="{coords}" fill="none" stroke="{colors[0]}" stroke-width="2.5" '
                        'stroke-linejoin="round"/>')
            x, y = xy(*points[-1])
            body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colors[0]}">'
                        f"<title>{escape(names[0])}: {points[-1][1]:g}</title></circle>")
        return _svg(title, width, height, body, "line")

    entries = [(names[0], colors[0], "line"), (names[1], colors[1], "dash")]
    if projection is not None:
        entries.append((names[2], colors[0], "dash"))
    return chart(draw, entries)
