"""Hostile request bodies get a 400 (or 413) naming the field and the limit, never a 500:
deep nesting (also unauthenticated, on the token endpoint), lone surrogates, NUL
characters, deeply nested metadata, oversized bodies. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Prompt, Study

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


def api(user=None) -> APIClient:
    client = APIClient(raise_request_exception=True)
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def post_raw(client, path: str, body: str | bytes, **headers):
    return client.generic("POST", path, body, content_type="application/json", **headers)


def nested(levels: int, leaf="x") -> dict:
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


WRITE_PATHS = ["/api/studies/", "/api/studies/s1/prompts/", "/api/studies/s1/metric-scores/"]


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_it_refuses_a_deeply_nested_body(researcher, path):
    response = post_raw(api(researcher), path, DEEP)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "nested deeper than the limit of 32 levels (MAX_REQUEST_JSON_DEPTH)" in detail


def test_it_refuses_a_deeply_nested_body_on_the_token_endpoint_unauthenticated(db):
    response = post_raw(api(), "/api/auth/token/", DEEP)
    assert response.status_code == 400
    assert "MAX_REQUEST_JSON_DEPTH" in response.json()["detail"]


def test_it_names_the_field_of_metadata_nested_500_deep(researcher):
    record = {"id": "deep", "prompt": "Deep?", "metadata": nested(500), "outputs": {"m": "x"}}
    response = api(researcher).post("/api/studies/s1/prompts/", [record], format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "$[0].metadata.a.a.a.a.a.a.a.a.a.a…: nested 33 levels deep; "
        "the limit is 32 (MAX_REQUEST_JSON_DEPTH)."
    }
    assert not Prompt.objects.filter(external_id="deep").exists()


def test_it_accepts_nesting_up_to_the_limit(researcher):
    # The list is level 1, the record 2, metadata 3: 29 more levels reach 32.
    record = {"id": "ok", "prompt": "Deep?", "metadata": nested(29), "outputs": {"m": "x"}}
    response = api(researcher).post("/api/studies/s1/prompts/", [record], format="json")
    assert response.status_code == 201, response.json()


@override_settings(MAX_REQUEST_JSON_DEPTH=4)
def test_the_depth_limit_is_a_setting(researcher):
    # The list is level 1, the record 2, metadata 3, then one level per "a".
    record = {"id": "d", "prompt": "Deep?", "metadata": nested(3), "outputs": {"m": "x"}}
    response = api(researcher).post("/api/studies/s1/prompts/", [record], format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "$[0].metadata.a.a: nested 5 levels deep; the limit is 4 (MAX_REQUEST_JSON_DEPTH)."
    )


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/api/studies/", '{"slug": "x", "name": "a\\ud800b"}', "$.name: this value"),
        (
            "/api/studies/s1/prompts/",
            '[{"id": "q", "prompt": "a\\udfffb", "outputs": {"m": "x"}}]',
            "$[0].prompt: this value",
        ),
        (
            "/api/studies/s1/prompts/",
            '[{"id": "q", "prompt": "p", "metadata": {"k\\ud800": 1}, "outputs": {"m": "x"}}]',
            '$[0].metadata["k\\ud800"]: this key',
        ),
        (
            "/api/studies/s1/metric-scores/",
            '[{"prompt_id": "q", "model": "\\ud83d", "metric": "m", "value": 1}]',
            "$[0].model: this value",
        ),
        ("/api/auth/token/", '{"username": "\\ud800", "password": "x"}', "$.username"),
    ],
)
def test_it_names_the_field_holding_a_lone_surrogate(researcher, path, body, where):
    response = post_raw(api(researcher), path, body)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(where) and "lone UTF-16 surrogate" in detail, detail
    assert Study.objects.count() == 1 and not Prompt.objects.exists()


def test_a_surrogate_pair_is_a_character_and_is_stored(researcher):
    body = '{"slug": "emoji", "name": "smile \\ud83d\\ude00"}'
    response = post_raw(api(researcher), "/api/studies/", body)
    assert response.status_code == 201
    assert Study.objects.get(slug="emoji").name == "smile \N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            [{"id": "q", "prompt": "p", "metadata": {"k": "a\x00b"}, "outputs": {"m": "x"}}],
            "$[0].metadata.k: this value holds a NUL character",
        ),
        (
            [{"id": "q", "prompt": "p", "outputs": {"m": {"text": "x", "metadata": {"\x00": 1}}}}],
            '$[0].outputs.m.metadata["\\u0000"]: this key holds a NUL character',
        ),
    ],
)
def test_it_refuses_nul_characters_that_the_database_cannot_store(researcher, body, where):
    response = api(researcher).post("/api/studies/s1/prompts/", body, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith(where)


@pytest.mark.parametrize("body", ['"just text"', "3", "null", "NaN", '{"value": Infinity}'])
def test_it_refuses_bodies_that_are_not_an_object_or_list(researcher, body):
    response = post_raw(api(researcher), "/api/studies/", body)
    assert response.status_code == 400
    assert "detail" in response.json()


def test_it_reports_malformed_json_with_its_position(researcher):
    response = post_raw(api(researcher), "/api/studies/", '{"slug": "x",}')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert "line 1 column" in response.json()["detail"]


@override_settings(MAX_REQUEST_BODY_BYTES=1000)
@pytest.mark.parametrize("path", [*WRITE_PATHS, "/api/auth/token/"])
def test_it_refuses_a_body_over_the_size_limit_before_reading_it(researcher, path):
    body = json.dumps([{"id": "q", "prompt": "x" * 2000, "outputs": {"m": "x"}}])
    response = post_raw(api(researcher), path, body)
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"The request body is {len(body):,} bytes; the limit is 1,000 bytes "
        "(MAX_REQUEST_BODY_BYTES)."
    }


@override_settings(MAX_REQUEST_BODY_BYTES=1000)
def test_a_page_post_over_the_limit_is_413_too(client, grader):
    client.force_login(grader)
    response = client.post("/studies/s1/grade/1/", {"comment": "x" * 2000})
    assert response.status_code == 413
    assert b"MAX_REQUEST_BODY_BYTES" in response.content


def test_a_deep_form_field_is_just_text(researcher):
    # Form bodies are not parsed as JSON: the token endpoint answers as for a wrong login.
    response = api().post("/api/auth/token/", {"username": DEEP[:5000], "password": "x"})
    assert response.status_code == 400
    assert "username" in response.json()
