"""Import 100,000 responses (20,000 prompts x 5 models, all pairs) into a fresh SQLite file.

Prints the seconds the import took (target: under 30 s on a 2-core machine) and
the seconds for a rerun of the same file (which must change nothing).
Run: .venv/bin/python bench/bench_import.py [--prompts N] [--models M]
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import use_sqlite  # noqa: E402

WORDS = (
    "the model answers question with a short list of steps and some code example because "
    "users asked for clear help about python data science history music travel recipes"
).split()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=5)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    use_sqlite(workdir / "bench.sqlite3")
    from django.core.management import call_command

    from annotation.ingest.study_files import import_study
    from annotation.models import Response, Task

    call_command("migrate", verbosity=0)
    study_file = workdir / "study.jsonl"
    n = write_study(study_file, args.prompts, args.models, random.Random(0))
    size_mb = study_file.stat().st_size / 1e6

    start = time.perf_counter()
    summary = import_study(study_file, "bench")
    first = time.perf_counter() - start
    assert Response.objects.count() == n, "not every response was imported"
    tasks = Task.objects.count()

    start = time.perf_counter()
    again = import_study(study_file, "bench")
    rerun = time.perf_counter() - start
    assert again.responses_created == 0 and again.tasks_created == 0

    print(f"file: {args.prompts} prompts x {args.models} models = {n} responses, {size_mb:.0f} MB")
    print(
        f"import: {first:.1f} s ({n / first:,.0f} responses/s), {summary.tasks_created} tasks ({tasks} stored)"
    )
    print(f"rerun of the same file (no change): {rerun:.1f} s")
    print(f"target: under 30 s for 100,000 responses -> {'met' if first < 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
