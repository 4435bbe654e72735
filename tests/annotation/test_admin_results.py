"""Edits and deletions in the admin mark the studies' results stale, as imports do."""

import pytest
from django.urls import reverse

from annotation import handout
from annotation.handout import Vote
from annotation.models import Judgment, Rating, Study
from annotation.results.version import data_version
from tests.conftest import better_side, join, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted(pair_study):
    user = make_user("hana", "grader")
    join(pair_study, user)
    for _ in range(2):
        a = handout.next_assignment(user, pair_study)
        handout.record_vote(a.pk, user, Vote(verdict=better_side(a), ratings={"left": "good"}))
    return pair_study


@pytest.fixture
def admin_client(client, voted):
    client.force_login(make_user("root", "admin"))
    return client


def counter(study):
    return Study.objects.get(pk=study.pk).results_version


def test_deleting_a_judgment_moves_the_data_version(admin_client, voted):
    judgment = Judgment.objects.filter(task__study=voted).first()
    before, version = counter(voted), data_version(voted)
    url = reverse("admin:annotation_judgment_delete", args=[judgment.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert counter(voted) == before + 1 and data_version(voted) != version


def test_bulk_deleting_ratings_marks_the_study_once(admin_client, voted):
    ids = list(Rating.objects.filter(judgment__task__study=voted).values_list("pk", flat=True))
    before = counter(voted)
    response = admin_client.post(
        reverse("admin:annotation_rating_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert response.status_code == 302 and not Rating.objects.filter(pk__in=ids).exists()
    assert counter(voted) == before + 1


def test_editing_a_rating_marks_the_study(admin_client, voted):
    rating = Rating.objects.filter(judgment__task__study=voted).first()
    before = counter(voted)
    url = reverse("admin:annotation_rating_change", args=[rating.pk])
    form = {
        "judgment": rating.judgment_id,
        "response": rating.response_id,
        "label": "poor",
        "tags": "[]",
    }
    assert admin_client.post(url, form).status_code == 302
    assert counter(voted) == before + 1
