"""annotation/session_auth.py: sessions and the signed-in user read by prepared queries
behave as Django's database sessions and ModelBackend do."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation.session_auth import SessionStore, UserBackend

pytestmark = pytest.mark.django_db
PASSWORD = "pass-word-1"


def signed_in(client, user):
    user.set_password(PASSWORD)
    user.save()
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def home_status(client) -> int:
    return client.get(reverse("home")).status_code


def test_the_product_uses_them():
    assert settings.SESSION_ENGINE == "annotation.session_auth"
    assert "annotation.session_auth.UserBackend" in settings.AUTHENTICATION_BACKENDS
    assert "django.contrib.auth.backends.ModelBackend" not in settings.AUTHENTICATION_BACKENDS


def test_a_login_through_the_form_is_remembered_and_logout_ends_it(client, grader):
    signed_in(client, grader)
    assert home_status(client) == 200
    session = Session.objects.get()
    assert session.get_decoded()["_auth_user_backend"] == "annotation.session_auth.UserBackend"
    client.post(reverse("logout"))
    assert home_status(client) == 302
    assert not Session.objects.exists()


def test_an_expired_session_is_not_read(client, grader):
    signed_in(client, grader)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert home_status(client) == 302


def test_a_deleted_session_row_signs_out(client, grader):
    signed_in(client, grader)
    Session.objects.all().delete()
    assert home_status(client) == 302


def test_a_deactivated_or_deleted_user_is_signed_out(client, grader, researcher):
    signed_in(client, grader)
    grader.is_active = False
    grader.save(update_fields=["is_active"])
    assert home_status(client) == 302
    other = signed_in(client.__class__(), researcher)
    researcher.delete()
    assert home_status(other) == 302


def test_a_password_change_elsewhere_signs_out(client, grader):
    signed_in(client, grader)
    grader.set_password("another-pass-word")
    grader.save()
    assert home_status(client) == 302


def test_the_reads_are_compiled_once_and_load_the_same_data(grader):
    store = SessionStore()
    store["marker"] = "value"
    store.create()
    backend = UserBackend()
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            loaded = SessionStore(store.session_key).load()
            user = backend.get_user(grader.pk)
        assert loaded == {"marker": "value"}
        assert (user.pk, user.username, user.role) == (grader.pk, grader.username, grader.role)
        assert len(queries) == 2
    assert SessionStore("no-such-session-key-at-all").load() == {}
    assert backend.get_user(grader.pk + 1000) is None
