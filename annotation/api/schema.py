"""The OpenAPI schema tells the truth about errors: every status an operation can answer.

drf-spectacular documents what a view returns when it succeeds. `APIAutoSchema` adds,
for each operation, the error statuses it can answer and their bodies, derived from the
operation itself (its parameters, body and security) and the view's declared roles:

| status | when | body |
| --- | --- | --- |
| 400 | a query parameter, header or body is malformed or refused | `ValidationErrors` (field -> messages), `Error` (`detail`: a body that is not JSON, nested too deep, a NUL…) or, for bulk writes, `BulkErrors` |
| 401 | no or a bad token/session | `Error` |
| 403 | the user's role may not do this, or a session write without its CSRF token | `Error` |
| 404 | no such study for this user (outsiders too), or a page past the end | `Error` |
| 409 | the thing to create exists already (a study slug) | `ValidationErrors` |
| 413 | the body is over MAX_REQUEST_BODY_BYTES | `Error` |
| 415 | a body in a content type the operation does not read | `Error` |
| 422 | an Idempotency-Key reused for a different request | `Error` |
| 429 | too many failed logins (`Retry-After` says when to try again) | `Error` |

Bulk writes declare their own 400 (`BULK_400`: BulkErrors as well).
`add_error_components` (a postprocessing hook) puts the error schemas into
`components`, and marks the query parameters where an empty value means "not given".
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_list_serializer
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from annotation.api.idempotency import HEADER

NOT_BLANK = r"\S"
ERROR = {"$ref": "#/components/schemas/Error"}
VALIDATION_ERRORS = {"$ref": "#/components/schemas/ValidationErrors"}
BULK_ERRORS = {"$ref": "#/components/schemas/BulkErrors"}
# The 400 of a bulk write: its per-item errors, or a refused body or header.
BULK_400 = {"anyOf": [BULK_ERRORS, ERROR, VALIDATION_ERRORS]}

COMPONENTS = {
    "Error": {
        "type": "object",
        "description": "What went wrong, in words.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "BulkErrors": {
        "type": "object",
        "description": "Nothing was written; each error names the position in the request "
        "list (`index`, null for the request as a whole) and the field.",
        "properties": {
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer", "nullable": True},
                        "field": {"type": "string", "nullable": True},
                        "message": {"type": "string"},
                    },
                    "required": ["index", "field", "message"],
                },
            }
        },
        "required": ["errors"],
    },
    "ValidationErrors": {
        "type": "object",
        "description": "Each refused field (or `non_field_errors`, or a header such as "
        "`Idempotency-Key`) with its messages; a list field's messages may be keyed by "
        "the position of the refused item.",
        "additionalProperties": {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            ]
        },
    },
}

DESCRIPTIONS = {
    "400": "The request is malformed or refused; the body names the field, header or "
    "position and what is wrong.",
    "401": "No credentials, or a bad token or session.",
    "403": "The user's role may not do this (or a session write without its CSRF token).",
    "404": "No such study for this user (outsiders get 404 too), or a page past the end.",
    "409": "It exists already.",
    "413": "The body is larger than MAX_REQUEST_BODY_BYTES.",
    "415": "The operation does not read bodies of this content type.",
    "422": f"This {HEADER} was used for a different request.",
    "429": "Too many failed logins for this username or from this address.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until the lockout ends",
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
    }
}


def _response(code: str, schema: dict) -> dict:
    response = {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": schema}},
    }
    if code == "429":
        response["headers"] = RETRY_AFTER
    return response


class APIAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with every error status documented (module docstring)."""

    # A view may set `schema_error_statuses` to add statuses it answers beyond those
    # derived here (e.g. 429 on the token endpoint).
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self._bound_bulk_body(operation)
        responses = operation.setdefault("responses", {})
        for code, schema in self._error_responses(operation).items():
            if code not in responses:
                responses[code] = _response(code, schema)
        return operation

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # DRF trims text before its blank check: "   " is refused as blank, so a required
        # text must hold something other than whitespace.
        if (
            direction == "request"
            and type(field) is serializers.CharField
            and not field.allow_blank
            and field.trim_whitespace
            and schema.get("type") == "string"
            and "pattern" not in schema
        ):
            schema["pattern"] = NOT_BLANK
        return schema

    def _bound_bulk_body(self, operation: dict) -> None:
        """minItems/maxItems of a list body, from the request serializer's min/max_length
        (drf-spectacular leaves them out)."""
        if "requestBody" not in operation:
            return
        serializer = self.get_request_serializer()
        if not is_list_serializer(serializer):
            return
        for content in operation["requestBody"]["content"].values():
            body = content["schema"]
            if body.get("type") == "array":
                if serializer.min_length is not None:
                    body["minItems"] = serializer.min_length
                if serializer.max_length is not None:
                    body["maxItems"] = serializer.max_length

    def _error_responses(self, operation: dict) -> dict:
        parameters = operation.get("parameters", [])
        in_query = any(p["in"] == "query" for p in parameters)
        idempotent = any(p["in"] == "header" and p["name"] == HEADER for p in parameters)
        has_body = "requestBody" in operation
        secured = any(requirement for requirement in operation.get("security", [{}]))
        study_scoped = "{slug}" in self.path
        role = getattr(self.view, "required_role", None)
        if self.method not in SAFE_METHODS:
            role = getattr(self.view, "write_role", role)

        errors: dict[str, dict] = {}
        if in_query or has_body or idempotent:
            errors["400"] = {"anyOf": [VALIDATION_ERRORS, ERROR]}
        if secured:
            errors["401"] = ERROR
            if role == "researcher" or self.method not in SAFE_METHODS:
                errors["403"] = ERROR
        if study_scoped or self._is_list_view():
            errors["404"] = ERROR
        if has_body:
            errors["413"] = ERROR
            errors["415"] = ERROR
        if idempotent:
            errors["422"] = ERROR
        for code in getattr(self.view, "schema_error_statuses", ()):
            errors[str(code)] = ERROR
        return errors


def add_error_components(result, generator, request, public):
    """POSTPROCESSING_HOOKS: the error schemas, and honest query parameters.

    An optional query parameter sent empty (`?model=`, `?until=`) counts as not given
    (DRF's rule for query serializers and pages), which OpenAPI says with
    `allowEmptyValue`."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
    return result
