"""The per-judgment CSV export written by PostgreSQL: `COPY (SELECT ...) TO STDOUT`.

The server formats every row and Python passes the bytes on, byte for byte the file that
`annotation.exports` writes in Python (`_iter_csv_python`, itself equal to `csv.writer` over
`judgment_rows`; tests/annotation/test_export_copy.py compares the three on hostile data). How each column
comes out the same:

- Lookups (the study's slug, each prompt's id and metadata cells, model names, grader
  names and kinds) are formatted and neutralised by the Python path's own code
  (`exports.lookups`) and sent with the query as arrays, joined by id.
- Each judgment's free text (comment, rating labels, tags) is neutralised in SQL by the
  same rule: a cell starting with one of `exports.FORMULA_TRIGGERS` that is not entirely
  `exports.PLAIN_NUMBER_PATTERN` gets a leading apostrophe. Tags are joined with ';' in
  array order.
- The timestamp goes through the same CAST and then `exports._iso`'s rewriting, in SQL.
- `seconds`: PostgreSQL's float8 text equals Python's repr for every finite value below
  1e15 once an integral value gets Python's '.0' (checked on 450,000 values, subnormals
  included). Beyond that PostgreSQL prints integral doubles digit for digit where Python
  prints the shortest digits, and NaN and infinities have other names: such a value
  leaves the server as its bits (`#float8:` and 16 hex digits) and its row is rewritten
  here with Python's repr.
- Empty text goes out as NULL: COPY writes NULL as nothing and '' as `""`, csv.writer both
  as nothing. Otherwise COPY's CSV quoting is the csv module's QUOTE_MINIMAL: a field is
  quoted when it holds a comma, a double quote, CR or LF, and quotes are doubled.
- COPY ends each row with LF; every row arrives as one message (libpq's PQgetCopyData
  returns one data row at a time), so its last byte becomes CRLF. LFs inside quoted
  fields stay as csv.writer leaves them.
- The header is written by the Python path's code (COPY's HEADER would cut column names
  at 63 bytes and quote them by SQL's rules).

While the COPY runs it holds the connection (psycopg's lock), as any COPY does: the chunks
must be read to the end or the generator closed, as Django's StreamingHttpResponse does when
a download ends or the client goes away (the COPY is then cancelled).

`available` says where this holds: PostgreSQL 12 or later (shortest float text), psycopg 3,
extra_float_digits >= 1, UTF-8 client encoding, standard-conforming strings.
"""

from __future__ import annotations

import csv
import io
import struct
from collections.abc import Iterator

from django.db import connection as default_connection
from django.db import transaction

from annotation import counting, exports
from annotation.models import Judgment, Rating, Response, Study, Task

MARKER = "#float8:"
SECONDS_COLUMN = exports.JUDGMENT_COLUMNS.index("seconds")
# Rows gathered per chunk sent on (one COPY message each).
ROWS_PER_CHUNK = 2000


def available(connection=default_connection) -> bool:
    """Whether COPY writes exactly the Python path's bytes on this connection."""
    if connection.vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return False
    connection.ensure_connection()
    if connection.connection.info.server_version < 120000:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('extra_float_digits')::int, "
            "current_setting('client_encoding'), current_setting('standard_conforming_strings')"
        )
        digits, encoding, standard = cursor.fetchone()
    return digits >= 1 and encoding == "UTF8" and standard == "on"


def _neutral(column: str) -> str:
    """SQL for `exports.spreadsheet_text(column)`, empty text as NULL."""
    return (
        f"CASE WHEN left({column}, 1) = ANY(%(triggers)s::text[]) AND {column} !~ %(plain_number)s "
        f"THEN '''' || {column} ELSE NULLIF({column}, '') END"
    )


# Tags of up to this many are read by index, without a subquery per rating.
FEW_TAGS = 4


def _first_space_to_t(text: str) -> str:
    """SQL for Python's `text.replace(" ", "T", 1)` (regexp_replace costs several times
    more)."""
    return (
        f"CASE WHEN strpos({text}, ' ') = 0 THEN {text} ELSE "
        f"overlay({text} placing 'T' from strpos({text}, ' ') for 1) END"
    )


