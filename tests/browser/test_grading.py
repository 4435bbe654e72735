"""The grading screen in a real browser: keyboard-only grading, htmx swaps, blinding,
hostile model outputs under the CSP, skip and "change my last answer", single responses."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import chromium_missing_reason, log_in
from tests.conftest import REPO_ROOT, join, make_user

if chromium_missing_reason():
    pytest.skip(chromium_missing_reason(), allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
expect = sync_api.expect

from annotation.handout import side_to_response, stored_verdict  # noqa: E402
from annotation.ingest.study_files import StudyOptions, import_study  # noqa: E402
from annotation.models import Assignment, Judgment, LanguageModel, Task  # noqa: E402

pytestmark = pytest.mark.browser

ARTIFACTS = REPO_ROOT / "test-artifacts"


@pytest.fixture
def alice(pair_study):
    user = make_user("alice", "grader")
    join(pair_study, user)
    return user


def grade_path(study) -> str:
    return f"/studies/{study.slug}/grade/"


def assignment_on_screen(page) -> int:
    action = page.get_attribute("#grade-form", "action")
    return int(re.search(r"/grade/(\d+)/$", action).group(1))


def wait_for_task(page, progress_text: str) -> None:
    """Wait until htmx has swapped in the next task and wired it up.

    htmx 2 processes swapped-in content when it settles (20 ms after the swap), so a
    submit inside that window is a plain form POST and reloads the page. No person
    answers that fast; the test waits as they would.
    """
    expect(page.locator("#progress-text")).to_have_text(progress_text)
    expect(page.locator("#task")).not_to_have_class(re.compile(r"\bhtmx-(added|settling)\b"))


def press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def assert_blind(page, model_names) -> None:
    html = page.content()
    leaked = [name for name in model_names if name in html]
    assert not leaked, f"model names on the grader's screen: {leaked}"


def assert_quiet(page, events) -> None:
    assert events.dialogs == []
    assert events.page_errors == []
    assert events.console_errors == []
    assert events.csp_violations(page) == []


def assert_judgment(assignment_id: int, verdict: str, ratings: dict, tags: dict) -> None:
    """The stored judgment matches what was chosen on screen, mapped back to responses."""
    assignment = Assignment.objects.select_related("task").get(pk=assignment_id)
    assert assignment.status == Assignment.Status.DONE
    judgment = Judgment.objects.get(assignment=assignment)
    assert judgment.verdict == stored_verdict(assignment, verdict)
    stored = {r.response_id: (r.label, r.tags) for r in judgment.ratings.all()}
    expected = {
        response_id: (ratings[side], tags.get(side, []))
        for side, response_id in side_to_response(assignment).items()
    }
    assert stored == expected


# Keys pressed on each task, and what they mean: screen verdict, rating and tags per pane.
THREE_TASKS = [
    (("1", "e", "s"), "left", {"left": "good", "right": "acceptable"}, {}),
    (("2", "q", "d", "z"), "right", {"left": "poor", "right": "good"}, {"left": ["harmful"]}),
    (
        ("3", "w", "a", "Shift+X"),
        "tie",
        {"left": "acceptable", "right": "poor"},
        {"right": ["untrue"]},
    ),
]


def test_it_grades_three_tasks_by_keyboard_without_reloading(
    page, browser_events, live_server, pair_study, alice
):
    model_names = list(
        LanguageModel.objects.filter(study=pair_study).values_list("name", flat=True)
    )
    assert len(model_names) == 3
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    progress = page.locator("#progress-text")
    expect(progress).to_have_text("0 of 12 done")
    assert page.locator(".pane").count() == 2
    assert_blind(page, model_names)
    page.evaluate("window.__marker = 1")

    graded = []
    for done, (keys, verdict, ratings, tags) in enumerate(THREE_TASKS, start=1):
        assignment_id = assignment_on_screen(page)
        press(page, *keys)
        expect(page.locator(f'input[name="verdict"][value="{verdict}"]')).to_be_checked()
        for side, label in ratings.items():
            expect(page.locator(f'input[name="rating_{side}"][value="{label}"]')).to_be_checked()
        if done == 1:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "grading-screen.png"), full_page=True)
        press(page, "Enter")
        wait_for_task(page, f"{done} of 12 done")
        assert assignment_on_screen(page) != assignment_id
        assert page.evaluate("window.__marker") == 1, "a full page load happened between tasks"
        assert_blind(page, model_names)
        graded.append((assignment_id, verdict, ratings, tags))

    assert Judgment.objects.filter(grader=alice).count() == 3
    for assignment_id, verdict, ratings, tags in graded:
        assert_judgment(assignment_id, verdict, ratings, tags)
    assert_quiet(page, browser_events)


PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="window.__xss=1">',
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<svg onload=alert(1)>",
    '<svg onload="window.__xss=1">',
    '<iframe src="javascript:alert(1)">',
    "<div><b>unclosed <script",
]
TABLE_AND_CODE = (
    "| name | value |\n|------|-------|\n| one  | 1     |\n\n"
    '```python\nprint("<script>alert(1)</script>")\n```\n'
)


def test_it_shows_hostile_outputs_as_text_and_runs_none_of_them(
    page, browser_events, live_server, write_jsonl, db
):
    record = {
        "id": "x1",
        "prompt": '<img src=x onerror="window.__xss=1"> Which answer is safer?',
        "outputs": {
            "xss-model-one": "\n\n".join(PAYLOADS),
            "xss-model-two": TABLE_AND_CODE,
        },
    }
    study = import_study(
        write_jsonl([record], name="xss.jsonl"), "xss", StudyOptions(require_ratings=True)
    ).study
    join(study, make_user("mallory-reader", "grader"))
    log_in(page, "mallory-reader")
    page.goto(grade_path(study))
    expect(page.locator("#progress-text")).to_have_text("0 of 1 done")

    payload_pane = page.locator(".pane-body").filter(has_text="unclosed")
    text = payload_pane.inner_text()
    for payload in PAYLOADS:
        assert payload in text, f"{payload!r} is not shown as text"
    assert '<img src=x onerror="window.__xss=1">' in page.locator("#prompt").inner_text()
    dangerous = (
        "script, img, svg, iframe, object, embed, [onerror], [onload], a[href^='javascript']"
    )
    assert page.locator("#task").locator(dangerous).count() == 0
    assert page.locator(".pane-body table").count() == 1
    assert page.locator(".pane-body pre code").count() == 1
    assert "<script>alert(1)</script>" in page.locator(".pane-body pre").inner_text()
    assert_blind(page, ["xss-model-one", "xss-model-two"])

    # Our own scripts run under the CSP: htmx loaded and the keyboard grades.
    assert page.evaluate("typeof window.htmx") == "object"
    press(page, "1", "e", "s", "Enter")
    expect(page.locator(".all-done h2")).to_have_text("All done here")
    assert Judgment.objects.filter(task__study=study).count() == 1

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert browser_events.dialogs == []
    assert not [e for e in browser_events.console_errors if "Content Security Policy" in e]
    assert_quiet(page, browser_events)


def test_it_skips_with_k_and_changes_the_last_answer_with_u(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    skipped = assignment_on_screen(page)
    press(page, "k")
    expect(page.locator("#grade-form")).not_to_have_attribute(
        "action", re.compile(rf"/grade/{skipped}/$")
    )
    assert Assignment.objects.get(pk=skipped).status == Assignment.Status.SKIPPED
    # The skipped task will not come back to this grader, so it leaves their total.
    wait_for_task(page, "0 of 11 done")

    voted = assignment_on_screen(page)
    press(page, "2", "q", "d", "Enter")
    expect(page.locator("#progress-text")).to_have_text("1 of 11 done")
    assert_judgment(voted, "right", {"left": "poor", "right": "good"}, {})

    with page.expect_navigation():
        press(page, "u")
    assert page.url.endswith(f"{grade_path(pair_study)}last/")
    expect(page.locator('input[name="verdict"][value="right"]')).to_be_checked()
    expect(page.locator('input[name="rating_right"][value="good"]')).to_be_checked()
    press(page, "1", "e", "x")
    with page.expect_navigation():
        press(page, "Enter")
    assert page.url.endswith(grade_path(pair_study))
    expect(page.locator(".messages")).to_contain_text("Your last answer was changed.")

    assert Judgment.objects.filter(grader=alice).count() == 1
    assert_judgment(voted, "left", {"left": "good", "right": "good"}, {"left": ["untrue"]})
    # The change did not hand out or consume anything.
    assert Task.objects.get(assignments__pk=voted).slots_taken == 1
    assert_quiet(page, browser_events)


def test_skipping_disables_the_buttons_and_logs_no_error(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    skipped = assignment_on_screen(page)

    def hold_skip(route):  # long enough to look at the page while the skip is in flight
        page.wait_for_timeout(300)
        route.continue_()

    page.route(re.compile(r"/skip/$"), hold_skip)
    press(page, "k")
    disabled = page.locator("#submit-vote").is_disabled()
    expect(page.locator("#grade-form")).not_to_have_attribute(
        "action", re.compile(rf"/grade/{skipped}/$")
    )
    assert disabled, "Submit stays enabled while the skip is on its way"
    assert browser_events.console_errors == []


def test_it_rates_a_single_response_and_says_all_done(
    page, browser_events, live_server, write_jsonl, db
):
    record = {"id": "s1", "prompt": "Name a prime.", "outputs": {"solo-model": "Seven."}}
    study = import_study(
        write_jsonl([record], name="single.jsonl"),
        "single",
        StudyOptions(protocol="single", overlap=1),
    ).study
    grader = make_user("sam", "grader")
    join(study, grader)
    log_in(page, "sam")
    page.goto(grade_path(study))
    assert page.locator(".pane").count() == 1
    assert page.locator('input[name="verdict"]').count() == 0
    assignment_id = assignment_on_screen(page)

    press(page, "Enter")  # incomplete: nothing is sent
    expect(page.locator("#grade-form")).to_have_class(re.compile("incomplete"))
    assert not Judgment.objects.exists()

    press(page, "w", "Enter")
    expect(page.locator(".all-done h2")).to_have_text("All done here")
    expect(page.locator("#progress-text")).to_have_text("1 of 1 done")
    judgment = Judgment.objects.get(grader=grader)
    assert (judgment.assignment_id, judgment.verdict) == (assignment_id, "")
    assert [(r.label, r.tags) for r in judgment.ratings.all()] == [("acceptable", [])]
    assert_blind(page, ["solo-model"])
    assert_quiet(page, browser_events)
