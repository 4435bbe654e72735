"""Time loading 1,000,000 battles over 100 models and a leaderboard with 1,000 bootstrap rounds.

    python bench/bench_leaderboard.py [--battles N] [--models M] [--rounds B] [--format parquet]

Writes the battles to a temporary file first (not timed), then times what
`python -m scoring leaderboard FILE` does: read the file, validate, aggregate, fit, bootstrap.
Target (issue 3): under 5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.io import read_table  # noqa: E402
from scoring.ratings import BATTLE_COLUMNS, leaderboard  # noqa: E402


def make_battles(n_battles: int, n_models: int, seed: int = 0) -> pd.DataFrame:
    """Random battles between models of known strength (Bradley-Terry, 10 % ties)."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(1000, 150, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p_a = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 400))
    u = rng.random(n_battles)
    tie = u < 0.1
    winner = np.where(
        tie,
        np.where(u < 0.05, "tie", "tie (bothbad)"),
        np.where(rng.random(n_battles) < p_a, "model_a", "model_b"),
    )
    names = np.array([f"model-{i:03d}" for i in range(n_models)], dtype=object)
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()

    battles = make_battles(args.battles, args.models)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"battles.{args.format}"
        if args.format == "parquet":
            battles.to_parquet(path, index=False)
        else:
            battles.to_csv(path, index=False)
        del battles

        started, cpu_started = time.perf_counter(), time.process_time()
        table = read_table(path, text_columns=BATTLE_COLUMNS)
        loaded = time.perf_counter()
        board = leaderboard(table, bootstrap=args.rounds, rng=0)
        finished, cpu_finished = time.perf_counter(), time.process_time()

    print(
        f"{args.battles:,} battles, {args.models} models, {args.rounds} bootstrap rounds "
        f"({args.format})"
    )
    print(f"load:        {loaded - started:6.2f} s")
    print(f"leaderboard: {finished - loaded:6.2f} s")
    print(f"total:       {finished - started:6.2f} s  (target < 5 s)")
    print(
        f"CPU time:    {cpu_finished - cpu_started:6.2f} s  (all threads; wall time suffers "
        "when other work shares the cores)"
    )
    print(board.table.head(3).to_string(index=False))


if __name__ == "__main__":
    main()
