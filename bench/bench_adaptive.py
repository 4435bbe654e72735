"""Adaptive pair scheduling (issue 13, item 3): votes saved against uniform pair sampling,
the bound on what any schedule can save, and the cost of one schedule.

    python bench/bench_adaptive.py [--seeds S] [--votes V] [--batch K]

For each scenario of true strengths, "uniform" spreads V votes evenly over all pairs; the
adaptive run asks `schedule_pairs(..., plan=K)` for the next K votes, draws their outcomes,
and repeats until the median 95 % rating-interval width (computed at the true strengths,
i.e. the expected width of the design) is at most the uniform design's. "share" is the
adaptive votes over V (below 1: votes saved). "bound" is mean_i(w_i) / (1/4), where w_i is
the average information p (1 - p) per vote that model i gets under uniform sampling: a
schedule that narrows every model's interval at least as much as uniform sampling cannot
use fewer than that share of the votes (a vote's information is at most 1/4).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scoring.adaptive import schedule_pairs  # noqa: E402

FACTOR = 400 / math.log(10)


def information(total: np.ndarray, theta: np.ndarray, prior_sd: float = 2.0) -> np.ndarray:
    p = expit(theta[:, None] - theta[None, :])
    weight = total * p * (1 - p)
    return np.diag(weight.sum(axis=1) + 1 / prior_sd**2) - weight


def median_width(total: np.ndarray, theta: np.ndarray) -> float:
    sigma = np.linalg.inv(information(total, theta))
    centre = np.eye(len(theta)) - 1 / len(theta)
    return float(np.median(2 * 1.96 * FACTOR * np.sqrt(np.diag(centre @ sigma @ centre))))


def counts_frame(wins: np.ndarray, names: np.ndarray) -> pd.DataFrame:
    i, j = np.triu_indices(len(names), 1)
    keep = (wins[i, j] + wins[j, i]) > 0
    return pd.DataFrame(
        {
            "model_a": names[i[keep]],
            "model_b": names[j[keep]],
            "wins_a": wins[i, j][keep],
            "wins_b": wins[j, i][keep],
            "ties": 0,
        }
    )


def share_needed(theta: np.ndarray, votes: int, batch: int, rng, criterion: str) -> float:
    n = len(theta)
    names = np.array([f"m{k:02d}" for k in range(n)], dtype=object)
    uniform = np.full((n, n), votes / (n * (n - 1) / 2))
    np.fill_diagonal(uniform, 0)
    target = median_width(uniform, theta)
    wins = np.zeros((n, n))
    used = 0
    while median_width(wins + wins.T, theta) > target and used < 3 * votes:
        plan = schedule_pairs(
            counts_frame(wins, names), list(names), plan=batch, criterion=criterion
        ).plan
        if plan.empty:
            return math.nan
        for a, b in zip(plan["model_a"], plan["model_b"], strict=True):
            i, j = int(a[1:]), int(b[1:])
            if rng.random() < expit(theta[i] - theta[j]):
                wins[i, j] += 1
            else:
                wins[j, i] += 1
            used += 1
    return used / votes


def bound(theta: np.ndarray) -> float:
    p = expit(theta[:, None] - theta[None, :])
    w = p * (1 - p)
    np.fill_diagonal(w, np.nan)
    return float(np.nanmean(w, axis=1).mean() / 0.25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--votes", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    scenarios = {
        "10 models, sd 87 Elo": lambda rng: rng.normal(0, 0.5, 10),
        "10 models, sd 174 Elo": lambda rng: rng.normal(0, 1.0, 10),
        "10 models, sd 260 Elo": lambda rng: rng.normal(0, 1.5, 10),
        "10 models, sd 347 Elo": lambda rng: rng.normal(0, 2.0, 10),
        "9 models, 3 groups 350 Elo apart": lambda rng: np.concatenate(
            [rng.normal(c, 0.25, 3) for c in (-2.0, 0.0, 2.0)]
        ),
    }
    print(f"votes to reach the median width of {args.votes} uniform votes, as a share of them")
    print(f"({args.seeds} seeds, batches of {args.batch}; below 1 = votes saved)")
    print(f"{'scenario':<36}{'variance':>10}{'ranks':>8}{'bound':>8}")
    for label, draw in scenarios.items():
        rng = np.random.default_rng(0)
        shares = {"variance": [], "ranks": []}
        bounds = []
        for _ in range(args.seeds):
            theta = draw(rng)
            bounds.append(bound(theta))
            for criterion in shares:
                shares[criterion].append(
                    share_needed(theta, args.votes, args.batch, rng, criterion)
                )
        print(
            f"{label:<36}{np.nanmean(shares['variance']):>10.2f}"
            f"{np.nanmean(shares['ranks']):>8.2f}{np.mean(bounds):>8.2f}"
        )
    print("\ncost of one schedule (all pairs voted 20 times; median of 5 calls):")
    rng = np.random.default_rng(1)
    for n in (10, 30, 100):
        names = np.array([f"m{k:03d}" for k in range(n)], dtype=object)
        theta = rng.normal(0, 1, n)
        wins = rng.binomial(20, expit(theta[:, None] - theta[None, :])).astype(float)
        wins = np.triu(wins, 1) + np.tril(20 - wins.T, -1)
        counts = counts_frame(wins, names)
        for plan in (0, 50):
            times = []
            for _ in range(5):
                started = time.perf_counter()
                schedule_pairs(counts, plan=plan)
                times.append(time.perf_counter() - started)
            print(f"  {n:>3} models, plan {plan:>2}: {1000 * np.median(times):8.1f} ms")


if __name__ == "__main__":
    main()
