"""Import 100,000 responses (20,000 prompts x 5 models, all pairs) into a fresh SQLite file,
beside the floor: the same rows written with sqlite3's executemany, in the same run.

Prints, for the product (`import_study`, from reading the file to the commit) and for the
floor (one executemany per table of exactly the rows the product wrote, into a copy of the
same empty, migrated database with the same pragmas, in one transaction; bench/_floor.py):
wall and CPU seconds, and the ratio (target: at most 1.5x the floor). The floor is printed
twice: with every index in place while the rows go in, and with the task table's
non-unique indexes built after the rows, as the import does. Then the seconds for a rerun
of the same file (which must change nothing). Wall time on a shared machine moves with the
load; the CPU ratio and the Python-speed line say how much.
Run: .venv/bin/python bench/bench_import.py [--prompts N] [--models M]
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

WORDS = (
    "the model answers question with a short list of steps and some code example because "
    "users asked for clear help about python data science history music travel recipes"
).split()
# Parents first, so that foreign keys and the task triggers find their rows.
TABLES = [
    "annotation_study",
    "annotation_languagemodel",
    "annotation_prompt",
    "annotation_response",
    "annotation_task",
]


def write_study(path: Path, prompts: int, models: int, rng: random.Random) -> int:
    names = [f"model-{i}" for i in range(models)]
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(prompts):
            outputs = {
                name: {
                    "text": " ".join(rng.choices(WORDS, k=rng.randint(40, 160))),
                    "metadata": {
                        "latency_ms": rng.randint(100, 4000),
                        "tokens": rng.randint(40, 400),
                    },
                }
                for name in names
            }
            record = {
                "id": f"p{i:06d}",
                "prompt": " ".join(rng.choices(WORDS, k=20)) + "?",
                "metadata": {
                    "language": rng.choice(["en", "de", "fr"]),
                    "category": rng.choice(["qa", "code"]),
                },
                "outputs": outputs,
            }
            handle.write(json.dumps(record) + "\n")
    return prompts * models


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = clock()
    return wall - start[0], cpu - start[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=5)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    product_db = workdir / "bench.sqlite3"
    use_sqlite(product_db)
    from django.core.management import call_command
    from django.db import connection

    from annotation.ingest.study_files import import_study
    from annotation.ingest.writing import SQLITE_IMPORT_CACHE_KIB
    from annotation.models import Response, Task

    call_command("migrate", verbosity=0)
    connection.close()
    empty_db = workdir / "floor.sqlite3"
    shutil.copy(product_db, empty_db)
    study_file = workdir / "study.jsonl"
    n = write_study(study_file, args.prompts, args.models, random.Random(0))
    size_mb = study_file.stat().st_size / 1e6

    start = clock()
    summary = import_study(study_file, "bench")
    product_wall, product_cpu = since(start)
    assert Response.objects.count() == n, "not every response was imported"
    tasks = Task.objects.count()

    start = clock()
    again = import_study(study_file, "bench")
    rerun = since(start)
    assert again.responses_created == 0 and again.tasks_created == 0
    connection.close()

    statements = copy_rows(product_db, empty_db, TABLES)
    rows = sum(len(values) for _, _, values in statements)
    floor_wall, floor_cpu = write_floor(empty_db, statements, SQLITE_IMPORT_CACHE_KIB)
    rebuilt_wall, rebuilt_cpu = write_floor(
        empty_db, statements, SQLITE_IMPORT_CACHE_KIB, rebuilt=["annotation_task"]
    )

    print(f"file: {args.prompts} prompts x {args.models} models = {n} responses, {size_mb:.0f} MB")
    print(
        f"product, import_study: {product_wall:.1f} s wall, {product_cpu:.1f} s CPU "
        f"({n / product_wall:,.0f} responses/s), {summary.tasks_created} tasks ({tasks} stored)"
    )
    print(
        f"floor, sqlite3 executemany of the same {rows:,} rows: "
        f"{floor_wall:.1f} s wall, {floor_cpu:.1f} s CPU"
    )
    ratio = product_wall / floor_wall
    print(
        f"ratio product/floor: {ratio:.2f}x wall, {product_cpu / floor_cpu:.2f}x CPU "
        f"(target <= 1.5x) -> {'met' if ratio <= 1.5 else 'NOT met'} on wall, "
        f"{'met' if product_cpu <= 1.5 * floor_cpu else 'NOT met'} on CPU"
    )
    print(
        f"floor with the task indexes built after the rows, as the import does: "
        f"{rebuilt_wall:.1f} s wall, {rebuilt_cpu:.1f} s CPU; ratio {ratio * floor_wall / rebuilt_wall:.2f}x "
        f"wall, {product_cpu / rebuilt_cpu:.2f}x CPU"
    )
    print(f"rerun of the same file (no change): {rerun[0]:.1f} s wall, {rerun[1]:.1f} s CPU")
    print(f"machine: a 10-million-step Python loop takes {python_speed():.2f} s CPU now")


if __name__ == "__main__":
    main()
