"""Exports of a study's judgments in the formats people train and analyse with.

- `csv`, `jsonl`, `parquet`, `xlsx`: one row per judgment (model names, verdict,
  ratings, tags, grader, time, prompt metadata). Excel adds a summary sheet and,
  with `slice_by`, one sheet per value of that metadata column.
- `preferences`: JSONL of prompt / chosen / rejected with metadata and agreement,
  the format reward-model and DPO trainers read (TRL's conversational format for
  chat prompts).
- `arena`: JSONL battle records (model_a, model_b, winner, judge, turn, language,
  tstamp, question_id), readable by `python -m scoring leaderboard`.
- `scores`: CSV, one row per response with every automatic metric and the human
  columns good_rate, win_rate, n_ratings, n_battles.

Spreadsheet formats (csv, scores, xlsx) never carry a live formula: any text a
spreadsheet would run (it starts with = + - @, tab or CR: graders' comments, ids,
model names, metadata, usernames) is neutralised where cells are written
(`spreadsheet_text`, `_xlsx_cells`). Machine formats (jsonl, parquet,
preferences, arena) keep the exact text.

Rows stream from the database through a chunked cursor and are written as they come, so
memory stays flat however many judgments a study holds; on PostgreSQL the CSV export is
written by the server (`COPY (SELECT ...) TO STDOUT`, `annotation.exports_copy`), byte for
byte the same file. Importing this module loads no pandas, pyarrow, scipy or openpyxl (the
web app and `manage.py export` import it): the formats that need them import them inside.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import orjson
from django.db import connection

from annotation import counting
from annotation.models import (
    Judgment,
    LanguageModel,
    Prompt,
    Rating,
    Response,
    Study,
    Task,
    User,
)
from annotation.plans import custom_plans

FORMATS = ("csv", "jsonl", "parquet", "xlsx", "preferences", "arena", "scores", "card")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "preferences": "application/x-ndjson",
    "arena": "application/x-ndjson",
    "scores": "text/csv; charset=utf-8",
    "card": "text/markdown; charset=utf-8",
}
EXTENSIONS = {
    "preferences": "preferences.jsonl",
    "arena": "arena.jsonl",
    "scores": "scores.csv",
    "card": "model-card.md",
}
BATCH = 5000
JUDGMENT_COLUMNS = [
    "judgment_id",
    "created_at",
    "study",
    "prompt_id",
    "task_id",
    "kind",
    "model_a",
    "model_b",
    "verdict",
    "winner",
    "winner_model",
    "grader",
    "grader_kind",
    "rating_a",
    "rating_b",
    "tags_a",
    "tags_b",
    "comment",
    "seconds",
    "source",
]


class ExportError(ValueError):
    """An export that cannot be made as asked (unknown format, bad filter)."""


@dataclass
class PreferenceFilters:
    unanimous: bool = False
    min_agreement: float = 0.0
    drop_ties: bool = False


def filename(study: Study, fmt: str) -> str:
    return f"{study.slug}.{EXTENSIONS.get(fmt, fmt)}"


# --- one row per judgment ------------------------------------------------------------------


# The judgment table drives the join (CROSS JOIN keeps SQLite from reordering it), so rows
# stream in id order with no sort; each judgment's two ratings come by index lookups.
JUDGMENT_SQL = """
SELECT j.id, CAST(j.created_at AS TEXT), j.task_id, t.kind, t.prompt_id, a.model_id, b.model_id,
       j.verdict, j.grader_id, j.comment, j.seconds, j.source,
       ra.label, ra.tags, rb.label, rb.tags
