"""Bar charts as server-rendered SVG: axes, labels, a legend and a tooltip per bar.

No JavaScript: each bar carries a ``<title>`` (the browser's tooltip) and a ``data-value``;
the chart as a whole is an image with an ``aria-label`` summary. Each chart comes in two
drawings, wide and narrow (for phones), so its text stays readable at any width.
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


# Each chart is drawn twice: for wide screens, and narrow for phones (static/css/app.css shows one of
# them by screen width), so its text is about 11-13 px on both instead of shrinking with the picture.
NARROW_WIDTH = 360
CLASSES = {"wide": "chart", "narrow": "chart chart-narrow"}
NARROW_FONT = 12


def text_width(text, size):
    """About how wide ``text`` is at font ``size`` (a sans-serif's average glyph; CJK is square)."""
    return sum(size if ord(ch) >= 0x2E80 else 0.62 * size for ch in str(text))


def fit(text, width, size):
    """``text``, cut with an ellipsis to about ``width``."""
    text = str(text)
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _svg(label, width, height, body, font_size=11, variant="wide"):
    return (
        f'<svg class="{CLASSES[variant]}" role="img" aria-label="{escape(label)}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" {FONT} font-size="{font_size}">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def _pair(wide, narrow):
    return mark_safe(wide + narrow)


def _legend(names, y, width, size):
    """Legend items left to right, wrapping onto new rows; (body, rows used)."""
    body, x, rows = [], 0, 1
    for index, name in enumerate(names):
        item = 14 + text_width(name, size) + 12
        if x and x + item > width:
            x, y, rows = 0, y + size + 8, rows + 1
        body.append(
            f'<g class="legend-item"><rect x="{x:.1f}" y="{y}" width="10" height="10" rx="2" fill="{colour(index)}"/>'
            f'<text x="{x + 14:.1f}" y="{y + 9}" fill="{TEXT}">{escape(name)}</text></g>'
        )
        x += item
    return body, rows


def _legend_rows(names, width, size):
    return _legend(names, 0, width, size)[1]


def stacked_bars(label, categories, series, fmt, *, tick_labels=None, height=260):
    """Vertical bars, one per category, stacked by series, drawn wide and narrow.

    ``categories``: the x values' full names (tooltips); ``tick_labels``: their short names
    under the axis (thinned out when crowded); ``series``: [(name, [value per category])];
    ``fmt``: formats a value for the axis and tooltips.
    """
    wide = _stacked_bars(label, categories, series, fmt, tick_labels, WIDTH, height, 11, 12, "wide")
    narrow = _stacked_bars(label, categories, series, fmt, tick_labels, NARROW_WIDTH, 240, NARROW_FONT, 5, "narrow")
    return _pair(wide, narrow)


def _stacked_bars(label, categories, series, fmt, tick_labels, width, height, size, most_ticks, variant):
    tick_labels = tick_labels or categories
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    ticks = nice_ticks(max(totals, default=0))
    names = [name for name, _ in series]
    legend_rows = _legend_rows(names, width, size)
    left = max(text_width(fmt(tick), size) for tick in ticks) + 10
    right, top, bottom = 12, 12, 30 + legend_rows * (size + 8)
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = plot_h / ticks[-1]
    body = []
    for tick in ticks:
        y = top + plot_h - tick * scale
        body.append(f'<line x1="{left:.1f}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{left - 6:.1f}" y="{y + size / 3:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{escape(fmt(tick))}</text>"
        )
    slot = plot_w / max(len(categories), 1)
    bar = min(slot * 0.7, 48)
    widest = max((text_width(name, size) for name in tick_labels), default=0)
    every = max(1, math.ceil(len(categories) / most_ticks), math.ceil((widest + 6) / slot))
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
            centre = min(max(x + bar / 2, left + text_width(tick_labels[i], size) / 2), width - 2 - widest / 2)
            body.append(
                f'<text x="{centre:.1f}" y="{top + plot_h + size + 5}" text-anchor="middle" fill="{TEXT}">'
                f"{escape(tick_labels[i])}</text>"
            )
    body.append(
        f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{AXIS}"/>'
        f'<line x1="{left:.1f}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{AXIS}"/>'
    )
    legend, _rows = _legend(names, top + plot_h + size + 14, width, size)
    body.extend(legend)
    return _svg(label, width, height, body, font_size=size, variant=variant)


def horizontal_bars(label, rows, fmt, *, colours=None, width=480):
    """One horizontal bar per row, drawn wide (the name left of its bar) and narrow (the name
    above it): ``rows`` is [(name, value)], largest first reads best; ``colours`` maps a name to
    its palette index (to match another chart's legend). Names are never cut by the edge: the
    margin fits the longest, up to 40% of the width, and longer ones end in an ellipsis."""
    colours = colours or {}
    wide = _horizontal_bars(label, rows, fmt, colours, width, 13, "wide")
    narrow = _horizontal_bars(label, rows, fmt, colours, NARROW_WIDTH, NARROW_FONT, "narrow")
    return _pair(wide, narrow)


def _horizontal_bars(label, rows, fmt, colours, width, size, variant):
    above = variant == "narrow"
    ticks = nice_ticks(max((value for _, value in rows), default=0))
    values_w = max((text_width(fmt(value), size) for _, value in rows), default=0)
    tick_w = text_width(fmt(ticks[-1]), size)
    if above:
        left, row_h, bar_y, bar_h = tick_w / 2 + 2, 2 * size + 16, size + 6, size
    else:
        names_w = max((text_width(name, size) for name, _ in rows), default=0)
        left, row_h, bar_y, bar_h = min(names_w, width * 0.4) + 14, 30, 5, 20
    top = 8
    right = max(values_w + 10, tick_w / 2 + 2)
    height = top * 2 + row_h * max(len(rows), 1) + size + 10
    plot_w = width - left - right
    scale = plot_w / ticks[-1]
    axis_y = top + row_h * len(rows)
    body = []
    for tick in ticks:
        x = left + tick * scale
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{axis_y}" stroke="{GRID}"/>')
        body.append(
            f'<text x="{x:.1f}" y="{axis_y + size + 2}" text-anchor="middle" fill="{TEXT}">{escape(fmt(tick))}</text>'
        )
    for index, (name, value) in enumerate(rows):
        y = top + index * row_h
        if above:
            short = fit(name, width - 4, size)
            body.append(f'<text class="bar-label" x="2" y="{y + size}" fill="{TEXT}">{escape(short)}</text>')
        else:
            short = fit(name, left - 14, size)
            body.append(
                f'<text class="bar-label" x="{left - 8:.1f}" y="{y + row_h / 2 + size / 3:.1f}" text-anchor="end" '
                f'fill="{TEXT}">{escape(short)}</text>'
            )
        if value:
            body.append(
                f'<rect class="bar" x="{left:.1f}" y="{y + bar_y}" width="{value * scale:.1f}" height="{bar_h}" rx="3" '
                f'fill="{colour(colours.get(name, index))}" data-series="{escape(name)}" data-value="{value}">'
                f"<title>{escape(name)}: {escape(fmt(value))}</title></rect>"
            )
        body.append(
            f'<text x="{left + value * scale + 6:.1f}" y="{y + bar_y + bar_h / 2 + size / 3:.1f}" fill="{TEXT}">'
            f"{escape(fmt(value))}</text>"
        )
    body.append(f'<line x1="{left:.1f}" x2="{left:.1f}" y1="{top}" y2="{axis_y}" stroke="{AXIS}"/>')
    return _svg(label, width, height, body, font_size=size, variant=variant)
