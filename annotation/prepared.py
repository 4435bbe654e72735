"""ORM queries compiled to SQL once per database connection, then run with new values.

Django compiles a queryset to SQL every time it is evaluated. For the vote path's
joined reads that is nearly all their cost: building and compiling the query of the next
task to hand out takes about 5,000 Python calls, running it about 60. A `PreparedSelect`
is written as an ordinary queryset, built from its parameters by a function; the first
time it runs on a connection it is built and compiled with marker values in place of
the parameters, and from then on only the values are substituted. The ORM still writes
the SQL from the models as they are, and turns the rows into model instances with their
select_related objects and annotations, exactly as evaluating the queryset would.

What may vary between runs is declared: each parameter with the model field that turns
its value into what the database receives (an integer, a string, a date and time). What
changes the SQL itself (a boolean filter, whether a lock is taken) is part of the
`shape`, and each shape is compiled once. A parameter that does not reach the SQL as a
query parameter, unchanged, is refused when the statement is first compiled.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models import QuerySet, sql
from django.db.models.query import get_related_populators

_markers = itertools.count(1)


def _marker(field: models.Field):
    """A value of the field's type that no real parameter takes."""
    n = next(_markers)
    if isinstance(field, models.DateTimeField):
        return datetime(1901, 1, 1, tzinfo=UTC) + timedelta(microseconds=n)
    if isinstance(field, models.IntegerField):
        # Within every integer column's range but small ones': Django compiles a lookup
        # with an out-of-range value to "always false" instead of a parameter.
        return 1_987_000_000 + n
    if isinstance(field, models.CharField | models.TextField):
        return f"\x1eprepared-marker-{n}\x1e"
    raise TypeError(f"prepared queries take integer, string or date-time parameters, not {field}")


class _Statement:
    """SQL compiled once, with the positions its parameters' values go to."""

    def __init__(self, compiler, markers: dict, params: dict, connection):
        self.sql, compiled = compiler.as_sql()
        self.template = list(compiled)
        self.slots = []  # (position, parameter name)
        prepared = {
            name: params[name].get_db_prep_value(value, connection, prepared=False)
            for name, value in markers.items()
        }
        for position, value in enumerate(compiled):
            for name, marker in prepared.items():
                # psycopg 3 wraps integers by column type (Int4, Int8): compare values.
                if not isinstance(value, bool) and value == marker:
                    self.slots.append((position, name))
        missing = set(markers) - {name for _position, name in self.slots}
        if missing:
            raise ValueError(
                f"prepared query: {', '.join(sorted(missing))} did not reach the SQL as a "
                "parameter; make it part of the shape"
            )

    def execute(self, cursor, values: dict, params: dict, connection) -> None:
        args = list(self.template)
        for position, name in self.slots:
            value = params[name].get_db_prep_value(values[name], connection, prepared=False)
            compiled = self.template[position]
            if isinstance(compiled, int) and type(compiled) is not int and value is not None:
                value = type(compiled)(value)  # the same psycopg integer type as compiled
            args[position] = value
        cursor.execute(self.sql, args)


class _Compiled(_Statement):
    """One shape of a prepared select, compiled on one connection."""

    def __init__(self, queryset: QuerySet, markers: dict, params: dict, connection):
        compiler = queryset.query.get_compiler(connection=connection)
        super().__init__(compiler, markers, params, connection)
        self.compiler = compiler
        self.db = connection.alias
        klass_info = compiler.klass_info
        self.model = klass_info["model"]
        select = compiler.select
        fields = klass_info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.init_list = [f[0].target.attname for f in select[self.start : self.end]]
        self.related = get_related_populators(klass_info, select, self.db)
        self.annotations = dict(compiler.annotation_col_map or {})
        self.converters = compiler.get_converters([s[0] for s in select[0 : compiler.col_count]])

    def run(self, values: dict, params: dict, connection) -> list:
        with (
            transaction.mark_for_rollback_on_error(connection.alias),
            connection.cursor() as cursor,
        ):
            self.execute(cursor, values, params, connection)
            rows = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        objects = []
        for row in rows:
            obj = self.model.from_db(self.db, self.init_list, row[self.start : self.end])
            for populator in self.related:
                populator.populate(row, obj)
            for name, position in self.annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects


class PreparedSelect:
    """A queryset `build(*shape, **params)`, compiled once per connection and shape.

    `params`: each parameter's name and the model field its values are prepared with,
    e.g. ``grader_id=models.IntegerField()``. Calling it returns the model instances.
    """

    def __init__(self, build: Callable[..., QuerySet], **params: models.Field):
        self.build = build
        self.params = params
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, *shape, using: str = DEFAULT_DB_ALIAS, **values) -> list:
        connection = connections[using]  # this thread's connection: compiled once per thread
        if set(values) != set(self.params):
            raise TypeError(f"prepared query takes {sorted(self.params)}, got {sorted(values)}")
        by_shape = self._compiled.setdefault(connection, {})
        compiled = by_shape.get(shape)
        if compiled is None:
            markers = {name: _marker(field) for name, field in self.params.items()}
            queryset = self.build(*shape, **markers)
            compiled = by_shape[shape] = _Compiled(queryset, markers, self.params, connection)
        return compiled.run(values, self.params, connection)

    def first(self, *shape, **values):
        found = self(*shape, **values)
        return found[0] if found else None


class PreparedUpdate:
    """An update, `build(*shape, **params)` returning (queryset, {field: value or
    expression}) as QuerySet.update() would take them, compiled once per connection and
    shape. Calling it returns the number of rows changed."""

    def __init__(self, build: Callable[..., tuple[QuerySet, dict]], **params: models.Field):
        self.build = build
        self.params = params
        self._compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __call__(self, *shape, using: str = DEFAULT_DB_ALIAS, **values) -> int:
        connection = connections[using]
        if set(values) != set(self.params):
            raise TypeError(f"prepared update takes {sorted(self.params)}, got {sorted(values)}")
        by_shape = self._compiled.setdefault(connection, {})
        statement = by_shape.get(shape)
        if statement is None:
            markers = {name: _marker(field) for name, field in self.params.items()}
            queryset, changes = self.build(*shape, **markers)
            query = queryset.query.chain(sql.UpdateQuery)
            query.add_update_values(changes)
            query.annotations = {}
            compiler = query.get_compiler(connection=connection)
            if query.related_updates:
                raise ValueError("prepared update: only fields of the model itself")
            statement = by_shape[shape] = _Statement(compiler, markers, self.params, connection)
        with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
            statement.execute(cursor, values, self.params, connection)
            return cursor.rowcount


_insert_sql: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def insert(objs: list[models.Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """INSERT new instances of one model as `bulk_create` would (defaults, auto_now,
    each field's own conversion; no signals), and set their primary keys; the
    statement's text is built once per connection, model and number of rows."""
    connection = connections[using]
    model = type(objs[0])
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk and not f.generated]
    by_shape = _insert_sql.setdefault(connection, {})
    sql = by_shape.get((model, len(objs)))
    if sql is None:
        if not connection.features.can_return_columns_from_insert or any(
            hasattr(f, "get_placeholder") for f in fields
        ):
            model._base_manager.using(using).bulk_create(objs)
            return
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = by_shape[(model, len(objs))] = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
            f" VALUES {', '.join([row] * len(objs))} RETURNING {quote(meta.pk.column)}"
        )
    params = [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]
    with transaction.mark_for_rollback_on_error(using), connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys = [row[0] for row in cursor.fetchall()]
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = using
