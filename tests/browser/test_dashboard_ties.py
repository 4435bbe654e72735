"""Issue 13 in Chromium: the dashboard's ties, style, position-bias, consistency and
tag-effect sections are visible and readable, and the judgment browser's consistency
filter shows the flagged judgments."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import chromium_missing_reason, log_in
from tests.conftest import join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from annotation.models import Judgment  # noqa: E402
from annotation.results import background, snapshot  # noqa: E402
from annotation.results.consistency import rating_consistency  # noqa: E402
from tests.annotation.results_study import build_demo_study  # noqa: E402
from tests.annotation.test_results_ties import _with_sides  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    study = build_demo_study()
    _with_sides(study)
    researcher = make_user("rita", "researcher")
    join(study, researcher)
    # Computed here, once, so the browser reads stored results (a busy machine and a 5 s
    # timeout); tag effects as the background worker would.
    from django.test import Client

    client = Client()
    client.force_login(researcher)
    page = client.get(f"/studies/{study.slug}/results/")
    assert page.status_code == 200
    for chart in re.findall(r'<img src="([^"]+\.svg)"', page.content.decode()):
        assert client.get(chart).status_code == 200
    background.compute(study)
    return study


def test_the_new_sections_are_visible_and_readable(page, browser_events, demo):
    log_in(page, "rita")
    page.goto(f"/studies/{demo.slug}/results/")
    for section in ("#ties", "#style", "#position", "#consistency", "#tag-effects"):
        box = page.locator(section)
        assert box.is_visible()
        assert box.locator("h2").inner_text()
    assert "Tie parameter ν =" in page.inner_text("#tie-parameter")
    assert page.locator("#davidson-table tbody tr").count() == 4
    assert page.locator("#style-coefficients tbody tr").count() == 4
    assert "no re-served tasks yet" in page.inner_text("#swap-none")
    assert page.locator("#tag-effects-computing").count() == 0
    # The grader table's new columns: the left-biased grader is flagged in words.
    row = page.locator("#grader-table tbody tr", has_text="human00")
    assert "side bias" in row.locator("td.left-share").inner_text()
    assert row.locator("td.contradictions").inner_text().strip()
    # Readable: the new tables' text is not clipped to nothing and has contrast with the card.
    cell = page.locator("#style-coefficients tbody td").first
    assert cell.bounding_box()["width"] > 20
    colour, background_colour = cell.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e.closest('.card')).backgroundColor]"
    )
    assert colour != background_colour
    page.click("#position details summary")
    assert page.locator("#position-graders").is_visible()
    assert browser_events.console_errors == [] and browser_events.page_errors == []
    assert browser_events.csp_violations(page) == []


def test_the_browser_filters_contradictions_and_cycles(page, browser_events, demo):
    ids = rating_consistency(snapshot.load(demo))["flagged"]["contradiction"]
    flagged = {
        (task, grader)
        for task, grader in Judgment.objects.filter(pk__in=ids).values_list(
            "task_id", "grader__username"
        )
    }
    log_in(page, "rita")
    page.goto(f"/studies/{demo.slug}/results/")
    with page.expect_navigation():
        page.click("#consistency-totals a:text('browse them') >> nth=0")
    assert "consistency=contradiction" in page.url
    assert page.locator("select[name=consistency]").input_value() == "contradiction"
    summary = page.inner_text("#browse-summary")
    assert "that match are marked" in summary
    marked = page.locator("tr.matched").evaluate_all(
        "rows => rows.map(r => [r.closest('article').dataset.task,"
        " r.querySelector('td').innerText.replace('●', '').trim()])"
    )
    assert marked
    assert {(int(task), grader) for task, grader in marked} <= flagged
    # Chosen in the form instead of followed from a link.
    page.select_option("select[name=consistency]", "cycle")
    with page.expect_navigation():
        page.click("#browse-filters button[type=submit]")
    assert "consistency=cycle" in page.url
    assert browser_events.page_errors == []
