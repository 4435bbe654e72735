"""manage.py load_demo: the real AlpacaEval subset, loadable twice."""

import io
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

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
    # The grading queue is the design alone: 2 sampled pairs per prompt. The AI judge's
    # 240 verdicts (gpt4 against each other model on every prompt) add no task to it.
    queue = Task.objects.filter(study=study, in_queue=True)
    assert queue.count() == 160 and study.queue_size() == 160
    assert set(Counter(queue.values_list("prompt_id", flat=True)).values()) == {2}
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

    assert study.pairs_per_prompt == 2

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


def test_it_samples_every_model_alike_and_prints_the_queue_the_grader_sees():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    study = Study.objects.get(slug="alpacaeval-demo")
    per_model = Counter()
    for a, b in Task.objects.filter(study=study, in_queue=True).values_list(
        "response_a__model__name", "response_b__model__name"
    ):
        per_model.update((a, b))
    # 160 pairs over 4 models: 80 appearances each when every pair is sampled alike (the
    # judge's pairs once joined the queue and gave gpt4_1106_preview about twice as many).
    assert len(per_model) == 4 and max(per_model.values()) - min(per_model.values()) <= 3
    printed = re.search(r"Grading queue: (\d+) tasks", out.getvalue())
    assert printed and int(printed.group(1)) == 160
    client = Client()
    assert client.login(username="grader", password="grader-demo-pass")
    home = client.get("/").content.decode()
    assert "<strong>0</strong> done · <strong>160</strong> remaining" in home
    # The researcher's counts and progress speak of the same queue.
    api = APIClient()
    api.force_authenticate(User.objects.get(username="researcher"))
    assert api.get("/api/studies/alpacaeval-demo/").json()["counts"]["tasks"] == 160
    progress = api.get("/api/studies/alpacaeval-demo/results/progress/").json()
    assert (progress["tasks"], progress["slots"]) == (160, 480)


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
