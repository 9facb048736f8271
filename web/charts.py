"""Charts drawn on the server as SVG: no script, readable at a glance, with a table beside each
one holding the same figures. Pure: no I/O, no clock, no web framework.

`comparison_chart` draws a grouped horizontal bar chart: for each dimension of the standard
evaluation scheme (`orchestrator.evaluation`), one bar per trial (or per group of trials) on the
scheme's scale of 1 to 5. Each trial has a letter, a GOV.UK colour and a fill pattern, so that
colour is never the only way to tell trials apart (WCAG 1.4.1); every bar is labelled with its
letter and its value in text, and a score not given reads "not scored" rather than a bar of
zero. All text is XML-escaped: trial titles are what people typed. The SVG scales with its
`viewBox` and uses presentation attributes only (the pages' Content-Security-Policy forbids
inline styles).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator import evaluation as scheme

#: GOV.UK colours dark enough for a 3:1 contrast with white, each drawn with its own pattern.
COLOURS = ("#1d70b8", "#00703c", "#4c2c92", "#d4351c", "#505a5f", "#912b88", "#003078", "#0b0c0c")
PATTERNS = ("solid", "diagonal", "dots", "horizontal", "crosshatch", "vertical", "backslash", "grid")

WIDTH = 560
MARGIN = 16
KEY_WIDTH = 28  # the trial's letter, left of its bar
VALUE_WIDTH = 96  # room for the value ("not scored") right of the longest bar
BAR_HEIGHT = 16
BAR_GAP = 4
HEADING_HEIGHT = 26
GROUP_GAP = 14
LEGEND_ROW = 24
LEGEND_TITLE_CHARS = 70
FONT = "GDS Transport, arial, sans-serif"


@dataclass(frozen=True)
class Series:
    """One trial (or group of trials) on the chart: its name and its score per dimension."""

    name: str
    scores: Mapping[str, float | None]


def trial_series(rows: Iterable[Mapping[str, Any]]) -> list[Series]:
    """Report rows (`evaluation.report_row`) as series: a row without its title (a supplier's
    view) is named by its row number, as the table names it."""
    return [
        Series(
            name=str(row.get("title") or f"Row {row.get('row')}"),
            scores={d: row.get(f"{d}_score") for d in scheme.DIMENSIONS},
        )
        for row in rows
    ]


def key(index: int) -> str:
    """The letter of the `index`th series: A to Z, then AA, AB, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def comparison_chart(
    series: Sequence[Series],
    dimensions: Mapping[str, str] = scheme.DIMENSION_NAMES,
    *,
    title: str,
    desc: str = "",
    chart_id: str = "chart",
    top: int = max(scheme.SCALE),
) -> str:
    """The SVG, as text ready to place in a page: for each of `dimensions` (key -> name, in
    order) one bar per series, scaled 0 to `top`. `chart_id` prefixes every id in it, so that
    several charts can share a page."""
    e = _escape
    plot_left = MARGIN + KEY_WIDTH
    plot_width = WIDTH - plot_left - VALUE_WIDTH - MARGIN
    parts: list[str] = []
    y = MARGIN

    legend: list[str] = []
    for i, s in enumerate(series):
        name = s.name if len(s.name) <= LEGEND_TITLE_CHARS else s.name[: LEGEND_TITLE_CHARS - 1] + "…"
        legend.append(
            f'<g class="den-chart__legend-item">'
            f'<rect x="{MARGIN}" y="{y}" width="{BAR_HEIGHT * 2}" height="{BAR_HEIGHT}" '
            f'fill="{_fill(chart_id, i)}" stroke="#0b0c0c" stroke-width="1"/>'
            f'<text x="{MARGIN + BAR_HEIGHT * 2 + 8}" y="{y + BAR_HEIGHT - 3}" font-weight="bold">'
            f"{e(key(i))}</text>"
            f'<text x="{MARGIN + BAR_HEIGHT * 2 + 32}" y="{y + BAR_HEIGHT - 3}">{e(name)}</text></g>'
        )
        y += LEGEND_ROW
    parts.append(f'<g class="den-chart__legend">{"".join(legend)}</g>')
    y += GROUP_GAP

    # The scale, once at the top: a gridline at each score.
    step = plot_width / top
    ticks = [
        f'<text x="{_n(plot_left + n * step)}" y="{y + 12}" text-anchor="middle">{n}</text>'
        for n in range(top + 1)
    ]
    parts.append(f'<g class="den-chart__scale" fill="#505a5f">{"".join(ticks)}</g>')
    y += 20
    grid_top = y

    for dimension, name in dimensions.items():
        parts.append(
            f'<text class="den-chart__heading" x="{MARGIN}" y="{y + 18}" font-weight="bold">{e(name)}</text>'
        )
        y += HEADING_HEIGHT
        for i, s in enumerate(series):
            middle = y + BAR_HEIGHT - 4
            parts.append(
                f'<text x="{MARGIN}" y="{middle}" font-weight="bold" '
                f'data-series="{e(key(i))}">{e(key(i))}</text>'
            )
            value = s.scores.get(dimension)
            if value is None:
                parts.append(
                    f'<text class="den-chart__not-scored" x="{plot_left}" y="{middle}" font-style="italic" '
                    f'data-series="{e(key(i))}" data-dimension="{e(dimension)}">not scored</text>'
                )
            else:
                width = step * min(max(float(value), 0.0), float(top))
                shown = _value(value)
                parts.append(
                    f'<rect class="den-chart__bar" x="{plot_left}" y="{y}" width="{_n(width)}" '
                    f'height="{BAR_HEIGHT}" fill="{_fill(chart_id, i)}" stroke="#0b0c0c" stroke-width="1" '
                    f'data-series="{e(key(i))}" data-dimension="{e(dimension)}" data-value="{shown}"/>'
                    f'<text class="den-chart__value" x="{_n(plot_left + width + 6)}" y="{middle}">'
                    f"{shown}</text>"
                )
            y += BAR_HEIGHT + BAR_GAP
        y += GROUP_GAP
    lines = "".join(
        f'<line x1="{_n(plot_left + n * step)}" y1="{grid_top}" x2="{_n(plot_left + n * step)}" '
        f'y2="{y - GROUP_GAP}" stroke="#b1b4b6" stroke-width="1"/>'
        for n in range(top + 1)
    )
    height = y + MARGIN - GROUP_GAP
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="den-chart" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{e(title_id)} {e(desc_id)}" font-family="{FONT}" font-size="14" '
        f'fill="#0b0c0c">'
        f'<title id="{e(title_id)}">{e(title)}</title>'
        f'<desc id="{e(desc_id)}">{e(desc or _describe(series, dimensions, top))}</desc>'
        f"<defs>{''.join(_pattern(chart_id, i) for i in range(len(series)))}</defs>"
        f'<g class="den-chart__grid">{lines}</g>'
        f"{''.join(parts)}</svg>"
    )


