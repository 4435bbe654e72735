"""The session and the signed-in user, read with queries compiled once per connection.

Every request of a signed-in user reads its session row and its user row. Through the
ORM each read builds and compiles its query first, which cost more than the rest of the
two reads together (about 1.5 ms of a vote request's CPU on the 2-core bench machine).
Here the same querysets run as prepared statements (annotation.prepared): the SQL, the
rows and what is done with them are Django's own.

- `SessionStore`: Django's database session store (SESSION_ENGINE = "annotation.
  session_auth"); only the read of a session changes.
- `UserBackend`: Django's ModelBackend (in AUTHENTICATION_BACKENDS in its place); only
  `get_user`, the per-request read, changes. Login, passwords and permissions are
  ModelBackend's. A session signed in through ModelBackend before the switch names
  that backend, and is asked to sign in again once.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.core.exceptions import SuspiciousOperation
from django.db import models, router
from django.utils import timezone

from annotation.prepared import PreparedSelect

_SESSION = PreparedSelect(
    lambda *, session_key, now: Session.objects.filter(
        session_key=session_key, expire_date__gt=now
    ),
    session_key=models.CharField(),
    now=models.DateTimeField(),
)


class SessionStore(db.SessionStore):
    """Django's database sessions; a session is read by a prepared query."""

    def _get_session_from_db(self):
        if self.get_model_class() is not Session:  # a subclass with another model
            return super()._get_session_from_db()
        try:
            found = _SESSION(
                session_key=self.session_key,
                now=timezone.now(),
                using=router.db_for_read(Session),
            )
        except SuspiciousOperation as exc:
            logging.getLogger(f"django.security.{exc.__class__.__name__}").warning(str(exc))
            found = []
        if not found:
            self._session_key = None
            return None
        return found[0]


_USER = PreparedSelect(
    lambda *, user_id: get_user_model()._default_manager.filter(pk=user_id),
    user_id=models.BigIntegerField(),
)


class UserBackend(ModelBackend):
    """ModelBackend, whose per-request read of the signed-in user is prepared."""

    def get_user(self, user_id):
        # django.contrib.auth hands over the id already converted by the pk field.
        if not isinstance(user_id, int):
            return super().get_user(user_id)
        model = get_user_model()
        found = _USER(user_id=user_id, using=router.db_for_read(model))
        user = found[0] if found else None
        return user if user is not None and self.user_can_authenticate(user) else None
