"""The REST API: who may call what (one table of role x endpoint), study details, study
creation, token and session auth, idempotent retries, the schema and the docs page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import handout
from annotation.handout import Vote
from annotation.ingest.study_files import StudyOptions, import_study
from annotation.models import IdempotencyRecord, Membership, Prompt, Response, Study
from tests.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db

RECORDS = [
    {
        "id": f"q{i}",
        "prompt": f"Question {i}?",
        "metadata": {"language": lang},
        "outputs": {"alpha": f"Alpha answers {i}.", "beta": f"Beta answers {i}."},
    }
    for i, lang in enumerate(["en", "de"])
]


def api(user=None) -> APIClient:
    """A client that authenticates as `user` with a token (anonymous for None)."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def vote_everything(study, user) -> None:
    """`user` votes on every task left for them: alpha wins on q0, beta on q1."""
    while (assignment := handout.next_assignment(user, study)) is not None:
        winner = "alpha" if assignment.task.prompt.external_id == "q0" else "beta"
        left = Response.objects.get(pk=handout.side_to_response(assignment)["left"])
        side = "left" if left.model.name == winner else "right"
        loser = "right" if side == "left" else "left"
        handout.record_vote(
            assignment.pk,
            user,
            Vote(verdict=side, ratings={side: "good", loser: "poor"}, seconds=3.0),
        )


@pytest.fixture
def cast(study, grader, researcher, admin_user, outsider, write_jsonl):
    """Study s1 with two prompts x two models, voted on by its grader; one user per role."""
    import_study(write_jsonl(RECORDS), study.slug, StudyOptions())
    vote_everything(study, grader)
    return {
        "anonymous": None,
        "outsider": outsider,
        "outsider_researcher": make_user("oscar", "researcher"),
        "grader": grader,
        "researcher": researcher,
        "admin": admin_user,
    }


# --- who may call what ---------------------------------------------------------------------

ROLES = ("anonymous", "outsider", "outsider_researcher", "grader", "researcher", "admin")
NEW_RECORD = [{"id": "new", "prompt": "New?", "outputs": {"alpha": "Yes.", "beta": "No."}}]
NEW_SCORE = [{"prompt_id": "q0", "model": "alpha", "metric": "length", "value": 3}]
S1 = "/api/studies/s1"

# method, path, body, then the expected status for each of ROLES in order.
MATRIX = [
    ("GET", "/api/studies/", None, 401, 200, 200, 200, 200, 200),
    ("POST", "/api/studies/", {"slug": "new-study"}, 401, 403, 201, 403, 201, 201),
    ("GET", f"{S1}/", None, 401, 404, 404, 200, 200, 200),
    ("GET", "/api/studies/no-such-study/", None, 401, 404, 404, 404, 404, 404),
    ("GET", f"{S1}/prompts/", None, 401, 404, 404, 403, 200, 200),
    ("POST", f"{S1}/prompts/", NEW_RECORD, 401, 404, 404, 403, 201, 201),
    ("GET", f"{S1}/responses/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/judgments/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/metric-scores/", None, 401, 404, 404, 403, 200, 200),
    ("POST", f"{S1}/metric-scores/", NEW_SCORE, 401, 404, 404, 403, 201, 201),
    ("GET", f"{S1}/results/leaderboard/?bootstrap=0", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/agreement/?bootstrap=0", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/correlations/?bootstrap=0", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/slices/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/progress/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/davidson/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/results/style/", None, 401, 404, 404, 403, 202, 202),
    ("GET", f"{S1}/results/position/", None, 401, 404, 404, 403, 202, 202),
    ("GET", f"{S1}/results/consistency/", None, 401, 404, 404, 403, 202, 202),
    ("GET", f"{S1}/results/tag-effects/", None, 401, 404, 404, 403, 202, 202),
    (
        "GET",
        f"{S1}/results/compare/?model_a=alpha&model_b=beta&measure=win_rate",
        None,
        *(401, 404, 404, 403, 200, 200),
    ),
    ("GET", f"{S1}/exports/csv/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/jsonl/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/parquet/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/xlsx/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/preferences/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/arena/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/scores/", None, 401, 404, 404, 403, 200, 200),
    ("GET", f"{S1}/exports/card/", None, 401, 404, 404, 403, 200, 200),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "role", "expected"),
    [
        pytest.param(method, path, body, role, code, id=f"{method} {path} as {role}")
        for method, path, body, *codes in MATRIX
        for role, code in zip(ROLES, codes, strict=True)
    ],
)
def test_it_lets_each_role_call_what_it_may(cast, method, path, body, role, expected):
    client = api(cast[role])
    response = client.get(path) if method == "GET" else client.post(path, body, format="json")
    assert response.status_code == expected, getattr(response, "data", response)