def _describe(series: Sequence[Series], dimensions: Mapping[str, str], top: int) -> str:
    names = "; ".join(f"{key(i)}: {s.name}" for i, s in enumerate(series))
    return (
        f"Bars of scores from 0 to {top} on each of {len(dimensions)} parts of the evaluation, "
        f"one bar for each of {len(series)}: {names}."
    )


def _pattern(chart_id: str, index: int) -> str:
    """The fill of the `index`th series: its colour, and white marks in its own pattern."""
    colour = COLOURS[index % len(COLOURS)]
    kind = PATTERNS[index % len(PATTERNS)]
    marks = {
        "solid": "",
        "diagonal": '<path d="M-2,2 l4,-4 M0,8 l8,-8 M6,10 l4,-4" stroke="#ffffff" stroke-width="2"/>',
        "dots": '<circle cx="4" cy="4" r="1.8" fill="#ffffff"/>',
        "horizontal": '<path d="M0,4 h8" stroke="#ffffff" stroke-width="2"/>',
        "crosshatch": '<path d="M0,0 l8,8 M8,0 l-8,8" stroke="#ffffff" stroke-width="1.5"/>',
        "vertical": '<path d="M4,0 v8" stroke="#ffffff" stroke-width="2"/>',
        "backslash": '<path d="M-2,6 l4,4 M0,0 l8,8 M6,-2 l4,4" stroke="#ffffff" stroke-width="2"/>',
        "grid": '<path d="M0,4 h8 M4,0 v8" stroke="#ffffff" stroke-width="1.5"/>',
    }[kind]
    return (
        f'<pattern id="{_escape(_pattern_id(chart_id, index))}" width="8" height="8" '
        f'patternUnits="userSpaceOnUse" data-pattern="{kind}">'
        f'<rect width="8" height="8" fill="{colour}"/>{marks}</pattern>'
    )


def _pattern_id(chart_id: str, index: int) -> str:
    return f"{chart_id}-pattern-{index}"


def _fill(chart_id: str, index: int) -> str:
    return f"url(#{_escape(_pattern_id(chart_id, index))})"


def _value(value: float) -> str:
    return f"{float(value):g}"


def _n(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def _escape(text: str) -> str:
    return html.escape(str(text), quote=True)
