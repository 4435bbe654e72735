"""annotation.ingest.writing.insert_rows: rows sent as JSON text (plain=True, on SQLite) are
stored exactly as executemany stores them, value by value and type by type."""

import pytest
from django.db import connection

from annotation.ingest import writing
from annotation.ingest.writing import insert_rows, json_value
from annotation.models import Prompt, Study

pytestmark = pytest.mark.django_db

# Texts a JSON round trip could change: quotes and backslashes, escapes, characters
# beyond the BMP, JavaScript's line separator, numbers and JSON words as text, blanks.
TEXTS = [
    'say "hi" \\ back\\slash',
    "line\nbreak\ttab",
    "emoji \U0001f600 and \u2028 separator",
    "007",
    "1e5",
    "-0",
    "null",
    "true",
    "",
    "  padded  ",
    "x" * 10_000,
    '{"not": "json here"}',
]


def stored(study, prefix):
    table = connection.ops.quote_name(Prompt._meta.db_table)
    sql = (
        f"SELECT external_id, text, messages, reference, metadata, conversation_html "
        f"FROM {table} WHERE study_id = %s AND external_id LIKE %s ORDER BY id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [study.pk, prefix + "%"])
        rows = cursor.fetchall()
        types = None
        if connection.vendor == "sqlite":
            cursor.execute(
                sql.replace("SELECT external_id,", "SELECT typeof(external_id),")
                .replace(" text,", " typeof(text),")
                .replace(" messages,", " typeof(messages),")
                .replace(" reference,", " typeof(reference),")
                .replace(" metadata,", " typeof(metadata),")
                .replace(" conversation_html ", " typeof(conversation_html) "),
                [study.pk, prefix + "%"],
            )
            types = cursor.fetchall()
    return [(ext[len(prefix) :], *rest) for ext, *rest in rows], types


@pytest.mark.parametrize("chunk", [1, 4, 100_000])
def test_plain_rows_are_stored_as_executemany_stores_them(monkeypatch, chunk):
    monkeypatch.setattr(writing, "JSON_ROWS_CHUNK", chunk)
    study = Study.objects.create(slug="writing", name="writing")
    fields = ["external_id", "text", "reference", "metadata"]
    meta = json_value({"k": 'v " \\ \u00e9', "n": 3})
    rows = [(f"{i:03d}", text, None if i % 2 else text, meta) for i, text in enumerate(TEXTS)]
    constants = {"study": study.pk, "messages": None, "conversation_html": json_value([])}
    insert_rows(
        Prompt, fields, [("plain-" + r[0], *r[1:]) for r in rows], constants=constants, plain=True
    )
    insert_rows(Prompt, fields, [("many-" + r[0], *r[1:]) for r in rows], constants=constants)
    plain, plain_types = stored(study, "plain-")
    many, many_types = stored(study, "many-")
    assert len(plain) == len(TEXTS)
    assert plain == many
    assert plain_types == many_types
    assert [row[1] for row in plain] == TEXTS  # in the order given
    # And the ORM reads them back as it reads its own rows.
    read = Prompt.objects.filter(external_id__startswith="plain-").order_by("pk")
    assert [p.metadata for p in read] == [{"k": 'v " \\ \u00e9', "n": 3}] * len(TEXTS)
    assert all(p.messages is None for p in read)


def test_constants_fill_every_row_on_both_paths():
    study = Study.objects.create(slug="consts", name="consts")
    for plain in (True, False):
        insert_rows(
            Prompt,
            ["external_id", "text"],
            ((f"{plain}-{i}", f"t{i}") for i in range(5)),  # a generator, not a list
            constants={
                "study": study.pk,
                "metadata": json_value({"plain": plain}),
                "conversation_html": json_value([]),
            },
            plain=plain,
        )
    for plain in (True, False):
        prompts = Prompt.objects.filter(study=study, external_id__startswith=f"{plain}-")
        assert sorted(p.text for p in prompts) == [f"t{i}" for i in range(5)]
        assert all(p.metadata == {"plain": plain} and p.reference is None for p in prompts)
