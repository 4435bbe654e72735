"""The API's JSON parser: a hostile body is a 400 naming where it is wrong, never a 500.

Python's own parser recurses once per nesting level (a body of 100,000 brackets raised
RecursionError, even unauthenticated on /api/auth/token/) and accepts escaped lone
surrogates such as "a\\ud800b", which are not characters and which PostgreSQL then
refused with a UnicodeEncodeError. This parser reads the body with orjson (C, no Python
recursion, depth capped at 1024, lone surrogates and NaN refused), then walks the result
once, without recursion, for what the app will not store:

- nesting deeper than settings.MAX_REQUEST_JSON_DEPTH (the path where it happens);
- NUL characters in strings or keys (PostgreSQL's text and jsonb cannot hold them);
- a top-level value that is not an object or a list.

The body size is capped before any of this by middleware.RequestBodyLimitMiddleware
(settings.MAX_REQUEST_BODY_BYTES); the parser checks it again for requests that
announce no length.
"""

from __future__ import annotations

import json

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from annotation.middleware import body_too_large_message

MAX_PATH_PARTS = 12


def json_path(parts: list) -> str:
    """`$[0].metadata.a` for the parts [0, "metadata", "a"] (long paths shortened)."""
    shown = parts if len(parts) <= MAX_PATH_PARTS else parts[:MAX_PATH_PARTS]
    text = "$" + "".join(
        f"[{part}]"
        if isinstance(part, int)
        else f".{part}"
        if str(part).isidentifier()
        else f"[{json.dumps(part)}]"
        for part in shown
    )
    return text + ("…" if len(parts) > MAX_PATH_PARTS else "")


def _path_of(entry) -> list:
    parts = []
    while entry is not None:
        entry, key = entry
        parts.append(key)
    return parts[::-1]


def check_value(value, *, max_depth: int, surrogates: bool = False) -> None:
    """Raise ParseError naming the first place where `value` nests deeper than
    `max_depth` or holds a NUL (or, with `surrogates`, a lone surrogate: only Python's
    parser lets one through); a single pass without recursion."""
    if not isinstance(value, dict | list):
        raise ParseError("The request body must be a JSON object or list.")
    # Each entry: (value, depth, path link); a path link is (parent link, key) or None.
    stack = [(value, 1, None)]
    while stack:
        node, depth, link = stack.pop()
        if depth > max_depth:
            raise ParseError(
                f"{json_path(_path_of(link))}: nested {depth} levels deep; the limit is "
                f"{max_depth} (MAX_REQUEST_JSON_DEPTH)."
            )
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(key, str):
                _check_text(key, (link, key), "key", surrogates)
            if isinstance(child, str):
                _check_text(child, (link, key), "value", surrogates)
            elif isinstance(child, dict | list) and child:
                stack.append((child, depth + 1, (link, key)))


def _check_text(text: str, link, what: str, surrogates: bool) -> None:
    if "\x00" in text:
        raise ParseError(
            f"{json_path(_path_of(link))}: this {what} holds a NUL character (\\u0000), "
            "which cannot be stored."
        )
    if not surrogates:
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ParseError(
            f"{json_path(_path_of(link))}: this {what} holds a lone UTF-16 surrogate "
            "(such as \\ud800), which is not a character."
        ) from None


def _locate_surrogate(raw: bytes, max_depth: int) -> None:
    """orjson refused a lone surrogate without saying in which field: find it with
    Python's parser (which accepts them) to name the field, if the body nests little
    enough for that parser to be safe."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return
    check_value(value, max_depth=max_depth, surrogates=True)


class JSONBodyParser(JSONParser):
    """application/json bodies, bounded in size and depth (see the module docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.MAX_REQUEST_BODY_BYTES
        max_depth = settings.MAX_REQUEST_JSON_DEPTH
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(body_too_large_message(None, limit))
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            try:
                raw = raw.decode(encoding).encode("utf-8", "surrogatepass")
            except (LookupError, UnicodeError) as exc:
                raise ParseError(f"The body is not valid {encoding}: {exc}") from None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            message = str(exc)
            if "surrogate" in message:
                _locate_surrogate(raw, max_depth)
            if message.startswith("recursion limit") or "depth" in message:
                raise ParseError(
                    f"JSON parse error - nested deeper than the limit of {max_depth} levels "
                    f"(MAX_REQUEST_JSON_DEPTH) at {message.split(': ', 1)[-1]}"
                ) from None
            raise ParseError(f"JSON parse error - {message}") from None
        check_value(value, max_depth=max_depth)
        return value
