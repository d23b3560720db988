"""Template filters for money, durations and JSON on every dashboard page."""

import json

from django import template

from accounts.services import format_units

register = template.Library()


@register.filter
def usd(amount):
    """Units as dollars: 1500000 -> "$1.5", -50000 -> "-$0.05"; nothing -> "—"."""
    if amount is None or amount == "":
        return "—"
    amount = int(amount)
    return f"-{format_units(-amount)}" if amount < 0 else format_units(amount)


@register.filter
def unit_count(value):
    """A whole number of units with thousands separators: 1500000 -> "1,500,000"."""
    return "—" if value is None else f"{int(value):,}"


@register.filter
def duration(value):
    """A timedelta as "42 s", "3 min 5 s" or "1 h 2 min"."""
    if value is None:
        return "—"
    seconds = int(round(value.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
