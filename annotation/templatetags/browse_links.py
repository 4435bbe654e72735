"""Links from the results into the judgment browser (annotation/browse.py's filters)."""

import re
from urllib.parse import urlencode

from django import template

register = template.Library()

LENGTH_BUCKET = re.compile(r"^(\d+)(?:-(\d+)|(\+))?$")


@register.simple_tag
def slice_query(column, value) -> str:
    """The browser's query for one slice of the slices table: a prompt metadata value
    (``meta_language=en``), or a prompt-length bucket ("120-349", "350+") as a range."""
    if column == "prompt_length":
        match = LENGTH_BUCKET.match(str(value))
        if match:
            low, high, open_ended = match.groups()
            params = {"prompt_chars_min": low}
            if not open_ended:
                params["prompt_chars_max"] = high or low
            return urlencode(params)
    return urlencode({f"meta_{column}": value})


@register.filter
def disagreement_filter(question) -> str:
    """The browser's ``disagree`` value for a row of the agreement table ("verdict",
    "rating", "tag: harmful"), or "" for a question it cannot filter on."""
    question = str(question)
    if question in ("verdict", "rating"):
        return question
    if question.startswith("tag: "):
        return "tag:" + question[len("tag: ") :]
    return ""


@register.filter
def get_index(sequence, index):
    """The item at `index` of a list, or None."""
    try:
        return sequence[int(index)]
    except (IndexError, TypeError, ValueError):
        return None