FROM {judgment} j
CROSS JOIN {task} t
LEFT JOIN {response} a ON a.id = t.response_a_id
LEFT JOIN {response} b ON b.id = t.response_b_id
LEFT JOIN {rating} ra ON ra.judgment_id = j.id AND ra.response_id = t.response_a_id
LEFT JOIN {rating} rb ON rb.judgment_id = j.id AND rb.response_id = t.response_b_id
WHERE t.id = j.task_id AND t.study_id = %s AND {selected}
ORDER BY j.id
"""
ROWS_PER_CHUNK = 1_000  # small batches: fewer rows alive at once, fewer GC passes


def verdict_vocabulary() -> tuple[dict[str, str], str, str]:
    """`scoring.verdicts`' ARENA_WINNER, A and B, imported when an export runs rather than
    with this module: `scoring.verdicts` imports numpy and pandas at its top."""
    from scoring.verdicts import ARENA_WINNER, A, B

    return ARENA_WINNER, A, B


def _tags(value) -> tuple[str, ...]:
    # Tuples, not lists: a million small lists keep the cyclic garbage collector busy.
    if not value or value == "[]":
        return ()
    return tuple(json.loads(value) if isinstance(value, str) else value)


def _tag_text(value) -> str:
    return ";".join(_tags(value))


def _spreadsheet_tags(value) -> str:
    if not value or value == "[]":
        return ""
    return spreadsheet_text(";".join(_tags(value)))


def _spreadsheet_label(value) -> str:
    return spreadsheet_text(value) if value else ""


def _label(value) -> str:
    return value or ""


def _same(value):
    return value


def _iso(value) -> str:
    """A timestamp cast to text by the database, as ISO 8601: SQLite gives
    '2026-11-29 12:00:00[.ffffff]' (UTC), PostgreSQL '2026-11-29 12:00:00+00'."""
    value = value.replace(" ", "T", 1)
    if value.endswith("+00"):
        return value + ":00"
    return value if "+" in value[10:] else value + "+00:00"


def _meta_text(value):
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _metadata(study: Study) -> tuple[dict, list[str]]:
    """Prompt pk -> (external id, metadata), and the sorted metadata keys."""
    prompts: dict = {}
    keys: set[str] = set()
    for pk, ext, meta in (
        Prompt.objects.filter(study=study)
        .values_list("pk", "external_id", "metadata")
        .iterator(chunk_size=BATCH)
    ):
        prompts[pk] = (ext, meta or {})
        keys.update(meta or {})
    return prompts, sorted(keys)


def _columns(study: Study) -> list[str]:
    return JUDGMENT_COLUMNS + [f"meta_{key}" for key in _metadata(study)[1]]


@dataclass
class Lookups:
    """What a judgment row takes from other tables, read once before the judgments: per
    prompt its id and its metadata values in column order, per model its name (the
    judgments' query gives each response's model), per user its name and kind. With
    `as_text` (CSV), metadata objects are JSON and every text a spreadsheet could run is
    neutralised (`spreadsheet_text`)."""

    columns: list[str]
    slug: str
    prompts: dict[int, tuple]  # pk -> (prompt id, (metadata values...))
    models: dict[int, str]  # model pk -> name
    grader_names: dict[int, str]
    grader_kinds: dict[int, str]

    def rendered(self, cell) -> tuple[str, dict[int, str], dict[int, str], dict[int, str]]:
        """The slug, model names, grader names and grader kinds, each as `cell` writes it
        (a CSV field, a JSON value), rendered once for every row that names it."""
        return (
            cell(self.slug),
            {pk: cell(name) for pk, name in self.models.items()},
            {pk: cell(name) for pk, name in self.grader_names.items()},
            {pk: cell(kind) for pk, kind in self.grader_kinds.items()},
        )


def lookups(study: Study, *, as_text: bool) -> Lookups:
    prompts, meta_keys = _metadata(study)
    cell = spreadsheet_text if as_text else _same
    users = User.objects.values_list("pk", "username", "kind")
    # One object per distinct value: a million-judgment study has prompts whose metadata
    # repeats a few values.
    shared: dict = {}

    def meta_cells(meta: dict) -> tuple:
        values = (cell(_meta_text(meta.get(k))) if as_text else meta.get(k) for k in meta_keys)
        return tuple(shared.setdefault(v, v) if v.__class__ is str else v for v in values)

    return Lookups(
        columns=JUDGMENT_COLUMNS + [f"meta_{key}" for key in meta_keys],
        slug=cell(study.slug),
        prompts={pk: (cell(ext), meta_cells(meta)) for pk, (ext, meta) in prompts.items()},
        models={
            pk: cell(name)
            for pk, name in LanguageModel.objects.filter(study=study).values_list("pk", "name")
        },
        grader_names={pk: cell(name) for pk, name, _ in users},
        grader_kinds={pk: kind for pk, _, kind in users},
    )


class _Memo(dict):
    """`fn`'s value of each argument, computed at its first use: a million judgments carry
    a handful of distinct labels and tag lists (JSON text, parsed once each instead of
    twice a row). At most MEMO_SIZE values are kept."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, key):
        value = self.fn(key)
        if len(self) < MEMO_SIZE:
            self[key] = value
        return value


