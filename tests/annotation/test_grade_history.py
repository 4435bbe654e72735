"""A grader's own answers: a paged list, reopening and changing any of them, undoing a skip."""

import pytest
from django.urls import reverse

from annotation import handout
from annotation.handout import Vote
from annotation.models import Assignment, Judgment, LanguageModel, Task
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(pair_study):
    user = make_user("alice", "grader")
    join(pair_study, user)
    return user


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def history_url(study, page=None):
    url = reverse("grade_history", args=[study.slug])
    return f"{url}?page={page}" if page else url


def answer_tasks(study, user, n, verdict="left"):
    judgments = []
    for _ in range(n):
        assignment = handout.next_assignment(user, study)
        judgment, _ = handout.record_vote(
            assignment.pk,
            user,
            Vote(verdict=verdict, ratings={"left": "good", "right": "poor"}),
        )
        judgments.append(judgment)
    return judgments


@pytest.fixture
def many_answers(write_jsonl, db):
    """A study of 30 pair tasks (overlap 1), all answered by alice, plus one she skipped."""
    from annotation.ingest.study_files import StudyOptions, import_study

    records = [
        {"id": f"p{i}", "prompt": f"Prompt number {i}?", "outputs": {"m-one": "x", "m-two": "y"}}
        for i in range(31)
    ]
    study = import_study(
        write_jsonl(records, name="many.jsonl"), "many", StudyOptions(overlap=1)
    ).study
    user = make_user("alice", "grader")
    join(study, user)
    skipped = handout.next_assignment(user, study)
    handout.skip(skipped.pk, user)
    answer_tasks(study, user, 30)
    return study, user, skipped


def test_it_lists_answers_and_skips_newest_first_in_pages(client, many_answers):
    study, user, skipped = many_answers
    client.force_login(user)
    first = client.get(history_url(study))
    assert first.status_code == 200
    page = first.content.decode()
    assert page.count("<tr ") == 25 and "Page 1 of 2" in page
    newest = Judgment.objects.filter(grader=user).latest("pk")
    assert page.index(f'data-assignment="{newest.assignment_id}"') < page.index("</tbody>")
    assert reverse("grade_change", args=[study.slug, newest.pk]) in page
    second = client.get(history_url(study, 2)).content.decode()
    assert second.count("<tr ") == 6  # 5 answers and the skip, oldest last
    assert "Skipped" in second
    assert reverse("grade_unskip", args=[study.slug, skipped.pk]) in second
    for name in ("m-one", "m-two"):
        assert name not in page and name not in second


def test_the_history_context_holds_no_model_names(client, many_answers):
    study, user, _ = many_answers
    client.force_login(user)
    response = client.get(history_url(study))
    flat = repr(response.context["rows"])
    for name in LanguageModel.objects.values_list("name", flat=True):
        assert name not in flat


def test_it_shows_only_the_graders_own_answers(client, pair_study, alice):
    answer_tasks(pair_study, alice, 2)
    bob = make_user("bob", "grader")
    join(pair_study, bob)
    client.force_login(bob)
    page = client.get(history_url(pair_study)).content.decode()
    assert "<tbody>" not in page and "not answered or skipped anything" in page


def test_any_earlier_answer_can_be_reopened_and_changed(logged_in, pair_study, alice):
    oldest, *_ = answer_tasks(pair_study, alice, 3)
    url = reverse("grade_change", args=[pair_study.slug, oldest.pk])
    page = logged_in.get(url)
    assert page.status_code == 200
    assert 'value="left" data-key="1" checked' in page.content.decode()
    back = history_url(pair_study, 1)
    response = logged_in.post(
        url, {"verdict": "tie", "rating_left": "poor", "rating_right": "poor", "next": back}
    )
    assert response.status_code == 302 and response.url == back
    oldest.refresh_from_db()
    assert oldest.verdict == "tie" and Judgment.objects.filter(grader=alice).count() == 3
    assert "Your answer was changed." in logged_in.get(back).content.decode()


def test_a_change_never_redirects_off_the_grading_screens(logged_in, pair_study, alice):
    (judgment,) = answer_tasks(pair_study, alice, 1)
    url = reverse("grade_change", args=[pair_study.slug, judgment.pk])
    vote = {"verdict": "tie", "rating_left": "poor", "rating_right": "poor"}
    for evil in ("https://evil.example/", "//evil.example/studies/pairs/grade/", "/admin/"):
        response = logged_in.post(url, {**vote, "next": evil})
        assert response.url == reverse("grade", args=[pair_study.slug])


