"""The home page: each study's progress as a whole and the user's own, the right first action."""

import re

import pytest
from django.urls import reverse

from annotation.handout import Vote
from annotation.models import Judgment, Task, User
from annotation.overview import study_progress
from tests.conftest import better_side, grade_until_done, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def half_done(pair_study):
    """One of two graders has answered every task (12 of 24 human slots); a model judge and
    a gold task add judgments that fill no human slot."""
    first = make_user("first", "grader")
    join(pair_study, first)
    grade_until_done(
        pair_study,
        first,
        lambda a: Vote(verdict=better_side(a), ratings={"left": "good", "right": "poor"}),
    )
    judge = User.objects.create(username="judge-bot", kind=User.Kind.MODEL_JUDGE)
    task = Task.objects.filter(study=pair_study).first()
    Judgment.objects.create(task=task, grader=judge, verdict="a", source="imported")
    return pair_study


def test_overall_progress_counts_human_judgments_against_human_slots(half_done):
    progress = study_progress([half_done])[half_done.pk]
    assert (progress.judgments, progress.slots) == (12, 24)
    assert progress.percent == 50.0 and not progress.complete


def test_a_grader_sees_the_study_as_a_whole_and_their_part(client, half_done):
    second = make_user("second", "grader")
    join(half_done, second)
    client.force_login(second)
    html = client.get(reverse("home")).content.decode()
    assert "Study as a whole, all graders: <strong>12</strong> of 24 judgments (50.0%)" in html
    assert "Your part: <strong>0</strong> done · <strong>12</strong> remaining" in html
    assert "Start grading" in html and "Open results" not in html


def test_a_researcher_opens_results_first(client, half_done):
    rita = make_user("rita", "researcher")
    join(half_done, rita)
    client.force_login(rita)
    html = client.get(reverse("home")).content.decode()
    actions = re.search(r'<p class="actions">(.*?)</p>', html, re.S).group(1)
    links = re.findall(r'<a[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', actions)
    assert links[0] == (reverse("dashboard", args=[half_done.slug]), "Open results")
    assert (reverse("judgments", args=[half_done.slug]), "Browse judgments") in links
    assert any(href == reverse("grade", args=[half_done.slug]) for href, _ in links)
