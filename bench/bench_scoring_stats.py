"""Time the other scoring/ statistics at study sizes, with their default resampling counts.

    python bench/bench_scoring_stats.py

agreement: 5,000 items, each rated by 3 of 20 graders on a 5-point scale, 1,000 bootstrap
rounds; correlate: 5,000 responses, 1,000 rounds; compare: 800 shared prompts, 5,000
resamples; online Elo: 1,000,000 battles.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_leaderboard import make_battles  # noqa: E402

from scoring.agreement import agreement  # noqa: E402
from scoring.correlation import correlate  # noqa: E402
from scoring.ratings import online_elo  # noqa: E402
from scoring.significance import paired_bootstrap  # noqa: E402


def timed(label: str, run) -> None:
    started = time.perf_counter()
    run()
    print(f"{label:58s} {time.perf_counter() - started:6.2f} s")


def main() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 5, 5000)
    rows = [
        (item, f"g{grader}", int(truth[item] if rng.random() < 0.7 else rng.integers(0, 5)))
        for item in range(5000)
        for grader in rng.choice(20, 3, replace=False)
    ]
    ratings = pd.DataFrame(rows, columns=["item", "grader", "value"])
    for level in ("nominal", "ordinal", "interval"):
        timed(
            f"agreement, {level}, 15,000 ratings, 1,000 rounds",
            lambda level=level: agreement(ratings, level=level),
        )
    human = rng.normal(size=5000)
    scores = pd.DataFrame({"human": human, "metric": human + rng.normal(size=5000)})
    timed(
        "correlate, 5,000 rows, 1,000 rounds",
        lambda: correlate(scores, human="human", metric="metric"),
    )
    a = (rng.random(800) < 0.6).astype(float)
    b = (rng.random(800) < 0.55).astype(float)
    timed("paired bootstrap, 800 prompts (0/1), 5,000 resamples", lambda: paired_bootstrap(a, b))
    timed(
        "paired bootstrap, 800 prompts (continuous), 5,000 resamples",
        lambda: paired_bootstrap(rng.normal(size=800), rng.normal(size=800)),
    )
    battles = make_battles(1_000_000, 100)
    timed("online Elo, 1,000,000 battles", lambda: online_elo(battles))


if __name__ == "__main__":
    main()