def test_it_covers_every_export_format_in_the_table():
    from annotation.exports import FORMATS

    assert {f"{S1}/exports/{fmt}/" for fmt in FORMATS} <= {path for _, path, *_ in MATRIX}


# --- studies -------------------------------------------------------------------------------


def test_it_lists_only_the_users_studies(cast):
    Study.objects.create(slug="other", name="Other", rating_scale=["bad", "good"])
    study = Study.objects.get(slug="s1")
    expected_s1 = {
        "slug": "s1",
        "name": "Study one",
        "protocol": "pairwise",
        "status": "active",
        "overlap": 3,
        "created_at": study.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert api(cast["grader"]).get("/api/studies/").json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [expected_s1],
    }
    assert [s["slug"] for s in api(cast["admin"]).get("/api/studies/").json()["results"]] == [
        "other",
        "s1",
    ]
    assert api(cast["outsider"]).get("/api/studies/").json()["results"] == []


def test_it_shows_a_study_in_full(cast):
    study = Study.objects.get(slug="s1")
    response = api(cast["grader"]).get(f"{S1}/")
    assert response.json() == {
        "slug": "s1",
        "name": "Study one",
        "instructions": "",
        "protocol": "pairwise",
        "rating_scale": ["poor", "acceptable", "good"],
        "good_labels": ["good"],
        "tags": ["harmful", "untrue", "unhelpful"],
        "overlap": 3,
        "require_ratings": False,
        "blind": True,
        "reveal_after_vote": False,
        "gold_rate": 0.0,
        "status": "active",
        "created_at": study.created_at.isoformat().replace("+00:00", "Z"),
        "counts": {
            "members": 2,
            "models": 2,
            "prompts": 2,
            "responses": 4,
            "tasks": 2,
            "gold_tasks": 0,
            "judgments": 2,
        },
    }


def test_it_creates_a_study_with_the_creator_as_member(researcher):
    body = {
        "slug": "chat-eval",
        "name": "Chat evaluation",
        "protocol": "both",
        "rating_scale": ["bad", "ok", "great"],
        "good_labels": ["great"],
        "tags": ["refusal"],
        "overlap": 2,
        "gold_rate": 0.1,
    }
    response = api(researcher).post("/api/studies/", body, format="json")
    assert response.status_code == 201, response.json()
    study = Study.objects.get(slug="chat-eval")
    assert response.json() == {
        "slug": "chat-eval",
        "name": "Chat evaluation",
        "instructions": "",
        "protocol": "both",
        "rating_scale": ["bad", "ok", "great"],
        "good_labels": ["great"],
        "tags": ["refusal"],
        "overlap": 2,
        "require_ratings": False,
        "blind": True,
        "reveal_after_vote": False,
        "gold_rate": 0.1,
        "status": "active",
        "created_at": study.created_at.isoformat().replace("+00:00", "Z"),
        "counts": {
            "members": 1,
            "models": 0,
            "prompts": 0,
            "responses": 0,
            "tasks": 0,
            "gold_tasks": 0,
            "judgments": 0,
        },
    }
    assert Membership.objects.filter(study=study, user=researcher).exists()
    assert api(researcher).get("/api/studies/chat-eval/prompts/").status_code == 200


