"""Settings come from the environment; production refuses to start without a secret."""

import os
import secrets
import subprocess
import sys

import pytest
from django.test import Client

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


# --- production: `check --deploy` with the README's environment -----------------------------


def production_environment() -> dict[str, str]:
    """The first ```sh block under README's "### Production", as NAME=value pairs."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Production", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    env = {}
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def check_deploy(env: dict[str, str], tmp_path):
    # Only what a shell needs: nothing of the test run's own environment (the browser tests
    # set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy rightly refuses).
    base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "PYTHONPATH") if k in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env={**base, **env, "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def documented(**changes: str | None) -> dict[str, str]:
    env = production_environment()
    env["SECRET_KEY"] = secrets.token_urlsafe(50)  # the README's placeholder, filled in
    for name, value in changes.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    return env


def test_the_readme_documents_a_full_production_environment():
    assert {
        "SECRET_KEY",
        "DATABASE_URL",
        "ALLOWED_HOSTS",
        "SECURE_COOKIES",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_PROXY_SSL_HEADER",
    } <= set(production_environment())


def test_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    result = check_deploy(documented(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_warns_without_the_https_settings(tmp_path):
    warnings = {
        "SECURE_SSL_REDIRECT": "security.W008",
        "SECURE_HSTS_SECONDS": "security.W004",
        "SECURE_COOKIES": "security.W012",
    }
    result = check_deploy(documented(**dict.fromkeys(warnings)), tmp_path)
    assert result.returncode != 0
    assert {code for code in warnings.values() if code in result.stdout + result.stderr} == set(
        warnings.values()
    )
    # With HSTS but not for subdomains nor preloading, Django says so too.
    partial = documented(SECURE_HSTS_INCLUDE_SUBDOMAINS=None, SECURE_HSTS_PRELOAD=None)
    result = check_deploy(partial, tmp_path)
    assert "security.W005" in result.stdout + result.stderr
    assert "security.W021" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("X-Forwarded-Proto", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("HTTP_X_FORWARDED_PROTO", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("", None),
    ],
)
def test_it_reads_the_proxy_ssl_header_by_name(value, expected):
    from humaneval_site.settings import proxy_ssl_header

    assert proxy_ssl_header(value) == expected


def test_it_refuses_a_malformed_proxy_ssl_header(tmp_path):
    result = django_check(
        DEBUG="1", VAR_DIR=str(tmp_path), SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"
    )
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header name" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_it_redirects_to_https_and_trusts_the_proxys_header(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()  # a new client builds its middleware with these settings
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301 and plain.url == "https://testserver/accounts/login/"
    secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=3600"
    assert client.get("/healthz").status_code == 200  # load balancers check over HTTP


def database_options(tmp_path, **env) -> str:
    """The default database's OPTIONS as the settings build them from `env`."""
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL")}
    code = "from django.conf import settings; print(settings.DATABASES['default'].get('OPTIONS'))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=REPO_ROOT,
        env={**base, "DEBUG": "1", "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_postgresql_keeps_repeated_statements_prepared_unless_turned_off(tmp_path):
    url = "postgres://u:p@127.0.0.1:5432/nowhere"  # never connected to here
    default = database_options(tmp_path, DATABASE_URL=url)
    assert "'server_side_binding': True" in default and "'prepare_threshold': 2" in default
    chosen = database_options(tmp_path, DATABASE_URL=url, POSTGRES_PREPARE_THRESHOLD="7")
    assert "'prepare_threshold': 7" in chosen
    off = database_options(tmp_path, DATABASE_URL=url, POSTGRES_PREPARE_THRESHOLD="0")
    assert "server_side_binding" not in off and "prepare_threshold" not in off


@pytest.mark.parametrize("value", ["-1", "often"])
def test_it_names_a_bad_prepare_threshold(tmp_path, value):
    result = django_check(DEBUG="1", POSTGRES_PREPARE_THRESHOLD=value, VAR_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "POSTGRES_PREPARE_THRESHOLD" in result.stderr and "Traceback" not in result.stderr
