"""The OpenAPI schema tells the truth: each operation lists the statuses it can answer with
their error bodies, bulk bodies say minItems, exports their real content types; the
schema and docs are public. Real error responses match the documented shapes."""

from __future__ import annotations

import jsonschema
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation import exports
from annotation.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200  # public: no credentials needed
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def test_the_schema_and_docs_are_public_and_say_so(schema, client):
    assert "public" in schema["info"]["description"]
    assert client.get("/api/docs/").status_code == 200


def test_every_operation_documents_its_error_statuses(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        name = f"{method} {path}"
        params = operation.get("parameters", [])
        if operation.get("security") is not None:
            assert "401" in codes, name
        if "{slug}" in path:
            assert "404" in codes, name
        if any(p["in"] == "query" for p in params) or "requestBody" in operation:
            assert "400" in codes, name
        if "requestBody" in operation:
            assert {"413", "415"} <= codes, name
        if method == "POST" and path != "/api/auth/token/":
            assert {"403", "422"} <= codes, name  # CSRF or role; a reused Idempotency-Key
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                assert list(response["content"]) == ["application/json"], (name, code)


def test_the_token_endpoint_is_public_and_documents_its_lockout(schema):
    token = schema["paths"]["/api/auth/token/"]["post"]
    assert "security" not in token or token["security"] == [{}]
    assert set(token["responses"]) == {"200", "400", "413", "415", "429"}
    assert token["responses"]["429"]["headers"]["Retry-After"]["required"] is True


def test_a_taken_slug_is_a_documented_409(schema):
    assert "409" in schema["paths"]["/api/studies/"]["post"]["responses"]


@pytest.mark.parametrize(
    "path", ["/api/studies/{slug}/prompts/", "/api/studies/{slug}/metric-scores/"]
)
def test_bulk_bodies_need_at_least_one_item(schema, path):
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert (body["type"], body["minItems"]) == ("array", 1)
    errors = schema["paths"][path]["post"]["responses"]["400"]["content"]["application/json"]
    assert {"$ref": "#/components/schemas/BulkErrors"} in errors["schema"]["anyOf"]


def test_exports_document_their_real_content_types(schema):
    ok = schema["paths"]["/api/studies/{slug}/exports/{fmt}/"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {c.split(";")[0] for c in exports.CONTENT_TYPES.values()}


def test_optional_query_parameters_may_be_sent_empty(schema):
    judgments = schema["paths"]["/api/studies/{slug}/judgments/"]["get"]["parameters"]
    until = next(p for p in judgments if p["name"] == "until")
    assert until["allowEmptyValue"] is True and until["schema"]["format"] == "date-time"


# --- real error bodies match the documented shapes --------------------------------------


def error_schema(schema, path, method, code):
    documented = schema["paths"][path][method]["responses"][code]["content"]["application/json"]
    return {**documented["schema"], "components": schema["components"]}


def test_real_error_bodies_match_the_schema(schema, study, researcher, grader):
    token = Token.objects.create(user=researcher).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    grader_client = APIClient()
    grader_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=grader).key}")
    Membership.objects.get_or_create(study=study, user=grader)
    prompts = "/api/studies/{slug}/prompts/"
    cases = [
        (client.post("/api/studies/", {"slug": "s1"}, format="json"), "/api/studies/", "409"),
        (client.post("/api/studies/", {"slug": "bad slug"}, format="json"), "/api/studies/", "400"),
        (
            client.post("/api/studies/s1/prompts/", [{"id": "x"}], format="json"),
            prompts,
            "400",
        ),
        (
            client.generic(
                "POST", "/api/studies/s1/prompts/", "[[[", content_type="application/json"
            ),
            prompts,
            "400",
        ),
        (client.post("/api/studies/s1/prompts/", {"a": "b"}), prompts, "415"),
        (grader_client.get("/api/studies/s1/prompts/"), prompts, "403"),
        (APIClient().get("/api/studies/s1/prompts/"), prompts, "401"),
        (client.get("/api/studies/nope/prompts/"), prompts, "404"),
    ]
    for response, path, code in cases:
        assert str(response.status_code) == code, (path, code, response.content)
        method = "post" if response.wsgi_request.method == "POST" else "get"
        resolver = jsonschema.validators.validator_for({})
        validator = resolver(error_schema(schema, path, method, code))
        validator.validate(response.json())


def test_unknown_api_paths_are_json_404s(client):
    response = client.get("/api/no/such/thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
