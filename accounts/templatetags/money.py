"""Template filters for money, durations and JSON on every dashboard page."""

import json

from django import template
from django.utils.translation import gettext as _

from accounts.services import format_units

register = template.Library()


@register.filter
def usd(amount):
    """Units as dollars, always with cents and with more decimals only where the amount has them:
    1500000 -> "$1.50", 5000 -> "$0.005", -50000 -> "-$0.05", 0 -> "$0.00"; nothing -> "—"."""
    if amount is None or amount == "":
        return "—"
    return format_units(amount)


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
        return _("%(s)d s") % {"s": seconds}
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": seconds} if seconds else _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes} if minutes else _("%(h)d h") % {"h": hours}


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
