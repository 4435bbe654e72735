"""Failed logins are throttled per username and per client address, on the login page and
the API token endpoint: 429 with Retry-After, a lockout window, reset on success; the
client address comes from X-Forwarded-For only when TRUSTED_PROXY_COUNT says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from annotation.login_throttle import client_ip
from tests.conftest import PASSWORD, make_user

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("throttle_of_three"),
]

LOCKOUT = b"Too many failed logins for this username or from this address."


@pytest.fixture
def throttle_of_three(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def page_login(client: Client, username: str, password: str, **meta):
    return client.post("/accounts/login/", {"username": username, "password": password}, **meta)


def token_login(client: Client, username: str, password: str, **meta):
    return client.post(
        "/api/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        **meta,
    )


def assert_locked(response, *, api: bool = False) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    if api:
        assert response.json() == {
            "detail": "Too many failed logins for this username or from this address. "
            "Try again in 15 minutes."
        }
    else:
        assert LOCKOUT in response.content and b'name="username"' in response.content


def test_it_locks_a_username_on_the_login_page_at_the_limit(client, grader):
    for _ in range(2):
        response = page_login(client, "alice", "wrong-password")
        assert response.status_code == 200 and b"didn't match" in response.content
    assert_locked(page_login(client, "alice", "wrong-password"))
    # Locked: even the right password is refused, and no session starts.
    assert_locked(page_login(client, "alice", PASSWORD))
    assert client.get("/").status_code == 302


def test_the_lockout_ends_after_the_window(client, grader):
    for _ in range(3):
        page_login(client, "alice", "wrong-password")
    assert page_login(client, "alice", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = page_login(client, "alice", PASSWORD)
    assert response.status_code == 302 and response.url == "/"


def test_retry_after_counts_down_from_the_last_failure(client, grader):
    for _ in range(3):
        page_login(client, "alice", "wrong-password")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    response = page_login(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert 4 * 60 < int(response["Retry-After"]) <= 5 * 60
    assert b"Try again in 5 minutes." in response.content


def test_a_success_resets_the_usernames_failures(client, grader):
    for _ in range(2):
        page_login(client, "alice", "wrong-password")
    assert page_login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert page_login(client, "alice", "wrong-password").status_code == 200
    assert not AccessAttempt.objects.filter(failures_since_start__gte=3).exists()


def test_it_locks_a_client_address_trying_many_usernames(client, grader):
    for name in ("mallory", "trent", "victor"):
        page_login(client, name, "wrong-password", REMOTE_ADDR="192.0.2.7")
    # A real user with the right password, from the same address: refused.
    assert_locked(page_login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.7"))
    # From another address the same user logs in.
    assert page_login(Client(), "alice", PASSWORD, REMOTE_ADDR="192.0.2.8").status_code == 302


def test_it_locks_a_username_tried_from_many_addresses(client, grader):
    make_user("bob", "grader")
    for last in (1, 2, 3):
        page_login(Client(), "alice", "wrong-password", REMOTE_ADDR=f"198.51.100.{last}")
    assert_locked(page_login(Client(), "alice", PASSWORD, REMOTE_ADDR="198.51.100.4"))
    # Another user at that fresh address is not affected.
    assert page_login(Client(), "bob", PASSWORD, REMOTE_ADDR="198.51.100.4").status_code == 302


def test_the_token_endpoint_is_throttled_too(researcher):
    client = Client()
    for _ in range(2):
        response = token_login(client, "rita", "wrong-password")
        assert response.status_code == 400
        assert response.json() == {
            "non_field_errors": ["Unable to log in with provided credentials."]
        }
    assert_locked(token_login(client, "rita", "wrong-password"), api=True)
    assert_locked(token_login(client, "rita", PASSWORD), api=True)
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = token_login(client, "rita", PASSWORD)
    assert response.status_code == 200 and "token" in response.json()


def test_the_token_endpoint_resets_on_success(researcher):
    client = Client()
    for _ in range(2):
        token_login(client, "rita", "wrong-password")
    assert token_login(client, "rita", PASSWORD).status_code == 200
    for _ in range(2):
        assert token_login(client, "rita", "wrong-password").status_code == 400


def test_failures_count_across_the_login_page_and_the_token_endpoint(researcher):
    client = Client()
    page_login(client, "rita", "wrong-password")
    token_login(client, "rita", "wrong-password")
    assert_locked(page_login(client, "rita", "wrong-password"))
    assert_locked(token_login(client, "rita", PASSWORD), api=True)


def test_it_ignores_x_forwarded_for_unless_a_proxy_is_configured(client, grader):
    for last in (1, 2, 3):
        page_login(
            client, f"nobody{last}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{last}"
        )  # a client cannot dodge the address count by inventing addresses
    assert_locked(page_login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9"))
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"127.0.0.1"}


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_configured_proxy_the_client_address_counts(client, grader):
    for name in ("mallory", "trent", "victor"):
        page_login(
            client, name, "wrong", REMOTE_ADDR="192.0.2.254", HTTP_X_FORWARDED_FOR="203.0.113.5"
        )
    locked = page_login(
        client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.254", HTTP_X_FORWARDED_FOR="203.0.113.5"
    )
    assert_locked(locked)
    # Another client behind the same proxy is not locked out...
    other = page_login(
        Client(), "alice", PASSWORD, REMOTE_ADDR="192.0.2.254", HTTP_X_FORWARDED_FOR="203.0.113.6"
    )
    assert other.status_code == 302
    # ...and the locked client cannot escape by prepending a made-up address.
    spoofed = page_login(
        Client(),
        "alice",
        PASSWORD,
        REMOTE_ADDR="192.0.2.254",
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5",
    )
    assert spoofed.status_code == 429


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.5", "192.0.2.1"),
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "198.51.100.1, 203.0.113.5", "203.0.113.5"),
        (2, "198.51.100.1, 203.0.113.5, 192.0.2.50", "203.0.113.5"),
        (2, "203.0.113.5", "203.0.113.5"),  # fewer hops than proxies: the nearest one
        (1, "not-an-address", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, " 2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_a_locked_out_login_page_still_works_without_javascript(client, grader):
    for _ in range(3):
        page_login(client, "alice", "wrong-password")
    page = client.get("/accounts/login/")
    assert page.status_code == 200  # viewing the form is never refused
    assert "Content-Security-Policy" in page.headers
