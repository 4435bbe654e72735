"""403 and 404 pages in the site's layout, saying what happened and where to go."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_a_404_in_the_sites_layout(client, grader):
    client.force_login(grader)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="topbar"' in html and "alice · Grader" in html
    assert "There is nothing here" in html and f'href="{reverse("home")}"' in html


def test_a_study_one_is_not_in_is_the_same_404(client, study, outsider):
    client.force_login(outsider)
    response = client.get(reverse("dashboard", args=[study.slug]))
    assert response.status_code == 404 and "There is nothing here" in response.content.decode()


def test_a_forbidden_page_is_a_403_that_says_why(client, study, grader):
    client.force_login(grader)
    response = client.get(reverse("dashboard", args=[study.slug]))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="topbar"' in html and "results.css" in html
    assert "You may not open this page" in html
    assert "Only researchers and admins can see results." in html


def test_an_expired_form_is_a_403_in_the_sites_layout(db):
    make_user("bob", "grader")
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="topbar"' in html and "This form has expired" in html
