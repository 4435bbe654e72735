"""PostgreSQL query plans for statements kept prepared (settings' POSTGRES_PREPARE_THRESHOLD).

A statement run a few times on a connection is kept prepared, and after five runs
PostgreSQL may plan it once for any values (a generic plan). That is what makes a vote
cheap: the hand-out's read of the next task costs ten times more to plan than to run.
It is wrong for the reads of a whole study (the results' snapshot, exports): a plan made
without knowing which study is read guesses an average study, and one chosen for a
small study (nested loops) runs for minutes on a large one. `custom_plans` plans every
statement of a block for its own values. Elsewhere (SQLite, prepared statements off) it
changes nothing.

The opposite trap is a filter on a small vocabulary sent as a parameter: planned without
its value, "status = $2" looks like a third of a grader's assignments, and the generic plan
scanned the grader's whole history for the one active assignment (a vote at 5,000
judgments per grader went from 3 to 13-16 ms of database CPU). `ConstantExact`, registered
on such a field (`Assignment.status`), writes a value of the field's own choices into the
SQL, so every query filtering on it is planned knowing the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.lookups import Exact

_PLAIN_WORD = re.compile(r"[a-z_]+")


class ConstantExact(Exact):
    """`field = 'value'` with the value written into the SQL when it is one of the field's
    choices (plain lowercase words: nothing to quote or escape); any other value, and any
    expression, is sent as a parameter as usual. Register it on a field instance:
    ``Model._meta.get_field(name).register_lookup(ConstantExact)``."""

    def as_sql(self, compiler, connection):
        value = str(self.rhs) if isinstance(self.rhs, str) else None
        choices = {str(v) for v, _label in self.lhs.output_field.flatchoices}
        if value in choices and _PLAIN_WORD.fullmatch(value):
            lhs, params = self.process_lhs(compiler, connection)
            return f"{lhs} = '{value}'", params
        return super().as_sql(compiler, connection)


@contextmanager
def custom_plans(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Within the block, PostgreSQL plans each statement for its values
    (``plan_cache_mode = force_custom_plan``); afterwards the session's own setting is
    back. If the block fails inside a transaction, the transaction's rollback undoes the
    setting (SET is transactional), so nothing runs on an aborted transaction here."""
    connection = connections[using]
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor != "postgresql" or not options.get("prepare_threshold"):
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
    try:
        yield
    finally:
        _reset(connection)


def _reset(connection) -> None:
    from psycopg.pq import TransactionStatus

    raw = connection.connection
    if raw is None or raw.closed or raw.info.transaction_status == TransactionStatus.INERROR:
        return  # closed, or its rollback will undo the SET
    with connection.cursor() as cursor:
        cursor.execute("RESET plan_cache_mode")
