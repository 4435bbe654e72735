"""Shared by the import benches: the executemany floor of the rows an import wrote.

`copy_rows` reads the rows an import added to its SQLite file (those above the ids of a
copy taken before the import); `write_floor` writes them into such a copy with bare
sqlite3 executemany, with the app's pragmas and the import's page cache, in one
transaction, and times it. With `rebuilt`, the non-unique indexes of those tables are
dropped before the inserts and created again after them, as the import does for a table
that it more than doubles: the floor of that strategy, beside the plain one.
"""

import shutil
import sqlite3
import time
from collections.abc import Collection
from pathlib import Path

Statement = tuple[str, str, list[tuple]]  # table, SQL, rows


def copy_rows(product_db: Path, before_db: Path, tables: list[str]) -> list[Statement]:
    """INSERTs of the rows each of `tables` holds in `product_db` above the largest id it
    holds in `before_db`, ids included (so that foreign keys point where the import's
    did); and UPDATEs of annotation_task's counters that changed (imported votes take
    slots of queued tasks)."""
    source = sqlite3.connect(product_db)
    target = sqlite3.connect(before_db)
    statements: list[Statement] = []
    for table in tables:
        (last,) = target.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        cursor = source.execute(f"SELECT * FROM {table} WHERE id > ? ORDER BY id", [last])
        columns = [d[0] for d in cursor.description]
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        statements.append((table, sql, cursor.fetchall()))
        if table == "annotation_task":
            before = dict(target.execute("SELECT id, slots_taken FROM annotation_task"))
            after = source.execute(
                "SELECT id, slots_taken FROM annotation_task WHERE id <= ?", [last]
            )
            slots = [(n, pk) for pk, n in after if n != before[pk]]
            statements.append(
                (table, "UPDATE annotation_task SET slots_taken = ? WHERE id = ?", slots)
            )
    source.close()
    target.close()
    return statements


def write_floor(
    before_db: Path,
    statements: list[Statement],
    cache_kib: int,
    *,
    rebuilt: Collection[str] = (),
) -> tuple[float, float]:
    """(wall, CPU) seconds from BEGIN to COMMIT of `statements` run with executemany on
    a fresh copy of `before_db`."""
    db = before_db.with_name(before_db.stem + ("-rebuilt" if rebuilt else "-plain") + ".sqlite3")
    shutil.copy(before_db, db)
    target = sqlite3.connect(db, isolation_level=None)
    # The pragmas of the app's connection, and the page cache the imports set.
    target.executescript(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
        f"PRAGMA cache_size=-{cache_kib};"
    )
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    target.execute("BEGIN IMMEDIATE")
    indexes = []
    for table in rebuilt:
        adding = sum(
            len(rows) for name, sql, rows in statements if name == table and "INSERT" in sql
        )
        (held,) = target.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        if adding >= held:
            found = target.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE %'",
                [table],
            ).fetchall()
            for name, _ in found:
                target.execute(f'DROP INDEX "{name}"')
            indexes.extend(sql for _, sql in found)
    for _, sql, rows in statements:
        target.executemany(sql, rows)
    for sql in indexes:
        target.execute(sql)
    target.execute("COMMIT")
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    target.close()
    return wall, cpu


def python_speed() -> float:
    """CPU seconds of a fixed pure-Python loop of 10 million steps: how fast this machine
    runs Python right now (a loaded or shared machine takes longer)."""
    start = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - start
