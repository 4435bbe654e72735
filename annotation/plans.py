"""PostgreSQL query plans for statements kept prepared (settings' POSTGRES_PREPARE_THRESHOLD).

A statement run a few times on a connection is kept prepared, and after five runs
PostgreSQL may plan it once for any values (a generic plan). That is what makes a vote
cheap: the hand-out's read of the next task costs ten times more to plan than to run.
It is wrong for the reads of a whole study (the results' snapshot, exports): a plan made
without knowing which study is read guesses an average study, and one chosen for a
small study (nested loops) runs for minutes on a large one. `custom_plans` plans every
statement of a block for its own values. Elsewhere (SQLite, prepared statements off) it
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections


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
