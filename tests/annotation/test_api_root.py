"""/api/ lists the endpoints; /api/schema/ is a page in a browser and a file for tools."""

import json

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8"


def test_the_api_root_lists_every_endpoint_as_json():
    response = Client().get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    paths = {e["path"]: e for e in body["endpoints"]}
    for path in (
        "/api/studies/",
        "/api/studies/{slug}/judgments/",
        "/api/studies/{slug}/results/leaderboard/",
        "/api/studies/{slug}/exports/{fmt}/",
        "/api/auth/token/",
    ):
        assert path in paths, path
    assert paths["/api/auth/token/"]["methods"] == ["POST"]
    assert "GET" in paths["/api/studies/"]["methods"]
    assert body["schema"].endswith("/api/schema/") and body["docs"].endswith("/api/docs/")


def test_a_browser_gets_the_list_in_the_sites_layout():
    response = Client().get("/api/", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'class="topbar"' in html and "app.css" in html
    assert "<code>/api/studies/{slug}/prompts/</code>" in html
    assert 'href="http://testserver/api/docs/"' in html


def test_a_browser_reads_the_schema_on_a_page():
    response = Client().get("/api/schema/", HTTP_ACCEPT=BROWSER)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    assert "Content-Disposition" not in response
    html = response.content.decode()
    assert 'class="topbar"' in html and '<pre id="schema-yaml">openapi: 3.' in html
    assert 'href="?download=1"' in html and 'href="?format=json&amp;download=1"' in html


def test_tools_still_get_yaml_and_json_and_can_save_them():
    plain = Client().get("/api/schema/", HTTP_ACCEPT="*/*")
    assert plain["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(plain.content)["openapi"].startswith("3.")
    saved = Client().get("/api/schema/?download=1", HTTP_ACCEPT=BROWSER)
    assert saved["Content-Disposition"] == 'attachment; filename="openapi.yaml"'
    assert yaml.safe_load(saved.content)["paths"]
    as_json = Client().get("/api/schema/?format=json&download=1", HTTP_ACCEPT=BROWSER)
    assert as_json["Content-Disposition"] == 'attachment; filename="openapi.json"'
    assert json.loads(as_json.content)["openapi"].startswith("3.")