MEMO_SIZE = 4096


def judgment_rows(
    study: Study, *, as_text: bool = False, selection: counting.Selection = counting.EVERY_GRADER
) -> Iterator[tuple[list[str], Iterator[tuple]]]:
    """The study's judgments in id order, in chunks: (columns, rows). By default every
    grader's judgments on regular tasks, each row naming its grader's kind (see
    `annotation.counting`).

    Each row is a tuple in the order of `columns`: tags as tuples, or with `as_text` as
    ';'-joined text and metadata objects as JSON, and every text a spreadsheet could run
    as a formula neutralised (`spreadsheet_text`: ready for CSV). One SQL pass joins
    each judgment to its task and its two ratings; prompt ids, model names and graders
    come from lookup tables loaded first (`lookups`), so the export streams at database
    speed with flat memory. Kind, verdict, winner, source and the timestamp come from
    fixed vocabularies and are never neutralised.
    """
    found = lookups(study, as_text=as_text)
    columns, slug, prompts, models = found.columns, found.slug, found.prompts, found.models
    names, kinds = found.grader_names, found.grader_kinds
    text = spreadsheet_text if as_text else _same
    label = _spreadsheet_label if as_text else _label
    tags = _spreadsheet_tags if as_text else _tags
    if connection.vendor == "sqlite":  # tags (and labels) come as text: each read once
        tags = _Memo(tags).__getitem__
        if as_text:
            label = _Memo(label).__getitem__
    winners, a, b = verdict_vocabulary()
    iso = _iso
    for batch in _judgment_batches(study, selection):
        yield (
            columns,
            (
                (
                    jid,
                    iso(created),
                    slug,
                    (prompt := prompts[ppk])[0],
                    task_id,
                    kind,
                    ma := models[xa],
                    mb := models[xb] if xb else "",
                    verdict,
                    winners.get(verdict, ""),
                    ma if verdict == a else mb if verdict == b else "",
                    names[gid],
                    kinds[gid],
                    label(la),
                    label(lb),
                    tags(ta),
                    tags(tb),
                    text(comment),
                    seconds,
                    source,
                )
                + prompt[1]
                for jid, created, task_id, kind, ppk, xa, xb, verdict, gid, comment, seconds, source, la, ta, lb, tb in batch  # fmt: skip
            ),
        )


def _judgment_batches(
    study: Study, selection: counting.Selection = counting.EVERY_GRADER
) -> Iterator[list[tuple]]:
    """The rows of JUDGMENT_SQL for the study's selected judgments, in id order, a batch of
    at most ROWS_PER_CHUNK at a time (a chunked cursor: memory stays flat)."""
    selected, params = selection.sql_condition(judgment="j", task="t")
    sql = JUDGMENT_SQL.format(
        judgment=Judgment._meta.db_table,
        task=Task._meta.db_table,
        rating=Rating._meta.db_table,
        response=Response._meta.db_table,
        selected=selected,
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [study.pk, *params])
        while batch := cursor.fetchmany(ROWS_PER_CHUNK):
            yield batch


def judgment_records(study: Study) -> Iterator[dict]:
    """Each regular judgment of the study as a flat record (meta_* for prompt metadata)."""
    for columns, rows in judgment_rows(study):
        for row in rows:
            yield dict(zip(columns, row, strict=True))


# --- formula injection ---------------------------------------------------------------------

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): `=HYPERLINK(...)` in a grader's comment would be a live link in Excel.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
# ...but text that is just a number, such as "-0.5", is read as that number and runs nothing.
# ASCII digits only (Python's \d would also take "-٣"); annotation.exports_copy writes the
# same pattern for PostgreSQL.
PLAIN_NUMBER_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
PLAIN_NUMBER = re.compile(PLAIN_NUMBER_PATTERN)


