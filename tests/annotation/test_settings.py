"""Settings come from the environment; production refuses to start without a secret."""

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT


def django_check(**env):
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DATABASE_URL")}
    base["DJANGO_SETTINGS_MODULE"] = "humaneval_site.settings"
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(tmp_path):
    result = django_check(VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_it_starts_with_a_development_key_in_debug(tmp_path):
    result = django_check(DEBUG="1", VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr


def test_it_creates_the_default_sqlite_file_under_var(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "DEBUG": "1",
            "VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "humaneval.sqlite3").exists()


def test_it_reports_a_bad_database_url(tmp_path):
    result = django_check(DEBUG="1", DATABASE_URL="nosuchdb://x", VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
