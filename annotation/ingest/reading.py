"""Reading input files for every import: text, JSON lines, JSON documents and CSV, with
the limits that keep hostile input from becoming a traceback or unbounded work.

Every problem goes into an `ErrorList` with its line and, where one can be named, its
field. What is refused, besides malformed syntax:

- bytes that are not UTF-8, and NUL characters (PostgreSQL cannot store them);
- lone surrogates such as ``"a\\ud800b"`` (not Unicode; PostgreSQL refuses them);
- ``NaN`` and ``Infinity`` (not JSON; PostgreSQL's jsonb refuses them);
- values nested deeper than ``settings.MAX_JSON_DEPTH`` levels;
- the same key twice in one JSON object (a parser would silently keep the last);
- a CSV quote that is never closed (it would swallow the rows after it).

JSON is parsed by orjson; the standard library's parser is the slower fallback that says
precisely what orjson refused or what the quick checks suspect.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
from django.conf import settings

from annotation.ingest.errors import ErrorList

# --- limits (settings, documented in the README's environment table) ------------------------


def max_json_depth() -> int:
    """How deeply one field of a record may nest objects and lists."""
    return settings.MAX_JSON_DEPTH


def max_output_chars() -> int:
    """The longest text (a model output, a prompt turn, a reference) an import accepts."""
    return settings.MAX_OUTPUT_CHARS


def max_import_tasks() -> int:
    """The most tasks one import may create."""
    return settings.MAX_IMPORT_TASKS


# --- small shared helpers -------------------------------------------------------------------


def type_name(value) -> str:
    """A JSON value's type in the words of an error message."""
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "true/false",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def chunks(items: list, size: int = 5000) -> Iterator[list]:
    """`items` in slices of at most `size` (to keep SQL parameter lists short)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- files ------------------------------------------------------------------------------------


def read_text(
    path: str | Path, errors: ErrorList, *, suffixes: tuple[str, ...] | None = None
) -> str:
    """A whole input file as text, or errors naming what is wrong with it: an unknown file
    type, a missing file, bytes that are not UTF-8 (a BOM is dropped), a NUL character."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffixes and suffix not in suffixes:
        errors.add(None, None, f"unknown file type '{suffix}': expected {' or '.join(suffixes)}")
    elif not os.path.isfile(path):
        errors.add(None, None, "no such file")
    errors.raise_if_any()
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        errors.add(
            line, None, f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        )
        errors.raise_if_any()
    if "\x00" in text:
        errors.add(text.count("\n", 0, text.index("\x00")) + 1, None, "contains a NUL character")
        errors.raise_if_any()
    return text


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a text file. Only a newline ends a line: a JSON string may
    hold U+2028 and other characters that str.splitlines() would also split at."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line[:-1] if line.endswith("\r") else line


# --- JSON -------------------------------------------------------------------------------------


# The JSON lines parsed at once by `_flat_block`: about this many characters at a time.
JSONL_BLOCK_CHARS = 1 << 20


