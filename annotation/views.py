"""Plain function views: check access, load objects, call a domain function, render."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render

from annotation import progress
from annotation.access import studies_for


@login_required
def home(request):
    studies = list(studies_for(request.user).order_by("name"))
    rows = progress.grader_progress(request.user, studies)
    return render(request, "annotation/home.html", {"rows": rows})


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
