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


# A paragraph is hard-wrapped when every line but the last ends only because its next word
# would not have fit (what a text wrapper does) and its widest line is as wide as wrappers
# make them (72, 80, 100 columns; a 400-character line was never wrapped). SLACK forgives a
# hand-wrapped line a few characters short.
WRAP_MIN_WIDTH, WRAP_MAX_WIDTH = 60, 120
WRAP_SLACK = 5


def is_hard_wrapped(paragraph: str) -> bool:
    """Whether the single newlines of a paragraph's source come from wrapping it to a width.

    Those are soft line breaks and flow as spaces; any other single newline (the lines of a
    poem or of lyrics, an address, "Hi Jen,") is meant as a line break and stays one.
    """
    lines = [line.rstrip() for line in paragraph.split("\n")]
    if len(lines) < 2:
        return False
    width = max(len(line) for line in lines)
    if not WRAP_MIN_WIDTH <= width <= WRAP_MAX_WIDTH:
        return False
    for line, following in zip(lines, lines[1:], strict=False):
        words = following.split()
        if not line or not words or len(line) + 1 + len(words[0]) <= width - WRAP_SLACK:
            return False
    return True


def _mark_wrapped_paragraphs(state) -> None:
    for token in state.tokens:
        if token.type == "inline" and token.children and is_hard_wrapped(token.content):
            for child in token.children:
                if child.type == "softbreak":
                    child.meta["wrapped"] = True


def _render_softbreak(self, tokens, idx, options, env) -> str:
    return "\n" if tokens[idx].meta.get("wrapped") else "<br>\n"


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # "html": False makes the parser escape raw HTML instead of passing it through.
    # Soft line breaks: a hard-wrapped paragraph (a prompt wrapped at 72 columns) flows as one
    # paragraph instead of breaking mid-sentence; other single newlines stay line breaks,
    # as chat interfaces show them, so lyrics and poems keep their lines.
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    )
    parser.core.ruler.push("hard_wrapped_paragraphs", _mark_wrapped_paragraphs)
    parser.add_render_rule("softbreak", _render_softbreak)
    return parser


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
    # As the parser renders a soft break: a space-like newline in a hard-wrapped paragraph,
    # a line break elsewhere (`_render_softbreak`).
    out = []
    for paragraph in _PARAGRAPH_BREAK.split(text):
        joiner = "\n" if is_hard_wrapped(paragraph) else "<br>\n"
        out.append(f"<p>{paragraph.replace(chr(10), joiner)}</p>\n")
    return "".join(out)
