"""annotation.studies: creating a study outside an import; rules raise domain errors."""

import pytest

from annotation.models import Membership, Study
from annotation.studies import SlugTaken, StudyError, create_study
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def test_it_creates_the_study_with_the_creator_as_member(db):
    rita = make_user("rita", "researcher")
    study = create_study(rita, {"slug": "new", "overlap": 2, "blind": False})
    assert (study.overlap, study.blind) == (2, False)
    assert Membership.objects.filter(study=study, user=rita).exists()


def test_a_taken_slug_is_a_domain_error_not_an_http_one(study):
    rita = make_user("rita", "researcher")
    with pytest.raises(SlugTaken) as error:
        create_study(rita, {"slug": study.slug})
    assert error.value.errors == {"slug": ["a study with this slug already exists"]}
    assert isinstance(error.value, StudyError) and not hasattr(error.value, "status_code")


def test_settings_the_rules_refuse_are_a_study_error(db):
    rita = make_user("rita", "researcher")
    with pytest.raises(StudyError) as error:
        create_study(rita, {"slug": "odd", "rating_scale": ["bad", "ok"], "good_labels": ["great"]})
    assert "great" in str(error.value)
    assert not Study.objects.filter(slug="odd").exists()


def test_the_api_answers_a_taken_slug_with_409_naming_the_field(study):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(make_user("rita", "researcher"))
    response = client.post("/api/studies/", {"slug": study.slug}, format="json")
    assert response.status_code == 409
    assert response.json() == {"slug": ["a study with this slug already exists"]}
