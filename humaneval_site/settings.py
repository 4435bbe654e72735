"""Settings, read from the environment in one place.

Every knob is an environment variable with a safe default; see README.md
("Configuration") for the list.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def envlist(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = envbool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment "
            "(or DEBUG=1 for a development-only default)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "annotation",
]

# Background jobs (metric computation) on a database-backed queue: run
# `python manage.py db_worker` beside the web server. Nothing lives in process memory.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "annotation.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "annotation.middleware.ContentSecurityPolicyMiddleware",
    # Last, as django-axes asks: turns a locked-out login into 429 (annotation/login_throttle.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "humaneval_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "humaneval_site.wsgi.application"

VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
DEFAULT_SQLITE_PATH = VAR_DIR / "humaneval.sqlite3"

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # dj_database_url raises several types for a bad URL
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _database = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DEFAULT_SQLITE_PATH)}

if _database["ENGINE"] == "django.db.backends.sqlite3":
    _database["CONN_MAX_AGE"] = 0
    _database.setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers run beside one writer; IMMEDIATE takes the write lock at
            # BEGIN, so two writers queue on the busy timeout instead of failing with
            # "database is locked" when a read transaction tries to upgrade.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": envint("SQLITE_BUSY_TIMEOUT", 30),
        }
    )
# PostgreSQL: parameters sent apart from the SQL, and a statement run this many times on a
# connection kept as a server-side prepared statement. Planning was most of a vote's
# database time: the hand-out's read of the next task took 2.5 ms to plan and 0.25 ms to
# run. 0 turns it off (Django's default, values written into the SQL text), as a
# connection pooler in transaction mode without prepared-statement support needs.
POSTGRES_PREPARE_THRESHOLD = envint("POSTGRES_PREPARE_THRESHOLD", 2)
if POSTGRES_PREPARE_THRESHOLD < 0:
    raise ImproperlyConfigured(
        f"POSTGRES_PREPARE_THRESHOLD must be 0 (off) or more, got {POSTGRES_PREPARE_THRESHOLD}"
    )
if _database["ENGINE"] == "django.db.backends.postgresql" and POSTGRES_PREPARE_THRESHOLD:
    _database.setdefault("OPTIONS", {}).update(
        {"server_side_binding": True, "prepare_threshold": POSTGRES_PREPARE_THRESHOLD}
    )
DATABASES = {"default": _database}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "annotation.User"

AUTHENTICATION_BACKENDS = [
    "annotation.login_throttle.LoginThrottleBackend",
    # ModelBackend, reading the signed-in user with a prepared query (annotation/session_auth.py).
    "annotation.session_auth.UserBackend",
]

# Failed logins (login page, admin, API token), counted in the database by django-axes,
# per username and per client address: LOGIN_FAILURE_LIMIT failures lock either for
# LOGIN_LOCKOUT_MINUTES (429 with Retry-After); a success clears the username's count.
AXES_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=envint("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = False  # annotation.login_throttle clears the username only
# Attempts during a lockout are refused without being recorded, so the window is fixed
# and a client hammering a locked account cannot grow its database row.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Each counted failure is also logged for the admin (Axes › Access failures).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_LOCKOUT_CALLABLE = "annotation.login_throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "annotation.login_throttle.client_ip"
# How many reverse proxies in front of the app append to X-Forwarded-For; 0 ignores it.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# Django's database sessions, read with a prepared query (annotation/session_auth.py).
SESSION_ENGINE = "annotation.session_auth"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# HTTPS, per Django's deployment checklist; README "Production" gives the environment.
# Off by default so `make demo` serves plain http://127.0.0.1:8000.
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
# A load balancer's health check may come over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from the name of the header a TLS-terminating proxy sets to
    "https" (e.g. X-Forwarded-Proto); only set it when the proxy always sets or strips it."""
    name = value.strip()
    if not name:
        return None
    if not name.replace("-", "").replace("_", "").isalnum():
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, got {value!r}"
        )
    meta = name.upper().replace("-", "_")
    return (meta if meta.startswith("HTTP_") else f"HTTP_{meta}", "https")


SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("SECURE_PROXY_SSL_HEADER", ""))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "annotation.api.parsers.JSONBodyParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "annotation.api.schema.APIAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Human evaluation annotation API",
    "DESCRIPTION": (
        "Studies, prompts, responses, judgments, results and exports. Authenticate with "
        '"Authorization: Token TOKEN" (POST /api/auth/token/) or a session. Every error '
        "status an operation can answer is listed with its body. Request bodies: JSON "
        "objects or lists, at most MAX_REQUEST_BODY_BYTES (413 beyond), nested at most "
        "MAX_REQUEST_JSON_DEPTH levels, with no NUL characters or lone surrogates in any "
        "string (400 naming the field). This schema and the docs page are public: they "
        "describe the API, never its data."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get their own components, so that what a request must hold (no blank
    # required text) is stated without constraining what responses show.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "annotation.api.schema.add_error_components",
    ],
    # Swagger UI and ReDoc from the app's own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Hostile request bodies: a body over this size is refused with 413 before it is read,
# and a JSON body nested deeper than this is a 400 naming where (annotation/api/parsers.py).
MAX_REQUEST_BODY_BYTES = envint("MAX_REQUEST_BODY_BYTES", 20 * 1024 * 1024)
MAX_REQUEST_JSON_DEPTH = envint("MAX_REQUEST_JSON_DEPTH", 32)

# How long a handed-out task stays reserved for a grader before it returns to the pool.
ASSIGNMENT_TIMEOUT_MINUTES = envint("ASSIGNMENT_TIMEOUT_MINUTES", 30)

# Results are recomputed by the background worker at most this often while votes come in;
# a queued recomputation that no worker has started this long after it was due runs in the
# next request that reads results (annotation.results.store).
RESULTS_REFRESH_SECONDS = envint("RESULTS_REFRESH_SECONDS", 10)
RESULTS_WORKER_GRACE_SECONDS = envint("RESULTS_WORKER_GRACE_SECONDS", 30)
# Processes a refresh computes the results on (forked after reading the study's data);
# 0: one per core; 1: one after another in the calling process.
RESULTS_PROCESSES = envint("RESULTS_PROCESSES", 0)
# A scheduled study (adaptive pairs or a vote budget) recomputes its pair priorities after
# every this many votes of each grader (annotation.schedule).
SCHEDULE_EVERY_VOTES = envint("SCHEDULE_EVERY_VOTES", 5)

# Limits on imported data (import_* commands and the API's bulk writes): how deeply a field
# may nest, the longest output (or prompt turn, or reference), the most tasks one import
# may create. Beyond them an import is refused, naming the line, field and limit.
MAX_JSON_DEPTH = envint("MAX_JSON_DEPTH", 32)
MAX_OUTPUT_CHARS = envint("MAX_OUTPUT_CHARS", 200_000)
MAX_IMPORT_TASKS = envint("MAX_IMPORT_TASKS", 1_000_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
