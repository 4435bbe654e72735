"""Export 1,000,000 judgments from SQLite as CSV and JSONL: rows/s and peak memory.

Builds a study of 20,000 prompts x 5 models (200,000 pair tasks) with 1,000,000
judgments (5 graders per task, 200 graders) and 2,000,000 ratings in a fresh
SQLite file, then runs each export in a fresh process and prints its rows per
second and that process's peak resident memory. Targets: at least 100,000 rows/s
and under 300 MB peak. Run: .venv/bin/python bench/bench_export.py [--judgments N]
"""

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import use_sqlite  # noqa: E402


def setup_django(db_path: Path) -> None:
    use_sqlite(db_path)


def build(db_path: Path, judgments: int) -> None:
    setup_django(db_path)
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotation.models import LanguageModel, Prompt, Response, Study, Task, User

    call_command("migrate", verbosity=0)
    rng = random.Random(0)
    models = [f"model-{i}" for i in range(5)]
    pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    per_task = 5
    n_tasks = judgments // per_task
    n_prompts = max(n_tasks // len(pairs), 1)
    study = Study.objects.create(
        slug="bench",
        name="bench",
        rating_scale=["poor", "acceptable", "good"],
        good_labels=["good"],
        tags=["harmful", "untrue", "unhelpful"],
    )
    model_ids = [LanguageModel.objects.create(study=study, name=m).pk for m in models]
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
        (p, m): pk for pk, p, m in Response.objects.values_list("pk", "prompt_id", "model_id")
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
                    slots_taken=per_task,
                )
            )
    Task.objects.bulk_create(tasks[:n_tasks], batch_size=5000)
    User.objects.bulk_create([User(username=f"g{i}", role="grader") for i in range(200)])
    graders = list(User.objects.order_by("pk").values_list("pk", flat=True))
    task_rows = list(
        Task.objects.order_by("pk").values_list("pk", "response_a_id", "response_b_id")
    )
    verdicts = ["a", "b", "tie", "both_bad"]
    labels = ["poor", "acceptable", "good"]
    now = "2026-11-29 12:00:00"
    with transaction.atomic(), connection.cursor() as cursor:
        jid = 0
        judgment_rows, rating_rows = [], []
        for t, (task_id, ra, rb) in enumerate(task_rows):
            for k in range(per_task):
                jid += 1
                grader = graders[(t + k * 37) % len(graders)]
                judgment_rows.append(
                    (
                        jid,
                        task_id,
                        grader,
                        rng.choice(verdicts),
                        "",
                        rng.uniform(5, 90),
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


def flush(cursor, judgment_rows, rating_rows):
    cursor.executemany(
        "INSERT INTO annotation_judgment (id, task_id, grader_id, verdict, comment, seconds, source, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        judgment_rows,
    )
    cursor.executemany(
        "INSERT INTO annotation_rating (judgment_id, response_id, label, tags) VALUES (%s, %s, %s, %s)",
        rating_rows,
    )
    judgment_rows.clear()
    rating_rows.clear()


def export_once(db_path: Path, fmt: str) -> None:
    setup_django(db_path)
    from annotation import exports
    from annotation.models import Study

    study = Study.objects.get(slug="bench")
    rows = 0
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for chunk in exports.stream(study, fmt):
            rows += chunk.count(b"\n")
            sink.write(chunk)
    seconds = time.perf_counter() - start
    rows -= 1 if fmt == "csv" else 0  # header
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{fmt:>5}: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s, peak memory {peak_mb:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--judgments", type=int, default=1_000_000)
    parser.add_argument("--export-only", nargs=2, metavar=("DB", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_only:
        export_once(Path(args.export_only[0]), args.export_only[1])
        return
    db_path = Path(tempfile.mkdtemp(prefix="bench-export-")) / "bench.sqlite3"
    start = time.perf_counter()
    build(db_path, args.judgments)
    print(f"built {args.judgments:,} judgments in {time.perf_counter() - start:.0f} s")
    for fmt in ("csv", "jsonl"):
        subprocess.run([sys.executable, __file__, "--export-only", str(db_path), fmt], check=True)
    print("targets: >= 100,000 rows/s and < 300 MB peak")


if __name__ == "__main__":
    main()