def test_an_incomplete_change_is_refused(logged_in, pair_study, alice):
    (judgment,) = answer_tasks(pair_study, alice, 1)
    url = reverse("grade_change", args=[pair_study.slug, judgment.pk])
    response = logged_in.post(url, {"verdict": "tie", "rating_left": "poor"})
    assert response.status_code == 422
    assert "Still missing: B&#x27;s rating." in response.content.decode()
    judgment.refresh_from_db()
    assert judgment.verdict == handout.stored_verdict(judgment.assignment, "left")


def test_nobody_else_can_open_or_change_an_answer(client, pair_study, alice, outsider):
    (judgment,) = answer_tasks(pair_study, alice, 1)
    bob = make_user("bob", "grader")
    join(pair_study, bob)
    url = reverse("grade_change", args=[pair_study.slug, judgment.pk])
    vote = {"verdict": "tie", "rating_left": "poor", "rating_right": "poor"}
    for user in (bob, outsider):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, vote).status_code == 404
    judgment.refresh_from_db()
    assert judgment.verdict != "tie"


def test_a_skip_can_be_undone_and_the_task_comes_back_next(logged_in, pair_study, alice):
    logged_in.get(reverse("grade", args=[pair_study.slug]))
    skipped = Assignment.objects.get(grader=alice)
    logged_in.post(reverse("grade_skip", args=[pair_study.slug, skipped.pk]), **HTMX)
    assert Task.objects.get(pk=skipped.task_id).slots_taken == 0
    response = logged_in.post(reverse("grade_unskip", args=[pair_study.slug, skipped.pk]), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-outcome="unskipped"' in page and f"/grade/{skipped.pk}/" in page
    skipped.refresh_from_db()
    assert skipped.status == "active" and skipped.expires_at > skipped.assigned_at
    assert Task.objects.get(pk=skipped.task_id).slots_taken == 1
    # A plain page load shows it too, and voting on it works as for any task.
    assert (
        f"/grade/{skipped.pk}/"
        in logged_in.get(reverse("grade", args=[pair_study.slug])).content.decode()
    )
    vote = {"verdict": "left", "rating_left": "good", "rating_right": "poor"}
    assert (
        logged_in.post(
            reverse("grade_submit", args=[pair_study.slug, skipped.pk]), vote, **HTMX
        ).status_code
        == 200
    )
    assert Judgment.objects.get(grader=alice).task_id == skipped.task_id


def test_a_skip_cannot_be_undone_once_others_filled_the_task(logged_in, pair_study, alice):
    logged_in.get(reverse("grade", args=[pair_study.slug]))
    skipped = Assignment.objects.get(grader=alice)
    handout.skip(skipped.pk, alice)
    Task.objects.filter(pk=skipped.task_id).update(slots_taken=2)
    url = reverse("grade_unskip", args=[pair_study.slug, skipped.pk])
    response = logged_in.post(url, **HTMX)
    assert response.status_code == 409
    assert "gone to other graders" in response.content.decode()
    response = logged_in.post(url)  # from the history page, without htmx
    assert response.status_code == 302 and response.url == history_url(pair_study)
    skipped.refresh_from_db()
    assert skipped.status == "skipped"
    assert Task.objects.get(pk=skipped.task_id).slots_taken == 2


def test_the_all_done_screen_keeps_change_and_history_links(logged_in, pair_study, alice):
    answer_tasks(pair_study, alice, 12)
    page = logged_in.get(reverse("grade", args=[pair_study.slug])).content.decode()
    assert "All done here" in page
    assert 'id="change-last"' in page and 'id="history-link"' in page


def test_the_instructions_list_every_key(logged_in, pair_study):
    for url in (
        reverse("grade", args=[pair_study.slug]),
        reverse("instructions", args=[pair_study.slug]),
    ):
        page = logged_in.get(url).content.decode()
        keys = page.split('class="keys-table"')[1].split("</table>")[0]
        for row in (
            "<kbd>1</kbd> <kbd>2</kbd> <kbd>3</kbd> <kbd>4</kbd>",
            "<kbd>q</kbd> <kbd>w</kbd> <kbd>e</kbd></td><td>Rate A: poor · acceptable · good",
            "<kbd>a</kbd> <kbd>s</kbd> <kbd>d</kbd></td><td>Rate B: poor · acceptable · good",
            "<kbd>z</kbd> <kbd>x</kbd> <kbd>c</kbd></td><td>Tag a problem in A: harmful",
            "<kbd>Shift+Z</kbd> <kbd>Shift+X</kbd> <kbd>Shift+C</kbd>",
        ):
            assert row in keys, row
        for key in ("/", "Enter", "Ctrl+Enter", "k", "u", "h", "l", "?", "Esc"):
            assert f"<kbd>{key}</kbd>" in keys, key
