"""Export 1,000,000 judgments as CSV and JSONL: rows/s, CPU and peak memory, each next to
its floor.

Builds a study of 20,000 prompts x 5 models (200,000 pair tasks) with 1,000,000 judgments
(5 graders per task, 200 graders) and 2,000,000 ratings, then runs, each in a fresh
process: the product's export (`annotation.exports.stream`, what `manage.py export` and the
API download run), and its floor, the same rows read by a raw DB-API cursor (no Django, one
SQL query joining every table the export reads) and written by `csv.writer` (or, for
JSONL, `orjson.dumps` of each row as a dict), with no neutralising or formatting at all.
Each line gives wall time, rows/s, the process's CPU time (and on PostgreSQL the server
backend's CPU time, read from /proc), and its peak resident memory; the ratio line is the
export's speed as a share of its floor's (target >= 0.9) and its peak (target < 100 MB).

SQLite by default (a fresh file); `--database-url postgres://...` builds the study in that
database instead (reused when a bench study of the same size is already there; any other
bench study is deleted first) and measures the COPY path of the CSV export, with a raw
COPY of the floor query as an extra reference line.

Run: .venv/bin/python bench/bench_export.py [--judgments N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT  # noqa: E402

SLUG = "bench-export"
GRADERS = 200
PER_TASK = 5
FLOOR_COLUMNS = (
    "judgment_id, created_at, study, prompt_id, task_id, kind, model_a, model_b, verdict, "
    "grader, grader_kind, rating_a, rating_b, tags_a, tags_b, comment, seconds, source, metadata"
).split(", ")
# The same rows as the export, read by one query: every table the export reads, joined.
FLOOR_SQL = """
SELECT j.id, j.created_at, s.slug, p.external_id, j.task_id, t.kind, ma.name, mb.name,
       j.verdict, u.username, u.kind, ra.label, rb.label, ra.tags, rb.tags, j.comment,
       j.seconds, j.source, p.metadata
