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


@pytest.fixture(scope="module", autouse=True)
def warm_url_conf():
    """The live server runs in this process: load the URL conf, and the scientific stack the
    researchers' views import with it, before the first page load rather than during it
    (seconds on a busy machine, against the browser's 5 s timeout)."""
    from django.urls import get_resolver

    assert get_resolver().url_patterns


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
    expect(page.locator("#task #notices")).to_contain_text("Your answer was changed.")

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
    expect(page.locator("fieldset.missing")).to_have_attribute("data-group", "rating_single")
    expect(page.locator("#missing")).to_have_text("Still missing: the rating.")
    assert not Judgment.objects.exists()

    press(page, "w", "Enter")
    expect(page.locator(".all-done h2")).to_have_text("All done here")
    expect(page.locator("#progress-text")).to_have_text("1 of 1 done")
    judgment = Judgment.objects.get(grader=grader)
    assert (judgment.assignment_id, judgment.verdict) == (assignment_id, "")
    assert [(r.label, r.tags) for r in judgment.ratings.all()] == [("acceptable", [])]
    assert_blind(page, ["solo-model"])
    assert_quiet(page, browser_events)


# --- outcomes of a vote, told in the fragment that swaps in --------------------------------


def outcome(page) -> str:
    return page.get_attribute("#notice", "data-outcome")