def test_it_gives_a_new_study_the_import_defaults(researcher):
    response = api(researcher).post("/api/studies/", {"slug": "plain_one"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["rating_scale"], body["good_labels"], body["tags"]) == (
        "Plain one",
        ["poor", "acceptable", "good"],
        ["good"],
        ["harmful", "untrue", "unhelpful"],
    )
    assert (body["protocol"], body["overlap"]) == ("pairwise", 3)


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"slug": "bad slug!"}, {"slug": [re.compile("valid .slug.")]}),
        ({}, {"slug": ["This field is required."]}),
        (
            {"slug": "x", "good_labels": ["excellent"]},
            {
                "good_labels": [
                    "['excellent'] are not on the rating scale ['poor', 'acceptable', 'good']"
                ]
            },
        ),
        ({"slug": "x", "rating_scale": ["a", "a"]}, {"rating_scale": ["lists a label twice"]}),
        (
            {"slug": "x", "overlap": 0},
            {"overlap": ["Ensure this value is greater than or equal to 1."]},
        ),
        ({"slug": "x", "protocol": "vibes"}, {"protocol": ['"vibes" is not a valid choice.']}),
        (
            {"slug": "x", "gold_rate": 2},
            {"gold_rate": ["Ensure this value is less than or equal to 1."]},
        ),
        # NUL is refused by the parser, for every field (see test_api_hostile.py).
        (
            {"slug": "x", "name": "a\x00b"},
            {
                "detail": "$.name: this value holds a NUL character (\\u0000), "
                "which cannot be stored."
            },
        ),
    ],
)
def test_it_refuses_a_bad_study_with_field_messages(study, researcher, body, errors):
    response = api(researcher).post("/api/studies/", body, format="json")
    assert response.status_code == 400
    got = response.json()
    assert got.keys() == errors.keys()
    for field, messages in errors.items():
        if field == "detail":
            assert got[field] == messages
            continue
        for message, expected in zip(got[field], messages, strict=True):
            assert (
                expected.search(message)
                if isinstance(expected, re.Pattern)
                else message == expected
            ), message
    assert Study.objects.count() == 1


def test_it_answers_409_for_a_slug_that_is_taken(study, researcher):
    response = api(researcher).post("/api/studies/", {"slug": "s1"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"slug": ["a study with this slug already exists"]}
    assert Study.objects.count() == 1


# --- authentication ------------------------------------------------------------------------


def test_it_hands_out_a_token_that_authenticates(researcher):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "rita", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=researcher).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/studies/s1/prompts/").status_code == 200


