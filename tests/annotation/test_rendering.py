"""Untrusted text renders as harmless markup: Markdown kept, anything executable dropped."""

import textwrap
from html.parser import HTMLParser

import nh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotation import rendering
from annotation.rendering import ALLOWED_TAGS, render_markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<svg onload=alert(1)><circle/></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<div><b>unclosed <script",
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<object data=x></object><embed src=x>",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    "![img](javascript:alert(1))",
    '<form action="https://evil.example"><button>go</button></form>',
]


class ElementCollector(HTMLParser):
    """Collects the real elements and attributes a browser would build from the HTML."""

    def __init__(self):
        super().__init__()
        self.elements = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))


def elements(html):
    collector = ElementCollector()
    collector.feed(html)
    collector.close()
    return collector.elements


@pytest.mark.parametrize("payload", PAYLOADS)
def test_it_never_emits_executable_markup(payload):
    html = render_markdown(payload)
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, html
        assert not any(name.startswith("on") or name == "style" for name in attrs), html
        href = attrs.get("href", "")
        assert not href or href.split(":", 1)[0].lower() in ("http", "https", "mailto"), html


def test_raw_html_shows_as_text():
    assert (
        render_markdown("<script>alert(1)</script>")
        == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"
    )


def test_it_keeps_markdown_structure():
    html = render_markdown(
        "# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```python\nprint('<b>')\n```\n"
    )
    assert "<h1>Title</h1>" in html and "<li>one</li>" in html
    assert "<table>" in html and "<td>1</td>" in html
    assert "<pre><code class=\"language-python\">print('&lt;b&gt;')" in html


def test_safe_links_survive_with_rel():
    html = render_markdown("[docs](https://example.org/x)")
    assert 'href="https://example.org/x"' in html and 'rel="noopener noreferrer nofollow"' in html


WRAPPED_SOURCE = (
    "Development studies is an interdisciplinary branch of social science. It has grown in "
    "popularity as a subject of study since the early 1990s, and has been most widely taught "
    "and researched in developing countries and countries with a colonial history, such as the "
    "UK, where the discipline originated."
)
LYRICS = (
    "In the shadowed valley, I walk alone,\n"
    "The cold wind whispers, through the stone.\n"
    "A flicker in the darkness, a guiding light,\n"
    "Jesus, your love, my armor in the night."
)  # from the demo study (ae-220): its lines are the answer


@pytest.mark.parametrize("width", [60, 72, 80, 100])
def test_hard_wrapped_text_flows_as_one_paragraph(width):
    html = render_markdown(textwrap.fill(WRAPPED_SOURCE, width) + "\n\nWhat are the careers?")
    assert "<br" not in html
    assert html.count("<p>") == 2


def test_a_hard_wrapped_list_item_flows_too():
    item = textwrap.fill(WRAPPED_SOURCE, 72, initial_indent="- ", subsequent_indent="  ")
    html = render_markdown(item + "\n- second item")
    assert "<br" not in html and html.count("<li>") == 2


def test_lines_meant_as_lines_stay_lines():
    assert render_markdown(LYRICS).count("<br>") == 3
    assert render_markdown("Hi Jen,\nI hope you're well. Can we catch up today?").count("<br>") == 1
    # One long unwrapped line and a question under it: never wrapped at 400 columns.
    assert "<br>" in render_markdown(WRAPPED_SOURCE * 2 + "\nWhat are the careers?")


def test_a_commonmark_hard_break_is_kept():
    assert "<br>" in render_markdown(textwrap.fill(WRAPPED_SOURCE, 72).replace("\n", "  \n", 1))
    assert "<br>" in render_markdown("first line\\\nsecond line")


# --- the short cut for plain prose gives exactly the parser's and sanitiser's HTML ---------

PROSE = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("abc XYZ \n\n,.;:'\"?!()/%$@#+=-0123456789")),
        st.sampled_from(list("*_`[]<>&|~\\\t\r\x0b\xa0\u2028\u3000\ufeff\u00e9\u4e2d\U0001f600")),
        st.characters(codec="utf-8"),
    ),
    max_size=80,
)


def full_route(text: str) -> str:
    return nh3.clean(
        rendering._parser().render(text),
        tags=rendering.ALLOWED_TAGS,
        attributes=rendering.ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@settings(max_examples=1500, deadline=None)
@given(PROSE)
def test_the_plain_text_short_cut_matches_the_parser(text):
    plain = rendering._plain_paragraphs(text)
    if plain is not None:
        assert plain == full_route(text)
    assert render_markdown(text) == full_route(text)


def test_prose_takes_the_short_cut():
    prose = 'The model answers: yes.\nIt\'s 3.5 km (about 2 miles) away!\n\n\nC# and "quotes" too.'
    assert rendering._plain_paragraphs(prose) == full_route(prose)
    assert rendering._plain_paragraphs("- a list") is None
    assert rendering._plain_paragraphs("1. first") is None
    assert rendering._plain_paragraphs("**bold**") is None


@pytest.mark.parametrize("width", [60, 72, 100])
def test_the_short_cut_flows_hard_wrapped_prose_as_the_parser_does(width):
    text = textwrap.fill(WRAPPED_SOURCE.replace(",", ""), width) + "\n\n" + LYRICS.replace(",", "")
    plain = rendering._plain_paragraphs(text)
    assert plain is not None and plain == full_route(text)
    assert plain.count("<br>") == 3  # the lyrics keep their lines, the prose flows
