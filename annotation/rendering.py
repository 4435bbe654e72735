"""Untrusted text to safe HTML: a real Markdown parser, then a real sanitiser.

Model outputs and prompts may carry anything: script tags, event handlers,
javascript: links, SVG or iframe payloads, broken HTML. Raw HTML in the input is
not interpreted (the parser escapes it, so it shows as text), and whatever HTML
the parser produces passes through nh3's allow-list before it reaches a page.
The Content-Security-Policy header is the last wall behind both.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # "html": False makes the parser escape raw HTML instead of passing it through.
    # "breaks": False keeps CommonMark's soft line breaks: text hard-wrapped at 72 or 80
    # columns (common in prompts) flows as one paragraph instead of breaking mid-sentence.
    # A hard break still needs two trailing spaces or a backslash, as in CommonMark.
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": False}).enable(
        ["table", "strikethrough"]
    )


def render_markdown(text: str) -> str:
    """Markdown to sanitised HTML, safe to mark as safe in a template."""
    html = _parser().render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