def jsonl_objects(text: str, errors: ErrorList) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line that is a clean JSON object; every
    other line is recorded in `errors`.

    The text goes by blocks of about JSONL_BLOCK_CHARS: a block of flat objects, one a
    line (`_flat_block`), is parsed with one orjson call; any other block line by line."""
    number, start, size = 1, 0, len(text)
    while start < size:
        end = text.find("\n", start + JSONL_BLOCK_CHARS)
        if end < 0:  # the last block, without the file's final newline (a blank line)
            end = size - 1 if text.endswith("\n") else size
        block = text[start:end]
        objects = _flat_block(block)
        if objects is None:
            yield from _jsonl_lines(block, number, errors)
            number += block.count("\n") + 1
        else:
            yield from zip(range(number, number + len(objects)), objects, strict=True)
            number += len(objects)
        start = end + 1


def _flat_block(block: str) -> list[dict] | None:
    """The objects of `block`'s lines when each line is exactly one flat JSON object that
    the line-by-line checks would pass at once (no blank line, no CR, no escaped control
    character, no repeated key); None to check it line by line.

    Every line starts with '{', and the block holds as many brackets as lines: so each
    line holds exactly one bracket, its own. Parsed as one JSON list (lines joined by
    ','), as many values as lines means each line is one object. Each member of an
    object has a ':' in the text (a ':' in a string adds one), and orjson keeps one key of
    a repeated pair: as many ':' in the block as keys in its objects means no line
    repeats a key."""
    lines = block.count("\n") + 1
    if (
        max_json_depth() < 1
        or not block.startswith("{")
        or block.count("\n{") != lines - 1
        or block.count("{") + block.count("[") != lines
        or "\r" in block
        or "\\u00" in block
    ):
        return None
    try:
        objects = orjson.loads("[" + block.replace("\n", ",") + "]")
    except orjson.JSONDecodeError:
        return None
    if len(objects) != lines or block.count(":") != sum(map(len, objects)):
        return None
    return objects


def _jsonl_lines(text: str, first: int, errors: ErrorList) -> Iterator[tuple[int, dict]]:
    """jsonl_objects of `text`, line by line, its first line numbered `first`."""
    limit, loads, dumps = max_json_depth(), orjson.loads, orjson.dumps
    for number, line in enumerate(text.split("\n"), start=first):  # as text_lines splits
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        # The usual line, checked inline (a million lines pass here): what parse_json
        # would accept at once. Anything else goes through parse_json, which says why.
        # A flat object (one bracket) with as many ':' as keys repeats none; otherwise
        # its ':' are counted again in the re-serialised value (`_maybe_repeated`).
        try:
            obj = loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is dict and "\\u00" not in line:
            brackets = line.count("{") + line.count("[")
            colons = line.count(":")
            if brackets <= limit and (
                (brackets == 1 and colons == len(obj)) or colons == dumps(obj).count(b":")
            ):
                yield number, obj
                continue
        obj = parse_json(line, number, errors)
        if obj is None:
            continue
        if not isinstance(obj, dict):
            errors.add(number, None, f"each line must be a JSON object, got {type_name(obj)}")
            continue
        yield number, obj


def parse_json(text: str, line: int | None, errors: ErrorList):
    """One JSON value checked against the rules above, or None after recording why not.

    Fields are named from the top-level object's keys (``metadata.a.b``, ``prompt[0]``).
    """
    value, suspect = _parse(text, line, errors)
    if value is _INVALID:
        return None
    if _nests_deeper(text, value, max_json_depth()):
        errors.add(line, *_too_deep(value))
        return None
    if suspect or _maybe_repeated(text, value):
        problem = find_problem(value if suspect else _parse_with_stdlib(text, line, errors))
        if problem is not None:
            errors.add(line, *problem)
            return None
    return value


def _parse(text: str, line: int | None, errors: ErrorList):
    """(value, suspect): orjson's parse, or the standard library's when orjson refuses:
    it then says what was wrong, or takes what orjson refused (lone surrogates) for
    `find_problem` to name; `suspect` says which."""
    try:
        return orjson.loads(text), False
    except orjson.JSONDecodeError:
        return _parse_with_stdlib(text, line, errors), True


def _nests_deeper(text: str, value, limit: int, levels_above: int = 0) -> bool:
    # Fewer brackets than the limit cannot nest deeper than it: skip the walk.
    if text.count("{") + text.count("[") <= limit + levels_above:
        return False
    return _depth(value, limit + levels_above) > limit + levels_above


def _maybe_repeated(text: str, value) -> bool:
    """Whether the text may repeat a key in an object (which orjson merges, keeping the
    last value). Each object member has a ':' in the text, and so does each ':' within a
    string; re-serialised, the parsed value has as many unless a key was dropped. An
    escaped ':' (\\u003a) would hide one, and an escaped NUL needs naming: both go slowly."""
    return text.count(":") != orjson.dumps(value).count(b":") or "\\u00" in text


def json_document_records(text: str, errors: ErrorList) -> list[tuple[int, object]]:
    """The records of a JSON document that holds a list, numbered from 1 (a JSON list has
    no line per record), each checked like a JSON line; raises on any problem."""
    value, suspect = _parse(text, None, errors)
    errors.raise_if_any()
    if not isinstance(value, list):
        errors.add(1, None, "a .json file must hold a list of records")
        errors.raise_if_any()
    # The list is one level above its records.
    if suspect or _nests_deeper(text, value, max_json_depth(), 1) or _maybe_repeated(text, value):
        checked = value if suspect else _parse_with_stdlib(text, None, errors)
        errors.raise_if_any()
        for number, record in enumerate(checked, start=1):
            check_value(record, number, errors)
        errors.raise_if_any()
    return list(enumerate(value, start=1))


def check_value(value, index: int | None, errors: ErrorList) -> bool:
    """Check a value parsed elsewhere (an API request body) by the same rules; False after
    recording a problem."""
    limit = max_json_depth()
    problem = _too_deep(value) if _depth(value, limit) > limit else find_problem(value)
    if problem is not None:
        errors.add(index, *problem)
        return False
    return True


_INVALID = object()


class _RepeatedKeys(dict):
    """A JSON object in which the file repeats a key (`repeated` names them)."""

    repeated: list[str]


def _object_pairs(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    flagged = _RepeatedKeys(obj)
    flagged.repeated = [key for key, _ in pairs if key in seen or seen.add(key)]
    return flagged


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _parse_with_stdlib(text: str, line: int | None, errors: ErrorList):
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        errors.add(
            exc.lineno if line is None else line,
            None,
            f"malformed JSON ({exc.msg} at column {exc.colno})",
        )
    except ValueError as exc:
        errors.add(line, None, f"malformed JSON ({exc})")
    except RecursionError:
        field = _deep_field(text, max_json_depth())
        errors.add(line, field, f"is nested too deeply: {_depth_limit_words()}")
    return _INVALID


def _depth_limit_words() -> str:
    return f"the limit is {max_json_depth()} levels (MAX_JSON_DEPTH)"


def _depth(value, limit: int) -> int:
    """How many levels of objects and lists lie below a value's top level (a field whose
    value is ``{"a": 1}`` is one level deep); stops looking below `limit` + 1."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
        if level > limit:
            continue
        children = item.values() if type(item) is dict else item if type(item) is list else ()
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, level + 1))
    return deepest


