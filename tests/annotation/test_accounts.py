"""manage.py create_account, the login page, and the grader's home."""

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Membership, User

pytestmark = pytest.mark.django_db


def create(*args):
    call_command("create_account", *args, stdout=io.StringIO())


def test_it_creates_a_grader_in_a_study(study):
    create("gina", "--role", "grader", "--password", "pass-word-1", "--study", study.slug)
    user = User.objects.get(username="gina")
    assert (user.role, user.is_staff, user.is_superuser) == ("grader", False, False)
    assert user.check_password("pass-word-1")
    assert list(Membership.objects.filter(user=user).values_list("study__slug", flat=True)) == [
        "s1"
    ]


def test_it_gives_admins_the_django_admin(db):
    create("ada", "--role", "admin", "--password", "pass-word-1")
    user = User.objects.get(username="ada")
    assert (user.role, user.is_staff, user.is_superuser) == ("admin", True, True)


def test_it_updates_an_existing_account_without_duplicating(study):
    create("gina", "--role", "grader", "--password", "pass-word-1", "--study", study.slug)
    create("gina", "--role", "researcher", "--password", "pass-word-2", "--study", study.slug)
    user = User.objects.get(username="gina")
    assert user.role == "researcher" and user.check_password("pass-word-2")
    assert Membership.objects.filter(user=user).count() == 1


def test_it_refuses_an_unknown_study_and_writes_nothing(db):
    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        create("gina", "--role", "grader", "--password", "pass-word-1", "--study", "nope")
    assert not User.objects.filter(username="gina").exists()


def test_it_refuses_a_short_password(db):
    with pytest.raises(CommandError, match="at least 8 characters"):
        create("gina", "--role", "grader", "--password", "short")


def test_it_logs_in_through_the_login_page(client, grader):
    page = client.get("/accounts/login/")
    assert page.status_code == 200 and b'name="username"' in page.content
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "correct-horse-battery"}
    )
    assert response.status_code == 302 and response.url == "/"
    home = client.get("/")
    assert home.status_code == 200 and b"Study one" in home.content


def test_it_rejects_a_wrong_password(client, grader):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope-nope-nope"})
    assert response.status_code == 200 and b"didn't match" in response.content
    assert client.get("/").status_code == 302


def test_it_sends_anonymous_visitors_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_home_lists_only_the_graders_studies(client, grader, outsider):
    client.force_login(outsider)
    assert b"Study one" not in client.get("/").content
    client.force_login(grader)
    assert b"Study one" in client.get("/").content


def test_pages_carry_a_csp_without_inline_script(client, grader):
    client.force_login(grader)
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
