"""Untrusted text to safe HTML: a real Markdown parser, then a real sanitiser.

Model outputs and prompts may carry anything: script tags, event handlers,
javascript: links, SVG or iframe payloads, broken HTML. Raw HTML in the input is
not interpreted (the parser escapes it, so it shows as text), and whatever HTML
the parser produces passes through nh3's allow-list before it reaches a page.
The Content-Security-Policy header is the last wall behind both.
"""

from __future__ import annotations

import re
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
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    )


def render_markdown(text: str) -> str:
    """Markdown to sanitised HTML, safe to mark as safe in a template.

    Plain prose (most model outputs) takes a short cut that gives the same HTML as the
    parser and the sanitiser would (tests compare the two routes); it is what keeps an
    import of 100,000 outputs from spending most of its time here.
    """
    text = text or ""
    plain = _plain_paragraphs(text)
    if plain is not None:
        return plain
    html = _parser().render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def render_conversation(turns: list[dict]) -> list[dict]:
    """Each turn of a prompt's conversation with its content as sanitised HTML."""
    return [{"role": turn["role"], "html": render_markdown(turn["content"])} for turn in turns]


# Text the short cut cannot take: characters that may start Markdown syntax anywhere in a
# line, or that the parser or the sanitiser rewrite (carriage returns, tabs, other control
# characters, and every character Python's str.strip() removes, which the parser uses to
# trim paragraphs); a line that starts with a space (indented code, or a blank line the
# parser trims), a list, heading, quote or setext marker, or a digit (ordered lists); a
# line that ends with a space.
_NOT_PLAIN = re.compile(
    r"[\\`*_\[\]<>&|~\x00-\x09\x0b-\x1f\x7f-\xa0\u1680\u2000-\u200f"
    r"\u2028-\u202f\u205f\u3000\ufeff\ufff0-\uffff]"
)
_LINE_START_MARKERS = " -+=#>0123456789"
_MARKED_LINE = re.compile(r"\n[ \-+=#>0-9]")
_PARAGRAPH_BREAK = re.compile(r"\n\n+")


def _plain_paragraphs(text: str) -> str | None:
    """The HTML of text without any Markdown syntax (paragraphs of plain lines), or None
    when the text needs the real parser."""
    if (
        _NOT_PLAIN.search(text)
        or (text and text[0] in _LINE_START_MARKERS)
        or _MARKED_LINE.search(text)
        or " \n" in text
        or text.endswith(" ")
    ):
        return None
    text = text.strip("\n")
    if not text:
        return ""
    joiner = "<br>\n" if _parser().options["breaks"] else "\n"
    return "".join(
        f"<p>{paragraph.replace(chr(10), joiner)}</p>\n"
        for paragraph in _PARAGRAPH_BREAK.split(text)
    )
