"""Every admin page renders: the index, each model's list (with a search and a filter),
its add form, and a change form for a real object."""

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db):
    call_command("load_demo", no_accounts=False, stdout=io.StringIO())


def admin_models():
    return [(m._meta.app_label, m._meta.model_name, m) for m in admin.site._registry]


def test_the_index_renders(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("app,name,model", admin_models(), ids=[n for _, n, _ in admin_models()])
def test_every_admin_page_renders(client, admin_user, demo, app, name, model):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from annotation.models import Assignment, Judgment, MetricScore, Rating, Response, Task

    # Give the models without demo rows one object each.
    task = Task.objects.first()
    assignment = Assignment.objects.create(task=task, grader=admin_user)
    judgment = Judgment.objects.create(
        task=task, grader=admin_user, verdict="a", assignment=assignment
    )
    Rating.objects.create(
        judgment=judgment, response=task.response_a, label="good", tags=["untrue"]
    )
    MetricScore.objects.create(
        response=Response.objects.first(), metric="admin-test-metric", value=10
    )
    Group.objects.create(name="graders")
    from annotation.metric_runs import run_metric_job

    run_metric_job.enqueue(0)  # a queued background task for the task-results admin
    from annotation import handout, results
    from annotation.models import IdempotencyRecord, MetricJob, Study

    study = Study.objects.get(slug="alpacaeval-demo")
    handout.refresh_quality(study, admin_user)
    results.progress(study)  # a cached result
    MetricJob.objects.create(study=study, metric="length", store_as="length", created_by=admin_user)
    IdempotencyRecord.objects.create(
        user=admin_user, key="k1", method="POST", path="/api/x/", status_code=201, body={}
    )
    Token.objects.create(user=admin_user)
    # A failed login: rows for django-axes' attempt and failure-log pages (a login, below,
    # writes its access log).
    client.post("/accounts/login/", {"username": "nobody", "password": "wrong-password"})

    client.force_login(admin_user)
    base = f"admin:{app}_{name}"
    listing = client.get(reverse(f"{base}_changelist"))
    assert listing.status_code == 200
    assert client.get(reverse(f"{base}_changelist"), {"q": "a"}).status_code == 200
    # Some third-party admins (django-tasks' results) are read-only: no add page.
    can_add = admin.site._registry[model].has_add_permission(listing.wsgi_request)
    assert client.get(reverse(f"{base}_add")).status_code == (200 if can_add else 403)
    obj = model.objects.first()
    assert obj is not None
    assert client.get(reverse(f"{base}_change", args=[obj.pk])).status_code == 200


def test_graders_and_researchers_cannot_open_the_admin(client, grader, researcher):
    for user in (grader, researcher):
        client.force_login(user)
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302 and "/admin/login/" in response.url