def test_a_second_tabs_answer_is_refused_and_the_kept_answer_shown(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    second = page.context.new_page()
    second.goto(grade_path(pair_study))
    assignment_id = assignment_on_screen(page)
    assert assignment_on_screen(second) == assignment_id  # both tabs show the same task

    press(page, "1", "q", "a", "Shift+X", "Enter")
    wait_for_task(page, "1 of 12 done")
    assert outcome(page) == "stored"

    press(second, "2", "e", "d", "Enter")
    expect(second.locator("#notice")).to_be_visible()
    assert outcome(second) == "already_answered"
    notice = second.locator("#notice").inner_text()
    assert "Not stored" in notice
    assert "A is better · A: poor · B: poor (untrue)" in notice
    # The fragment carries the next task, and the answer of the first tab is what was kept.
    wait_for_task(second, "1 of 12 done")
    assert assignment_on_screen(second) != assignment_id
    assert Judgment.objects.filter(grader=alice).count() == 1
    assert_judgment(assignment_id, "left", {"left": "poor", "right": "poor"}, {"right": ["untrue"]})

    # One-shot: the next vote's fragment no longer says it.
    press(second, "3", "w", "s", "Enter")
    wait_for_task(second, "2 of 12 done")
    assert outcome(second) == "stored"
    expect(second.locator("#task")).not_to_contain_text("Not stored")
    assert_quiet(second, browser_events)


def test_a_vote_on_an_assignment_that_expired_and_went_to_others_is_not_stored(
    page, browser_events, live_server, pair_study, alice
):
    from datetime import timedelta

    from django.utils import timezone

    from annotation import handout

    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    assignment_id = assignment_on_screen(page)
    task_id = Assignment.objects.get(pk=assignment_id).task_id
    Assignment.objects.filter(pk=assignment_id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    handout.release_expired(pair_study)
    for name in ("bob", "carol"):  # overlap 2: both slots go to other graders
        other = make_user(name, "grader")
        join(pair_study, other)
        Assignment.objects.create(task_id=task_id, grader=other)
    Task.objects.filter(pk=task_id).update(slots_taken=2)

    press(page, "1", "e", "s", "Enter")
    expect(page.locator("#notice")).to_be_visible()
    assert outcome(page) == "timed_out"
    expect(page.locator("#notice")).to_contain_text("Not stored")
    expect(page.locator("#notice")).to_contain_text("went to another grader")
    assert assignment_on_screen(page) != assignment_id
    assert not Judgment.objects.filter(grader=alice).exists()
    assert Task.objects.get(pk=task_id).slots_taken == 2
    # The 409 swapped in like any answer; htmx reported no error.
    assert not [e for e in browser_events.console_errors if "409" not in e]
    assert browser_events.page_errors == []


def test_notices_are_gone_once_the_next_task_swaps_in(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    skipped = assignment_on_screen(page)
    press(page, "k")
    wait_for_task(page, "0 of 11 done")
    assert outcome(page) == "skipped"

    # u right after a skip brings the task back.
    press(page, "u")
    wait_for_task(page, "0 of 12 done")
    assert assignment_on_screen(page) == skipped
    assert outcome(page) == "unskipped"
    expect(page.locator("#task")).not_to_contain_text("Skipped.")

    press(page, "1", "e", "s", "Enter")
    wait_for_task(page, "1 of 12 done")
    assert outcome(page) == "stored"
    expect(page.locator("#notices")).not_to_contain_text("back")
    assert_judgment(skipped, "left", {"left": "good", "right": "acceptable"}, {})

    press(page, "2", "e", "s", "Enter")
    wait_for_task(page, "2 of 12 done")
    assert page.locator("#notices .notice").count() == 1
    assert_quiet(page, browser_events)


def test_the_incomplete_warning_names_what_is_missing_and_nothing_else(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    press(page, "1", "q", "Enter")
    missing = page.locator("fieldset.missing")
    expect(missing).to_have_count(1)
    assert missing.get_attribute("data-group") == "rating_right"
    expect(page.locator("#missing")).to_have_text("Still missing: B's rating.")
    assert not Judgment.objects.exists()

    # Clicking Submit says the same, without the browser's own bubble or a request.
    page.click("#submit-vote")
    expect(missing).to_have_count(1)
    assert not Judgment.objects.exists()

    press(page, "d")
    expect(page.locator("fieldset.missing")).to_have_count(0)
    expect(page.locator("#missing")).to_have_text("")
    press(page, "Enter")
    wait_for_task(page, "1 of 12 done")

    press(page, "Enter")  # nothing chosen: all three are named
    expect(page.locator("fieldset.missing")).to_have_count(3)
    expect(page.locator("#missing")).to_have_text(
        "Still missing: A's rating, B's rating, the verdict."
    )
    assert_quiet(page, browser_events)


def test_u_works_from_the_all_done_screen(page, browser_events, live_server, write_jsonl, db):
    record = {"id": "s1", "prompt": "Name a prime.", "outputs": {"solo-model": "Seven."}}
    study = import_study(
        write_jsonl([record], name="single.jsonl"),
        "single",
        StudyOptions(protocol="single", overlap=1),
    ).study
    join(study, make_user("sam", "grader"))
    log_in(page, "sam")
    page.goto(grade_path(study))
    press(page, "e", "Enter")
    expect(page.locator(".all-done h2")).to_have_text("All done here")
    with page.expect_navigation():
        press(page, "u")
    assert page.url.endswith(f"{grade_path(study)}last/")
    expect(page.locator('input[name="rating_single"][value="good"]')).to_be_checked()
    press(page, "q")
    with page.expect_navigation():
        press(page, "Enter")
    expect(page.locator("#notices")).to_contain_text("Your answer was changed.")
    assert [r.label for r in Judgment.objects.get().ratings.all()] == ["poor"]
    assert_quiet(page, browser_events)


def test_the_history_reopens_any_answer_and_undoes_a_skip(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    first = assignment_on_screen(page)
    press(page, "1", "e", "s", "Enter")
    wait_for_task(page, "1 of 12 done")
    skipped = assignment_on_screen(page)
    press(page, "k")
    wait_for_task(page, "1 of 11 done")
    press(page, "2", "q", "d", "Enter")
    wait_for_task(page, "2 of 11 done")

    with page.expect_navigation():
        press(page, "h")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("Skipped")
    expect(rows.nth(2)).to_contain_text("A is better · A: good · B: acceptable")

    # Reopen the oldest answer, change it, and land back on the list.
    with page.expect_navigation():
        rows.nth(2).get_by_role("link", name="Change").click()
    expect(page.locator('input[name="verdict"][value="left"]')).to_be_checked()
    press(page, "4", "q", "a", "Shift+Z")
    with page.expect_navigation():
        press(page, "Enter")
    assert "/grade/history/" in page.url
    expect(page.locator(".messages")).to_contain_text("Your answer was changed.")
    expect(page.locator("#history tbody tr").nth(2)).to_contain_text("Both bad")
    assert_judgment(first, "both_bad", {"left": "poor", "right": "poor"}, {"right": ["harmful"]})

    # Undo the skip: the grading screen shows that task.
    with page.expect_navigation():
        page.locator("#history tbody tr").nth(1).get_by_role("button", name="Undo skip").click()
    assert page.url.endswith(grade_path(pair_study))
    assert assignment_on_screen(page) == skipped
    expect(page.locator("#notices")).to_contain_text("The task you skipped is back.")
    assert_quiet(page, browser_events)


def test_the_comment_box_has_a_key_and_escape_leaves_it(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    assignment_id = assignment_on_screen(page)
    press(page, "1", "e", "s", "/")
    expect(page.locator("textarea[name=comment]")).to_be_focused()
    page.keyboard.type("wordy but right; ask k")  # letters typed here are text, not keys
    expect(page.locator('input[name="rating_left"][value="good"]')).to_be_checked()
    assert assignment_on_screen(page) == assignment_id
    press(page, "Escape")
    expect(page.locator("textarea[name=comment]")).not_to_be_focused()
    press(page, "/", "Control+Enter")
    wait_for_task(page, "1 of 12 done")
    assert Judgment.objects.get(assignment_id=assignment_id).comment == "wordy but right; ask k"
    assert_quiet(page, browser_events)


def test_the_instructions_list_every_key_and_escape_closes_them(
    page, browser_events, live_server, pair_study, alice
):
    log_in(page, "alice")
    page.goto(grade_path(pair_study))
    body = page.locator("#instructions .instructions-body")
    expect(body).to_be_hidden()
    press(page, "?")
    expect(body).to_be_visible()
    text = body.inner_text()
    for expected in (
        "Pick the better answer.",
        "1 2 3 4",
        "q w e",
        "Rate A: poor · acceptable · good",
        "a s d",
        "Rate B: poor · acceptable · good",
        "z x c",
        "Shift+Z Shift+X Shift+C",
        "Ctrl+Enter",
    ):
        assert expected in text, expected
    for key in ("/", "Enter", "k", "u", "h", "l", "?", "Esc"):
        assert body.locator("kbd", has_text=re.compile(rf"^{re.escape(key)}$")).count() >= 1, key
    press(page, "Escape")
    expect(body).to_be_hidden()
    assert_quiet(page, browser_events)


def test_hard_wrapped_prompt_text_flows_and_lyrics_keep_their_lines(
    page, browser_events, live_server, write_jsonl, db
):
    import textwrap

    wrapped = textwrap.fill(
        "Please answer the following question based on the information provided in the "
        "article. Development studies is an interdisciplinary branch of social science that "
        "has grown in popularity as a subject of study since the early 1990s.",
        72,
    )
    lyrics = "In the shadowed valley, I walk alone,\nThe cold wind whispers, through the stone."
    record = {"id": "w1", "prompt": wrapped, "outputs": {"m1": lyrics, "m2": "Fine."}}
    study = import_study(write_jsonl([record], name="wrap.jsonl"), "wrap").study
    join(study, make_user("wendy", "grader"))
    log_in(page, "wendy")
    page.goto(grade_path(study))
    assert page.locator("#prompt br").count() == 0
    assert "provided in the article. Development" in page.locator("#prompt").inner_text()
    lyrics_pane = page.locator(".pane-body").filter(has_text="shadowed valley")
    assert lyrics_pane.locator("br").count() == 1
    assert_quiet(page, browser_events)
