"""The hand-out's stopping rule in Chromium: when an adaptive study's vote budget is spent,
the grader's screen says the study has stopped (in view, with no task to answer), and the
researcher's dashboard shows the schedule, the budget used and why it stopped."""

from __future__ import annotations

import pytest

from tests.browser.conftest import chromium_missing_reason, log_in
from tests.conftest import join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from playwright.sync_api import expect  # noqa: E402

from annotation import schedule  # noqa: E402
from annotation.models import Study  # noqa: E402
from tests.annotation.test_handout_adaptive import make_study, vote_for  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture
def spent(transactional_db, write_jsonl):
    study = make_study(
        write_jsonl,
        "spent",
        schedule=Study.Schedule.ADAPTIVE,
        vote_budget=4,
        stop_when_separated=True,
        repeat_fraction=0.25,
    )
    grader = make_user("gina", "grader")
    researcher = make_user("rita", "researcher")
    join(study, grader)
    join(study, researcher)
    for winner in ("m1", "m1", "m2", "m1"):
        vote_for(study, grader, winner)
    schedule.refresh(study)  # what the background job does every few votes
    study.refresh_from_db()
    assert study.schedule_stop == Study.StopReason.BUDGET
    return study


def test_the_grader_is_told_in_view_and_the_dashboard_says_why(page, browser_events, spent):
    log_in(page, "gina")
    page.goto(f"/studies/{spent.slug}/grade/")
    notice = page.locator(".study-stopped")
    expect(notice).to_be_in_viewport()
    assert "stopped collecting answers: vote budget reached" in notice.inner_text()
    assert page.locator("#grade-form").count() == 0  # nothing left to answer
    page.context.clear_cookies()

    log_in(page, "rita")
    page.goto(f"/studies/{spent.slug}/results/")
    state = page.locator("#handout-state")
    assert state.is_visible()
    text = state.inner_text()
    assert "adaptive schedule" in text
    assert "4 of a budget of 4 votes" in text
    assert "stops when the rank intervals separate" in text
    assert "25% of each grader's pairs re-served with the sides swapped" in text
    assert "stopped: vote budget reached" in text
    assert browser_events.console_errors == [] and browser_events.page_errors == []
    assert browser_events.csp_violations(page) == []
