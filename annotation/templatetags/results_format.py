"""Small filters for showing results: look up a key, format a share or a number."""

from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def pct(value, digits=1):
    """0.1234 -> '12.3%'; None -> '–'."""
    if value in (None, ""):
        return "–"
    return f"{100 * float(value):.{int(digits)}f}%"


@register.filter
def num(value, digits=2):
    if value in (None, ""):
        return "–"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def subtract(value, other):
    """value - other; None when either is missing."""
    if value in (None, "") or other in (None, ""):
        return None
    return float(value) - float(other)
