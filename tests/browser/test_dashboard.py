"""The researchers' dashboard in Chromium: it renders its charts, compares two models with
htmx, and downloads an export."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.browser.conftest import chromium_missing_reason, log_in
from tests.conftest import REPO_ROOT, better_side, grade_until_done, join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from annotation.handout import Vote  # noqa: E402
from annotation.models import Judgment  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def graded(pair_study):
    users = [make_user(f"d{i}", "grader") for i in range(2)]
    join(pair_study, *users)
    for user in users:
        grade_until_done(
            pair_study,
            user,
            lambda a: Vote(verdict=better_side(a), ratings={"left": "good", "right": "poor"}),
        )
    researcher = make_user("rita", "researcher")
    join(pair_study, researcher)
    # Compute the results here, once, so the browser reads them from the cache rather than
    # racing the 5 s timeout on a busy machine.
    from django.test import Client

    client = Client()
    client.force_login(researcher)
    assert client.get(f"/studies/{pair_study.slug}/results/").status_code == 200
    for name in ("ratings", "grr", "winrate"):
        assert (
            client.get(f"/studies/{pair_study.slug}/results/charts/{name}.svg").status_code == 200
        )
    return pair_study


def test_a_researcher_reads_the_dashboard_and_downloads_an_export(page, browser_events, graded):
    log_in(page, "rita")
    page.goto(f"/studies/{graded.slug}/results/")
    rows = page.locator("#leaderboard-table tbody tr")
    assert rows.count() == 3
    assert rows.first.locator("td.model").inner_text() == "alpha-model"
    # The three charts load as real SVG images.
    for name in ("ratings", "grr", "winrate"):
        image = page.locator(f"img[src$='/charts/{name}.svg']")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    page.screenshot(path=str(_artifacts() / "dashboard.png"), full_page=True)

    # Compare two models: htmx swaps the result in.
    page.select_option("select[name=model_a]", "alpha-model")
    page.select_option("select[name=model_b]", "gamma-model")
    page.select_option("select[name=measure]", "win_rate")
    page.click("#compare-section button[type=submit]")
    page.wait_for_selector("#compare .compare-result")
    assert "on 4 shared prompts" in page.inner_text("#compare")

    # Download the CSV export through the page's link.
    with page.expect_download() as download_info:
        page.click("ul.exports a:text-is('csv')")
    download = download_info.value
    assert download.suggested_filename == f"{graded.slug}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert len(rows) == Judgment.objects.count() == 24
    assert browser_events.console_errors == [] and browser_events.page_errors == []
    assert browser_events.csp_violations(page) == []


def _artifacts():
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