def spreadsheet_text(value):
    """`value` as a CSV cell that no spreadsheet runs as a formula.

    Text starting with = + - @, tab or CR gets a leading apostrophe (OWASP's rule), so
    Excel, LibreOffice and Google Sheets show it as text. Numbers, plain-number text such
    as "-0.5", and all other text pass unchanged.
    """
    if (
        value.__class__ is str
        and value[:1] in FORMULA_TRIGGERS
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


# RFC 4180's line end. The csv module quotes only fields holding a character of the line
# terminator: with "\n" alone, a CR inside a comment went out bare and split the row,
# starting a new line (and cell) with whatever followed it, such as "=2+2".
CSV_LINE_END = "\r\n"


def _spreadsheet_row(row) -> list:
    return [spreadsheet_text(cell) for cell in row]


def _csv_cell(value):
    if isinstance(value, list | tuple):
        return ";".join(value)
    return _meta_text(value)


class _Pieces(list):
    """A `csv.writer` target that keeps each written line, to be sent a batch at a time."""

    write = list.append


def csv_header(columns: list[str]) -> bytes:
    pieces = _Pieces()
    csv.writer(pieces, lineterminator=CSV_LINE_END).writerow(_spreadsheet_row(columns))
    return "".join(pieces).encode("utf-8")


def iter_csv(study: Study, *, server: bool | None = None) -> Iterator[bytes]:
    """CSV in chunks of bytes (tags joined with ';', metadata objects as JSON), with
    formula-like text neutralised (`spreadsheet_text`).

    On PostgreSQL the server writes it (`COPY ... TO STDOUT`, `annotation.exports_copy`)
    when it can write exactly these bytes; `server` forces one path or the other.
    """
    from annotation import exports_copy

    if server is None:
        server = exports_copy.available(connection)
    if server:
        return exports_copy.iter_csv(study)
    return _iter_csv_python(study)


def _iter_csv_python(study: Study) -> Iterator[bytes]:
    """The CSV of `judgment_rows(study, as_text=True)` as `csv.writer` writes it (the
    reference, `_iter_csv_reference`), byte for byte, with each line built by one format
    string: every cell that comes from a lookup table or a small vocabulary (names, ids,
    metadata, labels, tags, verdicts) is rendered once, so a row costs the rendering of its
    numbers, its timestamp and its comment only. At a million judgments this writes in
    about half the time of handing each row's 21 values to `csv.writer`."""
    found = lookups(study, as_text=True)
    slug, models, names, kinds = found.rendered(csv_field)
    prompts = {
        pk: (csv_field(ext), "".join("," + csv_field(v) for v in meta))
        for pk, (ext, meta) in found.prompts.items()
    }
    winners, a, b = verdict_vocabulary()
    verdict = _Memo(lambda value: (csv_field(value), csv_field(winners.get(value, ""))))
    vocabulary = _Memo(csv_field)  # task kinds and sources
    label = lambda value: csv_field(_spreadsheet_label(value))  # noqa: E731
    tags = lambda value: csv_field(_spreadsheet_tags(value))  # noqa: E731
    if connection.vendor == "sqlite":  # labels and tags come as text: each rendered once
        label, tags = _Memo(label).__getitem__, _Memo(tags).__getitem__
    comment = _csv_comment
    iso = _iso
    verdicts, words = verdict.__getitem__, vocabulary.__getitem__
    header = True
    for batch in _judgment_batches(study):
        lines = []
        if header:
            lines.append(csv_header(found.columns).decode("utf-8"))
            header = False
        lines += [
            f"{jid},{iso(created)},{slug},{(prompt := prompts[ppk])[0]},{task_id},{words(kind)},"
            f"{(ma := models[xa])},{(mb := models[xb] if xb else '')},{(v := verdicts(verdict))[0]},"
            f"{v[1]},{ma if verdict == a else mb if verdict == b else ''},{names[gid]},"
            f"{kinds[gid]},{label(la)},{label(lb)},{tags(ta)},{tags(tb)},{comment(text)},"
            f"{'' if seconds is None else seconds},{words(source)}{prompt[1]}\r\n"
            for jid, created, task_id, kind, ppk, xa, xb, verdict, gid, text, seconds, source, la, ta, lb, tb in batch  # fmt: skip
        ]
        yield "".join(lines).encode("utf-8")
    if header:  # no judgments: the header alone
        yield csv_header(_columns(study))


def _iter_csv_reference(study: Study) -> Iterator[bytes]:
    """The CSV export as `csv.writer` writes `judgment_rows(study, as_text=True)`: what
    `_iter_csv_python` and PostgreSQL's COPY (`annotation.exports_copy`) must equal."""
    pieces = _Pieces()
    writer = csv.writer(pieces, lineterminator=CSV_LINE_END)
    header = True
    for columns, rows in judgment_rows(study, as_text=True):
        if header:
            writer.writerow(_spreadsheet_row(columns))
            header = False
        writer.writerows(rows)
        yield "".join(pieces).encode("utf-8")
        pieces.clear()
    if header:
        yield csv_header(_columns(study))


# What makes `csv.writer` (QUOTE_MINIMAL, CSV_LINE_END) quote a field: the delimiter, the
# quote character or a character of the line terminator.
_NEEDS_QUOTES = re.compile('[",\r\n]')


def csv_field(value) -> str:
    """`value` as `csv.writer` writes it as one field of a row of several: None as nothing,
    a number as `str` gives it, text quoted (quotes doubled) where it holds a comma, a quote,
    CR or LF. No neutralising: give it `spreadsheet_text`'s result."""
    if value is None:
        return ""
    text = value if value.__class__ is str else str(value)
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_comment(value) -> str:
    """A grader's comment as a CSV field, neutralised (most are empty)."""
    return csv_field(spreadsheet_text(value)) if value else ""


def _jsonl_line(record: dict) -> bytes:
    """One JSON line: orjson's, or where a value is an integer beyond 64 bits (JSON
    metadata sent through the API may hold one; orjson refuses it) the standard library's,
    with any other value orjson would write written as orjson writes it."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        text = json.dumps(
            record,
            ensure_ascii=False,
            separators=(",", ":"),
            default=lambda value: orjson.loads(orjson.dumps(value)),
        )
        return (text + "\n").encode("utf-8")


# Lines are copied into one buffer as they are made rather than kept and joined: orjson
# returns each line in an allocation of several kilobytes, so holding a batch of 5,000
# lines at once took ~40 MB where the lines themselves take 3.
def _iter_jsonl(records: Iterator[dict]) -> Iterator[bytes]:
    line = _jsonl_line
    lines = bytearray()
    for n, record in enumerate(records, 1):
        lines += line(record)
        if n % 2000 == 0:
            yield bytes(lines)
            lines.clear()
    if lines:
        yield bytes(lines)


def iter_jsonl(study: Study) -> Iterator[bytes]:
    """One JSON object per judgment, the records of `judgment_rows`, written as
    `_jsonl_line` writes each (the reference, `_iter_jsonl_reference`; the same bytes),
    with each line built by one format string from values rendered once where they repeat
    (names, ids, metadata, labels, tags, verdicts), as the CSV is (`_iter_csv_python`).
    Where a prompt's metadata holds an integer beyond 64 bits, that value is written by the
    standard library and the rest of the line by orjson."""
    found = lookups(study, as_text=False)
    dumps = orjson.dumps

    def value(v) -> str:
        return dumps(v).decode()

    slug, models, names, kinds = found.rendered(value)
    meta_keys = [value(column) for column in found.columns[len(JUDGMENT_COLUMNS) :]]
    prompts = {
        pk: (value(ext), "".join(f",{key}:{_json_value(v)}" for key, v in zip(meta_keys, meta)))  # noqa: B905
        for pk, (ext, meta) in found.prompts.items()
    }
    winners, a, b = verdict_vocabulary()
    verdict = _Memo(lambda v: (value(v), value(winners.get(v, ""))))
    words = _Memo(value).__getitem__  # task kinds and sources
    label = _Memo(lambda v: value(_label(v))).__getitem__  # text on both databases
    tags = lambda v: value(_tags(v))  # noqa: E731
    if connection.vendor == "sqlite":  # tags come as text: each rendered once
        tags = _Memo(tags).__getitem__
    verdicts, iso, empty = verdict.__getitem__, _iso, '""'
    for batch in _judgment_batches(study):
        yield "".join(
            [
                f'{{"judgment_id":{jid},"created_at":"{iso(created)}","study":{slug},'
                f'"prompt_id":{(prompt := prompts[ppk])[0]},"task_id":{task_id},'
                f'"kind":{words(kind)},"model_a":{(ma := models[xa])},'
                f'"model_b":{(mb := models[xb] if xb else empty)},'
                f'"verdict":{(v := verdicts(verdict))[0]},"winner":{v[1]},'
                f'"winner_model":{ma if verdict == a else mb if verdict == b else empty},'
                f'"grader":{names[gid]},"grader_kind":{kinds[gid]},"rating_a":{label(la)},'
                f'"rating_b":{label(lb)},"tags_a":{tags(ta)},"tags_b":{tags(tb)},'
                f'"comment":{empty if text == "" else value(text)},'
                f'"seconds":{value(seconds)},"source":{words(source)}{prompt[1]}}}\n'
                for jid, created, task_id, kind, ppk, xa, xb, verdict, gid, text, seconds, source, la, ta, lb, tb in batch  # fmt: skip
            ]
        ).encode("utf-8")


def _json_value(value) -> str:
    """`value` as JSON text as `_jsonl_line` writes it (integers beyond 64 bits included)."""
    return _jsonl_line(value)[:-1].decode("utf-8")


def _iter_jsonl_reference(study: Study) -> Iterator[bytes]:
    """`iter_jsonl` as `_jsonl_line` writes each record of `judgment_rows`: what the
    export must equal."""
    line = _jsonl_line
    lines = bytearray()
    for columns, rows in judgment_rows(study):
        for row in rows:
            lines += line(dict(zip(columns, row)))  # noqa: B905
        yield bytes(lines)
        lines.clear()


def write_parquet(study: Study, out: IO[bytes]) -> int:
    """Parquet, written one row group per batch so memory stays flat."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = _columns(study)
    list_columns = {"tags_a", "tags_b"}
    meta_columns = [c for c in columns if c.startswith("meta_")]
    fields = []
    for name in columns:
        if name in list_columns:
            fields.append(pa.field(name, pa.list_(pa.string())))
        elif name in ("judgment_id", "task_id"):
            fields.append(pa.field(name, pa.int64()))
        elif name == "seconds":
            fields.append(pa.field(name, pa.float64()))
        else:
            fields.append(pa.field(name, pa.string()))
    schema = pa.schema(fields)
    total = 0
    with pq.ParquetWriter(out, schema) as writer:
        batch: list[dict] = []
        for record in judgment_records(study):
            for key in meta_columns:  # metadata may mix types: store as text
                value = record[key]
                record[key] = (
                    None
                    if value is None
                    else value
                    if isinstance(value, str)
                    else json.dumps(value)
                )
            batch.append(record)
            if len(batch) == 50_000:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                total += len(batch)
                batch = []
        if batch or total == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            total += len(batch)
    return total


def _xlsx_cells(sheet, values) -> list:
    """`values` as a row of `sheet` in which no cell is a formula.

    openpyxl would store text starting with "=" as a formula. Text a spreadsheet could run
    (FORMULA_TRIGGERS) becomes a string cell with Excel's quote prefix, so it stays text
    even when edited, and its exact characters are kept; characters that XML cannot hold
    (control characters) become U+FFFD instead of failing the whole export.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    row = []
    for value in values:
        if value.__class__ is str:
            if ILLEGAL_CHARACTERS_RE.search(value):
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            if value[:1] in FORMULA_TRIGGERS:
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                cell.quotePrefix = True
                value = cell
        row.append(value)
    return row


def write_xlsx(study: Study, out: IO[bytes], *, slice_by: str | None = None) -> int:
    """Excel: a summary sheet, all judgments, and one sheet per value of `slice_by`.
    No cell is ever a formula (`_xlsx_cells`)."""
    from openpyxl import Workbook

    columns = _columns(study)
    slice_column = f"meta_{slice_by}" if slice_by else None
    if slice_column and slice_column not in columns:
        raise ExportError(
            f"no prompt metadata '{slice_by}' to slice by; known: {', '.join(c[5:] for c in columns if c.startswith('meta_')) or 'none'}"
        )
    book = Workbook(write_only=True)
    summary = book.create_sheet("summary")
    everything = book.create_sheet("judgments")
    everything.append(_xlsx_cells(everything, columns))
    slice_sheets: dict[str, object] = {}
    counts: Counter = Counter()
    verdicts: Counter = Counter()
    graders: set[str] = set()
    total = 0
    for record in judgment_records(study):
        row = [_csv_cell(record[c]) for c in columns]
        everything.append(_xlsx_cells(everything, row))
        total += 1
        verdicts[record["verdict"] or "single"] += 1
        graders.add(record["grader"])
        if slice_column:
            key = str(record[slice_column])
            if key not in slice_sheets:
                title = _sheet_title(key, slice_sheets)
                slice_sheets[key] = book.create_sheet(title)
                slice_sheets[key].append(_xlsx_cells(slice_sheets[key], columns))
            slice_sheets[key].append(_xlsx_cells(slice_sheets[key], row))
            counts[key] += 1
    lines = [
        ["study", study.slug],
        ["name", study.name],
        ["judgments", total],
        ["graders", len(graders)],
        ["models", ", ".join(study.models.values_list("name", flat=True))],
    ]
    lines += [[f"verdict {verdict}", n] for verdict, n in sorted(verdicts.items())]
    if slice_column:
        lines += [[], [f"slice by {slice_by}", "judgments"]]
        lines += [[key, n] for key, n in sorted(counts.items())]
    for line in lines:
        summary.append(_xlsx_cells(summary, line))
    book.save(out)
    return total


def _sheet_title(key: str, taken: dict) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in key)[:28] or "blank"
    title, n = cleaned, 2
    existing = {getattr(sheet, "title", "") for sheet in taken.values()}
    while title in existing or title in ("summary", "judgments"):
        title, n = f"{cleaned[:25]}_{n}", n + 1
    return title


# --- preferences and arena battles ------------------------------------------------------


def _turns(prompt_text: str, messages) -> int:
    return sum(1 for m in messages if m.get("role") == "user") if messages else 1


def preference_records(study: Study, filters: PreferenceFilters | None = None) -> Iterator[dict]:
    """One record per pair task with a majority preference: prompt, chosen, rejected.

    Votes per task are counted; ties and "both bad" never choose a side. The
    majority side wins when it has strictly more votes than the other side;
    `agreement` is its share of the counted votes (decisive votes only with
    `drop_ties`, else all votes). `unanimous` keeps tasks whose every counted vote
    agrees; `min_agreement` drops tasks below that share.
    """
    from scoring import outcomes

    filters = filters or PreferenceFilters()
    if not 0 <= filters.min_agreement <= 1:
        raise ExportError("min_agreement must be between 0 and 1")
    _, a, _ = verdict_vocabulary()
    last = 0
    base = counting.counted_pair_verdicts(study)
    task_ids_query = Task.objects.filter(study=study, is_gold=False, kind=Task.Kind.PAIR).order_by(
        "pk"
    )
    while True:
        task_ids = list(task_ids_query.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH])
        if not task_ids:
            return
        last = task_ids[-1]
        votes: dict[int, Counter] = {}
        for task_id, verdict in base.filter(task_id__in=task_ids).values_list("task_id", "verdict"):
            votes.setdefault(task_id, Counter())[verdict] += 1
        if not votes:
            continue
        tasks = {
            t[0]: t
            for t in Task.objects.filter(pk__in=votes.keys()).values_list(
                "pk", "prompt_id", "response_a_id", "response_b_id"
            )
        }
        response_ids = [r for t in tasks.values() for r in t[2:]]
        responses = {
            pk: (text, model, meta)
            for pk, text, model, meta in Response.objects.filter(pk__in=response_ids).values_list(
                "pk", "text", "model__name", "metadata"
            )
        }
        prompts = {
            pk: (ext, text, messages, meta)
            for pk, ext, text, messages, meta in Prompt.objects.filter(
                pk__in={t[1] for t in tasks.values()}
            ).values_list("pk", "external_id", "text", "messages", "metadata")
        }
        for task_id in sorted(votes):
            count = votes[task_id]
            side = outcomes.preferred_side(count)
            if side is None:
                continue
            agreement = outcomes.agreement_share(count, side, decisive_only=filters.drop_ties)
            if filters.unanimous and agreement != 1.0:
                continue
            if agreement < filters.min_agreement:
                continue
            _, prompt_pk, ra, rb = tasks[task_id]
            chosen, rejected = (ra, rb) if side == a else (rb, ra)
            ext, text, messages, meta = prompts[prompt_pk]
            chosen_text, chosen_model, _ = responses[chosen]
            rejected_text, rejected_model, _ = responses[rejected]
            if messages:
                prompt_value = messages
                chosen_value = [{"role": "assistant", "content": chosen_text}]
                rejected_value = [{"role": "assistant", "content": rejected_text}]
            else:
                prompt_value, chosen_value, rejected_value = text, chosen_text, rejected_text
            yield {
                "prompt": prompt_value,
                "chosen": chosen_value,
                "rejected": rejected_value,
                "prompt_id": ext,
                "chosen_model": chosen_model,
                "rejected_model": rejected_model,
                "votes": dict(sorted(count.items())),
                "n_votes": sum(count.values()),
                "agreement": round(agreement, 4),
                "metadata": meta or {},
                "study": study.slug,
            }


def arena_records(study: Study) -> Iterator[dict]:
    """Each pairwise judgment as an arena battle record."""
    winners, _, _ = verdict_vocabulary()
    last = 0
    base = counting.counted_pair_verdicts(study).order_by("pk")
    prompt_info: dict[int, tuple] = {}
    while True:
        batch = list(
            base.filter(pk__gt=last).values_list(
                "pk",
                "task__prompt_id",
                "task__response_a__model__name",
                "task__response_b__model__name",
                "verdict",
                "grader__username",
                "created_at",
            )[:BATCH]
        )
        if not batch:
            return
        last = batch[-1][0]
        missing = {row[1] for row in batch} - prompt_info.keys()
        for pk, ext, text, messages, meta in Prompt.objects.filter(pk__in=missing).values_list(
            "pk", "external_id", "text", "messages", "metadata"
        ):
            prompt_info[pk] = (ext, _turns(text, messages), (meta or {}).get("language"))
        for _pk, prompt_pk, ma, mb, verdict, grader, created in batch:
            ext, turn, language = prompt_info[prompt_pk]
            yield {
                "question_id": ext,
                "model_a": ma,
                "model_b": mb,
                "winner": winners[verdict],
                "judge": grader,
                "turn": turn,
                "language": language,
                "tstamp": created.timestamp(),
            }


def iter_scores_csv(study: Study) -> Iterator[bytes]:
    """The scores table as CSV, formula-like text neutralised (metric names included)."""
    from pandas.api.types import is_numeric_dtype

    from annotation.results import response_scores

    frame = response_scores(study)
    frame.columns = [spreadsheet_text(str(name)) for name in frame.columns]
    for name in frame.columns:
        if not is_numeric_dtype(frame[name]):
            frame[name] = frame[name].map(spreadsheet_text)
    yield frame.to_csv(index=False, lineterminator=CSV_LINE_END).encode("utf-8")


# --- one entry point for commands, pages and the API -------------------------------------


def stream(study: Study, fmt: str, *, filters: PreferenceFilters | None = None) -> Iterator[bytes]:
    """The export as chunks of bytes, for the text formats (its reads planned for this
    study's values: `annotation.plans.custom_plans`)."""
    return _planned(_chunks(study, fmt, filters))


def _planned(chunks: Iterator[bytes]) -> Iterator[bytes]:
    with custom_plans():
        yield from chunks


def _chunks(study: Study, fmt: str, filters: PreferenceFilters | None) -> Iterator[bytes]:
    if fmt == "csv":
        return iter_csv(study)
    if fmt == "jsonl":
        return iter_jsonl(study)
    if fmt == "preferences":
        return _iter_jsonl(preference_records(study, filters))
    if fmt == "arena":
        return _iter_jsonl(arena_records(study))
    if fmt == "scores":
        return iter_scores_csv(study)
    if fmt == "card":
        from annotation.model_card import model_card

        return iter([model_card(study).encode("utf-8")])
    raise ExportError(f"unknown text export format '{fmt}'")


def write(
    study: Study,
    fmt: str,
    out: IO[bytes],
    *,
    filters: PreferenceFilters | None = None,
    slice_by: str | None = None,
) -> None:
    """Write the export in `fmt` to a binary file."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        with custom_plans():
            write_parquet(study, out)
    elif fmt == "xlsx":
        with custom_plans():
            write_xlsx(study, out, slice_by=slice_by)
    else:
        for chunk in stream(study, fmt, filters=filters):
            out.write(chunk)
