"""The grading screen: blind, keyboard-ready, htmx swaps, and no write it should refuse."""

import json

import pytest
from django.urls import reverse

from annotation.models import Assignment, Judgment, LanguageModel, Rating
from tests.conftest import join, make_user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
MODEL_NAMES = ("alpha-model", "beta-model", "gamma-model")


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


def assert_blind(response):
    text = response.content.decode() + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for name in MODEL_NAMES:
        assert name not in text


def good_vote(**extra):
    return {"verdict": "left", "rating_left": "good", "rating_right": "poor", **extra}


def test_it_shows_prompt_and_two_blind_responses(logged_in, pair_study, alice):
    response = logged_in.get(grade_url(pair_study))
    assert response.status_code == 200
    page = response.content.decode()
    assignment = Assignment.objects.get(grader=alice)
    assert assignment.task.prompt.text in page
    assert page.count('class="pane card"') == 2
    for response_obj in (assignment.task.response_a, assignment.task.response_b):
        assert response_obj.text in page
    assert 'data-key="1"' in page and 'data-key="q"' in page and 'data-key="Z"' in page
    assert_blind(response)


def test_the_htmx_fragment_is_blind_too(logged_in, pair_study):
    response = logged_in.get(grade_url(pair_study), **HTMX)
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="task"')
    assert_blind(response)


