"""What issue 13's results add to the dashboard's cold computation at 100,000 judgments.

Builds the seeded study of bench/_results_study.py (10,000 prompts x 4 models, 100,000
judgments with ratings and screen sides) in a fresh SQLite file, then times, on one
snapshot: Davidson with 1,000 bootstrap rounds, the one new result the dashboard's refresh
computes; then what the background job computes (`annotation.results.background`): the
snapshot's extra tables (`sides`, `styles`), style control, position bias, rating-vote
consistency, and the whole job with tag effects (the seeded study has no tags; tag effects
cost seconds where there are tags and slices). Prints wall and process CPU seconds.

Run: .venv/bin/python bench/bench_ties_results.py [--judgments N]
"""

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _django import use_sqlite  # noqa: E402


def timed(label: str, fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    print(
        f"{label:<28} {time.perf_counter() - wall:6.2f} s wall {time.process_time() - cpu:6.2f} s CPU"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judgments", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        use_sqlite(Path(tmp) / "bench.sqlite3")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from _results_study import build

        study, _ = build(10_000, args.judgments, random.Random(0))
        from annotation.results import background, snapshot
        from annotation.results.consistency import rating_consistency
        from annotation.results.position import position_bias
        from annotation.results.ties import davidson_leaderboard, style_control

        data = timed("snapshot (the refresh's)", lambda: snapshot.load(study))
        timed("davidson (1000 rounds)", lambda: davidson_leaderboard(data))
        print("-- the background worker's (compute_slow) --")
        data = timed("sides and styles", lambda: snapshot.with_extras(data))
        timed("style control", lambda: style_control(data))
        timed("position bias", lambda: position_bias(data))
        timed("consistency", lambda: rating_consistency(data))
        timed("the whole job", lambda: background.compute(study))
        print(f"{len(data.battles)} battles, {len(data.styles)} responses")


if __name__ == "__main__":
    main()
