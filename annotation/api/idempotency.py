"""Retried writes happen once: a POST sent with an Idempotency-Key header stores its
response, and a retry with the same key gets that response again, writing nothing.

Keys belong to a user. Only successful responses are stored: a request that failed
wrote nothing, so running it again is safe (and lets a client fix the body and retry).
A key reused for a different method, path or body is refused with 422: the record keeps
a fingerprint (SHA-256 of the body as canonical JSON, so key order and spacing do not
matter) and a retry must match it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from annotation.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
# Visible ASCII, no spaces: what the schema documents and what is accepted are the same.
KEY_PATTERN = rf"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"
KEY_RE = re.compile(KEY_PATTERN)


def _key(request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_RE.match(key):
        raise ValidationError(
            {HEADER: [f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, no spaces"]}
        )
    return key


def fingerprint(request) -> str:
    """SHA-256 of the request's query string and parsed body as canonical JSON."""
    data = request.data
    if hasattr(data, "lists"):  # a form's QueryDict: every value of every field
        data = {name: values for name, values in data.lists()}
    canonical = json.dumps(
        [sorted(request.query_params.lists()), data],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _replay(request, key: str, body_fingerprint: str) -> Response | None:
    record = IdempotencyRecord.objects.filter(user=request.user, key=key).first()
    if record is None:
        return None
    if (record.method, record.path) != (request.method, request.path):
        return Response(
            {
                "detail": f"This {HEADER} was used for {record.method} {record.path}; "
                "use a new key for a different request."
            },
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if record.fingerprint and record.fingerprint != body_fingerprint:
        return Response(
            {
                "detail": f"This {HEADER} was used with a different request body; "
                "use a new key for a different request."
            },
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    response = Response(record.body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(action):
    """Decorate a viewset action that writes: honour the Idempotency-Key header."""

    @functools.wraps(action)
    def wrapper(self, request, *args, **kwargs):
        key = _key(request)
        if key is None:
            return action(self, request, *args, **kwargs)
        body_fingerprint = fingerprint(request)
        replayed = _replay(request, key, body_fingerprint)
        if replayed is not None:
            return replayed
        try:
            # The write and its record commit together, so a retry sees both or neither.
            with transaction.atomic():
                response = action(self, request, *args, **kwargs)
                if status.is_success(response.status_code):
                    IdempotencyRecord.objects.create(
                        user=request.user,
                        key=key,
                        method=request.method,
                        path=request.path,
                        fingerprint=body_fingerprint,
                        status_code=response.status_code,
                        body=response.data,
                    )
        except IntegrityError:
            # A concurrent request with the same key committed first: answer as it did.
            replayed = _replay(request, key, body_fingerprint)
            if replayed is None:
                raise
            return replayed
        return response

    return wrapper
