"""The grading screen's layout on the demo's longest and most code-heavy responses: at
1366x768 and 1920x1080 every control stays in view while the responses scroll in their own
panes; at 390x844 on a touch screen it stays usable. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import TIMEOUT_MS, chromium_missing_reason, log_in
from tests.conftest import REPO_ROOT, join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
expect = sync_api.expect

from annotation.ingest.study_files import StudyOptions, import_study  # noqa: E402
from annotation.models import Assignment, Judgment, LanguageModel, Response  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def warm_url_conf():
    """The live server runs in this process: load the URL conf, and the scientific stack the
    researchers' views import with it, before the first page load rather than during it
    (seconds on a busy machine, against the browser's 5 s timeout)."""
    from django.urls import get_resolver

    assert get_resolver().url_patterns


ARTIFACTS = REPO_ROOT / "test-artifacts"
DEMO_STUDY = REPO_ROOT / "fixtures" / "demo" / "study.jsonl"
# The demo's tags (load_demo) and the prompts whose responses are hardest to fit on a screen.
DEMO_TAGS = ["harmful", "untrue", "unhelpful", "refusal", "context-loss", "formatting"]
LONGEST = "ae-177"  # the longest response of the demo (4,926 characters, against 3,414)
CODE_HEAVY = "ae-465"  # 14 fenced code blocks in one response
LONGEST_PROMPT = "ae-530"  # the longest prompt (1,483 characters, hard line breaks)
DESKTOPS = [(1366, 768), (1920, 1080)]
PHONE = {"width": 390, "height": 844}

# The key sequence: A better, A acceptable, B acceptable, A "harmful", B "untrue".
KEYS = ("1", "w", "s", "z", "Shift+X")
CHOSEN = [
    'input[name="verdict"][value="left"]',
    'input[name="rating_left"][value="acceptable"]',
    'input[name="rating_right"][value="acceptable"]',
    'input[name="tags_left"][value="harmful"]',
    'input[name="tags_right"][value="untrue"]',
]


def _text(output) -> str:
    return output if isinstance(output, str) else output["text"]


@pytest.fixture
def demo_study(db, write_jsonl):
    """Three demo prompts, each with its two longest responses: three pair tasks."""
    records = {r["id"]: r for r in map(json.loads, DEMO_STUDY.read_text().splitlines())}
    chosen = []
    for prompt_id in (LONGEST, CODE_HEAVY, LONGEST_PROMPT):
        record = dict(records[prompt_id])
        longest = sorted(record["outputs"].items(), key=lambda kv: -len(_text(kv[1])))[:2]
        record["outputs"] = dict(longest)
        chosen.append(record)
    study = import_study(
        write_jsonl(chosen, name="demo-subset.jsonl"),
        "demo-layout",
        StudyOptions(overlap=1, require_ratings=True, tags=DEMO_TAGS),
    ).study
    join(study, make_user("dana", "grader"))
    return study


def grade_path(study) -> str:
    return f"/studies/{study.slug}/grade/"


def on_screen_prompt(page) -> str:
    action = page.get_attribute("#grade-form", "action")
    assignment = Assignment.objects.select_related("task__prompt").get(
        pk=int(action.rstrip("/").rsplit("/", 1)[1])
    )
    return assignment.task.prompt.external_id


# Whether an element's box lies inside the viewport and nothing covers its centre.
SHOWN = """el => {
  const r = el.getBoundingClientRect();
  const inside = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
    && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {inside, uncovered: !!hit && (el === hit || el.contains(hit) || hit.contains(el)),
          box: [Math.round(r.left), Math.round(r.top), Math.round(r.right), Math.round(r.bottom)]};
}"""


def assert_shown(page, selector: str) -> None:
    locator = page.locator(selector)
    assert locator.count() > 0, selector
    for i in range(locator.count()):
        state = locator.nth(i).evaluate(SHOWN)
        assert state["inside"] and state["uncovered"], (selector, i, state, page.viewport_size)


def chip_of(selector: str) -> str:
    return f"label.chip:has({selector})"


def test_every_control_stays_in_view_on_the_longest_and_code_heavy_responses(
    page, browser_events, live_server, demo_study
):
    model_names = list(LanguageModel.objects.values_list("name", flat=True))
    log_in(page, "dana")
    page.goto(grade_path(demo_study))
    ARTIFACTS.mkdir(exist_ok=True)
    seen = []
    for done in range(3):
        expect(page.locator("#progress-text")).to_have_text(f"{done} of 3 done")
        prompt_id = on_screen_prompt(page)
        seen.append(prompt_id)
        for width, height in DESKTOPS:
            page.set_viewport_size({"width": width, "height": height})
            # The page itself never scrolls; the responses scroll inside their panes.
            assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
            for selector in (
                "#prompt",
                "label.verdict-choice",
                "fieldset.ratings label.chip",
                "fieldset.tags label.chip",
                "#submit-vote",
                "#skip-task",
                "textarea[name=comment]",
                "#progress-text",
            ):
                assert_shown(page, selector)
            longer = page.locator(".pane-body").evaluate_all(
                "els => els.map(e => e.scrollHeight > e.clientHeight + 20)"
            )
            if prompt_id in (LONGEST, CODE_HEAVY):
                assert longer == [True, True], (prompt_id, width)
        # Each response's length is shown beside it.
        for side in ("left", "right"):
            text = page.locator(f"#pane-{side} .pane-body").inner_text()
            length = page.locator(f"#pane-{side} .length").inner_text()
            assert length.endswith(" characters") and " words · " in length
            stored = Response.objects.filter(prompt__external_id=prompt_id)
            assert any(
                length == f"{len(r.text.split()):,} words · {len(r.text):,} characters"
                for r in stored
            ), (length, text[:40])

        page.set_viewport_size({"width": 1366, "height": 768})
        for key in KEYS:
            page.keyboard.press(key)
        unchosen_background = page.locator(
            chip_of('input[name="rating_left"][value="poor"]')
        ).evaluate("el => getComputedStyle(el).backgroundColor")
        for width, height in DESKTOPS:
            page.set_viewport_size({"width": width, "height": height})
            for selector in CHOSEN:
                expect(page.locator(selector)).to_be_checked()
                assert_shown(page, chip_of(selector))
                background = page.locator(chip_of(selector)).evaluate(
                    "el => getComputedStyle(el).backgroundColor"
                )
                assert background != unchosen_background, selector
            if prompt_id in (LONGEST, CODE_HEAVY):
                name = "grading" if prompt_id == LONGEST else "grading-code"
                page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"))
        html = page.content()
        assert not [n for n in model_names if n in html]
        page.set_viewport_size({"width": 1366, "height": 768})
        page.keyboard.press("Enter")
        expect(page.locator("#progress-text")).to_have_text(f"{done + 1} of 3 done")
    assert sorted(seen) == sorted([LONGEST, CODE_HEAVY, LONGEST_PROMPT])
    assert Judgment.objects.count() == 3
    assert browser_events.console_errors == [] and browser_events.page_errors == []


def test_linked_scrolling_follows_the_other_pane_and_is_remembered(
    page, browser_events, live_server, demo_study
):
    log_in(page, "dana")
    page.goto(grade_path(demo_study))
    link = page.locator("#link-scroll")
    expect(link).not_to_be_checked()
    left, right = page.locator("#pane-left .pane-body"), page.locator("#pane-right .pane-body")

    def share(pane) -> float:
        return pane.evaluate("e => e.scrollTop / (e.scrollHeight - e.clientHeight)")

    left.evaluate("e => { e.scrollTop = (e.scrollHeight - e.clientHeight) / 2; }")
    page.wait_for_timeout(150)
    assert share(right) == 0  # not linked: the other pane stays where it was

    page.keyboard.press("l")
    expect(link).to_be_checked()
    left.evaluate("e => { e.scrollTop = e.scrollHeight - e.clientHeight; }")
    page.wait_for_function(
        "() => { const e = document.querySelector('#pane-right .pane-body');"
        " return e.scrollTop / (e.scrollHeight - e.clientHeight) > 0.98; }"
    )
    right.evaluate("e => { e.scrollTop = (e.scrollHeight - e.clientHeight) / 4; }")
    page.wait_for_function(
        "() => { const e = document.querySelector('#pane-left .pane-body');"
        " return Math.abs(e.scrollTop / (e.scrollHeight - e.clientHeight) - 0.25) < 0.02; }"
    )

    page.reload()
    expect(page.locator("#link-scroll")).to_be_checked()  # remembered in this browser
    page.keyboard.press("l")
    expect(page.locator("#link-scroll")).not_to_be_checked()
    page.reload()
    expect(page.locator("#link-scroll")).not_to_be_checked()
    assert browser_events.console_errors == [] and browser_events.page_errors == []


@pytest.fixture
def phone(browser, live_server, browser_events):
    """A touch screen of 390x844, as a phone in portrait."""
    context = browser.new_context(
        viewport=PHONE,
        base_url=live_server.url,
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: browser_events.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: browser_events.page_errors.append(str(exc)))
    yield page
    context.close()


def test_on_a_phone_every_control_is_reachable_without_key_hints(
    phone, browser_events, live_server, demo_study
):
    page = phone
    log_in(page, "dana")
    page.goto(grade_path(demo_study))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "grading-390x844.png"))

    # No keyboard hints on a touch screen.
    kbd = page.locator("kbd")
    assert kbd.count() > 10
    assert kbd.evaluate_all("els => els.filter(e => e.getClientRects().length > 0).length") == 0
    # Progress is readable: in view, whole, and not tiny.
    assert_shown(page, "#progress-text")
    progress = page.locator("#progress-text")
    assert progress.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    assert progress.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 12
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    # The verdict and Submit are pinned in view while the page scrolls.
    assert_shown(page, "#submit-vote")
    assert_shown(page, "label.verdict-choice")

    # Missing B's rating: the warning marks it and brings it into view, out from under the bar.
    page.locator(chip_of('input[name="verdict"][value="right"]')).tap()
    page.locator(chip_of('input[name="rating_left"][value="good"]')).tap()
    page.locator("#submit-vote").tap()
    missing = page.locator("fieldset.missing")
    expect(missing).to_have_count(1)
    assert missing.get_attribute("data-group") == "rating_right"
    expect(page.locator("#missing")).to_have_text("Still missing: B's rating.")
    page.wait_for_timeout(300)  # let the smooth scroll, if any, end
    assert_shown(page, "#pane-right fieldset.ratings legend")
    page.screenshot(path=str(ARTIFACTS / "grading-390x844-missing.png"))

    # Every control can be tapped.
    for selector in (
        'input[name="rating_right"][value="poor"]',
        'input[name="tags_left"][value="formatting"]',
        'input[name="tags_right"][value="refusal"]',
    ):
        page.locator(chip_of(selector)).tap()
        expect(page.locator(selector)).to_be_checked()
    assert not Judgment.objects.exists()
    page.locator("#submit-vote").tap()
    expect(page.locator("#progress-text")).to_have_text("1 of 3 done")
    judgment = Judgment.objects.get()
    assert sorted(judgment.ratings.values_list("label", flat=True)) == ["good", "poor"]
    assert browser_events.console_errors == [] and browser_events.page_errors == []
