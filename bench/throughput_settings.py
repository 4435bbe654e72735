"""Settings of bench_throughput.py's server only: the product's settings, with a URL conf
that adds one bare view beside the product's pages (bench/throughput_urls.py). The
product never loads this module."""

from humaneval_site.settings import *  # noqa: F403

ROOT_URLCONF = "throughput_urls"
# The bench fetches no static file; plain storage spares running collectstatic first.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
