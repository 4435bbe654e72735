"""Import 1,000,000 arena battles into a SQLite study (target: at most 60 s).

The study holds 1,000 prompts x 10 models (imported first, with 5 sampled pairs per
prompt); the battle log names them by question_id, with 20,000 human judges, every
winner label and a timestamp, like a Chatbot Arena log. Prints the import's wall and CPU
seconds and battles per second, the rows written, and a rerun of the same file (which
must change nothing).
Run: .venv/bin/python bench/bench_import_judgments.py [--battles N]
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

PROMPTS, MODELS, JUDGES = 1_000, 10, 20_000
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--battles", type=int, default=1_000_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-judgments-"))
    use_sqlite(workdir / "bench.sqlite3")
    from django.core.management import call_command

    from annotation.ingest.judgments import import_judgments
    from annotation.ingest.study_files import StudyOptions, import_study
    from annotation.models import Judgment, Rating, Task

    call_command("migrate", verbosity=0)
    write_study(workdir / "study.jsonl")
    import_study(workdir / "study.jsonl", "arena", StudyOptions(pairs_per_prompt=5))
    battles = workdir / "battles.jsonl"
    write_battles(battles, args.battles, random.Random(0))
    size_mb = battles.stat().st_size / 1e6

    start, cpu = time.perf_counter(), time.process_time()
    summary = import_judgments(battles, "arena", "arena")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert summary.judgments_created == args.battles

    start = time.perf_counter()
    again = import_judgments(battles, "arena", "arena")
    rerun = time.perf_counter() - start
    assert again.judgments_created == 0 and again.judgments_unchanged == args.battles

    print(f"file: {args.battles:,} arena battles, {size_mb:.0f} MB")
    print(
        f"import_judgments: {seconds:.1f} s wall, {cpu:.1f} s CPU "
        f"({args.battles / seconds:,.0f} battles/s); {Judgment.objects.count():,} judgments, "
        f"{Rating.objects.count():,} ratings, {Task.objects.count():,} tasks stored, "
        f"{summary.graders_created:,} grader accounts"
    )
    print(f"rerun of the same file (no change): {rerun:.1f} s")
    print(f"target: at most 60 s -> {'met' if seconds <= 60 else 'NOT met'}")


if __name__ == "__main__":
    main()
