"""Prompts and outputs are rendered to sanitised HTML once, when stored, and the grading
screen shows what was stored: no page renders an untrusted text on a request."""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from rest_framework.test import APIClient

from annotation.models import Assignment, LanguageModel, Prompt, Response, Study
from annotation.rendering import render_conversation, render_markdown
from tests.conftest import join, make_user

MARKDOWN = "Use **bold**, `code` and <script>alert(1)</script>\n\n- a list"
CHAT = [
    {"role": "system", "content": "Be *brief*."},
    {"role": "user", "content": "Say <b>bye</b>"},
]


def assert_rendered(prompts, responses):
    for prompt in prompts:
        assert prompt.conversation_html == render_conversation(prompt.conversation)
    for response in responses:
        assert response.html == render_markdown(response.text)
        assert "<script>" not in response.html


@pytest.mark.django_db
def test_import_study_stores_the_html_of_prompts_and_outputs(write_jsonl):
    from annotation.ingest.study_files import import_study

    import_study(
        write_jsonl(
            [
                {"id": "p1", "prompt": MARKDOWN, "outputs": {"m1": MARKDOWN, "m2": "plain"}},
                {"id": "p2", "prompt": CHAT, "outputs": {"m1": "Bye", "m2": "# Ciao"}},
            ]
        ),
        "html",
    )
    assert_rendered(Prompt.objects.all(), Response.objects.all())
    assert "<strong>bold</strong>" in Response.objects.get(text=MARKDOWN).html
    chat = Prompt.objects.get(external_id="p2").conversation_html
    assert [turn["role"] for turn in chat] == ["system", "user"]
    assert chat[1]["html"] == "<p>Say &lt;b&gt;bye&lt;/b&gt;</p>\n"


@pytest.mark.django_db
def test_the_api_bulk_create_stores_the_html(study, researcher):
    client = APIClient()
    client.force_authenticate(researcher)
    response = client.post(
        "/api/studies/s1/prompts/",
        [{"id": "p1", "prompt": CHAT, "outputs": {"m1": MARKDOWN, "m2": "## Heading"}}],
        format="json",
    )
    assert response.status_code == 201
    assert_rendered(Prompt.objects.all(), Response.objects.all())
    assert Response.objects.get(text="## Heading").html == "<h2>Heading</h2>\n"


@pytest.mark.django_db
def test_responses_made_from_arena_conversations_store_the_html(write_jsonl):
    Study.objects.create(slug="arena", name="Arena")

    def conversation(answer):
        return [{"role": "user", "content": "Hi *there*"}, {"role": "assistant", "content": answer}]

    path = write_jsonl(
        [
            {
                "model_a": "m1",
                "model_b": "m2",
                "winner": "model_a",
                "conversation_a": conversation(MARKDOWN),
                "conversation_b": conversation("1. one\n2. two"),
            }
        ],
        name="arena.jsonl",
    )
    call_command("import_judgments", str(path), "--study", "arena", "--format", "arena")
    assert_rendered(Prompt.objects.all(), Response.objects.all())
    assert Prompt.objects.get().conversation_html[0]["html"] == "<p>Hi <em>there</em></p>\n"


@pytest.mark.django_db
def test_saving_a_prompt_or_response_renders_it_again(study):
    prompt = Prompt.objects.create(study=study, external_id="p", text="*one*")
    model = LanguageModel.objects.create(study=study, name="m")
    response = Response.objects.create(prompt=prompt, model=model, text="**two**")
    assert_rendered([prompt], [response])
    response.text = "`three`"
    response.save(update_fields=["text"])
    prompt.messages = CHAT
    prompt.save()
    prompt.refresh_from_db()
    response.refresh_from_db()
    assert response.html == "<p><code>three</code></p>\n"
    assert_rendered([prompt], [response])


@pytest.mark.django_db
def test_the_grading_screen_shows_the_stored_html(client, pair_study):
    grader = make_user("gina", "grader")
    join(pair_study, grader)
    client.force_login(grader)
    # The stored HTML, not a rendering of the text, is what the screen shows.
    Response.objects.filter(prompt__study=pair_study).update(html="<p>STORED OUTPUT</p>")
    Prompt.objects.filter(study=pair_study).update(
        conversation_html=[{"role": "user", "html": "<p>STORED PROMPT</p>"}]
    )
    page = client.get(reverse("grade", args=[pair_study.slug])).content.decode()
    assignment = Assignment.objects.get(grader=grader)
    assert page.count("<p>STORED OUTPUT</p>") == 2 and "<p>STORED PROMPT</p>" in page
    assert assignment.task.response_a.text not in page
    assert assignment.task.prompt.text not in page


@pytest.mark.django_db(transaction=True)
def test_the_migration_renders_the_rows_stored_before_it():
    executor = MigrationExecutor(connection)
    before = [("annotation", "0007_results_refresh")]
    latest = executor.loader.graph.leaf_nodes("annotation")
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        old_study = apps.get_model("annotation", "Study").objects.create(slug="old", name="Old")
        old_prompt = apps.get_model("annotation", "Prompt").objects.create(
            study=old_study, external_id="p", text="q", messages=CHAT
        )
        old_model = apps.get_model("annotation", "LanguageModel").objects.create(
            study=old_study, name="m"
        )
        apps.get_model("annotation", "Response").objects.create(
            prompt=old_prompt, model=old_model, text=MARKDOWN
        )
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
        assert_rendered(Prompt.objects.all(), Response.objects.all())
        assert json.dumps(Prompt.objects.get().conversation_html)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
