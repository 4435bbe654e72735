"""URLs of bench_throughput.py's server: the product's, and a bare view that does one INSERT.

The bare view is the floor the grading screen is measured against: the same server, the
same middleware, the same client and request (a form POST with its CSRF token and the
grader's session cookie), and one INSERT of one row in autocommit; no login check, no
template. The table is created by the bench (FLOOR_TABLE).
"""

import time

from django.db import connection
from django.http import HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_POST

FLOOR_TABLE = "bench_floor_insert"


@require_POST
def one_insert(request):
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {FLOOR_TABLE} (note, at) VALUES (%s, %s)",
            [request.POST.get("note", ""), time.time()],
        )
    return HttpResponse("stored", content_type="text/plain")


urlpatterns = [
    path("bench/one-insert/", one_insert),
    path("", include("humaneval_site.urls")),
]
