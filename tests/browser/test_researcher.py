"""The researcher's screens in Chromium: home, the judgment browser (filters, drill-down from
the dashboard), chart downloads, the 403/404 pages, and metric jobs (refused at once, polling
that stops when the job ends). Saves a screenshot of the judgment browser in test-artifacts/.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.conftest import chromium_missing_reason, log_in
from tests.conftest import PASSWORD, REPO_ROOT, grade_until_done, join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")

from annotation.handout import Vote  # noqa: E402
from annotation.models import MetricJob, Study, Task, User  # noqa: E402
from tests.annotation.test_browse import build_browse_study  # noqa: E402

pytestmark = pytest.mark.browser

SMALL_SCREEN = {"width": 1366, "height": 768}
# These pages compute results on first load (the demo's leaderboard, agreement, slices): more
# than the shared 5 s when the machine is busy.
PATIENCE_MS = 30_000


@pytest.fixture
def page(page):
    page.set_default_timeout(PATIENCE_MS)
    page.set_default_navigation_timeout(PATIENCE_MS)
    return page


def artifacts():
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


def warm(study, username):
    """Compute the dashboard's results once, here, so that the browser's page loads read them
    from the cache instead of racing a timeout on a busy machine."""
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=username))
    assert client.get(f"/studies/{study.slug}/results/").status_code == 200
    for name in ("ratings", "grr", "winrate"):
        assert client.get(f"/studies/{study.slug}/results/charts/{name}.svg").status_code == 200


def quiet(page, events):
    assert events.console_errors == [], (events.console_errors, events.csp_violations(page))
    assert events.page_errors == [], events.page_errors
    assert events.csp_violations(page) == []


@pytest.fixture
def browsable(transactional_db, write_jsonl):
    study = build_browse_study(write_jsonl)
    rita = make_user("rita", "researcher")
    join(study, rita)
    warm(study, "rita")
    return study


@pytest.fixture
def demo(transactional_db):
    """The demo study (real AlpacaEval prompts and outputs, an AI judge's verdicts), with
    two human graders' votes: "grader" prefers the longer answer and tags a very short one
    unhelpful; "grader2" agrees, except that it calls pairs of similar length a tie."""
    call_command("load_demo", stdout=io.StringIO())
    study = Study.objects.get(slug="alpacaeval-demo")

    def vote(tie_band):
        def vote_for(a):
            left, right = (
                (a.task.response_a, a.task.response_b)
                if a.a_on_left
                else (a.task.response_b, a.task.response_a)
            )
            ratio = len(left.text) / max(len(right.text), 1)
            if tie_band and 1 / tie_band < ratio < tie_band:
                verdict = "tie"
            else:
                verdict = "left" if ratio >= 1 else "right"
            short = "left" if ratio < 1 else "right"
            tags = {short: ["unhelpful"]} if min(len(left.text), len(right.text)) < 300 else {}
            rated = {"left": "good", "right": "acceptable"}
            if verdict == "right":
                rated = {"left": "acceptable", "right": "good"}
            comment = "Shorter one skips the second half of the question." if tags else ""
            return Vote(verdict=verdict, ratings=rated, tags=tags, comment=comment, seconds=42.0)

        return vote_for

    # Both graders judge every pair of the first 12 prompts: the other tasks are held full
    # while they grade, then opened again.
    first = list(study.prompts.order_by("pk").values_list("pk", flat=True)[:12])
    others = Task.objects.filter(study=study).exclude(prompt_id__in=first)
    held = list(others.values_list("pk", flat=True))
    others.update(slots_taken=study.overlap)
    for username, band in (("grader", None), ("grader2", 1.3)):
        grade_until_done(study, User.objects.get(username=username), vote(band))
    Task.objects.filter(pk__in=held).update(slots_taken=0)
    warm(study, "researcher")
    return study


def test_home_shows_overall_progress_and_results_first(page, browser_events, browsable):
    log_in(page, "rita")
    card = page.locator(f"li.study[data-study='{browsable.slug}']")
    assert (
        "Study as a whole, all graders: 24 of 24 judgments (100.0%) · complete" in card.inner_text()
    )
    first = card.locator("p.actions a").first
    assert first.inner_text() == "Open results"
    assert card.locator("progress.overall-progress").is_visible()
    with page.expect_navigation():
        first.click()
    assert page.url.endswith(f"/studies/{browsable.slug}/results/")
    quiet(page, browser_events)


def test_the_browser_filters_and_the_dashboard_drills_down(page, browser_events, demo):
    log_in(page, "researcher", "researcher-demo-pass")
    page.set_viewport_size(SMALL_SCREEN)
    page.goto(f"/studies/{demo.slug}/results/")

    # Drill down from a cell of the win-rate matrix into the battles it counts.
    page.click("details.drill-matrix summary")
    cell = page.locator("#winrate-table tbody tr").first.locator("td a.drill").first
    counted = int(re.search(r"\((\d+)\)", cell.inner_text()).group(1))
    with page.expect_navigation():
        cell.click()
    assert "/results/judgments/?model=" in page.url and "&opponent=" in page.url
    marked = page.locator("table.answers tr.matched")
    assert marked.count() == counted
    quiet(page, browser_events)

    # Filter on the page: the two graders disagree on the verdict.
    page.goto(f"/studies/{demo.slug}/results/judgments/")
    page.select_option("select[name=disagree]", "verdict")
    with page.expect_navigation():
        page.click("#browse-filters button[type=submit]")
    assert "disagree=verdict" in page.url
    items = page.locator("article.item")
    assert items.count() > 0
    for i in range(items.count()):
        assert items.nth(i).locator(".badge.warn", has_text="graders disagree").count() == 1
    # Both responses side by side, every grader's answer with the comment.
    first = items.first
    assert first.locator("section.response").count() == 2
    boxes = [first.locator("section.response").nth(i).bounding_box() for i in range(2)]
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[0]["x"] < boxes[1]["x"]
    graders = first.locator("table.answers tbody td:first-child").all_inner_texts()
    assert any(g.endswith("grader") for g in graders) and any("grader2" in g for g in graders)
    # The AI judge's verdict stands beside the humans' where it judged the pair too.
    assert page.locator("table.answers tr.judge", has_text="model judge").count() > 0

    # A tag filter, then a drill-down from the leaderboard's tag rate.
    page.goto(f"/studies/{demo.slug}/results/judgments/?tag=unhelpful")
    assert page.locator("article.item").count() > 0
    assert page.locator("table.answers tr.matched .tag", has_text="unhelpful").count() > 0

    page.goto(f"/studies/{demo.slug}/results/judgments/?disagree=verdict")
    page.screenshot(path=str(artifacts() / "judgment-browser.png"), full_page=False)
    page.screenshot(path=str(artifacts() / "judgment-browser-full.png"), full_page=True)
    quiet(page, browser_events)


def test_charts_download_as_svg_png_and_pdf_and_read_at_the_default_size(
    page, browser_events, demo
):
    log_in(page, "researcher", "researcher-demo-pass")
    page.set_viewport_size(SMALL_SCREEN)
    page.goto(f"/studies/{demo.slug}/results/")
    for name in ("ratings", "grr", "winrate"):
        image = page.locator(f"img[src$='/charts/{name}.svg']")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
        figure = image.locator("xpath=..")
        for label, magic, extension in (
            ("SVG", b"<?xml", "svg"),
            ("PNG", b"\x89PNG", "png"),
            ("PDF", b"%PDF", "pdf"),
        ):
            with page.expect_download() as info:
                figure.locator("a", has_text=label).click()
            download = info.value
            assert download.suggested_filename == f"{demo.slug}-{name}.{extension}"
            assert Path(download.path()).read_bytes()[:8].startswith(magic)
        # Readable as shown: the smallest text on the chart, at the size the page draws it.
        smallest = page.evaluate(
            """async img => {
                // Read the SVG as text (a parsed copy would apply its styles under the CSP).
                const text = await (await fetch(img.src)).text();
                const width = parseFloat(text.match(/viewBox="0 0 ([\\d.]+)/)[1]);
                const sizes = [...text.matchAll(/font-size: ([\\d.]+)px/g)].map(m => parseFloat(m[1]));
                return Math.min(...sizes) * img.clientWidth / width;
            }""",
            image.element_handle(),
        )
        assert smallest >= 11, (name, smallest)
    page.screenshot(path=str(artifacts() / "dashboard-researcher.png"), full_page=True)
    quiet(page, browser_events)

    # The win-rate matrix opened on its own, under its own strict CSP, loads nothing blocked.
    page.goto(f"/studies/{demo.slug}/results/charts/winrate.svg")
    assert page.locator("svg text", has_text="gpt4_1106_preview").count() >= 1
    assert browser_events.console_errors == []


def test_403_and_404_pages_use_the_sites_layout(page, browser_events, browsable):
    grader = make_user("gina", "grader")
    join(browsable, grader)
    log_in(page, "gina")
    response = page.goto(f"/studies/{browsable.slug}/results/")
    assert response.status == 403
    assert page.locator("header.topbar").is_visible()
    assert page.locator(".error-page h1").inner_text() == "You may not open this page"
    # Styled by the site's CSS, not the browser's default page.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
    response = page.goto("/studies/no-such-study/grade/")
    assert response.status == 404
    assert page.locator(".error-page h1").inner_text() == "There is nothing here"
    with page.expect_navigation():
        page.click(".error-page a.button")
    assert page.url.endswith("/")


def test_a_metric_job_is_refused_at_once_and_the_page_stops_polling_when_it_ends(
    page, browser_events, browsable
):
    log_in(page, "rita", PASSWORD)
    page.goto(f"/studies/{browsable.slug}/results/#metric-jobs-section")
    form = page.locator("#metric-job-form")
    form.locator("select[name=metric]").select_option("reward")
    form.locator("input[name=model]").fill("/no/such/model")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#jobs p.error")
    assert (
        page.inner_text("#jobs p.error")
        == "Not started: reward: model path /no/such/model does not exist on the server"
    )
    assert not MetricJob.objects.exists()

    form.locator("select[name=metric]").select_option("length")
    form.locator("input[name=model]").fill("")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#jobs tr[data-status=queued]")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if "/metric-jobs/" in r.url else None)
    page.wait_for_timeout(2500)
    assert polls, "the page does not poll a queued job"
    # A worker runs the job; the page shows it done and stops asking.
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    page.wait_for_selector("#jobs tr[data-status=done]", timeout=10_000)
    assert "12/12" in page.inner_text("#jobs")
    settled = len(polls)
    page.wait_for_timeout(5000)
    assert len(polls) == settled, "the page kept polling after the job ended"
    # The refusal is a 422, which Chromium logs as a failed resource; nothing else may be.
    refused = "the server responded with a status of 422"
    assert all(refused in e for e in browser_events.console_errors), browser_events.console_errors
    assert browser_events.page_errors == [] and browser_events.csp_violations(page) == []