def _tags(column: str) -> str:
    """SQL for the ';'-joined tags of a rating's JSON array of strings (NULL for none).
    `concat_ws` skips what is past the end of the array (NULL); a list of more tags is
    joined by a subquery."""
    by_index = ", ".join(f"{column} ->> {i}" for i in range(FEW_TAGS))
    return (
        f"CASE WHEN {column} IS NULL OR jsonb_typeof({column}) <> 'array' "
        f"OR {column} = '[]'::jsonb THEN NULL "
        f"WHEN jsonb_array_length({column}) <= {FEW_TAGS} THEN concat_ws(';', {by_index}) "
        "ELSE (SELECT string_agg(tag, ';' ORDER BY n) FROM "
        f"jsonb_array_elements_text({column}) WITH ORDINALITY AS tags(tag, n)) END"
    )


# The inner query reads each judgment once (OFFSET 0 keeps PostgreSQL from folding it into
# the outer one, which would compute the timestamp's text and the tags once per use).
COPY_SQL = """
COPY (
SELECT d.id,
       CASE WHEN right(d.created, 3) = '+00' THEN d.created || ':00'
            WHEN strpos(substr(d.created, 11), '+') > 0 THEN d.created
            ELSE d.created || '+00:00' END,
       %(slug)s::text, p.prompt_id, d.task_id, NULLIF(d.kind, ''), ma.cell, mb.cell,
       NULLIF(d.verdict, ''),
       CASE d.verdict {winner} END,
       CASE d.verdict WHEN %(a)s THEN ma.cell WHEN %(b)s THEN mb.cell END,
       g.name, NULLIF(g.kind, ''),
       {label_a}, {label_b}, {tags_a}, {tags_b}, {comment},
       CASE WHEN d.seconds IS NULL THEN NULL
            WHEN abs(d.seconds) < 1e15 THEN
                 CASE WHEN d.seconds = trunc(d.seconds) THEN d.seconds::text || '.0'
                      ELSE d.seconds::text END
            ELSE %(marker)s || encode(float8send(d.seconds), 'hex') END,
       NULLIF(d.source, ''){meta}
FROM (
    SELECT j.id, {created} AS created, j.task_id,
           t.kind, t.prompt_id, ar.model_id AS model_a, br.model_id AS model_b, j.verdict,
           j.grader_id,
           j.comment, j.seconds, j.source, ra.label AS label_a, rb.label AS label_b,
           {tags_a_text} AS tags_a, {tags_b_text} AS tags_b
    FROM {judgment} j
    JOIN {task} t ON t.id = j.task_id
    LEFT JOIN {response} ar ON ar.id = t.response_a_id
    LEFT JOIN {response} br ON br.id = t.response_b_id
    LEFT JOIN {rating} ra ON ra.judgment_id = j.id AND ra.response_id = t.response_a_id
    LEFT JOIN {rating} rb ON rb.judgment_id = j.id AND rb.response_id = t.response_b_id
    WHERE t.study_id = %(study)s AND {selected}
    OFFSET 0
) d
JOIN unnest(%(prompt_pks)s::bigint[], %(prompt_ids)s::text[]{meta_arrays})
     AS p(pk, prompt_id{meta_names}) ON p.pk = d.prompt_id
JOIN unnest(%(model_pks)s::bigint[], %(models)s::text[]) AS ma(pk, cell)
     ON ma.pk = d.model_a
LEFT JOIN unnest(%(model_pks)s::bigint[], %(models)s::text[]) AS mb(pk, cell)
     ON mb.pk = d.model_b
JOIN unnest(%(user_pks)s::bigint[], %(user_names)s::text[], %(user_kinds)s::text[])
     AS g(pk, name, kind) ON g.pk = d.grader_id
ORDER BY d.id
) TO STDOUT (FORMAT csv)
"""


def _text(value) -> str | None:
    """A lookup cell as csv.writer writes it, empty as None (NULL)."""
    if value is None or value == "":
        return None
    return value if value.__class__ is str else str(value)


