"""The API's front door: /api/ lists every endpoint, and /api/schema/ reads in a browser.

Both answer tools with JSON or YAML as before and a browser with a page in the site's
layout (DRF picks the HTML renderer only when the client asks for text/html first).
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework import renderers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def endpoints() -> list[dict]:
    """Every API endpoint as {path, methods, summary}, in URL order."""
    rows: dict[str, dict] = {}
    for path, _regex, method, view in EndpointEnumerator().get_api_endpoints():
        if not path.startswith("/api/"):
            continue
        row = rows.setdefault(path, {"path": path, "methods": [], "summary": ""})
        if method in METHODS and method not in row["methods"]:
            row["methods"].append(method)
        if not row["summary"]:
            doc = (
                getattr(view, "__doc__", None) or getattr(view.cls, "__doc__", None) or ""
            ).strip()
            row["summary"] = doc.split("\n\n")[0].replace("\n", " ")
    for row in rows.values():
        row["methods"].sort(key=METHODS.index)
    return list(rows.values())


class PageRenderer(renderers.BaseRenderer):
    """A template in the site's layout, for people reading the API in a browser."""

    media_type = "text/html"
    format = "html"
    charset = "utf-8"
    template_name = ""

    def context(self, data, request) -> dict:
        return {"data": data}

    def render(self, data, accepted_media_type=None, renderer_context=None):
        request = (renderer_context or {}).get("request")
        return render_to_string(self.template_name, self.context(data, request), request=request)


class RootPage(PageRenderer):
    template_name = "api/root.html"


class SchemaPage(PageRenderer):
    template_name = "api/schema.html"

    def context(self, data, request) -> dict:
        yaml = OpenApiYamlRenderer().render(data, renderer_context={}).decode()
        return {"schema_yaml": yaml, "title": data.get("info", {}).get("title", "API")}


class ApiRootView(APIView):
    """The list of endpoints, with links to the OpenAPI schema and the interactive docs."""

    permission_classes = [AllowAny]  # as public as the schema that describes the same paths
    renderer_classes = [renderers.JSONRenderer, RootPage]

    @extend_schema(exclude=True)
    def get(self, request):
        return Response(
            {
                "endpoints": endpoints(),
                "schema": request.build_absolute_uri(reverse("api-schema")),
                "docs": request.build_absolute_uri(reverse("api-docs")),
                "auth": "Token (POST username and password to /api/auth/token/) or session",
            }
        )


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema: YAML or JSON for tools, a page in a browser; ``?download=1`` saves
    it as a file (``&format=json`` for JSON)."""

    renderer_classes = [
        OpenApiYamlRenderer,
        OpenApiYamlRenderer2,
        OpenApiJsonRenderer,
        OpenApiJsonRenderer2,
        SchemaPage,
    ]

    def perform_content_negotiation(self, request, force=False):
        # A download without a format is the YAML file, whatever a browser says it accepts.
        if "download" in request.query_params and "format" not in request.query_params:
            renderer = OpenApiYamlRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if isinstance(request.accepted_renderer, SchemaPage):
            del response["Content-Disposition"]  # a page, not a file called schema.yaml
        elif "download" in request.query_params:
            extension = "json" if "json" in (request.accepted_renderer.format or "") else "yaml"
            response["Content-Disposition"] = f'attachment; filename="openapi.{extension}"'
        return response