def test_it_refuses_a_token_for_a_wrong_password(researcher):
    response = APIClient().post(
        "/api/auth/token/", {"username": "rita", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_it_refuses_a_bad_token(study):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/studies/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token."}


def test_it_accepts_a_session_and_asks_it_for_csrf_on_writes(researcher):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="rita", password=PASSWORD)
    assert client.get("/api/studies/s1/").status_code == 200
    response = client.post("/api/studies/", {"slug": "via-session"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# --- idempotent retries --------------------------------------------------------------------


def test_it_replays_a_retried_write_and_writes_once(researcher):
    client = api(researcher)
    first = client.post(
        "/api/studies/s1/prompts/", NEW_RECORD, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == 201
    Prompt.objects.filter(external_id="new").delete()  # a retry must not write it again
    again = client.post(
        "/api/studies/s1/prompts/", NEW_RECORD, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not Prompt.objects.filter(external_id="new").exists()
    assert IdempotencyRecord.objects.filter(user=researcher, key="k-1").count() == 1


def test_it_replays_a_created_study_instead_of_refusing_the_taken_slug(researcher):
    client = api(researcher)
    first = client.post("/api/studies/", {"slug": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    again = client.post("/api/studies/", {"slug": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="a")
    fresh = client.post("/api/studies/", {"slug": "once"}, format="json", HTTP_IDEMPOTENCY_KEY="b")
    assert (first.status_code, again.status_code, fresh.status_code) == (201, 201, 409)
    assert again.json() == first.json()
    assert Study.objects.filter(slug="once").count() == 1


def test_it_refuses_a_key_reused_for_another_path(researcher):
    client = api(researcher)
    client.post("/api/studies/", {"slug": "k"}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    response = client.post(
        "/api/studies/s1/prompts/", NEW_RECORD, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": "This Idempotency-Key was used for POST /api/studies/; "
        "use a new key for a different request."
    }
    assert not Prompt.objects.filter(external_id="new").exists()


def test_it_refuses_a_key_reused_with_a_different_body(researcher):
    client = api(researcher)
    first = client.post("/api/studies/", {"slug": "one"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    other = client.post("/api/studies/", {"slug": "two"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (first.status_code, other.status_code) == (201, 422)
    assert other.json() == {
        "detail": "This Idempotency-Key was used with a different request body; "
        "use a new key for a different request."
    }
    assert "Idempotent-Replayed" not in other
    assert set(Study.objects.values_list("slug", flat=True)) == {"s1", "one"}


def test_it_replays_the_same_body_whatever_its_key_order_and_spacing(researcher):
    client = api(researcher)
    first = client.post(
        "/api/studies/s1/prompts/",
        '[{"id": "new", "prompt": "New?", "outputs": {"alpha": "Yes.", "beta": "No."}}]',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order",
    )
    again = client.post(
        "/api/studies/s1/prompts/",
        '[{"outputs":{"beta":"No.","alpha":"Yes."},"prompt":"New?","id":"new"}]',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order",
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()


def test_it_refuses_a_reused_key_with_other_records_and_writes_nothing(researcher):
    client = api(researcher)
    client.post("/api/studies/s1/prompts/", NEW_RECORD, format="json", HTTP_IDEMPOTENCY_KEY="r")
    changed = [{**NEW_RECORD[0], "id": "other"}]
    response = client.post(
        "/api/studies/s1/prompts/", changed, format="json", HTTP_IDEMPOTENCY_KEY="r"
    )
    assert response.status_code == 422
    assert not Prompt.objects.filter(external_id="other").exists()


def test_it_keeps_keys_apart_per_user(study, researcher):
    other = make_user("ruth", "researcher")
    Membership.objects.create(study=study, user=other)
    one = api(researcher).post(
        "/api/studies/", {"slug": "r1"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    two = api(other).post("/api/studies/", {"slug": "r2"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert (one.status_code, two.status_code) == (201, 201)
    assert set(Study.objects.values_list("slug", flat=True)) == {"s1", "r1", "r2"}


def test_it_does_not_store_a_failed_write_so_a_fixed_retry_runs(researcher):
    client = api(researcher)
    bad = client.post("/api/studies/", {"slug": "no good"}, format="json", HTTP_IDEMPOTENCY_KEY="f")
    good = client.post("/api/studies/", {"slug": "good"}, format="json", HTTP_IDEMPOTENCY_KEY="f")
    assert (bad.status_code, good.status_code) == (400, 201)


@pytest.mark.parametrize("key", ["", " ", "x" * 201, "tab\there", "a b", " padded ", "caf\xe9"])
def test_it_refuses_a_malformed_key(researcher, key):
    response = api(researcher).post(
        "/api/studies/", {"slug": "k"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert response.json() == {
        "Idempotency-Key": ["must be 1 to 200 visible ASCII characters, no spaces"]
    }
    assert not Study.objects.filter(slug="k").exists()


# --- schema and docs ----------------------------------------------------------------------


def test_it_serves_a_valid_openapi_schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert {
        "/api/studies/",
        "/api/studies/{slug}/",
        "/api/studies/{slug}/prompts/",
        "/api/studies/{slug}/responses/",
        "/api/studies/{slug}/judgments/",
        "/api/studies/{slug}/metric-scores/",
        "/api/studies/{slug}/results/leaderboard/",
        "/api/studies/{slug}/results/agreement/",
        "/api/studies/{slug}/results/correlations/",
        "/api/studies/{slug}/results/slices/",
        "/api/studies/{slug}/results/progress/",
        "/api/studies/{slug}/results/compare/",
        "/api/studies/{slug}/results/swap-consistency/",
        "/api/studies/{slug}/results/schedule/",
        "/api/studies/{slug}/results/davidson/",
        "/api/studies/{slug}/results/style/",
        "/api/studies/{slug}/results/position/",
        "/api/studies/{slug}/results/consistency/",
        "/api/studies/{slug}/results/tag-effects/",
        "/api/studies/{slug}/exports/{fmt}/",
        "/api/auth/token/",
    } == set(schema["paths"])


def test_it_serves_the_docs_from_its_own_static_files(db):
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert all(src.startswith("/static/") or src.startswith("/api/docs/") for src in sources), (
        sources
    )
    assert "https://" not in html and "http://" not in html and "cdn" not in html.lower()
    assert "<script>" not in html  # the page's own script is a separate file
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self' 'unsafe-inline'" in policy
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()


def test_it_keeps_the_strict_policy_off_the_docs_page(researcher):
    response = api(researcher).get("/api/studies/")
    assert "style-src 'self';" in response["Content-Security-Policy"]
