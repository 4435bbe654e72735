"""Settings for the test suite: the real settings with a test-only secret key.

DATABASE_URL still decides the database, so `make test` runs on SQLite by
default and on PostgreSQL when DATABASE_URL points at one.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from humaneval_site.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A real file rather than shared-cache memory, so that tests with many threads see
    # SQLite's actual locking (WAL, BEGIN IMMEDIATE, busy timeout) as production does.
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"humaneval-test-{os.getpid()}.sqlite3")
    }