def test_a_vote_swaps_in_the_next_task_and_moves_progress(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    response = logged_in.post(submit_url(pair_study, first), good_vote(comment=" fine "), **HTMX)
    assert response.status_code == 200
    assert "1 of 12 done" in response.content.decode()
    assert 'data-outcome="stored"' in response.content.decode()
    assert "taskLoaded" in json.loads(response.headers["HX-Trigger-After-Settle"])
    assert_blind(response)
    judgment = Judgment.objects.get()
    assert (judgment.grader, judgment.task, judgment.comment) == (alice, first.task, "fine")
    assert Rating.objects.filter(judgment=judgment).count() == 2
    second = Assignment.objects.get(grader=alice, status="active")
    assert second.task != first.task and f"/grade/{second.pk}/" in response.content.decode()


def test_without_javascript_a_vote_redirects_to_the_next_task(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    response = logged_in.post(submit_url(pair_study, first), good_vote())
    assert response.status_code == 302 and response.url == grade_url(pair_study)
    assert Judgment.objects.count() == 1


def test_time_on_task_is_recorded(logged_in, pair_study, alice):
    page = logged_in.get(grade_url(pair_study)).content.decode()
    shown_at = page.split('name="shown_at" value="')[1].split('"')[0]
    first = Assignment.objects.get(grader=alice)
    logged_in.post(submit_url(pair_study, first), good_vote(shown_at=shown_at))
    seconds = Judgment.objects.get().seconds
    assert seconds is not None and 0 <= seconds < 60


def test_an_incomplete_vote_is_refused_and_nothing_written(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    response = logged_in.post(
        submit_url(pair_study, first), {"verdict": "left", "rating_left": "good"}, **HTMX
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "Still missing: B&#x27;s rating." in page
    assert page.count('class="ratings invalid"') == 1 and 'class="verdict invalid"' not in page
    response = logged_in.post(submit_url(pair_study, first), good_vote(verdict="sideways"), **HTMX)
    assert response.status_code == 422
    response = logged_in.post(
        submit_url(pair_study, first), good_vote(tags_left=["not-a-tag"]), **HTMX
    )
    assert response.status_code == 422
    assert not Judgment.objects.exists()


def test_a_double_submit_records_one_judgment(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    logged_in.post(submit_url(pair_study, first), good_vote(), **HTMX)
    logged_in.post(submit_url(pair_study, first), good_vote(verdict="right"), **HTMX)
    assert Judgment.objects.count() == 1


def test_a_grader_cannot_submit_for_someone_elses_assignment(client, pair_study, alice):
    bob = make_user("bob", "grader")
    join(pair_study, bob)
    client.force_login(alice)
    client.get(grade_url(pair_study))
    alices = Assignment.objects.get(grader=alice)
    client.force_login(bob)
    response = client.post(submit_url(pair_study, alices), good_vote())
    assert response.status_code == 404
    assert not Judgment.objects.exists()


def test_an_outsider_gets_404_and_nothing_is_written(client, pair_study, alice, outsider):
    client.force_login(alice)
    client.get(grade_url(pair_study))
    assignment = Assignment.objects.get(grader=alice)
    client.force_login(outsider)
    assert client.get(grade_url(pair_study)).status_code == 404
    assert client.post(submit_url(pair_study, assignment), good_vote()).status_code == 404
    assert not Judgment.objects.exists() and not Assignment.objects.filter(grader=outsider).exists()


def test_anonymous_visitors_are_sent_to_login(client, pair_study):
    response = client.get(grade_url(pair_study))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_skip_moves_on(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    response = logged_in.post(reverse("grade_skip", args=[pair_study.slug, first.pk]), **HTMX)
    assert response.status_code == 200
    first.refresh_from_db()
    assert first.status == "skipped"
    assert Assignment.objects.get(grader=alice, status="active").task != first.task


def test_change_my_last_answer(logged_in, pair_study, alice):
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    logged_in.post(submit_url(pair_study, first), good_vote(tags_right=["untrue"]))
    page = logged_in.get(reverse("grade_change_last", args=[pair_study.slug]))
    url = reverse("grade_change", args=[pair_study.slug, Judgment.objects.get().pk])
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        'value="untrue" data-key="X" checked' in html
        and 'value="left" data-key="1" checked' in html
    )
    assert_blind(page)
    response = logged_in.post(
        url, {"verdict": "tie", "rating_left": "acceptable", "rating_right": "acceptable"}
    )
    assert response.status_code == 302
    judgment = Judgment.objects.get()
    assert judgment.verdict == "tie" and Judgment.objects.count() == 1
    assert set(judgment.ratings.values_list("label", flat=True)) == {"acceptable"}


def test_model_names_are_revealed_after_the_vote_only_when_allowed(logged_in, pair_study, alice):
    pair_study.reveal_after_vote = True
    pair_study.save()
    logged_in.get(grade_url(pair_study))
    first = Assignment.objects.get(grader=alice)
    response = logged_in.post(submit_url(pair_study, first), good_vote(), **HTMX)
    text = response.content.decode()
    left = first.task.response_a if first.a_on_left else first.task.response_b
    assert f"A was <strong>{left.model.name}</strong>" in text


def test_a_single_response_study_asks_for_a_rating(client, db, write_jsonl):
    from annotation.ingest.study_files import StudyOptions, import_study

    study = import_study(
        write_jsonl(
            [{"id": "s1", "prompt": "Hi", "outputs": {"solo-model": "Hello **there**"}}],
            name="single.jsonl",
        ),
        "audit",
        StudyOptions(protocol="single", overlap=1),
    ).study
    user = make_user("sam", "grader")
    join(study, user)
    client.force_login(user)
    page = client.get(grade_url(study)).content.decode()
    assert page.count('class="pane card"') == 1 and "<strong>there</strong>" in page
    assert 'name="verdict"' not in page and "solo-model" not in page
    assignment = Assignment.objects.get(grader=user)
    assert client.post(submit_url(study, assignment), {}, **HTMX).status_code == 422
    response = client.post(
        submit_url(study, assignment), {"rating_single": "poor", "tags_single": ["untrue"]}, **HTMX
    )
    assert response.status_code == 200 and "All done here" in response.content.decode()
    rating = Rating.objects.get()
    assert (rating.label, rating.tags, rating.judgment.verdict) == ("poor", ["untrue"], "")


def test_the_home_page_links_to_grading_with_progress(logged_in, pair_study):
    page = logged_in.get("/").content.decode()
    assert (
        grade_url(pair_study) in page
        and "0</strong> done" in page
        and "12</strong> remaining" in page
    )


def test_instructions_are_one_click_away(logged_in, pair_study):
    page = logged_in.get(grade_url(pair_study)).content.decode()
    assert "Pick the <strong>better</strong> answer." in page
    assert logged_in.get(reverse("instructions", args=[pair_study.slug])).status_code == 200


def test_model_names_never_reach_the_grader_context(logged_in, pair_study):
    response = logged_in.get(grade_url(pair_study))
    flat = repr(response.context["screen"]) + repr(response.context["study"])
    for name in LanguageModel.objects.values_list("name", flat=True):
        assert name not in flat