FROM annotation_judgment j
CROSS JOIN annotation_task t
JOIN annotation_study s ON s.id = t.study_id
JOIN annotation_prompt p ON p.id = t.prompt_id
JOIN annotation_response a ON a.id = t.response_a_id
JOIN annotation_languagemodel ma ON ma.id = a.model_id
LEFT JOIN annotation_response b ON b.id = t.response_b_id
LEFT JOIN annotation_languagemodel mb ON mb.id = b.model_id
JOIN annotation_user u ON u.id = j.grader_id
LEFT JOIN annotation_rating ra ON ra.judgment_id = j.id AND ra.response_id = t.response_a_id
LEFT JOIN annotation_rating rb ON rb.judgment_id = j.id AND rb.response_id = t.response_b_id
WHERE t.id = j.task_id AND t.study_id = {study} AND NOT t.is_gold
ORDER BY j.id
"""


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "humaneval_site.settings"
    import django

    django.setup()


# --- building the study --------------------------------------------------------------------


def existing(judgments: int) -> bool:
    """Whether the database holds the bench study at this size already; else drops any other
    bench study, in bulk statements (Django's cascade would load every row first)."""
    from django.db import connection, transaction

    from annotation.models import Judgment, Study

    study = Study.objects.filter(slug=SLUG).first()
    if study is None:
        return False
    if Judgment.objects.filter(task__study=study).count() == judgments:
        return True
    tables = [
        "DELETE FROM annotation_rating WHERE judgment_id IN (SELECT j.id FROM annotation_judgment j JOIN annotation_task t ON t.id = j.task_id WHERE t.study_id = %s)",
        "DELETE FROM annotation_judgment WHERE task_id IN (SELECT id FROM annotation_task WHERE study_id = %s)",
        "DELETE FROM annotation_task WHERE study_id = %s",
        "DELETE FROM annotation_response WHERE prompt_id IN (SELECT id FROM annotation_prompt WHERE study_id = %s)",
        "DELETE FROM annotation_prompt WHERE study_id = %s",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in tables:
            cursor.execute(sql, [study.pk])
        study.delete()
    return False


def build(judgments: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotation.models import LanguageModel, Prompt, Response, Study, Task, User

    call_command("migrate", verbosity=0)
    if existing(judgments):
        print(f"reusing the {judgments:,} judgments already in the database")
        return
    rng = random.Random(0)
    pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    n_tasks = judgments // PER_TASK
    n_prompts = max(-(-n_tasks // len(pairs)), 1)
    study = Study.objects.create(
        slug=SLUG,
        name="bench",
        rating_scale=["poor", "acceptable", "good"],
        good_labels=["good"],
        tags=["harmful", "untrue", "unhelpful"],
    )
    model_ids = [LanguageModel.objects.create(study=study, name=f"model-{i}").pk for i in range(5)]
    Prompt.objects.bulk_create(
        [
            Prompt(
                study=study,
                external_id=f"p{i:06d}",
                text=f"prompt {i}",
                metadata={"language": rng.choice(["en", "de", "fr"])},
            )
            for i in range(n_prompts)
        ],
        batch_size=5000,
    )
    prompt_ids = list(
        Prompt.objects.filter(study=study).order_by("pk").values_list("pk", flat=True)
    )
    Response.objects.bulk_create(
        [
            Response(prompt_id=p, model_id=m, text=f"answer of {m} to {p}")
            for p in prompt_ids
            for m in model_ids
        ],
        batch_size=5000,
    )
    response = {
        (p, m): pk
        for pk, p, m in Response.objects.filter(prompt__study=study).values_list(
            "pk", "prompt_id", "model_id"
        )
    }
    tasks = []
    for p in prompt_ids:
        for a, b in pairs:
            ra, rb = sorted((response[(p, model_ids[a])], response[(p, model_ids[b])]))
            tasks.append(
                Task(
                    study=study,
                    kind="pair",
                    prompt_id=p,
                    response_a_id=ra,
                    response_b_id=rb,
                    slots_taken=PER_TASK,
                )
            )
    Task.objects.bulk_create(tasks[:n_tasks], batch_size=5000)
    names = [f"bench-g{i}" for i in range(GRADERS)]
    User.objects.bulk_create(
        [User(username=name, role="grader") for name in names], ignore_conflicts=True
    )
    graders = list(User.objects.filter(username__in=names).order_by("pk").values_list("pk"))
    task_rows = list(
        Task.objects.filter(study=study)
        .order_by("pk")
        .values_list("pk", "response_a_id", "response_b_id")
    )
    verdicts = ["a", "b", "tie", "both_bad"]
    labels = ["poor", "acceptable", "good"]
    comments = ["", "", "", "fine", "=1+1", 'said "no", then\nleft', "-0.5"]
    # As Django stores a timestamp: naive UTC text in SQLite, timestamptz in PostgreSQL.
    now = "2026-11-29 12:00:00" if connection.vendor == "sqlite" else "2026-11-29 12:00:00+00"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM annotation_judgment")
        jid = cursor.fetchone()[0]
        judgment_rows, rating_rows = [], []
        for t, (task_id, ra, rb) in enumerate(task_rows):
            for k in range(PER_TASK):
                jid += 1
                grader = graders[(t + k * 37) % len(graders)][0]
                judgment_rows.append(
                    (
                        jid,
                        task_id,
                        grader,
                        rng.choice(verdicts),
                        rng.choice(comments),
                        round(rng.uniform(5, 90), 3),
                        "grader",
                        now,
                        now,
                    )
                )
                rating_rows.append(
                    (jid, ra, rng.choice(labels), '["untrue"]' if rng.random() < 0.1 else "[]")
                )
                rating_rows.append((jid, rb, rng.choice(labels), "[]"))
            if len(judgment_rows) >= 50_000:
                flush(cursor, judgment_rows, rating_rows)
        flush(cursor, judgment_rows, rating_rows)
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('annotation_judgment', 'id'), %s)", [jid]
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def flush(cursor, judgment_rows, rating_rows):
    judgment = "annotation_judgment (id, task_id, grader_id, verdict, comment, seconds, source, created_at, updated_at)"
    rating = "annotation_rating (judgment_id, response_id, label, tags)"
    if cursor.db.vendor == "postgresql":  # COPY: executemany would take minutes
        for table, rows in ((judgment, judgment_rows), (rating, rating_rows)):
            with cursor.cursor.copy(f"COPY {table} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        cursor.executemany(f"INSERT INTO {judgment} VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", judgment_rows)  # fmt: skip
        cursor.executemany(f"INSERT INTO {rating} VALUES (%s, %s, %s, %s)", rating_rows)
    judgment_rows.clear()
    rating_rows.clear()


# --- one measurement per fresh process -----------------------------------------------------


def backend_cpu(pid: int | None) -> float:
    """CPU seconds used so far by the PostgreSQL backend `pid` (same machine), else 0."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss over from the parent through fork and exec, so a child started by a large
    parent (this script after building the study) would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(label: str, run, backend_pid: int | None = None, **extra) -> None:
    """Run `run()` (returns the row count), then print its figures as one line, and as a
    JSON line (starting with '#') for the parent."""
    server0, cpu0, start = backend_cpu(backend_pid), time.process_time(), time.perf_counter()
    rows = run()
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    server = backend_cpu(backend_pid) - server0
    peak_mb = peak_rss_mb()
    server_text = f" + server {server:4.1f} s" if backend_pid else ""
    print(
        f"{label:<24} {rows:>9,} rows {wall:6.1f} s wall = {rows / wall:>9,.0f} rows/s, "
        f"CPU {cpu:5.1f} s{server_text}, peak {peak_mb:4.0f} MB",
        flush=True,
    )
    result = {"rows": rows, "wall": wall, "cpu": cpu + server, "peak": peak_mb, **extra}
    print("#" + json.dumps(result), flush=True)


def export_once(url: str, fmt: str) -> None:
    setup_django(url)
    from django.db import connection

    after_setup = rss_mb()
    from annotation import exports, exports_copy
    from annotation.models import Study

    after_import = rss_mb()
    exports.verdict_vocabulary()  # what the first batch of rows would import
    after_vocabulary = rss_mb()

    study = Study.objects.get(slug=SLUG)
    pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
    path = "copy" if fmt == "csv" and exports_copy.available(connection) else "python"

    def run() -> int:
        newlines = 0
        with open(os.devnull, "wb") as sink:
            for chunk in exports.stream(study, fmt):
                sink.write(chunk)
                newlines += chunk.count(b"\n")
        # Rows: JSONL has one line each; the bench's CSV has quoted newlines in comments.
        if fmt == "jsonl":
            return newlines
        return study_rows(connection, study.pk)

    measure(
        f"export {fmt} ({path})",
        run,
        pid,
        memory=(after_setup, after_import - after_setup, after_vocabulary - after_import),
    )


def study_rows(connection, study_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM annotation_judgment j JOIN annotation_task t ON t.id = j.task_id "
            "WHERE t.study_id = %s",
            [study_id],
        )
        return cursor.fetchone()[0]


def raw_connection(url: str):
    """A plain DB-API connection (no Django) and the bench study's id."""
    if url.startswith("sqlite:///"):
        import sqlite3

        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = connection.cursor()
        pid = None
    else:
        import psycopg

        connection = psycopg.connect(url)  # a transaction: the floor's cursor is server-side
        cursor = connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    cursor.execute(f"SELECT id FROM annotation_study WHERE slug = '{SLUG}'")
    return connection, cursor.fetchone()[0], pid


def floor_once(url: str, fmt: str) -> None:
    connection, study_id, pid = raw_connection(url)
    sql = FLOOR_SQL.format(study=study_id)

    def cursor():
        if pid is None:
            return connection.cursor()
        return connection.cursor(name="floor")  # server-side: memory stays flat

    def run_csv() -> int:
        rows = 0
        with open(os.devnull, "w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink)
            writer.writerow(FLOOR_COLUMNS)
            cur = cursor()
            cur.execute(sql)
            while batch := cur.fetchmany(5000):
                writer.writerows(batch)
                rows += len(batch)
        return rows

    def run_jsonl() -> int:
        import orjson

        rows = 0
        dumps, newline, names = orjson.dumps, orjson.OPT_APPEND_NEWLINE, FLOOR_COLUMNS
        with open(os.devnull, "wb") as sink:
            cur = cursor()
            cur.execute(sql)
            while batch := cur.fetchmany(5000):
                for row in batch:
                    sink.write(dumps(dict(zip(names, row)), option=newline))  # noqa: B905
                rows += len(batch)
        return rows

    def run_copy() -> int:
        rows = 0
        copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER)"
        with open(os.devnull, "wb") as sink, connection.cursor() as cur, cur.copy(copy_sql) as copy:
            for data in copy:
                sink.write(data)
                rows += 1
        return rows - 1

    runs = {"csv": run_csv, "jsonl": run_jsonl, "copy": run_copy}
    measure(f"floor {fmt} (raw cursor)" if fmt != "copy" else "floor raw COPY", runs[fmt], pid)


def run_child(*args: str) -> dict:
    """Run one measurement in a fresh process; echo its line, return its figures."""
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    lines = done.stdout.splitlines()
    sys.stdout.write("".join(f"  {line}\n" for line in lines if not line.startswith("#")))
    return json.loads(next(line for line in lines if line.startswith("#"))[1:])


def compare(fmt: str, url: str, repeat: int) -> None:
    """The export and its floor, alternately, `repeat` times each; best runs compared."""
    products, floors = [], []
    for _ in range(repeat):
        products.append(run_child("--export-only", url, fmt))
        floors.append(run_child("--floor-only", url, fmt))
    product = min(products, key=lambda r: r["wall"])
    floor = min(floors, key=lambda r: r["wall"])
    cpu_ratio = min(r["cpu"] for r in floors) / min(r["cpu"] for r in products)
    peak = max(r["peak"] for r in products)
    setup, exports_mb, vocabulary_mb = product["memory"]
    print(
        f"{fmt}: best of {repeat}: {product['rows'] / product['wall']:,.0f} rows/s against the "
        f"floor's {floor['rows'] / floor['wall']:,.0f}: {floor['wall'] / product['wall']:.2f}x "
        f"by wall time, {cpu_ratio:.2f}x by CPU time (target >= 0.9x); peak {peak:.0f} MB "
        f"(target < 100 MB; the floor's {max(r['peak'] for r in floors):.0f} MB)"
    )
    print(
        f"     before the first row: {setup:.0f} MB after django.setup(), +{exports_mb:.0f} MB "
        f"importing annotation.exports, +{vocabulary_mb:.0f} MB importing scoring.verdicts"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url", help="postgres://... to measure on PostgreSQL (default: SQLite)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each export and floor (best counts)"
    )
    parser.add_argument("--export-only", nargs=2, metavar=("URL", "FORMAT"), help=argparse.SUPPRESS)
    parser.add_argument("--floor-only", nargs=2, metavar=("URL", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        export_once(*args.export_only)
        return
    if args.floor_only:
        floor_once(*args.floor_only)
        return
    url, scratch = args.database_url, None
    if not url:
        scratch = Path(tempfile.mkdtemp(prefix="bench-export-"))
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    try:
        setup_django(url)
        start = time.perf_counter()
        build(args.judgments)
        print(f"built {args.judgments:,} judgments in {time.perf_counter() - start:.0f} s ({url})")
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for fmt in ("csv", "jsonl"):
            compare(fmt, url, args.repeat)
        if not url.startswith("sqlite"):
            print("reference: the floor query's rows written by the server itself:")
            run_child("--floor-only", url, "copy")
    finally:
        if scratch:
            shutil.rmtree(scratch)


if __name__ == "__main__":
    main()
