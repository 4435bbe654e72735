"""Failed logins are throttled per username and per client address (django-axes).

django-axes counts failures in the database (so every gunicorn worker and app server
sees the same counts, and nothing lives in process memory), hooks into Django's own
authentication so the login page, the admin's login and the API token endpoint are all
covered, and is maintained. This module holds the few pieces the app decides itself:

- `client_ip`: the client's address; X-Forwarded-For is read only when
  TRUSTED_PROXY_COUNT says how many proxies in front of the app append to it.
- `lockout_response`: 429 with Retry-After (the login page again, or JSON under /api/).
- `LoginThrottleBackend`: axes' check, skipped only for server-side calls that have no
  request (the shell, tests' `client.login`); every HTTP login passes its request.
- `reset_failures`: a successful login clears that username's failures. (axes' own
  AXES_RESET_ON_SUCCESS also clears every failure from the client's address, which
  would let an attacker with one valid account reset their address's count.)

Settings (from the environment, see README): LOGIN_FAILURE_LIMIT failures within
LOGIN_LOCKOUT_MINUTES lock the username, and the client address, for
LOGIN_LOCKOUT_MINUTES after the last counted failure.
"""

from __future__ import annotations

import ipaddress
import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in
from django.db.models import Max, Q
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone


def _address(text: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((text or "").strip()))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's IP address (AXES_CLIENT_IP_CALLABLE).

    With TRUSTED_PROXY_COUNT = N > 0, each of the N proxies in front of the app appends
    the address it received the request from to X-Forwarded-For, so the client is the
    N-th entry from the right; entries further left were written by the client and are
    never trusted. With N = 0 (the default) the header is ignored: anyone could send it.
    """
    remote = _address(request.META.get("REMOTE_ADDR"))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if not hops:
        return remote
    return _address(hops[-min(proxies, len(hops))]) or remote


def retry_after_seconds(request, credentials: dict | None = None) -> int:
    """Seconds until the lockout ends, at most the lockout window: the window counted from
    the latest failure for this username or address (an upper bound when several count)."""
    cool_off = get_cool_off(request)
    window = int(cool_off.total_seconds())
    username = get_client_username(request, credentials)
    address = getattr(request, "axes_ip_address", None) or client_ip(request)
    latest = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=address),
        attempt_time__gt=timezone.now() - cool_off,
    ).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return window
    left = (latest + cool_off - timezone.now()).total_seconds()
    return max(1, min(window, math.ceil(left)))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (
        "Too many failed logins for this username or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: 429 Too Many Requests with Retry-After."""
    seconds = retry_after_seconds(request, credentials)
    message = lockout_message(seconds)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        context = {
            "form": AuthenticationForm(request),
            "lockout": message,
            "next": request.POST.get("next", "") if request.method == "POST" else "",
        }
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes' lockout check as the first authentication backend (see the module docstring)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def reset_failures(username: str) -> int:
    deleted, _ = AccessAttempt.objects.filter(username=username).delete()
    return deleted


@receiver(user_logged_in, dispatch_uid="annotation.login_throttle.reset")
def _reset_on_login(sender, request, user, **kwargs):
    reset_failures(user.get_username())
