"""gunicorn entry point for bench/load_graders.py, loaded once with --preload: the app with
every view module already imported, so workers forked from it (and re-forked after a
SIGKILL) answer at once instead of each importing numpy, scipy and matplotlib first."""

from django.urls import get_resolver

from humaneval_site.wsgi import application

get_resolver().url_patterns  # noqa: B018  (resolving the URLs imports every view)

__all__ = ["application"]
