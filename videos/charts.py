"""Bar charts as server-rendered SVG: axes, labels, a legend and a tooltip per bar.

No JavaScript: each bar carries a ``<title>`` (the browser's tooltip) and a ``data-value``;
the chart as a whole is an image with an ``aria-label`` summary.
"""

import math

from django.utils.html import escape
from django.utils.safestring import mark_safe

PALETTE = ("#4f46e5", "#0ea5e9", "#12805c", "#d97706", "#db2777", "#7c3aed", "#0d9488", "#b45309", "#64748b")
WIDTH = 720
FONT = 'font-family="system-ui, sans-serif"'
AXIS = "#98a2b3"
GRID = "#eceef2"
TEXT = "#475467"


def colour(index):
    return PALETTE[index % len(PALETTE)]


def nice_ticks(maximum, count=4):
    """Round tick values from 0 covering ``maximum`` (e.g. 0, 25, 50, 75, 100)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    ticks = [0]
    while ticks[-1] < maximum:
        ticks.append(ticks[-1] + step)
    return ticks


def _svg(label, width, height, body, font_size=11):
    return mark_safe(
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="{font_size}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _legend(names, y):
    body, x = [], 0
    for index, name in enumerate(names):
        text = escape(name)
        body.append(
            f'<g class="legend-item"><rect x="{x}" y="{y}" width="10" height="10" rx="2" fill="{colour(index)}"/>'
            f'<text x="{x + 14}" y="{y + 9}" fill="{TEXT}">{text}</text></g>'
        )
        x += 24 + 6.5 * len(name)
    return body


def stacked_bars(label, categories, series, fmt, *, tick_labels=None, height=260):
    """Vertical bars, one per category, stacked by series.

    ``categories``: the x values' full names (tooltips); ``tick_labels``: their short names
    under the axis (thinned out when crowded); ``series``: [(name, [value per category])];
    ``fmt``: formats a value for the axis and tooltips.
    """
    tick_labels = tick_labels or categories
    left, right, top, bottom = 70, 12, 12, 58
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0))
    scale = plot_h / ticks[-1]
    body = []
    for tick in ticks:
        y = top + plot_h - tick * scale
        body.append(f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{TEXT}">{escape(fmt(tick))}</text>')
    slot = plot_w / max(len(categories), 1)
    bar = min(slot * 0.7, 48)
    every = max(1, math.ceil(len(categories) / 12))
    for i, category in enumerate(categories):
        x = left + i * slot + (slot - bar) / 2
        base = top + plot_h
        for index, (name, values) in enumerate(series):
            value = values[i]
            if not value:
                continue
            h = value * scale
            base -= h
            body.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour(index)}" data-series="{escape(name)}" data-value="{value}">'
                f"<title>{escape(category)} · {escape(name)}: {escape(fmt(value))}</title></rect>"
            )
        if i % every == 0:
            body.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="{TEXT}">'
                f"{escape(tick_labels[i])}</text>"
            )
    body.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="{AXIS}"/>'
        f'<line x1="{left}" x2="{WIDTH - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS}"/>'
    )
    body.extend(_legend([name for name, _ in series], height - 18))
    return _svg(label, WIDTH, height, body)


def horizontal_bars(label, rows, fmt, *, colours=None, width=480):
    """One horizontal bar per row: ``rows`` is [(name, value)], largest first reads best;
    ``colours`` maps a name to its palette index (to match another chart's legend)."""
    colours = colours or {}
    left, right, top, row_h = 150, 64, 8, 30
    height = top * 2 + row_h * max(len(rows), 1) + 20
    plot_w = width - left - right
    ticks = nice_ticks(max((value for _, value in rows), default=0))
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(rows)
    body = []
    for tick in ticks:
        x = left + tick * scale
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" fill="{TEXT}">{escape(fmt(tick))}</text>'
        )
    for index, (name, value) in enumerate(rows):
        y = top + index * row_h
        short = name if len(name) <= 24 else name[:23] + "…"
        body.append(
            f'<text x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" text-anchor="end" fill="{TEXT}">{escape(short)}</text>'
        )
        if value:
            w = value * scale
            body.append(
                f'<rect class="bar" x="{left}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" rx="3" '
                f'fill="{colour(colours.get(name, index))}" data-series="{escape(name)}" data-value="{value}">'
                f"<title>{escape(name)}: {escape(fmt(value))}</title></rect>"
            )
        body.append(
            f'<text x="{left + value * scale + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" fill="{TEXT}">'
            f"{escape(fmt(value))}</text>"
        )
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{axis_y}" stroke="{AXIS}"/>')
    return _svg(label, width, height, body, font_size=13)
