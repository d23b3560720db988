"""Template filters for money and durations on dashboard pages."""

from django import template

from accounts.services import format_units

register = template.Library()


@register.filter
def units(amount):
    """1,000,000 units as "$1"; negative amounts as "-$0.05"."""
    if amount is None or amount == "":
        return "—"
    amount = int(amount)
    return f"-{format_units(-amount)}" if amount < 0 else format_units(amount)


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