def copy_query(
    study: Study, selection: counting.Selection = counting.EVERY_GRADER
) -> tuple[list[str], str, dict]:
    """(columns, the COPY statement, its parameters, bound client-side by psycopg)."""
    found = exports.lookups(study, as_text=True)
    winners, a, b = exports.verdict_vocabulary()
    n_meta = len(found.columns) - len(exports.JUDGMENT_COLUMNS)
    selected, selection_params = selection.sql_condition(judgment="j", task="t")
    params: dict = {f"selection_{i}": value for i, value in enumerate(selection_params)}
    selected = selected % tuple(f"%(selection_{i})s" for i in range(len(selection_params)))
    params |= {
        "study": study.pk,
        "slug": _text(found.slug),
        "a": a,
        "b": b,
        "triggers": sorted(exports.FORMULA_TRIGGERS),
        "plain_number": f"^(?:{exports.PLAIN_NUMBER_PATTERN})$",
        "marker": MARKER,
        "prompt_pks": list(found.prompts),
        "prompt_ids": [_text(cells[0]) for cells in found.prompts.values()],
        "model_pks": list(found.models),
        "models": [_text(name) for name in found.models.values()],
        "user_pks": list(found.grader_names),
        "user_names": [_text(name) for name in found.grader_names.values()],
        "user_kinds": [_text(kind) for kind in found.grader_kinds.values()],
    }
    winner = ""
    for i, (verdict, label) in enumerate(sorted(winners.items())):
        params[f"verdict_{i}"], params[f"winner_{i}"] = verdict, label
        winner += f"WHEN %(verdict_{i})s THEN %(winner_{i})s "
    for k in range(n_meta):
        params[f"meta_{k}"] = [_text(cells[1][k]) for cells in found.prompts.values()]
    sql = COPY_SQL.format(
        created=_first_space_to_t("CAST(j.created_at AS TEXT)"),
        winner=winner,
        label_a=_neutral("d.label_a"),
        label_b=_neutral("d.label_b"),
        tags_a=_neutral("d.tags_a"),
        tags_b=_neutral("d.tags_b"),
        comment=_neutral("d.comment"),
        tags_a_text=_tags("ra.tags"),
        tags_b_text=_tags("rb.tags"),
        meta="".join(f", p.meta_{k}" for k in range(n_meta)),
        meta_arrays="".join(f", %(meta_{k})s::text[]" for k in range(n_meta)),
        meta_names="".join(f", meta_{k}" for k in range(n_meta)),
        judgment=Judgment._meta.db_table,
        task=Task._meta.db_table,
        rating=Rating._meta.db_table,
        response=Response._meta.db_table,
        selected=selected,
    )
    return found.columns, sql, params


def iter_csv(study: Study, *, connection=default_connection) -> Iterator[bytes]:
    """The CSV export of `study` in chunks of bytes, written by the server."""
    columns, sql, params = copy_query(study)
    yield exports.csv_header(columns)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        # The per-row expressions make the planner's estimate large enough for JIT with
        # inlining and optimisation, whose compiling cost more than it saved: 14.1 s
        # against 7.0 s for 200,000 rows (PostgreSQL 15).
        cursor.execute("SET LOCAL jit = off")
        yield from _rows(cursor, sql, params)


def _rows(cursor, sql: str, params: dict) -> Iterator[bytes]:
    with cursor.cursor.copy(sql, params) as copy:
        rows: list = []
        for row in copy:
            rows.append(row)
            if len(rows) == ROWS_PER_CHUNK:
                yield _crlf(rows)
                rows = []
        if rows:
            yield _crlf(rows)


def _crlf(rows: list) -> bytes:
    """COPY's rows (one LF-ended row each) as the Python path writes them."""
    data = b"\r\n".join([row[:-1] for row in rows]) + b"\r\n"
    marker = MARKER.encode()
    if marker in data:  # rare: only these rows are parsed and written again
        rows = [bytes(row) for row in rows]
        return b"".join(
            _exact_seconds(row) if marker in row else row[:-1] + b"\r\n" for row in rows
        )
    return data


def _exact_seconds(row: bytes) -> bytes:
    """A row whose seconds left the server as bits, with Python's repr of the value."""
    (cells,) = csv.reader(io.StringIO(row.decode("utf-8"), newline=""))
    seconds = cells[SECONDS_COLUMN]
    if seconds.startswith(MARKER):
        (value,) = struct.unpack(">d", bytes.fromhex(seconds.removeprefix(MARKER)))
        cells[SECONDS_COLUMN] = repr(value)
    out = io.StringIO()
    csv.writer(out, lineterminator=exports.CSV_LINE_END).writerow(cells)
    return out.getvalue().encode("utf-8")
