"""manage.py load_demo: the real AlpacaEval subset, loadable twice."""

import io

import pytest
from django.core.management import call_command

from annotation.models import LanguageModel, MetricScore, Prompt, Response, Study, Task, User

pytestmark = pytest.mark.django_db


def test_it_loads_the_demo_study_and_accounts_idempotently():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    study = Study.objects.get(slug="alpacaeval-demo")
    assert Prompt.objects.filter(study=study).count() == 80
    assert sorted(LanguageModel.objects.filter(study=study).values_list("name", flat=True)) == [
        "alpaca-7b",
        "claude-2",
        "gpt4_1106_preview",
        "vicuna-13b",
    ]
    assert Response.objects.filter(prompt__study=study).count() == 320
    # 160 sampled pairs, plus the AI judge's pairs (gpt4 against each other model on every
    # prompt) that the sample lacked: 80 of the 240 were already among the 160.
    assert Task.objects.filter(study=study, kind="pair").count() == 319
    judge = User.objects.get(username="weighted_alpaca_eval_gpt4_turbo")
    assert judge.kind == "model_judge" and judge.judgments.count() == 240
    assert MetricScore.objects.filter(response__prompt__study=study, metric="length").count() == 320
    assert "AlpacaEval" in study.data_sources
    assert study.require_ratings and "refusal" in study.tags
    sources = set(Prompt.objects.values_list("metadata__source", flat=True))
    assert sources == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    grader = User.objects.get(username="grader")
    assert grader.role == "grader" and grader.check_password("grader-demo-pass")
    assert "researcher-demo-pass" in out.getvalue()

    before = (
        Prompt.objects.count(),
        Response.objects.count(),
        Task.objects.count(),
        User.objects.count(),
    )
    call_command("load_demo", stdout=io.StringIO())
    after = (
        Prompt.objects.count(),
        Response.objects.count(),
        Task.objects.count(),
        User.objects.count(),
    )
    assert after == before


def test_it_creates_an_admin_too_and_prints_every_login_for_the_port_served():
    out = io.StringIO()
    call_command("load_demo", "--url", "http://127.0.0.1:8123/", stdout=out)
    text = out.getvalue()
    assert "Demo logins (http://127.0.0.1:8123/accounts/login/):" in text
    for role, username, password in (
        ("grader", "grader", "grader-demo-pass"),
        ("grader", "grader2", "grader-demo-pass"),
        ("researcher", "researcher", "researcher-demo-pass"),
        ("admin", "admin", "admin-demo-pass"),
    ):
        assert f"{role:<10}  username: {username:<10}  password: {password}" in text
        user = User.objects.get(username=username)
        assert user.role == role and user.check_password(password)
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    assert "Django admin at http://127.0.0.1:8123/admin/" in text
