"""Filters for the operator pages."""

import json

from django import template

from accounts.services import format_units

register = template.Library()


@register.filter
def usd(units):
    """Units as dollars: 1500000 -> $1.5, -500000 -> -$0.5."""
    if units is None:
        return ""
    return f"-{format_units(-units)}" if units < 0 else format_units(units)


@register.filter
def pretty_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.filter
def units(value):
    """A whole number of units with thousands separators: 1500000 -> 1,500,000."""
    return "" if value is None else f"{value:,}"
