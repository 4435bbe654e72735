"""Every outcome of a vote is told in the fragment that swaps in, and only a stored answer
gets a 2xx: already answered (another tab) and timed out (given to someone else) are 409."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotation import handout
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


def grade_url(study):
    return reverse("grade", args=[study.slug])


def submit_url(study, assignment):
    return reverse("grade_submit", args=[study.slug, assignment.pk])


def answer(verdict="left", left="good", right="poor", **extra):
    return {"verdict": verdict, "rating_left": left, "rating_right": right, **extra}


def held(user) -> Assignment:
    return Assignment.objects.get(grader=user, status="active")


def expire_and_refill(pair_study, assignment) -> None:
    """The assignment times out and both slots of its task go to other graders."""
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    handout.release_expired(pair_study)
    for name in ("bob", "carol"):
        other = make_user(name, "grader")
        join(pair_study, other)
        Assignment.objects.create(task=assignment.task, grader=other)
    Task.objects.filter(pk=assignment.task_id).update(slots_taken=2)


def test_it_stores_a_vote_and_says_so(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    response = logged_in.post(submit_url(pair_study, first), answer(), **HTMX)
    assert response.status_code == 200
    assert 'data-outcome="stored"' in response.content.decode()
    assert Judgment.objects.get().assignment == first


def test_it_refuses_a_vote_on_a_task_that_timed_out_and_was_refilled(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    expire_and_refill(pair_study, first)
    response = logged_in.post(submit_url(pair_study, first), answer(), **HTMX)
    assert response.status_code == 409
    page = response.content.decode()
    assert 'data-outcome="timed_out"' in page and "Not stored" in page
    assert not Judgment.objects.exists()
    # The partial carries the next task, another one.
    nxt = held(alice)
    assert nxt.task_id != first.task_id and f"/grade/{nxt.pk}/" in page
    assert Task.objects.get(pk=first.task_id).slots_taken == 2


def test_without_javascript_a_timed_out_vote_is_a_409_page_too(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    expire_and_refill(pair_study, first)
    response = logged_in.post(submit_url(pair_study, first), answer())
    assert response.status_code == 409
    assert "Not stored" in response.content.decode()
    assert "<html" in response.content.decode()
    assert not Judgment.objects.exists()


def test_a_second_tabs_different_answer_is_refused_and_the_kept_one_shown(
    logged_in, pair_study, alice
):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    # Tab one: A is better, A good, B poor, "untrue" on B.
    logged_in.post(
        submit_url(pair_study, first), answer(tags_right=["untrue"], comment="clear"), **HTMX
    )
    # Tab two still shows the same task and answers differently.
    response = logged_in.post(
        submit_url(pair_study, first), answer(verdict="tie", left="poor"), **HTMX
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert 'data-outcome="already_answered"' in page and "Not stored" in page
    assert "<strong>A is better</strong> · A: good · B: poor" in page
    assert "(untrue)" in page and "clear" in page
    judgment = Judgment.objects.get()
    assert judgment.verdict == handout.stored_verdict(first, "left")
    assert sorted(judgment.ratings.values_list("label", flat=True)) == ["good", "poor"]
    assert reverse("grade_change", args=[pair_study.slug, judgment.pk]) in page
    assert "alpha-model" not in page and "beta-model" not in page


def test_the_same_answer_sent_twice_is_stored_once_and_said_stored(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    logged_in.post(submit_url(pair_study, first), answer(), **HTMX)
    response = logged_in.post(submit_url(pair_study, first), answer(), **HTMX)
    assert response.status_code == 200
    assert "Your answer was already stored." in response.content.decode()
    assert Judgment.objects.count() == 1


def test_a_conflict_notice_is_not_shown_again_on_the_next_page(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    expire_and_refill(pair_study, first)
    assert logged_in.post(submit_url(pair_study, first), answer(), **HTMX).status_code == 409
    page = logged_in.get(grade_url(pair_study)).content.decode()
    assert "Not stored" not in page and "timed out" not in page


def test_a_notice_after_a_plain_form_vote_is_shown_once_inside_the_task(
    logged_in, pair_study, alice
):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    response = logged_in.post(submit_url(pair_study, first), answer())
    assert response.status_code == 302
    page = logged_in.get(grade_url(pair_study)).content.decode()
    task = page.split('<section id="task"')[1]
    assert "Your answer is stored." in task
    assert page.count("Your answer is stored.") == 1
    assert "Your answer is stored." not in logged_in.get(grade_url(pair_study)).content.decode()


def test_a_skip_offers_an_undo_in_its_notice(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    response = logged_in.post(reverse("grade_skip", args=[pair_study.slug, first.pk]), **HTMX)
    page = response.content.decode()
    assert 'data-outcome="skipped"' in page
    assert reverse("grade_unskip", args=[pair_study.slug, first.pk]) in page
    assert 'id="undo-skip"' in page


def test_model_names_never_reach_the_context_of_a_notice(logged_in, pair_study, alice):
    pair_study.reveal_after_vote = False
    pair_study.save()
    logged_in.get(grade_url(pair_study))
    first = held(alice)
    logged_in.post(submit_url(pair_study, first), answer(), **HTMX)
    response = logged_in.post(submit_url(pair_study, first), answer(verdict="tie"), **HTMX)
    flat = repr(response.context["notice"]) + repr(response.context["screen"])
    for name in LanguageModel.objects.values_list("name", flat=True):
        assert name not in flat
