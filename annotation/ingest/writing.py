"""Writing many rows quickly: one INSERT statement run with executemany per table.

Imports build plain tuples in database form and hand them to the driver, without a
model instance per row: at 100,000 responses, creating instances (and the garbage
collector walking them) cost more than the INSERTs. The values must already be what the
database stores: JSON fields through `json_value`, times through `db_now`.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from itertools import islice

import orjson
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone


def insert_rows(
    model: type[Model],
    fields: list[str],
    rows: Iterable[tuple],
    *,
    constants: dict[str, object] | None = None,
    plain: bool = False,
) -> None:
    """INSERT `rows` (one value per name in `fields`, in database form) into `model`'s table,
    in their order, with the same value of each field of `constants` in every row.

    `plain` promises that every value of `rows` is an int, a str, None or a bool: then, on
    SQLite, the rows go in by chunks as JSON text, each chunk with one INSERT ... SELECT
    FROM json_each(?), which spares a Python-to-SQLite binding per value (2,000,000
    ratings: 12 s with executemany, under 5 s this way). A float would come back from
    SQLite's JSON parser, not bit for bit, hence the promise. The caller reads the new
    primary keys back where it needs them.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    constants = constants or {}
    names = [*fields, *constants]
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    table = quote(meta.db_table)
    fixed = list(constants.values())
    if plain and _json_rows_supported():
        picks = ", ".join(f"value ->> {i}" for i in range(len(fields)))
        marks = "".join(", %s" for _ in fixed)
        sql = f"INSERT INTO {table} ({columns}) SELECT {picks}{marks} FROM json_each(%s)"
        iterator = iter(rows)
        with connection.cursor() as cursor:
            while chunk := list(islice(iterator, JSON_ROWS_CHUNK)):
                cursor.execute(sql, [*fixed, orjson.dumps(chunk).decode()])
        return
    if fixed:
        extra = tuple(fixed)
        rows = (row + extra for row in rows)
    placeholders = ", ".join(["%s"] * len(names))
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


# Rows of one INSERT ... SELECT FROM json_each(?) (`insert_rows` with plain=True): a few MB
# of JSON text at a time.
JSON_ROWS_CHUNK = 100_000


def _json_rows_supported() -> bool:
    """Whether this connection is SQLite with the ->> operator (3.38 and later)."""
    return connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 38)


def new_pks(model: type[Model], after: int, count: int) -> list[int] | None:
    """The primary keys of the `count` rows just inserted into `model`'s table, in the
    order they were inserted, when they are known without reading them back: on SQLite,
    which gives each row of a writer holding the lock the next key, when the keys above
    `after` are exactly `count` consecutive ones. None otherwise (read them back)."""
    if connection.vendor != "sqlite" or not count:
        return None
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MIN(id), MAX(id), COUNT(*) FROM {table} WHERE id > %s", [after])
        low, high, found = cursor.fetchone()
    if found != count or high - low + 1 != count:
        return None
    return list(range(low, high + 1))


def update_rows(model: type[Model], field: str, value, pks: list[int]) -> None:
    """Set one field of the rows `pks` to the same value."""
    if pks:
        model.objects.filter(pk__in=pks).update(**{field: value})


def json_adapter():
    """A function giving a value for a JSON column, as Django's JSONField would pass it to
    this database (on SQLite: the JSON text)."""
    if connection.vendor == "sqlite":
        return _json_text
    return partial(connection.ops.adapt_json_value, encoder=None)


def _json_text(value) -> str:
    return orjson.dumps(value).decode()


def json_value(value):
    """A value for a JSON column, as Django's JSONField would pass it to this database."""
    return json_adapter()(value)


def order_keys():
    """Random hand-out order keys for new tasks (what Task.order_key's default draws)."""
    rng = random.Random()
    return lambda: rng.getrandbits(31)


def datetime_adapter():
    """A function giving a value for a DateTimeField column from an aware datetime, as
    Django would pass it to this database (on SQLite: naive UTC text)."""
    if connection.vendor == "sqlite":
        return sqlite_datetime
    return connection.ops.adapt_datetimefield_value


def sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:-6]  # without "+00:00": what str() of the naive time gives


def db_now():
    """The current time for a DateTimeField column, as Django would pass it."""
    return connection.ops.adapt_datetimefield_value(timezone.now())


# SQLite's page cache while an import writes (its default is 2 MB): index pages of a large
# study stay in memory instead of being read back from the OS for every row.
SQLITE_IMPORT_CACHE_KIB = 256 * 1024


@contextmanager
def bulk_writes(analyze: Sequence[type[Model]] = ()) -> Iterator[None]:
    """Settings for one import's bulk writes: the collector paused, and on SQLite a page
    cache large enough for the study's indexes (restored afterwards). On PostgreSQL, the
    tables of `analyze` get fresh planner statistics once the writes succeeded."""
    with gc_paused():
        if connection.vendor != "sqlite":
            yield
            refresh_statistics(analyze)
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA cache_size")
            before = cursor.fetchone()[0]
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA cache_size = {int(before)}")


# Below this many new rows, inserting into a table's indexes costs less than building them.
MIN_ROWS_TO_REBUILD_INDEXES = 10_000


@contextmanager
def indexes_built_after(model: type[Model], adding: int) -> Iterator[None]:
    """On SQLite, when an import adds at least as many rows to `model`'s table as it holds
    (and at least MIN_ROWS_TO_REBUILD_INDEXES), drop the table's non-unique indexes while
    the rows go in and create them again afterwards, with the SQL they were created with.

    SQLite builds an index from sorted keys several times faster than it inserts a million
    keys one by one at random places in it. Unique indexes stay: they check the rows as
    they come. The drop and the rebuild run in a savepoint of the caller's transaction,
    so an error restores the indexes with the table; readers meanwhile see the committed
    schema. Elsewhere (PostgreSQL, small imports) nothing changes.
    """
    if connection.vendor != "sqlite" or adding < MIN_ROWS_TO_REBUILD_INDEXES:
        yield
        return
    table = model._meta.db_table
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        held = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
            "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE %%' ORDER BY name",
            [table],
        )
        indexes = cursor.fetchall()
    if held > adding or not indexes:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {quote(name)}")
        yield
        with connection.cursor() as cursor:
            for _, sql in indexes:
                cursor.execute(sql)


def refresh_statistics(models: Sequence[type[Model]]) -> None:
    """On PostgreSQL, ANALYZE the tables of `models` now, in the caller's transaction.

    Right after a bulk import the planner still holds the statistics of the tables before
    it (or of their dead rows), estimates one row where there are a hundred thousand, and
    picks nested loops that rescan a table per row: minutes for the results' queries
    until autovacuum analyzes the tables. ANALYZE inside the transaction counts the
    transaction's own new rows. SQLite's planner needs no statistics for these queries."""
    if connection.vendor != "postgresql" or not models:
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep Python's cyclic garbage collector from walking the many objects an import
    holds while it runs (reference counting still frees what is dropped)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
