"""Import 1,000,000 arena battles into a SQLite study (target: at most 60 s).

The study holds 1,000 prompts x 10 models (imported first, with 5 sampled pairs per
prompt); the battle log names them by question_id, with 20,000 human judges, every
winner label and a timestamp, like a Chatbot Arena log. Prints the import's wall and CPU
seconds and battles per second, the rows written, and a rerun of the same file (which
must change nothing).

Beside it, in the same run, the floor: exactly the rows the import wrote (accounts,
memberships, tasks, judgments, ratings, and the slots of queued tasks) written with
sqlite3's executemany into a copy of the database as it was before the import, with the
same pragmas, in one transaction, in the import's row order (bench/_floor.py). The floor
reads no file and checks nothing. It is printed twice: with every index in place while
the rows go in, and with the non-unique indexes of tasks, judgments and ratings built
after the rows, as the import does. It is the floor of executemany: the import itself
sends the judgments and ratings of an arena file to SQLite as JSON text, one INSERT ...
SELECT FROM json_each(?) per 100,000 rows (annotation.ingest.writing.insert_rows with
plain=True), which spares the per-value binding and can go below it.
Run: .venv/bin/python bench/bench_import_judgments.py [--battles N]
"""

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import use_sqlite  # noqa: E402
from _floor import copy_rows, python_speed, write_floor  # noqa: E402

PROMPTS, MODELS, JUDGES = 1_000, 10, 20_000
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
# The tables the import writes, parents first.
TABLES = [
    "annotation_user",
    "annotation_membership",
    "annotation_task",
    "annotation_judgment",
    "annotation_rating",
]
# The tables whose non-unique indexes the import builds after the rows, when it adds more
# rows than they hold (annotation.ingest.writing.indexes_built_after).
REBUILT = ["annotation_task", "annotation_judgment", "annotation_rating"]


def write_study(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(PROMPTS):
            outputs = {f"model-{m}": f"Answer {m} to question {i}." for m in range(MODELS)}
            handle.write(json.dumps({"id": f"q{i}", "prompt": f"Q{i}?", "outputs": outputs}))
            handle.write("\n")


def write_battles(path: Path, n: int, rng: random.Random) -> None:
    """n battles, no judge judging the same pair of the same question twice."""
    seen = set()
    with open(path, "w", encoding="utf-8") as handle:
        while len(seen) < n:
            question = rng.randrange(PROMPTS)
            a, b = rng.sample(range(MODELS), 2)
            judge = rng.randrange(JUDGES)
            key = (question, min(a, b), max(a, b), judge)
            if key in seen:
                continue
            seen.add(key)
            record = {
                "question_id": f"q{question}",
                "model_a": f"model-{a}",
                "model_b": f"model-{b}",
                "winner": rng.choice(WINNERS),
                "judge": f"user-{judge}",
                "tstamp": 1_700_000_000 + len(seen),
            }
            handle.write(json.dumps(record) + "\n")


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--battles", type=int, default=1_000_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-judgments-"))
    product_db = workdir / "bench.sqlite3"
    use_sqlite(product_db)
    from django.core.management import call_command
    from django.db import connection

    from annotation.ingest.judgments import import_judgments
    from annotation.ingest.study_files import StudyOptions, import_study
    from annotation.ingest.writing import SQLITE_IMPORT_CACHE_KIB
    from annotation.models import Judgment, Rating, Task

    call_command("migrate", verbosity=0)
    write_study(workdir / "study.jsonl")
    import_study(workdir / "study.jsonl", "arena", StudyOptions(pairs_per_prompt=5))
    connection.close()
    before_db = workdir / "before.sqlite3"
    shutil.copy(product_db, before_db)
    battles = workdir / "battles.jsonl"
    write_battles(battles, args.battles, random.Random(0))
    size_mb = battles.stat().st_size / 1e6

    start = clock()
    summary = import_judgments(battles, "arena", "arena")
    seconds, cpu = since(start)
    assert summary.judgments_created == args.battles

    start = clock()
    again = import_judgments(battles, "arena", "arena")
    rerun, rerun_cpu = since(start)
    assert again.judgments_created == 0 and again.judgments_unchanged == args.battles
    stored = (Judgment.objects.count(), Rating.objects.count(), Task.objects.count())
    connection.close()
    statements = copy_rows(product_db, before_db, TABLES)
    floor_wall, floor_cpu = write_floor(before_db, statements, SQLITE_IMPORT_CACHE_KIB)
    rebuilt_wall, rebuilt_cpu = write_floor(
        before_db, statements, SQLITE_IMPORT_CACHE_KIB, rebuilt=REBUILT
    )

    print(f"file: {args.battles:,} arena battles, {size_mb:.0f} MB")
    print(
        f"import_judgments: {seconds:.1f} s wall, {cpu:.1f} s CPU "
        f"({args.battles / seconds:,.0f} battles/s); {stored[0]:,} judgments, "
        f"{stored[1]:,} ratings, {stored[2]:,} tasks stored, "
        f"{summary.graders_created:,} grader accounts"
    )
    print(
        f"floor, sqlite3 executemany of the same rows: {floor_wall:.1f} s wall, "
        f"{floor_cpu:.1f} s CPU; ratio {seconds / floor_wall:.2f}x wall, "
        f"{cpu / floor_cpu:.2f}x CPU"
    )
    print(
        f"floor with the indexes built after the rows, as the import does: "
        f"{rebuilt_wall:.1f} s wall, {rebuilt_cpu:.1f} s CPU; ratio {seconds / rebuilt_wall:.2f}x "
        f"wall, {cpu / rebuilt_cpu:.2f}x CPU"
    )
    print(f"rerun of the same file (no change): {rerun:.1f} s wall, {rerun_cpu:.1f} s CPU")
    print(f"machine: a 10-million-step Python loop takes {python_speed():.2f} s CPU now")
    print(f"target: at most 60 s -> {'met' if seconds <= 60 else 'NOT met'}")
    shutil.rmtree(workdir)  # about 1 GB of databases and battles at a million


if __name__ == "__main__":
    main()