def _too_deep(value) -> tuple[str | None, str]:
    limit = max_json_depth()
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, dict | list) and _depth(child, limit) + 1 > limit:
                return key, f"is nested too deeply: {_depth_limit_words()}"
    return None, f"is nested too deeply: {_depth_limit_words()}"


def find_problem(value, path: str = "") -> tuple[str | None, str] | None:
    """(field, message) of the first repeated key, lone surrogate or NUL character in a
    parsed value (of bounded depth), or None."""
    if isinstance(value, str):
        return _string_problem(value, path)
    if isinstance(value, dict):
        repeated = getattr(value, "repeated", None)
        if repeated:
            return path or None, f"the key '{repeated[0]}' appears twice"
        for key, child in value.items():
            field = f"{path}.{key}" if path else key
            problem = _string_problem(key, path or None) or find_problem(child, field)
            if problem is not None:
                return problem
    elif isinstance(value, list):
        for i, child in enumerate(value):
            problem = find_problem(child, f"{path}[{i}]")
            if problem is not None:
                return problem
    return None


def _string_problem(text: str, field: str | None) -> tuple[str | None, str] | None:
    if "\x00" in text:
        return field or None, "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return (
            field or None,
            f"contains a lone surrogate (\\u{code:04x}), which is not Unicode text",
        )
    return None


def _deep_field(text: str, limit: int) -> str | None:
    """The top-level key whose value nests deeper than `limit`, read from the raw text
    (for JSON too deep for a parser to build)."""
    depth = 0
    in_string = escaped = False
    start = 0
    last_string = key = None
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                last_string = text[start:i]
        elif char == '"':
            in_string, start = True, i + 1
        elif char in "{[":
            depth += 1
            if depth - 1 > limit:
                return key
        elif char in "}]":
            depth -= 1
        elif char == ":" and depth == 1:
            key = last_string
    return key


# --- CSV --------------------------------------------------------------------------------------


def csv_records(text: str, errors: ErrorList) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header of a CSV text, and (first line, {column: cell}) for each record after it.

    A column named twice, or a record with more cells than the header, is an error; so is
    a quote that is never closed, named at the line and column where it opens, instead of
    a cell that swallows every row after it.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        errors.add(1, None, f"malformed CSV header ({exc})")
        return [], iter(())
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    for name in repeated:
        errors.add(1, name, "is a column twice")
    if repeated:
        return header, iter(())
    return header, _csv_rows(reader, header, text, errors)


def _csv_rows(reader, header: list[str], text: str, errors: ErrorList):
    end = reader.line_num
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if len(cells) > len(header):
                errors.add(start, None, f"has {len(cells)} cells, the header has {len(header)}")
                continue
            yield start, dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=True))
    except csv.Error as exc:
        start = end + 1
        first = text.split("\n", start)[start - 1] if start >= 1 else ""
        opened = len(next(csv.reader([first]), [])) - 1
        column = header[opened] if 0 <= opened < len(header) else None
        if "unexpected end of data" in str(exc):
            message = (
                "a quote opened here is never closed, so every row after it would be swallowed"
            )
        else:
            message = f"malformed CSV ({exc}); is a quote opened here left unclosed?"
        errors.add(start, column, message)
