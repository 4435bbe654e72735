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
